//! History rows read as they stream in, one row held at a time: what
//! start-up needs of each row, and what `status` shows. Each column's type is
//! checked once per result; on SQLite the rows come framed in a few texts
//! ([`framed`](super::framed)).

use super::framed::{Columns, Framed};
use super::{READ_AS, RowState, Tables, qualified};
use crate::backend::{Backend, ConnRef, missing_table_as_none};
use crate::damage::name_damage;
use crate::error::{Error, Result};
use crate::version::Version;
use futures_util::TryStreamExt;
use sea_query::{Query, SelectStatement};
use sqlx::AssertSqlSafe;
use std::sync::atomic::{AtomicU64, Ordering};

/// One row of a bookkeeping table as it streams in, read by the column's
/// place in the query, text borrowed from the row.
trait StreamedRow {
    fn int(&self, index: usize) -> std::result::Result<i64, sqlx::Error>;
    fn text(&self, index: usize) -> std::result::Result<&str, sqlx::Error>;
    /// A text column's bytes, not checked to be UTF-8 after the first row:
    /// for what is only compared, such as a checksum's hex digits.
    fn text_bytes(&self, index: usize) -> std::result::Result<&[u8], sqlx::Error>;
}

/// The columns of a result already read once as an integer or as text, and
/// so known to have a type that decodes as one. With [`Check::FirstRow`] each
/// column's type is checked on the first read and not again: on PostgreSQL
/// that check costs more than decoding the value.
struct CheckedColumns {
    int: AtomicU64,
    text: AtomicU64,
    check: Check,
}

/// How often a streamed read checks a column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// On the first row: the others have the same column types.
    FirstRow,
    /// On every row: SQLite keeps a type per value, not per column, so a row
    /// written by hand may differ from the rows around it.
    EveryRow,
}

impl CheckedColumns {
    fn has(&self, set: &AtomicU64, index: usize) -> bool {
        self.check == Check::FirstRow && index < 64 && set.load(Ordering::Relaxed) & (1 << index) != 0
    }

    fn add(set: &AtomicU64, index: usize) {
        if index < 64 {
            set.fetch_or(1 << index, Ordering::Relaxed);
        }
    }
}

/// A streamed row, with the columns of its result already checked.
struct TypedRow<'r, R> {
    row: &'r R,
    checked: &'r CheckedColumns,
}

macro_rules! streamed_row {
    ($feature:literal, $row:ty) => {
        #[cfg(feature = $feature)]
        impl StreamedRow for TypedRow<'_, $row> {
            fn int(&self, index: usize) -> std::result::Result<i64, sqlx::Error> {
                if self.checked.has(&self.checked.int, index) {
                    return sqlx::Row::try_get_unchecked(self.row, index);
                }
                let value = sqlx::Row::try_get(self.row, index).map_err(|e| named_column(self.row, e))?;
                CheckedColumns::add(&self.checked.int, index);
                Ok(value)
            }

            fn text(&self, index: usize) -> std::result::Result<&str, sqlx::Error> {
                if self.checked.has(&self.checked.text, index) {
                    return sqlx::Row::try_get_unchecked(self.row, index);
                }
                let value = sqlx::Row::try_get(self.row, index).map_err(|e| named_column(self.row, e))?;
                CheckedColumns::add(&self.checked.text, index);
                Ok(value)
            }

            fn text_bytes(&self, index: usize) -> std::result::Result<&[u8], sqlx::Error> {
                if self.checked.has(&self.checked.text, index) {
                    return sqlx::Row::try_get_unchecked(self.row, index);
                }
                self.text(index).map(str::as_bytes)
            }
        }
    };
}

/// A decoding error that names the column by its place, named by its name instead.
fn named_column(row: &impl sqlx::Row, error: sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::ColumnDecode { index, source } => {
            let name = index
                .parse::<usize>()
                .ok()
                .and_then(|place| sqlx::Column::name(sqlx::Row::columns(row).get(place)?).to_owned().into());
            sqlx::Error::ColumnDecode { index: name.map_or(index, |name| format!("`{name}`")), source }
        }
        other => other,
    }
}

