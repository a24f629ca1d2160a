//! Backups taken before a run that includes a risky migration: a snapshot
//! of the database file on SQLite (`VACUUM INTO`), and a command of the
//! operator's choosing on PostgreSQL and MySQL/MariaDB. A backup that fails
//! stops the run before anything changes.

use crate::backend::Connection;
#[cfg(feature = "sqlite")]
use crate::backend::sqlite::SqliteDatabase;
use crate::error::{Error, Result};
use crate::remedy::Remedy;
use serde::Serialize;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};
#[cfg(feature = "sqlite")]
use {
    std::path::Path,
    std::time::{SystemTime, UNIX_EPOCH},
};

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
    /// How long the command may run; then it is killed, with every process it
    /// started, and the run stops before anything changes.
    pub timeout: Duration,
    /// How many SQLite snapshots of one database to keep in the snapshot
    /// folder: after a new one is written, the oldest beyond this many are
    /// deleted. At least 1.
    pub keep: usize,
}

/// How many SQLite snapshots of one database are kept unless told otherwise.
pub const DEFAULT_KEEP_SNAPSHOTS: usize = 5;

/// How long a backup command may run unless told otherwise: an hour.
pub const DEFAULT_BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            enabled: true,
            directory: None,
            command: None,
            timeout: DEFAULT_BACKUP_TIMEOUT,
            keep: DEFAULT_KEEP_SNAPSHOTS,
        }
    }
}

/// The backup a run took, or why it took none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Backup {
    /// A copy of the SQLite database file.
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The backup command ran and succeeded.
    Command {
        /// Why.
        reason: String,
    },
    /// No backup was taken, and why; the run went on.
    Skipped {
        /// Why no backup was taken.
        reason: String,
        /// What would make the next run take one, when something would.
        #[serde(skip_serializing_if = "Option::is_none")]
        remedy: Option<Remedy>,
    },
    /// Backups are turned off ([`BackupOptions::enabled`] is false, `--no-backup`): nothing to warn about.
    Disabled,
}

/// Backs up the database of `conn` before `reason` (the first risky migration)
/// runs; `None` for a SQLite database that holds nothing but `bookkeeping`
/// tables (migrations-rs's own), where there is nothing to back up.
#[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
pub(crate) async fn take(
    conn: &mut Connection,
    options: &BackupOptions,
    reason: &str,
    bookkeeping: &[&str],
) -> Result<Option<Backup>> {
    if !options.enabled {
        return Ok(Some(Backup::Disabled));
    }
    #[cfg(feature = "sqlite")]
    if let Some(mut sqlite) = conn.sqlite() {
        // Nothing but migrations-rs's own tables: nothing to back up.
        let tables = sqlite.tables().await?;
        if tables.iter().all(|name| bookkeeping.contains(&name.as_str())) {
            return Ok(None);
        }
        return snapshot(sqlite, options, reason).await.map(Some);
    }
    match &options.command {
        Some(command) => run_command(conn, command, options.timeout, reason).await.map(Some),
        None => Ok(Some(Backup::Skipped {
            reason: format!("no backup command is configured for {}", conn.backend()),
            remedy: Some(Remedy::ConfigureBackupCommand),
        })),
    }
}

/// A copy of the SQLite database's file beside it (or in the configured directory).
#[cfg(feature = "sqlite")]
async fn snapshot(mut sqlite: SqliteDatabase<'_>, options: &BackupOptions, reason: &str) -> Result<Backup> {
    let Some(file) = sqlite.file()? else {
        return Ok(Backup::Skipped {
            reason: "the SQLite database is in memory; there is no file to copy".to_owned(),
            remedy: None,
        });
    };
    let directory = options.directory.clone().unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).to_path_buf());
    std::fs::create_dir_all(&directory).map_err(|cause| Error::Backup {
        detail: format!("cannot create the backup directory {}: {cause}", directory.display()),
    })?;
    let path = free_path(&directory, &file);
    sqlite.copy_to(&path).await?;
    prune_snapshots(&directory, &file, options.keep.max(1));
    Ok(Backup::Snapshot { path, reason: reason.to_owned() })
}

