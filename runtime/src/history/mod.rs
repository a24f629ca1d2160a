//! The history table (what is applied) and the append-only audit log (every
//! apply, revert and failure), written with backend-neutral sea-query.

mod framed;
mod stream;

pub(crate) use stream::{Read, StatusRow, for_each_status_row, for_each_status_row_typed, for_each_summary};

use crate::backend::{Backend, ConnRef, READ_AFTER, RowWrite, Together, has_schemas, missing_table_as_none};
use crate::damage::name_damage;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::version::Version;
use sea_query::{ColumnDef, DeleteStatement, Expr, ExprTrait, InsertStatement, Order, Query, Table, UpdateStatement};
use std::fmt;
use std::time::SystemTime;

/// The names of the tables migrations-rs keeps: the history, the audit log and the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub(crate) history: TableName,
    pub(crate) log: TableName,
    pub(crate) lock: TableName,
}

impl Default for Tables {
    fn default() -> Self {
        let name = |name: &str| TableName { schema: None, name: name.to_owned() };
        Tables {
            history: name("migrations_rs_history"),
            log: name("migrations_rs_log"),
            lock: name("migrations_rs_lock"),
        }
    }
}

impl Tables {
    /// Tables with the given names: plain identifiers, or `schema.table` on PostgreSQL.
    pub fn new(history: &str, log: &str, lock: &str) -> Result<Self> {
        let tables =
            Tables { history: TableName::parse(history)?, log: TableName::parse(log)?, lock: TableName::parse(lock)? };
        let names = [&tables.history, &tables.log, &tables.lock];
        if names.iter().enumerate().any(|(i, a)| names[i + 1..].contains(a)) {
            return Err(Error::InvalidTableName {
                name: format!("{history}, {log}, {lock}"),
                reason: "the history, log and lock tables need three different names".to_owned(),
            });
        }
        Ok(tables)
    }

    /// The history table.
    pub fn history(&self) -> &TableName {
        &self.history
    }

    /// The audit log table.
    pub fn log(&self) -> &TableName {
        &self.log
    }

    /// The lock table.
    pub fn lock(&self) -> &TableName {
        &self.lock
    }

    /// The table that keeps backfill cursors, in the history table's schema.
    pub(crate) fn backfills(&self) -> TableName {
        TableName { schema: self.history.schema.clone(), name: crate::backfill::TABLE.to_owned() }
    }

    /// Refuses schema-qualified names where the backend has no schemas to qualify them with.
    pub(crate) fn check_backend(&self, backend: Backend) -> Result<()> {
        for table in [&self.history, &self.log, &self.lock] {
            if table.schema.is_some() && !has_schemas(backend) {
                return Err(Error::InvalidTableName {
                    name: table.to_string(),
                    reason: format!("schema-qualified names work on PostgreSQL only, and this database is {backend}"),
                });
            }
        }
        Ok(())
    }
}

/// A validated table name, optionally schema-qualified. It is always quoted
/// by the query builder, never interpolated raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    schema: Option<String>,
    pub(crate) name: String,
}

impl TableName {
    /// A table name given by a person: `name`, or `schema.name` where the backend has schemas.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidTableName { name: text.to_owned(), reason: reason.to_owned() };
        let (schema, name) = match text.split_once('.') {
            Some((schema, name)) => (Some(schema), name),
            None => (None, text),
        };
        for part in schema.into_iter().chain([name]) {
            let mut chars = part.chars();
            let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || part.len() > 63 {
                return Err(invalid(
                    "use letters, digits and underscores, starting with a letter or underscore, at most 63 characters, \
                     optionally qualified by one schema as `schema.table`",
                ));
            }
        }
        Ok(TableName { schema: schema.map(str::to_owned), name: name.to_owned() })
    }

    /// The name as sea-query renders it, quoted for the backend.
    pub(crate) fn sea(&self) -> sea_query::TableName {
        sea_query::TableName(
            self.schema.clone().map(|schema| sea_query::SchemaName(None, schema.into())),
            self.name.clone().into(),
        )
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Whether a history row's migration finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Done.
    Applied,
    /// Recorded before a migration that cannot run atomically started; still
    /// there means the run failed or died part-way.
    Applying,
    /// Recorded before such a migration's `down` started.
    Reverting,
}

