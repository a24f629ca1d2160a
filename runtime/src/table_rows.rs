//! Whether a table holds rows, asked of the live database: a statement that
//! destroys only the rows of tables that hold none (a fresh install dropping
//! a column created a minute ago) loses nothing, so it is not refused.
//!
//! The question never fails a transaction: the table's existence is looked up
//! in the catalogue first (PostgreSQL aborts a transaction on a query of a
//! missing table), and only an existing table is read, one row at most.

use crate::backend::{Backend, ConnRef};
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
    let parts: Vec<&str> = table.split('.').collect();
    let backend = conn.backend();
    let quoted = parts.iter().map(|part| quote(backend, part)).collect::<Vec<_>>().join(".");
    let exists = match conn {
        ConnRef::Postgres(c) => {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
                .bind(&quoted)
                .fetch_one(&mut **c)
                .await?
        }
        ConnRef::MySql(c) => {
            let (schema, name) = match parts.as_slice() {
                [schema, name] => (Some(*schema), *name),
                _ => (None, table),
            };
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = coalesce(?, DATABASE()) AND table_name = ?",
            )
            .bind(schema)
            .bind(name)
            .fetch_one(&mut **c)
            .await?
                > 0
        }
        ConnRef::Sqlite(c) => {
            let (schema, name) = match parts.as_slice() {
                [schema, name] => (*schema, *name),
                _ => ("main", table),
            };
            let catalogue = format!(
                "SELECT count(*) FROM {}.sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                quote(backend, schema)
            );
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(catalogue)).bind(name).fetch_one(&mut **c).await? > 0
        }
    };
    if !exists {
        return Ok(TableRows::Missing);
    }
    let probe = AssertSqlSafe(format!("SELECT 1 FROM {quoted} LIMIT 1"));
    let found = match conn {
        ConnRef::Postgres(c) => sqlx::query(probe).fetch_optional(&mut **c).await?.is_some(),
        ConnRef::MySql(c) => sqlx::query(probe).fetch_optional(&mut **c).await?.is_some(),
        ConnRef::Sqlite(c) => sqlx::query(probe).fetch_optional(&mut **c).await?.is_some(),
    };
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

fn quote(backend: Backend, name: &str) -> String {
    match backend {
        Backend::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}
