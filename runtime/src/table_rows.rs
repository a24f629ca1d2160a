//! Whether a table holds rows, asked of the live database: a statement that
//! destroys only the rows of tables that hold none (a fresh install dropping
//! a column created a minute ago) loses nothing, so it is not refused.
//!
//! The question never fails a transaction: the table's existence is looked up
//! in the catalogue first (PostgreSQL aborts a transaction on a query of a
//! missing table), and only an existing table is read, one row at most.

use crate::backend::{ConnRef, dispatch, quote_table};
use crate::error::Result;
use sqlx::AssertSqlSafe;

/// What a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableRows {
    /// There is no such table (yet): nothing of it can be lost.
    Missing,
    /// The table exists and holds no row.
    Empty,
    /// The table holds at least one row.
    HasRows,
}

/// Whether `table` (a name as the database resolves it, possibly qualified
/// with `.`) holds rows, on `conn`, inside its transaction if it has one.
pub(crate) async fn table_rows(conn: &mut ConnRef<'_>, table: &str) -> Result<TableRows> {
    if !conn.table_exists(table).await? {
        return Ok(TableRows::Missing);
    }
    let probe = AssertSqlSafe(format!("SELECT 1 FROM {} LIMIT 1", quote_table(conn.backend(), table)));
    let found = dispatch!(conn, ConnRef, c => sqlx::query(probe).fetch_optional(&mut **c).await?.is_some());
    Ok(if found { TableRows::HasRows } else { TableRows::Empty })
}

/// Whether every table in `tables` is missing or empty.
pub(crate) async fn all_without_rows(conn: &mut ConnRef<'_>, tables: &[String]) -> Result<bool> {
    for table in tables {
        if table_rows(conn, table).await? == TableRows::HasRows {
            return Ok(false);
        }
    }
    Ok(true)
}