impl RowState {
    /// The name, as reports and the table write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RowState::Applied => "applied",
            RowState::Applying => "applying",
            RowState::Reverting => "reverting",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [RowState::Applied, RowState::Applying, RowState::Reverting].into_iter().find(|s| s.as_str() == text)
    }
}

/// A row of the history table: one applied migration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    /// The migration's version.
    pub version: Version,
    /// The migration's name.
    pub name: String,
    /// The module (crate or folder) it belongs to.
    pub module: String,
    /// The version of the crate it came from.
    pub module_version: String,
    /// SHA-256 of the migration as applied, lowercase hex.
    pub checksum: String,
    /// Risk tags, comma-separated.
    pub risk: String,
    /// RFC 3339 UTC time the migration finished.
    pub applied_at: String,
    /// Who applied it: the operator and host.
    pub applied_by: String,
    /// How long it took, in milliseconds.
    pub execution_ms: i64,
    /// Migrations applied by one run share a batch number.
    pub batch: i64,
    /// Order of application, increasing.
    pub seq: i64,
    /// Whether it is done or was left unfinished.
    pub state: RowState,
}

/// Which audit log entries to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// At most this many entries, newest first.
    pub limit: Option<u64>,
    /// Entries at or after this RFC 3339 UTC time.
    pub since: Option<String>,
    /// The migration's version.
    pub version: Option<Version>,
    /// What happened.
    pub action: Option<Action>,
    /// Entries older than the one with this id: the next page after it.
    pub before_id: Option<i64>,
}

/// One audit log entry as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRecord {
    /// The entry's number in the log.
    pub id: i64,
    /// The migration's version.
    pub version: Version,
    /// The migration's name.
    pub name: String,
    /// What happened.
    pub action: String,
    /// When it happened.
    pub at: String,
    /// `user@host` of whoever did it.
    pub performed_by: String,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The run it belongs to.
    pub batch: i64,
    /// Why a failed apply or revert failed.
    pub error: Option<String>,
    /// What an entry that is not a failure says of itself, such as how an
    /// adopted migration matched the other tool's.
    pub note: Option<String>,
}

/// What an audit log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A migration applied.
    Apply,
    /// A migration reverted.
    Revert,
    /// A migration that failed to apply.
    ApplyFailed,
    /// A migration that failed to revert.
    RevertFailed,
    /// Recorded as applied by hand.
    MarkApplied,
    /// Recorded as reverted by hand.
    MarkReverted,
    /// Checksums re-recorded.
    Repair,
    /// Recorded as applied by a baseline.
    Baseline,
    /// Recorded as applied because another tool's history says so.
    Adopt,
    /// A hook file ran (its name is the entry's name).
    Hook,
    /// A run stopped before this migration because its lock was lost.
    LockLost,
    /// A statement of this migration's step gave up waiting for a table's
    /// lock; the step was rolled back to be tried again. Its note says which
    /// try it was, the pause before the next and the database's error.
    LockRetry,
}

impl Action {
    /// Every action, in the order the log documents them.
    pub const ALL: [Action; 12] = [
        Action::Apply,
        Action::Revert,
        Action::ApplyFailed,
        Action::RevertFailed,
        Action::MarkApplied,
        Action::MarkReverted,
        Action::Repair,
        Action::Baseline,
        Action::Adopt,
        Action::Hook,
        Action::LockLost,
        Action::LockRetry,
    ];

    /// The action named `text`, as `as_str` writes it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }

