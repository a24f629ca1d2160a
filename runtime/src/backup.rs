//! Backups taken before a run that includes a risky migration: a snapshot
//! of the database file on SQLite (`VACUUM INTO`), and a command of the
//! operator's choosing on PostgreSQL and MySQL/MariaDB. A backup that fails
//! stops the run before anything changes.

use crate::backend::{Backend, ConnRef, Connection, dispatch};
use crate::error::{Error, Result};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// How to back up before risky migrations.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Whether to back up at all.
    pub enabled: bool,
    /// Where SQLite snapshots go; by default beside the database file.
    pub directory: Option<PathBuf>,
    /// A shell command that backs up a PostgreSQL or MySQL/MariaDB database.
    /// It finds the database in `MIGRATIONS_RS_DATABASE_URL`, and the
    /// migration that made the backup necessary in `MIGRATIONS_RS_BACKUP_REASON`.
    pub command: Option<String>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions { enabled: true, directory: None, command: None }
    }
}

/// The backup a run took, or why it took none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backup {
    /// A copy of the SQLite database file.
    Snapshot { path: PathBuf, reason: String },
    /// The backup command ran and succeeded.
    Command { reason: String },
    /// No backup was taken, and why; the run went on.
    Skipped { reason: String },
}

/// Backs up the database of `conn` before `reason` (the first risky migration)
/// runs; `None` for a SQLite database that holds nothing but `bookkeeping`
/// tables (migrations-rs's own), where there is nothing to back up.
pub(crate) async fn take(
    conn: &mut Connection,
    options: &BackupOptions,
    reason: &str,
    bookkeeping: &[&str],
) -> Result<Option<Backup>> {
    if !options.enabled {
        return Ok(Some(Backup::Skipped { reason: "backups are turned off".to_owned() }));
    }
    match conn.backend() {
        Backend::Sqlite if holds_no_data(conn, bookkeeping).await? => Ok(None),
        Backend::Sqlite => snapshot(conn, options, reason).await.map(Some),
        Backend::Postgres | Backend::MySql => match &options.command {
            Some(command) => run_command(conn, command, reason).await.map(Some),
            None => Ok(Some(Backup::Skipped {
                reason: format!(
                    "no backup command is configured for {}: set --backup-command or `backup_command` in migrations.toml",
                    conn.backend()
                ),
            })),
        },
    }
}

/// Whether a SQLite database has no table or view besides `bookkeeping`.
async fn holds_no_data(conn: &mut Connection, bookkeeping: &[&str]) -> Result<bool> {
    let names: Vec<String> = dispatch!(conn.as_ref(), ConnRef, c => {
        sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&mut *c)
        .await
    })?;
    Ok(names.iter().all(|name| bookkeeping.contains(&name.as_str())))
}

async fn snapshot(conn: &mut Connection, options: &BackupOptions, reason: &str) -> Result<Backup> {
    let database = SqliteConnectOptions::from_str(conn.url().expose())
        .map_err(|cause| Error::Backup { detail: format!("cannot read the SQLite URL: {cause}") })?;
    let file = database.get_filename().to_path_buf();
    if !file.is_file() {
        return Ok(Backup::Skipped { reason: "the SQLite database is in memory; there is no file to copy".to_owned() });
    }
    let directory = options.directory.clone().unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).to_path_buf());
    std::fs::create_dir_all(&directory).map_err(|cause| Error::Backup {
        detail: format!("cannot create the backup directory {}: {cause}", directory.display()),
    })?;
    let path = free_path(&directory, &file);
    let sql = format!("VACUUM INTO '{}'", path.display().to_string().replace('\'', "''"));
    dispatch!(conn.as_ref(), ConnRef, c => {
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *c).await.map(drop)
    })
    .map_err(|cause| Error::Backup { detail: format!("VACUUM INTO {} failed: {cause}", path.display()) })?;
    Ok(Backup::Snapshot { path, reason: reason.to_owned() })
}

/// `<stem>.backup-<unix time>[-n].db` in `directory`, not taken yet: one
/// `.gitignore` line, `*.backup-*.db`, covers every snapshot.
fn free_path(directory: &Path, file: &Path) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "database".into(), |n| n.to_string_lossy().into_owned());
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut path = directory.join(format!("{stem}.backup-{secs}.db"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = directory.join(format!("{stem}.backup-{secs}-{n}.db"));
    }
    path
}

async fn run_command(conn: &Connection, command: &str, reason: &str) -> Result<Backup> {
    let mut process = std::process::Command::new("sh");
    process
        .arg("-c")
        .arg(command)
        .env("MIGRATIONS_RS_DATABASE_URL", conn.url().expose())
        .env("MIGRATIONS_RS_BACKEND", conn.backend().name())
        .env("MIGRATIONS_RS_BACKUP_REASON", reason)
        .stdin(std::process::Stdio::null());
    // On a blocking thread, so a lease heartbeat keeps running meanwhile.
    let output = tokio::task::spawn_blocking(move || process.output())
        .await
        .map_err(|cause| Error::Backup { detail: format!("the backup command did not finish: {cause}") })?
        .map_err(|cause| Error::Backup { detail: format!("cannot start the backup command with sh: {cause}") })?;
    if output.status.success() {
        return Ok(Backup::Command { reason: reason.to_owned() });
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    // The command may echo the URL it was given; never repeat its password.
    let tail = tail.join(" / ").replace(conn.url().expose(), &conn.url().redacted());
    Err(Error::Backup {
        detail: format!(
            "the backup command exited with {}{}",
            output.status,
            if tail.is_empty() { String::new() } else { format!(": {tail}") }
        ),
    })
}
