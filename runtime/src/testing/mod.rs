//! Test databases in milliseconds: each test gets a database of its own,
//! already migrated, cloned from a template that is migrated once.
//!
//! The first [`TestDatabase`] for a graph of migrations migrates a template
//! database (keyed by the checksum of every migration in the graph, the
//! target version and the bookkeeping table names); every later one clones
//! it: `CREATE DATABASE … TEMPLATE` on PostgreSQL, a file copy on SQLite, and
//! on MySQL/MariaDB, which has no template databases, a copy of each table's
//! definition and rows, and of the views, triggers and routines, inside the
//! server. When the graph changes, the next template built for the same crates
//! and tables replaces the old one, which is dropped.
//!
//! On PostgreSQL a copy of every file of the template grows with the schema,
//! so a few copies are made ahead of time by a background thread
//! ([`TestDatabaseBuilder::spares`]) and a test database is one of them,
//! renamed: milliseconds whatever the number of migrations.
//!
//! ```no_run
//! # async fn example() -> Result<(), migrations_rs_runtime::testing::TestDatabaseError> {
//! use migrations_rs_runtime::testing::TestDatabase;
//!
//! // A database migrated to the head of every linked migration.
//! let db = TestDatabase::new("postgres://postgres@127.0.0.1:5432/test").await?;
//! let mut conn = db.connect().await?;
//! // … run the code under test against `conn` or `db.url()` …
//! db.drop_now().await?;
//! # Ok(()) }
//! ```
//!
//! The data-migration pattern, "migrate to V, seed, migrate further, assert":
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use migrations_rs_runtime::testing::TestDatabase;
//! use migrations_rs_runtime::{Scope, Version};
//!
//! let before = Version::parse("20240120110000")?;
//! let db = TestDatabase::builder("sqlite:").to(before).create().await?;
//! // seed rows in the shape the schema has at `before` …
//! db.up(Scope::All).await?; // … migrate to the head, then assert on what the data migration did
//! # Ok(()) }
//! ```
//!
//! `#[migrations_rs::testing::test]` does the same for a test function: see
//! [`attribute`] for what it runs.

pub mod attribute;
#[cfg(feature = "postgres")]
mod spares;
mod template;

pub use attribute::TestArgument;

use crate::backend::{Backend, Connection};
use crate::backup::BackupOptions;
use crate::engine::{ApplyReport, Migrator, Scope};
use crate::url::DatabaseUrl;
use crate::version::Version;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a test database could not be made or dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestDatabaseError {
    /// The server URL cannot be used.
    #[error("{0}")]
    Url(Box<crate::Error>),
    /// The migrations could not be read or applied to the template.
    #[error("cannot migrate the template database {template}: {cause}")]
    Migrate {
        /// The template's name.
        template: String,
        /// What went wrong.
        cause: Box<crate::Error>,
    },
    /// The server refused a statement, such as `CREATE DATABASE` without the privilege.
    #[error(
        "{action} on {server} failed: {cause}{}",
        if *.needs_create_privilege { "; the user of the server URL needs the privilege to create and drop databases (PostgreSQL: CREATEDB; MySQL/MariaDB: CREATE and DROP)" } else { "" }
    )]
    Server {
        /// What was being done.
        action: String,
        /// The server, without its password.
        server: String,
        /// The server's error.
        cause: sqlx::Error,
        /// Whether the error is a missing privilege to create databases.
        needs_create_privilege: bool,
    },
    /// A file of the SQLite template or copy could not be written.
    #[error("{action} {}: {cause}", path.display())]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// An environment variable holds a value that cannot be used.
    #[error("the environment variable {name} is {value:?}: {expected}")]
    Setting {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it must be instead.
        expected: &'static str,
    },
    /// A migration after the template's target could not be applied to the test database.
    #[error("{0}")]
    Apply(Box<crate::Error>),
}

/// A database of its own for one test, migrated to the head of the graph (or
/// to a chosen version), dropped by [`TestDatabase::drop_now`] or when the
/// value is dropped.
pub struct TestDatabase {
    url: DatabaseUrl,
    name: String,
    server: DatabaseUrl,
    migrator: Arc<Migrator>,
    template: String,
    elapsed: Duration,
    cloned: bool,
    from_spare: bool,
    dropped: bool,
}

/// Chooses the migrations, the version and the server of a [`TestDatabase`].
pub struct TestDatabaseBuilder {
    server: String,
    migrator: Option<Migrator>,
    target: Option<Version>,
    spares: Option<usize>,
}