    /// The name, as reports and the table write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Revert => "revert",
            Action::ApplyFailed => "apply_failed",
            Action::RevertFailed => "revert_failed",
            Action::MarkApplied => "mark_applied",
            Action::MarkReverted => "mark_reverted",
            Action::Repair => "repair",
            Action::Baseline => "baseline",
            Action::Adopt => "adopt",
            Action::Hook => "hook",
            Action::LockLost => "lock_lost",
            Action::LockRetry => "lock_retry",
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

const HISTORY_COLUMNS: [&str; 12] = [
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
    "state",
];

/// Creates both tables, and the backfills' cursor table the health report
/// reads with them, if they do not exist yet.
pub(crate) async fn ensure_tables(mut conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
    let mut db = Db::new(conn.reborrow());
    db.exec(
        Table::create()
            .table(tables.history.sea())
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
            .col(ColumnDef::new("seq").big_integer().not_null())
            .col(ColumnDef::new("state").string_len(16).not_null()),
    )
    .await?;
    // On SQLite an `INTEGER PRIMARY KEY` is the row id, which takes the
    // highest id plus one; `AUTOINCREMENT` would also write that id into
    // `sqlite_sequence`, one more page to write per entry. Entries are never
    // deleted, so both give the same ids.
    let mut id = ColumnDef::new("id");
    id.integer().not_null().primary_key();
    if db.backend() != Backend::Sqlite {
        id.auto_increment();
    }
    db.exec(
        Table::create()
            .table(tables.log.sea())
            .if_not_exists()
            .col(id)
            .col(ColumnDef::new("version").big_integer().not_null())
            .col(ColumnDef::new("name").string_len(255).not_null())
            .col(ColumnDef::new("action").string_len(32).not_null())
            .col(ColumnDef::new("at").string_len(32).not_null())
            .col(ColumnDef::new("performed_by").string_len(255).not_null())
            .col(ColumnDef::new("duration_ms").big_integer().not_null())
            .col(ColumnDef::new("batch").big_integer().not_null())
            .col(ColumnDef::new("error").text().null()),
    )
    .await?;
    crate::backfill::ensure_table(conn, &tables.backfills().sea()).await
}

/// The alias a bookkeeping table is read under. Its columns are named with it
/// because SQLite reads an unqualified quoted name that matches no column as
/// a string: a dropped column would read back as its own name, not fail.
const READ_AS: &str = "t";

fn qualified<const N: usize>(columns: [&'static str; N]) -> [(&'static str, &'static str); N] {
    columns.map(|column| (READ_AS, column))
}

/// Every applied migration in order of application, in one query; `None`
/// when the history table does not exist yet.
pub(crate) async fn read_applied(conn: ConnRef<'_>, tables: &Tables) -> Result<Option<Vec<AppliedMigration>>> {
    let query = Query::select()
        .columns(qualified(HISTORY_COLUMNS))
        .from_as(tables.history.sea(), READ_AS)
        .order_by((READ_AS, "seq"), Order::Asc)
        .to_owned();
    let fetched = missing_table_as_none(Db::new(conn).fetch_all(&query).await);
    let Some(rows) = name_damage(&tables.history, fetched)? else { return Ok(None) };
    let corrupt = |detail: String| Error::CorruptHistory { table: tables.history.to_string(), detail };
    let applied = rows
        .iter()
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
                state: {
                    let state: String = row.get("state")?;
                    RowState::parse(&state).ok_or_else(|| corrupt(format!("unknown state `{state}`")))?
                },
            })
        })
        .collect::<Result<Vec<_>>>();
    let applied = name_damage(&tables.history, applied)?;
    refuse_duplicates(tables, &mut applied.iter().map(|a| a.version).collect::<Vec<_>>())?;
    Ok(Some(applied))
}

/// A version recorded twice: the table lost its primary key and was written by hand or by another program.
/// Sorts `versions` to find out.
pub(crate) fn refuse_duplicates(tables: &Tables, versions: &mut [Version]) -> Result<()> {
    versions.sort_unstable();
    if versions.windows(2).all(|pair| pair[0] != pair[1]) {
        return Ok(());
    }
    let mut repeated: Vec<String> =
        versions.windows(2).filter(|pair| pair[0] == pair[1]).map(|pair| pair[0].to_string()).collect();
    repeated.dedup();
    Err(Error::CorruptHistory {
        table: tables.history.to_string(),
        detail: format!(
            "version {} is recorded more than once, so whether it is applied cannot be told; delete the extra rows \
             by hand and give the table back its primary key on `version`",
            repeated.join(", ")
        ),
    })
}

/// The highest batch number the audit log has seen (0 when none): with the
/// history's, it keeps a reverted run's batch number from being given again.
pub(crate) async fn max_logged_batch(conn: ConnRef<'_>, tables: &Tables) -> Result<i64> {
    let query = Query::select().expr_as(Expr::cust("COALESCE(MAX(batch), 0)"), "top").from(tables.log.sea()).to_owned();
    let Some(rows) = missing_table_as_none(Db::new(conn).fetch_all(&query).await)? else { return Ok(0) };
    rows.first().map_or(Ok(0), |row| row.get("top"))
}