streamed_row!("sqlite", sqlx::sqlite::SqliteRow);
streamed_row!("postgres", sqlx::postgres::PgRow);
streamed_row!("mysql", sqlx::mysql::MySqlRow);

/// Runs `query` and hands each row to `each` as it arrives, so no more than
/// one row is held at a time; `None` when the table does not exist.
async fn stream(
    conn: ConnRef<'_>,
    query: &SelectStatement,
    check: Check,
    mut each: impl FnMut(&dyn StreamedRow) -> Result<()>,
) -> Result<Option<()>> {
    let (sql, _) = crate::db::Statement::to_sql(query, conn.backend());
    let checked = &CheckedColumns { int: AtomicU64::new(0), text: AtomicU64::new(0), check };
    let streamed = async {
        match conn {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => {
                let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(c);
                while let Some(row) = rows.try_next().await? {
                    each(&TypedRow { row: &row, checked })?;
                }
            }
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => {
                let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(c);
                while let Some(row) = rows.try_next().await? {
                    each(&TypedRow { row: &row, checked })?;
                }
            }
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => {
                // The text protocol: one round trip, where a prepared statement takes two on a new connection.
                let mut rows = sqlx::raw_sql(AssertSqlSafe(sql)).fetch(c);
                while let Some(row) = rows.try_next().await? {
                    each(&TypedRow { row: &row, checked })?;
                }
            }
        }
        Ok(())
    };
    missing_table_as_none(streamed.await)
}

/// What deciding whether anything is pending needs of one history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowSummary<'a> {
    pub version: Version,
    /// As recorded: lowercase hex, compared only.
    pub checksum: &'a [u8],
    pub state: RowState,
}

/// Hands the version, checksum and state of every row to `each` as the rows
/// stream in, in one query; `None` when the history table does not exist yet.
/// Narrower than [`read_applied`](super::read_applied): on SQLite, decoding all twelve columns of
/// ten thousand rows costs several times more than the query itself. The
/// caller refuses repeated versions ([`refuse_duplicates`](super::refuse_duplicates)).
pub(crate) async fn for_each_summary(
    conn: ConnRef<'_>,
    tables: &Tables,
    mut each: impl FnMut(RowSummary<'_>),
) -> Result<Option<Read>> {
    let corrupt = |detail: String| Error::CorruptHistory { table: tables.history.to_string(), detail };
    let parse_state = |state: &str| RowState::parse(state).ok_or_else(|| corrupt(format!("unknown state `{state}`")));
    if conn.backend() == Backend::Sqlite {
        const SUMMARY: Columns<1, 2> = Columns { ints: ["version"], texts: ["state", "checksum"] };
        return for_each_framed(conn, tables, &SUMMARY, |[version], [state, checksum]| {
            let version = Version::try_from(version).map_err(|e| corrupt(e.to_string()))?;
            each(RowSummary { version, checksum: checksum.as_bytes(), state: parse_state(state)? });
            Ok(())
        })
        .await;
    }
    let query = Query::select()
        .columns(qualified(["version", "checksum", "state"]))
        .from_as(tables.history.sea(), READ_AS)
        .to_owned();
    let streamed = stream(conn, &query, Check::FirstRow, |row| {
        each(RowSummary {
            version: Version::try_from(row.int(0)?).map_err(|e| corrupt(e.to_string()))?,
            checksum: row.text_bytes(1)?,
            state: parse_state(row.text(2)?)?,
        });
        Ok(())
    })
    .await;
    Ok(name_damage(&tables.history, streamed)?.map(|()| Read::Whole))
}

/// What `status` shows of one history row, borrowed from the row as it streams in.
pub(crate) struct StatusRow<'a> {
    pub version: Version,
    /// As recorded: lowercase hex.
    pub checksum: &'a str,
    pub applied_at: &'a str,
    pub applied_by: &'a str,
    pub execution_ms: i64,
    pub batch: i64,
    pub state: RowState,
}

