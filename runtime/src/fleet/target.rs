//! Targets: the databases (by URL) or PostgreSQL schemas a fleet run works
//! on, each with a name for reports that never holds a password, and the
//! lists they come in: lines of a file, URLs given one by one, or the rows
//! of a query run on a control database.

use crate::backend::{Backend, ConnRef, Connection, dispatch};
use crate::error::{Error, FleetError, Result};
use crate::url::DatabaseUrl;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// One database or PostgreSQL schema a fleet run brings up to date.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    url: DatabaseUrl,
    schema: Option<String>,
}

impl Target {
    /// A whole database, by URL.
    pub fn url(url: DatabaseUrl) -> Self {
        Target { url, schema: None }
    }

    /// A schema of a PostgreSQL database: its history, audit log and lock
    /// tables and its migrations live in that schema, which is the only one
    /// on the connection's `search_path`. The name must be a plain
    /// identifier (letters, digits and underscores, not starting with a digit).
    pub fn schema(url: DatabaseUrl, schema: &str) -> Result<Self> {
        if url.backend() != Backend::Postgres {
            return Err(
                FleetError::SchemasNeedPostgres { url: url.redacted(), backend: url.backend().to_string() }.into()
            );
        }
        if !is_plain_identifier(schema) {
            return Err(FleetError::InvalidSchemaName { name: schema.to_owned() }.into());
        }
        Ok(Target { url, schema: Some(schema.to_owned()) })
    }

    /// The name reports give the target: the schema's name, the database's
    /// name, or a SQLite file's name. Never a password.
    pub fn name(&self) -> String {
        match &self.schema {
            Some(schema) => schema.clone(),
            None => database_name(&self.url),
        }
    }

    /// Where the target is, without any password: the URL, and the schema when there is one.
    pub fn location(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{} schema {schema}", self.url.redacted()),
            None => self.url.redacted(),
        }
    }

    /// The database URL (of the database holding the schema, for a schema).
    pub fn database_url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The schema, for a schema target.
    pub fn schema_name(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// A connection to the target, with `init_sql` run on it (and on every
    /// connection opened from it, such as the lock's), then, for a schema,
    /// the `search_path` set to that schema alone.
    pub async fn connect(&self, init_sql: &[String]) -> Result<Connection> {
        let mut statements = init_sql.to_vec();
        if let Some(schema) = &self.schema {
            // A plain identifier, checked when the target was made: quoting cannot be escaped.
            statements.push(format!("SET search_path TO \"{schema}\""));
        }
        let conn = Connection::connect(&self.url).await?;
        if statements.is_empty() { Ok(conn) } else { conn.with_init_sql(statements).await }
    }

    /// The file of a SQLite target that does not exist (yet): reading such a
    /// target must not create it. `None` for any other target.
    pub(crate) fn missing_sqlite_file(&self) -> Option<std::path::PathBuf> {
        #[cfg(feature = "sqlite")]
        if self.url.backend() == Backend::Sqlite && !self.url.expose().contains("memory") {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(self.url.expose()).ok()?;
            let file = options.get_filename();
            return (!file.exists()).then(|| file.to_path_buf());
        }
        None
    }

    /// What makes two targets the same one, password left out.
    fn identity(&self) -> String {
        self.location()
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.location())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Letters, digits and underscores, not starting with a digit, 1 to 63 characters.
fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// The database's name in a URL (read from the redacted URL, so no password
/// can leak into it): the path's last part, or the host when there is none.
fn database_name(url: &DatabaseUrl) -> String {
    let shown = url.redacted();
    let without_query = shown.split(['?', '#']).next().unwrap_or_default();
    let rest = without_query.split_once(':').map_or(without_query, |(_, rest)| rest);
    let rest = rest.trim_start_matches('/');
    if url.backend() == Backend::Sqlite {
        let file = rest.rsplit(['/', '\\']).next().unwrap_or(rest);
        return if file.is_empty() { shown } else { file.trim_matches(':').to_owned() };
    }
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    match host_and_path.split_once('/') {
        Some((_, path)) if !path.is_empty() => path.trim_end_matches('/').to_owned(),
        Some((host, _)) => host.to_owned(),
        None => host_and_path.to_owned(),
    }
}

/// A list of targets in which each appears once, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    targets: Vec<Target>,
}