/// Audit log entries matching `query`, newest first; none when the log does not exist yet.
pub(crate) async fn read_log(conn: ConnRef<'_>, tables: &Tables, query: &LogQuery) -> Result<Vec<LogRecord>> {
    let mut select = Query::select();
    select
        .columns(qualified(["id", "version", "name", "action", "at", "performed_by", "duration_ms", "batch", "error"]))
        .from_as(tables.log.sea(), READ_AS)
        .order_by((READ_AS, "id"), Order::Desc);
    if let Some(since) = &query.since {
        select.and_where(Expr::col((READ_AS, "at")).gte(since.clone()));
    }
    if let Some(version) = query.version {
        select.and_where(Expr::col((READ_AS, "version")).eq(i64::from(version)));
    }
    if let Some(action) = query.action {
        select.and_where(Expr::col((READ_AS, "action")).eq(action.as_str()));
    }
    if let Some(before_id) = query.before_id {
        select.and_where(Expr::col((READ_AS, "id")).lt(before_id));
    }
    if let Some(limit) = query.limit {
        // The databases take a signed 64-bit limit; a larger one means all of them.
        select.limit(std::cmp::Ord::min(limit, i64::MAX as u64));
    }
    let fetched = missing_table_as_none(Db::new(conn).fetch_all(&select).await);
    let Some(rows) = name_damage(&tables.log, fetched)? else { return Ok(Vec::new()) };
    let records = rows
        .iter()
        .map(|row| {
            let id: i32 = row.get("id")?;
            let version: i64 = row.get("version")?;
            let action: String = row.get("action")?;
            // One column holds both: a failure's error, any other entry's note.
            let text: Option<String> = row.get("error")?;
            let (error, note) = if action.ends_with("_failed") { (text, None) } else { (None, text) };
            Ok(LogRecord {
                id: i64::from(id),
                version: Version::try_from(version)?,
                name: row.get("name")?,
                action,
                at: row.get("at")?,
                performed_by: row.get("performed_by")?,
                duration_ms: row.get("duration_ms")?,
                batch: row.get("batch")?,
                error,
                note,
            })
        })
        .collect();
    name_damage(&tables.log, records)
}

pub(crate) async fn insert_applied(conn: ConnRef<'_>, tables: &Tables, applied: &AppliedMigration) -> Result<()> {
    name_damage(&tables.history, Db::new(conn).exec(&insert_applied_statement(tables, applied, None)).await)
}

fn insert_applied_statement(tables: &Tables, applied: &AppliedMigration, only_if: Option<&Expr>) -> InsertStatement {
    let mut insert = Query::insert();
    insert.into_table(tables.history.sea()).columns(HISTORY_COLUMNS);
    insert_row(
        &mut insert,
        [
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
            applied.state.as_str().into(),
        ],
        only_if,
    );
    insert
}

/// Adds the row `values` to `insert`; with `only_if`, no row unless the condition holds.
fn insert_row<const N: usize>(insert: &mut InsertStatement, values: [Expr; N], only_if: Option<&Expr>) {
    match only_if {
        None => {
            insert.values_panic(values);
        }
        Some(condition) => {
            let row = Query::select().exprs(values).and_where(condition.clone()).to_owned();
            insert.select_from(row).expect("as many values as columns");
        }
    }
}

/// Marks a row applied, with the time and duration of the run that finished it.
fn finish_applied_statement(tables: &Tables, version: Version, execution_ms: i64) -> UpdateStatement {
    Query::update()
        .table(tables.history.sea())
        .values([
            ("state", RowState::Applied.as_str().into()),
            ("applied_at", now_rfc3339().into()),
            ("applied_by", operator().into()),
            ("execution_ms", execution_ms.into()),
        ])
        .and_where(Expr::col("version").eq(i64::from(version)))
        .to_owned()
}

