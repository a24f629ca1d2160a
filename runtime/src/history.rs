//! The history table (what is applied) and the append-only audit log (every
//! apply, revert and failure), written with backend-neutral sea-query.

use crate::backend::ConnRef;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::version::Version;
use sea_query::{ColumnDef, Expr, ExprTrait, Order, Query, Table};
use std::time::SystemTime;

/// The names of the history and log tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub history: String,
    pub log: String,
}

impl Default for Tables {
    fn default() -> Self {
        Tables { history: "migrations_rs_history".to_owned(), log: "migrations_rs_log".to_owned() }
    }
}

/// A row of the history table: one applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: Version,
    pub name: String,
    pub module: String,
    pub module_version: String,
    /// SHA-256 of the migration as applied, lowercase hex.
    pub checksum: String,
    /// Risk tags, comma-separated.
    pub risk: String,
    /// RFC 3339 UTC time the migration finished.
    pub applied_at: String,
    pub applied_by: String,
    pub execution_ms: i64,
    /// Migrations applied by one run share a batch number.
    pub batch: i64,
    /// Order of application, increasing.
    pub seq: i64,
}

/// What an audit log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Apply,
    Revert,
    ApplyFailed,
    RevertFailed,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Revert => "revert",
            Action::ApplyFailed => "apply_failed",
            Action::RevertFailed => "revert_failed",
        }
    }
}

/// One audit log entry to append.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub version: Version,
    pub name: String,
    pub action: Action,
    pub duration_ms: i64,
    pub batch: i64,
    pub error: Option<String>,
}

const HISTORY_COLUMNS: [&str; 11] = [
    "version",
    "name",
    "module",
    "module_version",
    "checksum",
    "risk",
    "applied_at",
    "applied_by",
    "execution_ms",
    "batch",
    "seq",
];

/// Creates both tables if they do not exist yet.
pub(crate) async fn ensure_tables(conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
    let mut db = Db::new(conn);
    db.exec(
        Table::create()
            .table(tables.history.clone())
            .if_not_exists()
            .col(ColumnDef::new("version").big_integer().not_null().primary_key())
            .col(ColumnDef::new("name").string_len(255).not_null())
            .col(ColumnDef::new("module").string_len(255).not_null())
            .col(ColumnDef::new("module_version").string_len(64).not_null())
            .col(ColumnDef::new("checksum").string_len(64).not_null())
            .col(ColumnDef::new("risk").string_len(64).not_null())
            .col(ColumnDef::new("applied_at").string_len(32).not_null())
            .col(ColumnDef::new("applied_by").string_len(255).not_null())
            .col(ColumnDef::new("execution_ms").big_integer().not_null())
            .col(ColumnDef::new("batch").big_integer().not_null())
            .col(ColumnDef::new("seq").big_integer().not_null()),
    )
    .await?;
    db.exec(
        Table::create()
            .table(tables.log.clone())
            .if_not_exists()
            .col(ColumnDef::new("id").integer().not_null().auto_increment().primary_key())
            .col(ColumnDef::new("version").big_integer().not_null())
            .col(ColumnDef::new("name").string_len(255).not_null())
            .col(ColumnDef::new("action").string_len(32).not_null())
            .col(ColumnDef::new("at").string_len(32).not_null())
            .col(ColumnDef::new("by").string_len(255).not_null())
            .col(ColumnDef::new("duration_ms").big_integer().not_null())
            .col(ColumnDef::new("batch").big_integer().not_null())
            .col(ColumnDef::new("error").text().null()),
    )
    .await
}

/// Every applied migration in order of application, in one query; `None`
/// when the history table does not exist yet.
pub(crate) async fn read_applied(conn: ConnRef<'_>, tables: &Tables) -> Result<Option<Vec<AppliedMigration>>> {
    let query =
        Query::select().columns(HISTORY_COLUMNS).from(tables.history.clone()).order_by("seq", Order::Asc).to_owned();
    let rows = match Db::new(conn).fetch_all(&query).await {
        Ok(rows) => rows,
        Err(Error::Database(error)) if crate::backend::is_missing_table(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    let corrupt = |detail: String| Error::CorruptHistory { table: tables.history.clone(), detail };
    rows.iter()
        .map(|row| {
            let version: i64 = row.get("version")?;
            Ok(AppliedMigration {
                version: Version::try_from(version).map_err(|e| corrupt(e.to_string()))?,
                name: row.get("name")?,
                module: row.get("module")?,
                module_version: row.get("module_version")?,
                checksum: row.get("checksum")?,
                risk: row.get("risk")?,
                applied_at: row.get("applied_at")?,
                applied_by: row.get("applied_by")?,
                execution_ms: row.get("execution_ms")?,
                batch: row.get("batch")?,
                seq: row.get("seq")?,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

pub(crate) async fn insert_applied(conn: ConnRef<'_>, tables: &Tables, applied: &AppliedMigration) -> Result<()> {
    let insert = Query::insert()
        .into_table(tables.history.clone())
        .columns(HISTORY_COLUMNS)
        .values_panic([
            i64::from(applied.version).into(),
            applied.name.clone().into(),
            applied.module.clone().into(),
            applied.module_version.clone().into(),
            applied.checksum.clone().into(),
            applied.risk.clone().into(),
            applied.applied_at.clone().into(),
            applied.applied_by.clone().into(),
            applied.execution_ms.into(),
            applied.batch.into(),
            applied.seq.into(),
        ])
        .to_owned();
    Db::new(conn).exec(&insert).await
}

pub(crate) async fn delete_applied(conn: ConnRef<'_>, tables: &Tables, version: Version) -> Result<()> {
    let delete = Query::delete()
        .from_table(tables.history.clone())
        .and_where(Expr::col("version").eq(i64::from(version)))
        .to_owned();
    Db::new(conn).exec(&delete).await
}

pub(crate) async fn append_log(conn: ConnRef<'_>, tables: &Tables, entry: &LogEntry) -> Result<()> {
    let insert = Query::insert()
        .into_table(tables.log.clone())
        .columns(["version", "name", "action", "at", "by", "duration_ms", "batch", "error"])
        .values_panic([
            i64::from(entry.version).into(),
            entry.name.clone().into(),
            entry.action.as_str().into(),
            now_rfc3339().into(),
            operator().into(),
            entry.duration_ms.into(),
            entry.batch.into(),
            entry.error.clone().into(),
        ])
        .to_owned();
    Db::new(conn).exec(&insert).await
}

/// The current UTC time as RFC 3339 with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Who runs the migrations: `user@host`, from the environment.
pub(crate) fn operator() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".to_owned());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{user}@{host}")
}
