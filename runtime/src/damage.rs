//! Damaged bookkeeping tables: a database error that says a column of the
//! history or log table is missing or of the wrong type becomes an error
//! naming the table and what is wrong with it, instead of the raw error.

use crate::error::{Error, Result};
use crate::history::TableName;

/// `result`, with an error about a missing or mistyped column of `table` named as damage to it.
pub(crate) fn name_damage<T>(table: &TableName, result: Result<T>) -> Result<T> {
    result.map_err(|error| match damage(&error) {
        Some(detail) => Error::DamagedTable { table: table.to_string(), detail },
        None => error,
    })
}

/// What is wrong with the table, when `error` says a column is missing or of the wrong type.
fn damage(error: &Error) -> Option<String> {
    let Error::Database(error) = error else { return None };
    match error {
        sqlx::Error::ColumnNotFound(column) => Some(format!("it has no column `{column}`")),
        sqlx::Error::ColumnDecode { index, source } => {
            Some(format!("its column {index} holds values of the wrong type ({source})"))
        }
        sqlx::Error::Database(database) => {
            let message = database.message();
            let code = database.code();
            let missing = matches!(code.as_deref(), Some("42703" | "42S22" | "1054"))
                || message.contains("no such column")
                || message.contains("has no column named");
            let mistyped = matches!(code.as_deref(), Some("42804" | "22P02" | "22003" | "HY000" | "1366"))
                && (message.contains("type") || message.contains("Incorrect"));
            (missing || mistyped).then(|| format!("a column is missing or of the wrong type ({message})"))
        }
        _ => None,
    }
}
