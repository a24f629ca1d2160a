//! Scratch databases: a database of its own for one run of `verify` or
//! `drift` to apply migrations on, never the target itself.
//!
//! Beside a PostgreSQL or MySQL/MariaDB target, a scratch database is a new
//! database on the same server, named `migrations_rs_scratch_<host>_<pid>_<n>`
//! after the process that owns it; beside a SQLite target it is a file in the
//! temporary directory named the same way. It is dropped when its
//! [`ScratchDatabase`] is dropped (or at once by [`ScratchDatabase::finish`]).
//! A run that was killed cannot drop its own: the next run that creates one on
//! the same server finds every scratch database of this host whose process is
//! no longer alive and drops it first.
//!
//! A user that may not create databases can name an existing, empty database
//! instead ([`ScratchDatabase::existing`]): it is used as it is, and emptied
//! again when done, never dropped.

use crate::backend::{Backend, Connection, Server, drop_everything_sql};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::history;
use crate::url::DatabaseUrl;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What every scratch database's name starts with.
pub const PREFIX: &str = "migrations_rs_scratch_";

/// A database to apply migrations on, dropped (or, when it was given,
/// emptied) when this value is dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    url: DatabaseUrl,
    place: Place,
    done: bool,
}

#[derive(Debug, Clone)]
enum Place {
    /// Created beside the target, on its server: dropped when done.
    Created { server: DatabaseUrl, name: String },
    /// A temporary SQLite file: deleted when done.
    File(PathBuf),
    /// An existing empty database named by the caller: emptied when done.
    Given,
}

impl ScratchDatabase {
    /// A new database beside `target`: on the same server for PostgreSQL and
    /// MySQL/MariaDB, a temporary file for SQLite. Scratch databases that
    /// killed runs of this host left behind are dropped first.
    pub async fn beside(target: &DatabaseUrl) -> Result<Self> {
        let name = next_name();
        match Server::of(target.backend()) {
            None => {
                let dir = sqlite_dir();
                std::fs::create_dir_all(&dir).map_err(|e| {
                    Error::msg(format!("cannot create the folder {} for scratch databases: {e}", dir.display()))
                })?;
                drop_leftover_files(&dir);
                let path = dir.join(format!("{name}.db"));
                remove_sqlite_files(&path);
                let url = DatabaseUrl::parse(&format!("sqlite://{}?mode=rwc", path.display()))?;
                Ok(ScratchDatabase { url, place: Place::File(path), done: false })
            }
            Some(server) => {
                let mut admin = Admin::connect(server, target).await?;
                admin.drop_leftovers().await;
                // A database of this name was left by a dead process that had our pid.
                admin.drop_database(&name).await?;
                admin.create_database(&name).await?;
                admin.close().await;
                let url = database_url(target, &name)?;
                Ok(ScratchDatabase { url, place: Place::Created { server: target.clone(), name }, done: false })
            }
        }
    }

    /// `url`, an existing database that must be empty, used instead of a new
    /// one (for a user that may not create databases). Refused when it is
    /// `target` itself or holds anything. Emptied again when done.
    pub async fn existing(url: &DatabaseUrl, target: &DatabaseUrl) -> Result<Self> {
        if url.backend() != target.backend() {
            return Err(Error::msg(format!(
                "the scratch database {url} is on {}, but the target is on {}: the schemas would not compare",
                url.backend(),
                target.backend()
            )));
        }
        if same_database(url, target) {
            return Err(Error::msg(format!(
                "the scratch database {url} is the target database itself: a scratch database is emptied after use, \
                 so it must be another, empty database"
            )));
        }
        let objects = count_objects(url).await?;
        if objects > 0 {
            return Err(Error::msg(format!(
                "the scratch database {url} is not empty ({objects} object(s) found): a scratch database is emptied \
                 after use, so it must be an empty database kept for that"
            )));
        }
        Ok(ScratchDatabase { url: url.clone(), place: Place::Given, done: false })
    }

    /// Where the scratch database is: connect to it with this.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Its name on the server, its file, or its URL when it was given.
    pub fn name(&self) -> String {
        match &self.place {
            Place::Created { name, .. } => name.clone(),
            Place::File(path) => path.display().to_string(),
            Place::Given => self.url.redacted(),
        }
    }