/// Spare copies kept per template when neither
/// [`TestDatabaseBuilder::spares`] nor `MIGRATIONS_RS_TEST_SPARES` says otherwise.
pub const DEFAULT_SPARES: usize = 2;

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase").field("url", &self.url.redacted()).field("template", &self.template).finish()
    }
}

impl fmt::Debug for TestDatabaseBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabaseBuilder")
            .field("server", &crate::url::redact(&self.server))
            .field("target", &self.target)
            .finish()
    }
}

impl TestDatabase {
    /// A database migrated to the head of every migration linked into this
    /// program, on the server of `server_url`: `postgres://…/db` or
    /// `mysql://…/db` (any database the user can connect to; test databases
    /// are created beside it), or `sqlite:` for a file in the temporary
    /// directory.
    pub async fn new(server_url: &str) -> Result<TestDatabase, TestDatabaseError> {
        Self::builder(server_url).create().await
    }

    /// Chooses the migrations ([`TestDatabaseBuilder::migrator`]) or the
    /// version ([`TestDatabaseBuilder::to`]) before creating the database.
    pub fn builder(server_url: &str) -> TestDatabaseBuilder {
        TestDatabaseBuilder { server: server_url.to_owned(), migrator: None, target: None, spares: None }
    }

    /// The test database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The test database's name (a file path on SQLite).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template it was cloned from.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Whether an existing template was cloned (`false` for the use that migrated it).
    pub fn reused_template(&self) -> bool {
        self.cloned
    }

    /// Whether it was a spare copy of the template, made ahead of time and
    /// renamed (PostgreSQL), rather than a copy made for this call.
    pub fn from_spare(&self) -> bool {
        self.from_spare
    }

    /// How long creating this database took, template included when it was built.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// A new connection to the test database.
    pub async fn connect(&self) -> Result<Connection, TestDatabaseError> {
        Connection::connect(&self.url).await.map_err(|e| TestDatabaseError::Apply(Box::new(e)))
    }

    /// The migrator this database was built with, to run other commands on it.
    pub fn migrator(&self) -> &Migrator {
        &self.migrator
    }

    /// Applies the pending migrations `scope` names, as [`Migrator::up`] does.
    pub async fn up(&self, scope: Scope) -> Result<ApplyReport, TestDatabaseError> {
        let mut conn = self.connect().await?;
        let report = self.migrator.up(&mut conn, scope).await.map_err(|e| TestDatabaseError::Apply(Box::new(e)));
        let _ = conn.close().await;
        report
    }

    /// Drops the database now, reporting a failure. Dropping the value does
    /// the same, ignoring failures.
    pub async fn drop_now(mut self) -> Result<(), TestDatabaseError> {
        self.dropped = true;
        template::drop_database(&self.server, &self.name).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        // A runtime of its own: the test's may be gone or busy.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            let _ = runtime.block_on(template::drop_database(&server, &name));
        });
        let _ = dropper.join();
    }
}

impl TestDatabaseBuilder {
    /// The migrations to apply; every linked migration by default.
    pub fn migrator(mut self, migrator: Migrator) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// Migrates only up to `version` and what it depends on; the rest stay
    /// pending, for [`TestDatabase::up`] after seeding.
    pub fn to(mut self, version: Version) -> Self {
        self.target = Some(version);
        self
    }

    /// How many spare copies of the template to keep ready on PostgreSQL, so
    /// that a test database is a rename rather than a copy of every file of
    /// the template: [`DEFAULT_SPARES`] unless the environment variable
    /// `MIGRATIONS_RS_TEST_SPARES` says otherwise; 0 makes none. The spares
    /// are made by a background thread while the tests run, live on the
    /// server under `mrs_spr_…`, and are dropped with the template when the
    /// graph changes. Other backends ignore it.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), migrations_rs_runtime::testing::TestDatabaseError> {
    /// use migrations_rs_runtime::testing::TestDatabase;
    ///
    /// let db = TestDatabase::builder("postgres://postgres@127.0.0.1:5432/test").spares(8).create().await?;
    /// # Ok(()) }
    /// ```
    pub fn spares(mut self, count: usize) -> Self {
        self.spares = Some(count);
        self
    }

