//! The table of backfill cursors (`migrations_rs_backfills`): one row per
//! backfill of a migration, saying how far it got. The row is written in the
//! transaction of each batch, so it never disagrees with the data.

use crate::backend::{ConnRef, missing_table_as_none};
use crate::db::Db;
use crate::error::Result;
use crate::version::Version;
use sea_query::{ColumnDef, Expr, ExprTrait, Index, Query, Table, TableName};
use std::time::SystemTime;

/// The name of the cursor table, beside the history table.
pub const TABLE: &str = "migrations_rs_backfills";

/// Whether a backfill has walked its whole range.
pub(crate) const RUNNING: &str = "running";
pub(crate) const DONE: &str = "done";

/// A backfill's cursor row as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackfillCursor {
    /// The migration whose body runs the backfill.
    pub version: Version,
    /// The backfill's name within the migration (its table's name unless named).
    pub name: String,
    /// The table it walks.
    pub table: String,
    /// The integer key it walks the table by.
    pub key_column: String,
    /// The last key of the last committed batch.
    pub last_key: i64,
    /// The largest key when the backfill started: rows above it are not touched.
    pub upper_key: i64,
    /// Rows done, by every run so far.
    pub rows_done: i64,
    /// Rows in the range when the backfill started.
    pub total_rows: i64,
    /// Batches committed, by every run so far.
    pub batches: i64,
    /// SHA-256 of what each batch runs, lowercase hex.
    pub checksum: String,
    /// `running` (or interrupted) or `done`.
    pub state: String,
    /// When the backfill started, RFC 3339 UTC.
    pub started_at: String,
    /// When its last batch committed, RFC 3339 UTC.
    pub updated_at: String,
}

impl BackfillCursor {
    /// Whether the backfill walked its whole range.
    pub fn is_done(&self) -> bool {
        self.state == DONE
    }
}

/// The cursor table's columns.
pub(crate) const COLUMNS: [&str; 13] = [
    "version",
    "name",
    "table_name",
    "key_column",
    "last_key",
    "upper_key",
    "rows_done",
    "total_rows",
    "batches",
    "checksum",
    "state",
    "started_at",
    "updated_at",
];

pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Creates the cursor table if it does not exist yet.
pub(crate) async fn ensure_table(conn: ConnRef<'_>, table: &TableName) -> Result<()> {
    Db::new(conn)
        .exec(
            Table::create()
                .table(table.clone())
                .if_not_exists()
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(ColumnDef::new("name").string_len(190).not_null())
                .col(ColumnDef::new("table_name").string_len(255).not_null())
                .col(ColumnDef::new("key_column").string_len(255).not_null())
                .col(ColumnDef::new("last_key").big_integer().not_null())
                .col(ColumnDef::new("upper_key").big_integer().not_null())
                .col(ColumnDef::new("rows_done").big_integer().not_null())
                .col(ColumnDef::new("total_rows").big_integer().not_null())
                .col(ColumnDef::new("batches").big_integer().not_null())
                .col(ColumnDef::new("checksum").string_len(64).not_null())
                .col(ColumnDef::new("state").string_len(16).not_null())
                .col(ColumnDef::new("started_at").string_len(32).not_null())
                .col(ColumnDef::new("updated_at").string_len(32).not_null())
                .primary_key(Index::create().col("version").col("name")),
        )
        .await
}

fn row_to_cursor(row: &crate::db::Row) -> Result<BackfillCursor> {
    cursor_from_row(row, "")
}

/// The cursor in `row`, whose columns are the cursor table's each named
/// with `prefix` before it (where it is read beside other tables).
pub(crate) fn cursor_from_row(row: &crate::db::Row, prefix: &str) -> Result<BackfillCursor> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(BackfillCursor {
        version: Version::from_checked(u64::try_from(row.get::<i64>(&column("version"))?).unwrap_or(0)),
        name: row.get(&column("name"))?,
        table: row.get(&column("table_name"))?,
        key_column: row.get(&column("key_column"))?,
        last_key: row.get(&column("last_key"))?,
        upper_key: row.get(&column("upper_key"))?,
        rows_done: row.get(&column("rows_done"))?,
        total_rows: row.get(&column("total_rows"))?,
        batches: row.get(&column("batches"))?,
        checksum: row.get(&column("checksum"))?,
        state: row.get(&column("state"))?,
        started_at: row.get(&column("started_at"))?,
        updated_at: row.get(&column("updated_at"))?,
    })
}