    /// Drops it now (empties it, when it was given), reporting a failure.
    /// Dropping the value does the same in the background, ignoring failures.
    pub async fn finish(mut self) -> Result<()> {
        self.done = true;
        clean_up(&self.url, &self.place).await
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (url, place) = (self.url.clone(), self.place.clone());
        // A runtime of its own: the caller's may be gone or busy.
        let cleaner = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            if let Err(error) = runtime.block_on(clean_up(&url, &place)) {
                tracing::warn!(%error, "could not remove the scratch database");
            }
        });
        let _ = cleaner.join();
    }
}

async fn clean_up(url: &DatabaseUrl, place: &Place) -> Result<()> {
    match place {
        Place::File(path) => {
            remove_sqlite_files(path);
            Ok(())
        }
        Place::Created { server, name } => {
            let Some(kind) = Server::of(server.backend()) else { return Ok(()) };
            let mut admin = Admin::connect(kind, server).await?;
            let dropped = admin.drop_database(name).await;
            admin.close().await;
            dropped
        }
        Place::Given => empty(url).await,
    }
}

/// `migrations_rs_scratch_<host>_<pid>_<n>`, unique on this host while this process lives.
fn next_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{PREFIX}{}_{}_{}", host_tag(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// This host's name as a plain identifier: lowercase letters and digits, at most 16.
fn host_tag() -> String {
    let tag: String =
        history::host().chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).take(16).collect();
    if tag.is_empty() { "host".to_owned() } else { tag }
}

/// Whether `name` is a scratch database of this host whose process is gone.
fn is_leftover(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else { return false };
    let mut parts = rest.rsplitn(3, '_');
    let (Some(n), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let (Ok(_), Ok(pid)) = (n.parse::<u64>(), pid.parse::<u32>()) else { return false };
    host == host_tag() && pid != std::process::id() && !process_alive(pid)
}

/// Whether process `pid` of this host is running; `true` when that cannot be told.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

/// `<temporary directory>/migrations-rs-scratch`.
fn sqlite_dir() -> PathBuf {
    std::env::temp_dir().join("migrations-rs-scratch")
}

fn drop_leftover_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = file.strip_suffix(".db")
            && is_leftover(stem)
        {
            tracing::info!(file = %entry.path().display(), "removing a scratch database a killed run left");
            remove_sqlite_files(&entry.path());
        }
    }
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// `server` with its database replaced by `name`.
pub(crate) fn database_url(server: &DatabaseUrl, name: &str) -> Result<DatabaseUrl> {
    let raw = server.expose();
    let (base, query) = raw.split_once('?').map_or((raw, None), |(base, query)| (base, Some(query)));
    let prefix = match base.split_once("://") {
        Some((_, rest)) if rest.contains('/') => &base[..base.rfind('/').expect("a slash")],
        _ => base,
    };
    let url = match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    };
    DatabaseUrl::parse(&url)
}

/// Whether two URLs name the same database (the same file for SQLite).
fn same_database(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    let strip = |url: &DatabaseUrl| {
        let raw = url.expose();
        let base = raw.split('?').next().unwrap_or(raw).trim_end_matches('/');
        match url.backend() {
            Backend::Sqlite => {
                let path = base.trim_start_matches("sqlite:").trim_start_matches("//");
                std::fs::canonicalize(path).map_or_else(|_| path.to_owned(), |p| p.display().to_string())
            }
            _ => base.to_owned(),
        }
    };
    strip(a) == strip(b)
}

/// A connection to the server of a target, for creating and dropping databases.
struct Admin {
    server: Server,
    conn: Connection,
    /// The target's server, as errors name it.
    url: DatabaseUrl,
}

impl Admin {
    /// Connects to the target's database, or, when that fails (it may not
    /// exist yet), to a database every server has on the same server.
    async fn connect(server: Server, target: &DatabaseUrl) -> Result<Self> {
        let conn = match Connection::connect(target).await {
            Ok(conn) => conn,
            Err(error) => {
                let fallback = database_url(target, server.always_there())?;
                Connection::connect(&fallback).await.map_err(|_| error)?
            }
        };
        Ok(Admin { server, conn, url: target.clone() })
    }

    async fn execute(&mut self, sql: &str) -> Result<()> {
        Db::new(self.conn.as_ref()).execute(sql).await.map(drop)
    }

    async fn create_database(&mut self, name: &str) -> Result<()> {
        let sql = self.server.create_database(name);
        self.execute(&sql).await.map_err(|cause| self.refused("create", cause))
    }

    async fn drop_database(&mut self, name: &str) -> Result<()> {
        let sql = self.server.drop_database(name);
        self.execute(&sql).await.map_err(|cause| self.refused("drop", cause))
    }