pub(crate) async fn set_checksum(conn: ConnRef<'_>, tables: &Tables, version: Version, checksum: &str) -> Result<()> {
    let update = Query::update()
        .table(tables.history.sea())
        .value("checksum", checksum)
        .and_where(Expr::col("version").eq(i64::from(version)))
        .to_owned();
    name_damage(&tables.history, Db::new(conn).exec(&update).await)
}

pub(crate) async fn set_state(conn: ConnRef<'_>, tables: &Tables, version: Version, state: RowState) -> Result<()> {
    let update = Query::update()
        .table(tables.history.sea())
        .value("state", state.as_str())
        .and_where(Expr::col("version").eq(i64::from(version)))
        .to_owned();
    name_damage(&tables.history, Db::new(conn).exec(&update).await)
}

pub(crate) async fn delete_applied(conn: ConnRef<'_>, tables: &Tables, version: Version) -> Result<()> {
    name_damage(&tables.history, Db::new(conn).exec(&delete_applied_statement(tables, version)).await)
}

fn delete_applied_statement(tables: &Tables, version: Version) -> DeleteStatement {
    Query::delete().from_table(tables.history.sea()).and_where(Expr::col("version").eq(i64::from(version))).to_owned()
}

pub(crate) async fn append_log(conn: ConnRef<'_>, tables: &Tables, entry: &LogEntry) -> Result<()> {
    name_damage(&tables.log, Db::new(conn).exec(&append_log_statement(tables, entry)).await)
}

fn append_log_statement(tables: &Tables, entry: &LogEntry) -> InsertStatement {
    log_insert(tables, entry, None)
}

/// The insert of `entry`; with `only_if`, an insert of no row unless the
/// condition holds.
fn log_insert(tables: &Tables, entry: &LogEntry, only_if: Option<&Expr>) -> InsertStatement {
    let values: [Expr; 8] = [
        i64::from(entry.version).into(),
        entry.name.clone().into(),
        entry.action.as_str().into(),
        now_rfc3339().into(),
        operator().into(),
        entry.duration_ms.into(),
        entry.batch.into(),
        entry.error.clone().into(),
    ];
    let mut insert = Query::insert();
    insert.into_table(tables.log.sea()).columns([
        "version",
        "name",
        "action",
        "at",
        "performed_by",
        "duration_ms",
        "batch",
        "error",
    ]);
    insert_row(&mut insert, values, only_if);
    insert
}

/// What a finished step changes in the history table.
pub(crate) enum HistoryChange<'a> {
    /// Its row, new: an atomic step's apply.
    Insert(&'a AppliedMigration),
    /// Its unfinished row, marked applied with the duration of the run that finished it.
    Finish { version: Version, execution_ms: i64 },
    /// Its row, deleted: a revert.
    Delete(Version),
}

/// What a finished step writes in one round trip (see [`Together`]).
pub(crate) struct StepRecord<'a> {
    pub change: HistoryChange<'a>,
    pub entry: &'a LogEntry,
    /// The unfinished row of the step that runs next, written ahead of it.
    pub next: Option<&'a AppliedMigration>,
    /// A renewal of the lease that returns a row when it renews, sent first.
    pub renewal: Option<UpdateStatement>,
    /// Whether this process holds the lock, as SQL: on PostgreSQL a condition
    /// without which nothing is written (the record is one statement), on
    /// MySQL/MariaDB a value read after the writes.
    pub lock_held: Option<Expr>,
    /// The step's transaction was ended by a statement that committed it
    /// (MySQL/MariaDB's DDL): the writes begin a new one, to commit together.
    pub after_implicit_commit: bool,
}