/// How a read of every row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// Every row was handed over.
    Whole,
    /// A row holds a value of another type than its column's, so it could
    /// not be framed; the rows before it were handed over, and a typed read
    /// names the column. SQLite only, where types belong to values.
    Unframed,
}

/// Hands every row to `each` as the rows stream in, in one query and in no
/// particular order; `None` when the history table does not exist yet. Only
/// the columns `status` shows are read: a row whose migration the code does
/// not have is read whole afterwards ([`read_applied`](super::read_applied)).
/// The caller refuses repeated versions
/// ([`refuse_duplicates`](super::refuse_duplicates)). On
/// [`Read::Unframed`] the caller starts again with [`for_each_status_row_typed`].
pub(crate) async fn for_each_status_row(
    conn: ConnRef<'_>,
    tables: &Tables,
    mut each: impl FnMut(StatusRow<'_>) -> Result<()>,
) -> Result<Option<Read>> {
    if conn.backend() != Backend::Sqlite {
        return Ok(for_each_status_row_typed(conn, tables, each).await?.map(|()| Read::Whole));
    }
    const STATUS: Columns<3, 4> = Columns {
        ints: ["version", "execution_ms", "batch"],
        texts: ["checksum", "applied_at", "applied_by", "state"],
    };
    let corrupt = |detail: String| Error::CorruptHistory { table: tables.history.to_string(), detail };
    for_each_framed(
        conn,
        tables,
        &STATUS,
        |[version, execution_ms, batch], [checksum, applied_at, applied_by, state]| {
            each(StatusRow {
                version: Version::try_from(version).map_err(|e| corrupt(e.to_string()))?,
                checksum,
                applied_at,
                applied_by,
                execution_ms,
                batch,
                state: RowState::parse(state).ok_or_else(|| corrupt(format!("unknown state `{state}`")))?,
            })
        },
    )
    .await
}

/// Hands the `columns` of every row of the SQLite history table to `each`, framed.
async fn for_each_framed<const I: usize, const T: usize>(
    conn: ConnRef<'_>,
    tables: &Tables,
    columns: &Columns<I, T>,
    mut each: impl FnMut([i64; I], [&str; T]) -> Result<()>,
) -> Result<Option<Read>> {
    let query = columns.select(tables.history.sea());
    let mut read = Read::Whole;
    let streamed = stream(conn, &query, Check::FirstRow, |row| {
        if read == Read::Whole && columns.for_each(row.text(0)?, &mut each)? == Framed::Broken {
            read = Read::Unframed;
        }
        Ok(())
    })
    .await;
    Ok(name_damage(&tables.history, streamed)?.map(|()| read))
}

/// [`for_each_status_row`] with every column read by its own type, and on
/// SQLite every row's types checked: what names a damaged row's column.
pub(crate) async fn for_each_status_row_typed(
    conn: ConnRef<'_>,
    tables: &Tables,
    mut each: impl FnMut(StatusRow<'_>) -> Result<()>,
) -> Result<Option<()>> {
    let query = Query::select()
        .columns(qualified(["version", "checksum", "applied_at", "applied_by", "execution_ms", "batch", "state"]))
        .from_as(tables.history.sea(), READ_AS)
        .to_owned();
    let check = if conn.backend() == Backend::Sqlite { Check::EveryRow } else { Check::FirstRow };
    let corrupt = |detail: String| Error::CorruptHistory { table: tables.history.to_string(), detail };
    let streamed = stream(conn, &query, check, |row| {
        let state = row.text(6)?;
        each(StatusRow {
            version: Version::try_from(row.int(0)?).map_err(|e| corrupt(e.to_string()))?,
            checksum: row.text(1)?,
            applied_at: row.text(2)?,
            applied_by: row.text(3)?,
            execution_ms: row.int(4)?,
            batch: row.int(5)?,
            state: RowState::parse(state).ok_or_else(|| corrupt(format!("unknown state `{state}`")))?,
        })
    })
    .await;
    name_damage(&tables.history, streamed)
}