    /// Drops every scratch database of this host whose process is gone.
    async fn drop_leftovers(&mut self) {
        let query = self.server.databases_like(&format!("{}%", PREFIX.replace('_', "\\_")));
        let names = strings(&mut self.conn, &query, "name").await;
        for name in names.unwrap_or_default().iter().filter(|name| is_leftover(name)) {
            tracing::info!(database = %name, "dropping a scratch database a killed run left");
            if let Err(error) = self.drop_database(name).await {
                tracing::warn!(%error, database = %name, "could not drop a scratch database a killed run left");
            }
        }
    }

    /// The error of a refused `CREATE DATABASE` or `DROP DATABASE`, naming the privilege when it is missing.
    fn refused(&self, action: &'static str, cause: Error) -> Error {
        let code = match &cause {
            Error::Database(error) => error.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned()),
            Error::Statement(statement) => statement.code.clone(),
            _ => None,
        };
        let missing = code.is_some_and(|code| self.server.lacks_privilege(&code));
        let backend = match self.server {
            Server::Postgres => Backend::Postgres,
            Server::MySql => Backend::MySql,
        };
        Error::ScratchDatabase {
            action,
            server: self.url.redacted(),
            cause: match &cause {
                Error::Database(error) => crate::database_error::describe(error),
                other => other.to_string(),
            },
            missing_privilege: missing.then(|| format!("{} ({backend})", self.server.create_privilege())),
        }
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The text column `column` of every row `query` returns.
async fn strings(conn: &mut Connection, query: &str, column: &str) -> Result<Vec<String>> {
    let rows = Db::new(conn.as_ref()).fetch_all(query).await?;
    rows.iter().map(|row| row.get::<String>(column)).collect()
}

/// How many objects a given scratch database holds.
async fn count_objects(url: &DatabaseUrl) -> Result<usize> {
    let mut conn = Connection::connect(url).await?;
    let found = strings(&mut conn, drop_everything_sql(url.backend()), "statement").await;
    let _ = conn.close().await;
    Ok(found?.len())
}

/// Drops every object of a given scratch database. Dropping one object can
/// drop others, or fail while another depends on it: the statements are run
/// in rounds, each failure left for the next, until nothing is left.
async fn empty(url: &DatabaseUrl) -> Result<()> {
    let mut conn = Connection::connect(url).await?;
    let result = async {
        match url.backend() {
            Backend::MySql => Db::new(conn.as_ref()).execute("SET FOREIGN_KEY_CHECKS = 0").await.map(drop)?,
            Backend::Sqlite => Db::new(conn.as_ref()).execute("PRAGMA foreign_keys = OFF").await.map(drop)?,
            Backend::Postgres => {}
        }
        let mut last_error = None;
        for _ in 0..5 {
            let statements = strings(&mut conn, drop_everything_sql(url.backend()), "statement").await?;
            if statements.is_empty() {
                return Ok(());
            }
            for statement in statements {
                if let Err(error) = Db::new(conn.as_ref()).execute(statement.as_str()).await {
                    last_error = Some(error);
                }
            }
        }
        match last_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
    .await;
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_is_a_scratch_database_of_this_host_whose_process_is_gone() {
        let mine = next_name();
        assert!(mine.starts_with(PREFIX) && !is_leftover(&mine), "{mine}");
        // Process ids above the kernel's limit are never alive.
        let dead = format!("{PREFIX}{}_{}_0", host_tag(), u32::MAX - 1);
        assert_eq!(is_leftover(&dead), Path::new("/proc/self").exists());
        let other_host = format!("{PREFIX}elsewhere{}_{}_0", host_tag(), u32::MAX - 1);
        assert!(!is_leftover(&other_host));
        assert!(!is_leftover("migrations_rs_scratch_"));
        assert!(!is_leftover("mrs_test_x_1_2"));
    }

    #[test]
    fn a_scratch_url_names_another_database_on_the_same_server() {
        let server = DatabaseUrl::parse("postgres://u:p@h:5432/app?sslmode=disable").unwrap();
        let url = database_url(&server, "migrations_rs_scratch_h_1_0").unwrap();
        assert_eq!(url.expose(), "postgres://u:p@h:5432/migrations_rs_scratch_h_1_0?sslmode=disable");
        assert!(same_database(&server, &DatabaseUrl::parse("postgres://u:p@h:5432/app").unwrap()));
        assert!(!same_database(&server, &url));
    }
}