impl Targets {
    /// The targets as given; refused, naming them, when one appears twice.
    pub fn new(targets: Vec<Target>) -> Result<Self> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for target in &targets {
            *seen.entry(target.identity()).or_default() += 1;
        }
        let duplicates: Vec<String> = seen.into_iter().filter(|(_, n)| *n > 1).map(|(identity, _)| identity).collect();
        if !duplicates.is_empty() {
            return Err(FleetError::DuplicateTargets { names: duplicates }.into());
        }
        Ok(Targets { targets })
    }

    /// Database URLs, one target each.
    pub fn from_urls<S: AsRef<str>>(urls: impl IntoIterator<Item = S>) -> Result<Self> {
        let targets = urls
            .into_iter()
            .map(|url| DatabaseUrl::parse(url.as_ref().trim()).map(Target::url))
            .collect::<Result<Vec<_>>>()?;
        Self::new(targets)
    }

    /// One database URL per line of `text`; blank lines and lines starting
    /// with `#` are skipped. `source_name` says where the text came from, for errors.
    pub fn from_lines(text: &str, source_name: &str) -> Result<Self> {
        let mut targets = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let url = DatabaseUrl::parse(line).map_err(|error| FleetError::InvalidLine {
                source_name: source_name.to_owned(),
                line: index + 1,
                reason: error.to_string(),
            })?;
            targets.push(Target::url(url));
        }
        Self::new(targets)
    }

    /// One database URL per line of the file at `path` (see [`Targets::from_lines`]).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| FleetError::UnreadableList {
            path: path.display().to_string(),
            cause: error.to_string(),
        })?;
        Self::from_lines(&text, &path.display().to_string())
    }

    /// Schemas of one PostgreSQL database, one target each.
    pub fn schemas<S: AsRef<str>>(url: &DatabaseUrl, schemas: impl IntoIterator<Item = S>) -> Result<Self> {
        let targets =
            schemas.into_iter().map(|schema| Target::schema(url.clone(), schema.as_ref())).collect::<Result<_>>()?;
        Self::new(targets)
    }

    /// The database URLs that `sql` returns, one per row in its first
    /// column, run on the control database `control`.
    pub async fn from_url_query(control: &DatabaseUrl, sql: &str) -> Result<Self> {
        let rows = query_strings(control, sql).await?;
        let mut targets = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let url = DatabaseUrl::parse(row.trim()).map_err(|error| FleetError::InvalidLine {
                source_name: "the target query".to_owned(),
                line: index + 1,
                reason: error.to_string(),
            })?;
            targets.push(Target::url(url));
        }
        Self::new(targets)
    }

    /// The schemas of the PostgreSQL database `database` that `sql` returns
    /// there, one per row in its first column.
    pub async fn from_schema_query(database: &DatabaseUrl, sql: &str) -> Result<Self> {
        if database.backend() != Backend::Postgres {
            return Err(FleetError::SchemasNeedPostgres {
                url: database.redacted(),
                backend: database.backend().to_string(),
            }
            .into());
        }
        let rows = query_strings(database, sql).await?;
        Self::schemas(database, rows.iter().map(|row| row.trim()))
    }

    /// The targets, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Only the share of the targets that `shard` takes.
    pub fn shard(self, shard: crate::fleet::Shard) -> Self {
        Targets { targets: shard.select(self.targets, Target::identity) }
    }
}

impl IntoIterator for Targets {
    type Item = Target;
    type IntoIter = std::vec::IntoIter<Target>;

    fn into_iter(self) -> Self::IntoIter {
        self.targets.into_iter()
    }
}

/// The first column of every row `sql` returns, as text.
async fn query_strings(url: &DatabaseUrl, sql: &str) -> Result<Vec<String>> {
    let mut conn = Connection::connect(url).await?;
    let statement = sqlx::AssertSqlSafe(sql.to_owned());
    let rows: std::result::Result<Vec<String>, sqlx::Error> =
        dispatch!(conn.as_ref(), ConnRef, c => sqlx::query_scalar(statement).fetch_all(c).await);
    let _ = conn.close().await;
    rows.map_err(|cause| Error::msg(format!("the target query on {url} failed: {}", url.scrub(&cause.to_string()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> DatabaseUrl {
        DatabaseUrl::parse(text).unwrap()
    }

    #[test]
    fn names_never_hold_a_password() {
        assert_eq!(Target::url(url("postgres://app:s3cr3t@db:5432/tenant_1")).name(), "tenant_1");
        assert_eq!(Target::url(url("postgres://app:pa/ss@db/t2?sslmode=disable")).name(), "t2");
        assert_eq!(Target::url(url("mysql://root:p%40ss@127.0.0.1:3306/shop")).name(), "shop");
        assert_eq!(Target::url(url("postgres://app:x@db:5432")).name(), "db:5432");
        assert_eq!(Target::url(url("sqlite:///tmp/fleet/t07.db?mode=rwc")).name(), "t07.db");
        assert_eq!(Target::url(url("sqlite://t.db")).name(), "t.db");
        let schema = Target::schema(url("postgres://app:s3cr3t@db/app"), "tenant_9").unwrap();
        assert_eq!(schema.name(), "tenant_9");
        assert!(!schema.location().contains("s3cr3t") && !format!("{schema:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_list_with_duplicates_is_refused_naming_them() {
        let error = Targets::from_lines(
            "# tenants\npostgres://u:pw@h/a\n\npostgres://u:pw@h/b\npostgres://u:pw@h/a\n",
            "targets.txt",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("postgres://u:****@h/a") && !error.contains("h/b") && !error.contains("pw"), "{error}");
        let schemas = Targets::schemas(&url("postgres://h/d"), ["t1", "t2", "t1"]).unwrap_err().to_string();
        assert!(schemas.contains("schema t1"), "{schemas}");
    }

    #[test]
    fn a_schema_name_must_be_a_plain_identifier() {
        for bad in ["", "1tenant", "a-b", "a\"b", "a;DROP", "x.y", &"a".repeat(64)] {
            let error = Target::schema(url("postgres://h/d"), bad).unwrap_err().to_string();
            assert!(error.contains("plain schema name"), "{bad}: {error}");
        }
        assert!(Target::schema(url("postgres://h/d"), "_tenant_01").is_ok());
        let error = Target::schema(url("sqlite://x.db"), "t").unwrap_err().to_string();
        assert!(error.contains("PostgreSQL"), "{error}");
    }

    #[test]
    fn lines_skip_comments_and_blanks_and_name_bad_lines() {
        let targets = Targets::from_lines("  # a comment\n\nsqlite://a.db\n  sqlite://b.db  \n", "list").unwrap();
        assert_eq!(targets.iter().map(Target::name).collect::<Vec<_>>(), ["a.db", "b.db"]);
        let error = Targets::from_lines("sqlite://a.db\noracle://u:pw@h/x\n", "list").unwrap_err().to_string();
        assert!(error.contains("list, line 2") && !error.contains("pw"), "{error}");
    }
}