/// Writes a finished step's history change and its audit log entry, and
/// what else `record` holds, in one round trip; whether the renewal renewed
/// the lease, or whether the lock was held, when `record` carried a renewal
/// or a `lock_held` condition. A caller that finds the lock lost rolls the
/// transaction back.
pub(crate) async fn record_step(conn: ConnRef<'_>, tables: &Tables, record: StepRecord<'_>) -> Result<Option<bool>> {
    let (only_if, read_after) = match (record.lock_held, conn.backend()) {
        (Some(held), Backend::MySql) => (None, Some(held)),
        (held, _) => (held, None),
    };
    // With a lock condition every write is conditional: a process that lost
    // the lock writes nothing, and so never waits on the rows of the one that took it.
    let only_if = only_if.as_ref();
    let change = match record.change {
        HistoryChange::Insert(applied) => RowWrite::Insert(insert_applied_statement(tables, applied, only_if)),
        HistoryChange::Finish { version, execution_ms } => {
            let mut update = finish_applied_statement(tables, version, execution_ms);
            if let Some(condition) = only_if {
                update.and_where(condition.clone());
            }
            RowWrite::Update(update)
        }
        HistoryChange::Delete(version) => {
            let mut delete = delete_applied_statement(tables, version);
            if let Some(condition) = only_if {
                delete.and_where(condition.clone());
            }
            RowWrite::Delete(delete)
        }
    };
    let renews = record.renewal.is_some();
    let reads_lock = read_after.is_some();
    let mut first: Vec<RowWrite> = record.renewal.into_iter().map(RowWrite::Update).collect();
    first.push(change);
    first.extend(record.next.map(|next| RowWrite::Insert(insert_applied_statement(tables, next, only_if))));
    let together = Together {
        first,
        then: log_insert(tables, record.entry, only_if),
        begin: record.after_implicit_commit,
        read_after,
    };
    let mut db = Db::new(conn);
    let written = if renews {
        // Only the renewal returns rows: one when it renewed.
        db.fetch_all(&together).await.map(|rows| Some(!rows.is_empty()))
    } else if reads_lock {
        // Only the read of the lock returns a row: 1 while this process holds it.
        // Several statements: not a prepared one.
        db.fetch_all_unprepared(&together).await.and_then(|rows| match rows.first() {
            Some(row) => Ok(Some(row.get::<i64>(READ_AFTER)? == 1)),
            None => Ok(Some(false)),
        })
    } else if only_if.is_some() {
        // Every write is conditional: one statement on PostgreSQL (what it
        // changed is the log entry), several on SQLite (the rows of all of
        // them); nothing is written unless the lock is held.
        db.execute(&together).await.map(|written| Some(written > 0))
    } else {
        db.exec(&together).await.map(|()| None)
    };
    // The database's message names the table where it can; MySQL/MariaDB's does not.
    let damaged = match &written {
        Err(Error::Database(sqlx::Error::Database(error))) if error.message().contains(&tables.log.name) => {
            tables.log.clone()
        }
        Err(Error::Database(sqlx::Error::Database(error))) if error.message().contains(&tables.history.name) => {
            tables.history.clone()
        }
        _ => TableName { schema: None, name: format!("{} or {}", tables.history, tables.log) },
    };
    name_damage(&damaged, written)
}

/// The current UTC time as RFC 3339 with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Who runs the migrations: `user@host`. The user is `USER`, else `LOGNAME`
/// (else `USERNAME` on Windows), else the operating system's user id
/// (`uid 1000`), else `unknown`.
pub(crate) fn operator() -> String {
    // Read once: every step's record and log entry name it.
    static OPERATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OPERATOR.get_or_init(|| format!("{}@{}", user(|name| std::env::var(name).ok(), os_user_id), host())).clone()
}

fn user(var: impl Fn(&str) -> Option<String>, os_user_id: impl Fn() -> Option<u32>) -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .filter_map(&var)
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
        .or_else(|| os_user_id().map(|id| format!("uid {id}")))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The id of the user running this process, where the system says.
#[cfg(unix)]
fn os_user_id() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    // The process's own entry in /proc belongs to its user.
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(not(unix))]
fn os_user_id() -> Option<u32> {
    None
}

/// This machine's name, for the history and the lock.
pub(crate) fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

#[cfg(test)]
mod operator_tests {
    use super::user;

    #[test]
    fn the_operator_is_user_else_logname_else_the_user_id_else_unknown() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(user(env(&[("USER", "ada"), ("LOGNAME", "bob")]), || Some(7)), "ada");
        assert_eq!(user(env(&[("LOGNAME", "bob")]), || Some(7)), "bob");
        assert_eq!(user(env(&[("USER", " "), ("LOGNAME", "bob")]), || Some(7)), "bob");
        assert_eq!(user(env(&[]), || Some(1000)), "uid 1000");
        assert_eq!(user(env(&[]), || None), "unknown");
    }
}