/// The cursor of backfill `name` of migration `version`, if it has one.
pub(crate) async fn read(
    conn: ConnRef<'_>,
    table: &TableName,
    version: Version,
    name: &str,
) -> Result<Option<BackfillCursor>> {
    let query = Query::select()
        .columns(COLUMNS)
        .from(table.clone())
        .and_where(Expr::col("version").eq(version_value(version)))
        .and_where(Expr::col("name").eq(name))
        .to_owned();
    let rows = Db::new(conn).fetch_all(query).await?;
    rows.first().map(row_to_cursor).transpose()
}

/// Every backfill that has not walked its whole range: running now, or
/// interrupted. Empty when the table does not exist.
pub(crate) async fn unfinished(conn: ConnRef<'_>, table: &TableName) -> Result<Vec<BackfillCursor>> {
    let query = Query::select()
        .columns(COLUMNS)
        .from(table.clone())
        .and_where(Expr::col("state").ne(DONE))
        .order_by("version", sea_query::Order::Asc)
        .order_by("name", sea_query::Order::Asc)
        .to_owned();
    let rows = missing_table_as_none(Db::new(conn).fetch_all(query).await)?.unwrap_or_default();
    rows.iter().map(row_to_cursor).collect()
}

fn version_value(version: Version) -> i64 {
    i64::try_from(version.as_u64()).unwrap_or(i64::MAX)
}

/// Writes a new cursor, or replaces one that is being restarted.
pub(crate) async fn write_start(mut conn: ConnRef<'_>, table: &TableName, cursor: &BackfillCursor) -> Result<()> {
    let delete = Query::delete()
        .from_table(table.clone())
        .and_where(Expr::col("version").eq(version_value(cursor.version)))
        .and_where(Expr::col("name").eq(cursor.name.as_str()))
        .to_owned();
    Db::new(conn.reborrow()).exec(delete).await?;
    let insert = Query::insert()
        .into_table(table.clone())
        .columns(COLUMNS)
        .values_panic([
            version_value(cursor.version).into(),
            cursor.name.as_str().into(),
            cursor.table.as_str().into(),
            cursor.key_column.as_str().into(),
            cursor.last_key.into(),
            cursor.upper_key.into(),
            cursor.rows_done.into(),
            cursor.total_rows.into(),
            cursor.batches.into(),
            cursor.checksum.as_str().into(),
            cursor.state.as_str().into(),
            cursor.started_at.as_str().into(),
            cursor.updated_at.as_str().into(),
        ])
        .to_owned();
    Db::new(conn).exec(insert).await
}

/// Deletes the cursors of migration `version`, once it is reverted: applied
/// again, its backfills start over. `lookup` is the table's name as the
/// catalogue knows it, to check that it exists first (a failed statement
/// would abort a PostgreSQL transaction).
pub(crate) async fn forget(mut conn: ConnRef<'_>, table: &TableName, lookup: &str, version: Version) -> Result<()> {
    if !conn.table_exists(lookup).await? {
        return Ok(());
    }
    let delete =
        Query::delete().from_table(table.clone()).and_where(Expr::col("version").eq(version_value(version))).to_owned();
    Db::new(conn).exec(delete).await
}

/// Moves the cursor past a batch of `rows` rows ending at `last_key`, in the batch's transaction.
pub(crate) async fn advance(
    conn: ConnRef<'_>,
    table: &TableName,
    version: Version,
    name: &str,
    last_key: i64,
    rows: i64,
    done: bool,
) -> Result<()> {
    let update = Query::update()
        .table(table.clone())
        .value("last_key", last_key)
        .value("rows_done", Expr::col("rows_done").add(rows))
        .value("batches", Expr::col("batches").add(1))
        .value("state", if done { DONE } else { RUNNING })
        .value("updated_at", now())
        .and_where(Expr::col("version").eq(version_value(version)))
        .and_where(Expr::col("name").eq(name))
        .to_owned();
    Db::new(conn).exec(update).await
}