    /// Creates the database: clones the template, building it first if this
    /// graph has none yet.
    pub async fn create(self) -> Result<TestDatabase, TestDatabaseError> {
        let started = Instant::now();
        let server = if self.server == "sqlite:" || self.server == "sqlite://" {
            DatabaseUrl::parse("sqlite::memory:").map_err(|e| TestDatabaseError::Url(Box::new(e)))?
        } else {
            DatabaseUrl::parse(&self.server).map_err(|e| TestDatabaseError::Url(Box::new(e)))?
        };
        let migrator = match self.migrator {
            Some(migrator) => migrator,
            None => Migrator::from_linked().map_err(|cause| TestDatabaseError::Migrate {
                template: "(none yet)".to_owned(),
                cause: Box::new(cause),
            })?,
        };
        let migrator = Arc::new(migrator.with_backup(BackupOptions { enabled: false, ..BackupOptions::default() }));
        let key = TemplateKey::of(&migrator, server.backend(), self.target);
        let clone_name = key.clone_name();
        let spares = match self.spares {
            Some(count) => count,
            None => spares_setting(std::env::var("MIGRATIONS_RS_TEST_SPARES").ok())?,
        };
        let cloned = template::ensure(&server, &key, &migrator, self.target).await?;
        let made = template::clone(&server, &key, &clone_name, spares).await?;
        Ok(TestDatabase {
            url: made.url,
            name: made.name,
            server,
            migrator,
            template: key.template_name(),
            elapsed: started.elapsed(),
            cloned,
            from_spare: made.from_spare,
            dropped: false,
        })
    }
}

/// The spare copies `MIGRATIONS_RS_TEST_SPARES` asks for ([`DEFAULT_SPARES`] when unset).
fn spares_setting(value: Option<String>) -> Result<usize, TestDatabaseError> {
    let Some(value) = value else { return Ok(DEFAULT_SPARES) };
    value.trim().parse().map_err(|_| TestDatabaseError::Setting {
        name: "MIGRATIONS_RS_TEST_SPARES",
        value,
        expected: "a whole number of spare copies to keep, such as 2, or 0 for none",
    })
}

/// What names a template: the crates, tables and target version it serves
/// (its family, so that a changed graph replaces its predecessor) and the
/// exact graph.
#[derive(Debug, Clone)]
pub(crate) struct TemplateKey {
    backend: Backend,
    family: String,
    graph: String,
}

/// What our own tables look like, named in every template's key: a template
/// built by a version whose bookkeeping tables differ (the lock's session
/// column, the backfills' cursor table made with the others) is not reused.
const BOOKKEEPING_LAYOUT: &str = "lock with session_id; backfill cursors with the history";

impl TemplateKey {
    fn of(migrator: &Migrator, backend: Backend, target: Option<Version>) -> Self {
        let mut family = Sha256::new();
        family.update(backend.to_string());
        family.update(format!("{:?}", migrator.tables()));
        family.update(BOOKKEEPING_LAYOUT);
        // Templates for different versions of one graph live side by side.
        family.update(target.map(|v| v.to_string()).unwrap_or_default());
        let mut modules: Vec<&str> = migrator.registry().in_order().map(|m| m.module).collect();
        modules.sort_unstable();
        modules.dedup();
        for module in &modules {
            family.update(module.as_bytes());
            family.update([0]);
        }
        let mut graph = Sha256::new();
        for migration in migrator.registry().in_order() {
            graph.update(migration.version.to_string());
            graph.update(migration.checksum.to_hex());
            for dependency in migration.depends_on {
                graph.update(dependency.to_string());
            }
        }
        let hex =
            |digest: &[u8], len: usize| digest.iter().take(len / 2).map(|b| format!("{b:02x}")).collect::<String>();
        TemplateKey { backend, family: hex(&family.finalize(), 8), graph: hex(&graph.finalize(), 16) }
    }

    /// `mrs_tpl_<family>_<graph>`: a plain identifier on every backend.
    fn template_name(&self) -> String {
        format!("mrs_tpl_{}_{}", self.family, self.graph)
    }

    /// The prefix every template of this family starts with.
    fn family_prefix(&self) -> String {
        format!("mrs_tpl_{}_", self.family)
    }

    /// `mrs_test_<family>_<pid>_<n>`: unique within this process and, by the
    /// process id, among the processes of one machine.
    fn clone_name(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        format!("mrs_test_{}_{}_{}_{nanos}", self.family, std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spares_setting_is_a_whole_number_or_an_error_naming_the_variable() {
        assert_eq!(spares_setting(None).unwrap(), DEFAULT_SPARES);
        assert_eq!(spares_setting(Some(" 8 ".to_owned())).unwrap(), 8);
        assert_eq!(spares_setting(Some("0".to_owned())).unwrap(), 0);
        for bad in ["two", "-1", ""] {
            let error = spares_setting(Some(bad.to_owned())).unwrap_err().to_string();
            assert!(error.contains("MIGRATIONS_RS_TEST_SPARES") && error.contains("whole number"), "{bad:?}: {error}");
        }
    }
}