/// Deletes the oldest snapshots of `file` in `directory` beyond the newest
/// `keep`. Only files named as [`free_path`] names them are touched; one that
/// cannot be deleted is left, with a warning in the log.
#[cfg(feature = "sqlite")]
fn prune_snapshots(directory: &Path, file: &Path, keep: usize) {
    let stem = file.file_stem().map_or_else(|| "database".into(), |n| n.to_string_lossy().into_owned());
    let prefix = format!("{stem}.backup-");
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    let mut snapshots: Vec<(u64, u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let taken = name.strip_prefix(&prefix)?.strip_suffix(".db")?;
            // `<unix time>` or `<unix time>-<n>`, as free_path writes them.
            let (secs, n) = match taken.split_once('-') {
                Some((secs, n)) => (secs.parse().ok()?, n.parse().ok()?),
                None => (taken.parse().ok()?, 1),
            };
            Some((secs, n, entry.path()))
        })
        .collect();
    snapshots.sort();
    let excess = snapshots.len().saturating_sub(keep);
    for (_, _, old) in snapshots.into_iter().take(excess) {
        if let Err(error) = std::fs::remove_file(&old) {
            tracing::warn!(path = %old.display(), %error, "could not delete an old snapshot");
        }
    }
}

/// Runs `process` to its end, or kills its process group after `timeout`.
fn run_with_timeout(mut process: std::process::Command, timeout: Duration) -> Result<Output> {
    let mut child = process
        .spawn()
        .map_err(|cause| Error::Backup { detail: format!("cannot start the backup command with sh: {cause}") })?;
    // Read both streams as they come, so a command that writes a lot never blocks on a full pipe.
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                kill_group(&mut child);
                return Err(Error::Backup {
                    detail: format!(
                        "the backup command was still running after {} s, so it was killed; give it longer with \
                         --backup-timeout, or make it faster",
                        timeout.as_secs()
                    ),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50).min(timeout)),
            Err(cause) => {
                kill_group(&mut child);
                return Err(Error::Backup { detail: format!("cannot wait for the backup command: {cause}") });
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Output { status, stdout, stderr })
}

/// Kills the command and every process in its group, then reaps it.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        let group = format!("-{}", child.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `<stem>.backup-<unix time>[-n].db` in `directory`, not taken yet: one
/// `.gitignore` line, `*.backup-*.db`, covers every snapshot.
#[cfg(feature = "sqlite")]
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

async fn run_command(conn: &Connection, command: &str, timeout: Duration, reason: &str) -> Result<Backup> {
    let mut process = std::process::Command::new("sh");
    process
        .arg("-c")
        .arg(command)
        .env("MIGRATIONS_RS_DATABASE_URL", conn.url().expose())
        .env("MIGRATIONS_RS_BACKEND", conn.backend().name())
        .env("MIGRATIONS_RS_BACKUP_REASON", reason)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own, so a timeout kills whatever the shell started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut process, 0);
    // On a blocking thread, so a lease heartbeat keeps running meanwhile.
    let output = tokio::task::spawn_blocking(move || run_with_timeout(process, timeout))
        .await
        .map_err(|cause| Error::Backup { detail: format!("the backup command did not finish: {cause}") })??;
    if output.status.success() {
        return Ok(Backup::Command { reason: reason.to_owned() });
    }
    // The command may echo the URL it was given, or the password alone: never repeat either.
    let shown = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let tail: Vec<&str> = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
        conn.url().scrub(&tail.join(" / "))
    };
    let (stdout, stderr) = (shown(&output.stdout), shown(&output.stderr));
    let mut detail = format!("the backup command exited with {}", output.status);
    if !stderr.is_empty() {
        detail.push_str(&format!(": {stderr}"));
    }
    if !stdout.is_empty() {
        detail.push_str(&format!(" (its output: {stdout})"));
    }
    Err(Error::Backup { detail })
}
