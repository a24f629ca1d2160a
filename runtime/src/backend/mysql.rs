//! What MySQL and MariaDB do their own way: connecting, their error numbers
//! and the line their syntax errors name, their type names in casts, their
//! clock in SQL, no schemas to qualify a table with, and their session lock
//! (a named lock, `GET_LOCK`) with ending the connection that holds one.
//!
//! The lock functions return `INT` on MariaDB and `BIGINT UNSIGNED` on
//! MySQL, so every result is cast to a signed `BIGINT`.

use super::ErrorDetails;
use crate::error::{Error, Result};
use crate::url::DatabaseUrl;
use sea_query::Expr;
use sqlx::Connection as _;
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySqlConnection, MySqlDatabaseError};

pub(super) async fn connect(url: &DatabaseUrl) -> Result<MySqlConnection> {
    MySqlConnection::connect(url.expose()).await.map_err(|cause| Error::Connect { url: url.redacted(), cause })
}

/// A schema is a database here: a name qualified with one is refused.
pub(super) const SCHEMAS: bool = false;

/// The database's clock in milliseconds since 1970: UTC, so no session time
/// zone (and no daylight-saving hour) shifts it.
pub(super) const NOW_MS: &str = "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6)) DIV 1000 AS SIGNED)";

/// The types a column is cast to for reading it as text and as a 64-bit integer.
pub(super) const TEXT: &str = "CHAR";
pub(super) const INTEGER: &str = "SIGNED";

/// Error 1146, SQLSTATE 42S02: no such table.
pub(super) fn is_missing_table(error: &MySqlDatabaseError) -> bool {
    error.number() == 1146 || error.code() == Some("42S02")
}

/// Error 1054, SQLSTATE 42S22: unknown column.
pub(super) fn is_missing_column(error: &MySqlDatabaseError) -> bool {
    error.number() == 1054 || error.code() == Some("42S22")
}

/// The error number as the code, the SQLSTATE beside it, and the line of
/// the statement a syntax error names.
pub(super) fn details(error: &MySqlDatabaseError, out: &mut ErrorDetails) {
    out.code = Some(error.number().to_string());
    out.sqlstate = error.code().map(str::to_owned);
    // Syntax errors end with "at line N", a line of the statement.
    out.position = syntax_error_line(DatabaseError::message(error)).map(|line| (line, 0));
}

/// N of a message ending in "at line N".
fn syntax_error_line(message: &str) -> Option<usize> {
    let (_, after) = message.rsplit_once(" at line ")?;
    after.trim().parse().ok()
}

/// An identifier quoted with backticks.
pub(super) fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Whether `table` (`name`, or `database.name`) exists; unqualified, in the current database.
pub(super) async fn table_exists(c: &mut MySqlConnection, table: &str) -> Result<bool> {
    let (schema, name) = match table.split('.').collect::<Vec<_>>().as_slice() {
        [schema, name] => (Some(*schema), *name),
        _ => (None, table),
    };
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = coalesce(?, DATABASE()) AND table_name = ?",
    )
    .bind(schema)
    .bind(name)
    .fetch_one(c)
    .await?;
    Ok(count > 0)
}

/// The largest statement the server accepts (`max_allowed_packet`): a larger
/// one is answered by dropping the connection.
pub(super) async fn max_statement_bytes(c: &mut MySqlConnection) -> Result<u64> {
    let text: String = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS CHAR)").fetch_one(c).await?;
    Ok(text.trim().parse().unwrap_or(u64::MAX))
}

/// A named lock: `name@database`, at most 64 characters as `GET_LOCK` allows.
#[derive(Debug, Clone)]
pub(crate) struct NamedLock {
    name: String,
}

impl NamedLock {
    pub(super) async fn named(c: &mut MySqlConnection, name: &str) -> Result<Self> {
        let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()").fetch_one(c).await?;
        // `held_in_sql` cuts the name in SQL the same way.
        Ok(NamedLock { name: format!("{name}@{}", database.unwrap_or_default()).chars().take(64).collect() })
    }

    pub(super) async fn try_lock(&self, c: &mut MySqlConnection) -> Result<bool> {
        // No wait on the server: the caller polls, so it can report whom it waits for.
        let got: Option<i64> =
            sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 0) AS SIGNED)").bind(&self.name).fetch_one(c).await?;
        Ok(got == Some(1))
    }

    pub(super) async fn unlock(&self, c: &mut MySqlConnection) -> Result<()> {
        sqlx::query("SELECT CAST(RELEASE_LOCK(?) AS SIGNED)").bind(&self.name).execute(c).await?;
        Ok(())
    }

    /// The connection id holding the lock.
    pub(super) async fn holder_session(&self, c: &mut MySqlConnection) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)").bind(&self.name).fetch_one(c).await?)
    }

    pub(super) async fn still_held(&self, c: &mut MySqlConnection) -> Result<Option<String>> {
        let (holder, me): (Option<i64>, i64) =
            sqlx::query_as("SELECT CAST(IS_USED_LOCK(?) AS SIGNED), CAST(CONNECTION_ID() AS SIGNED)")
                .bind(&self.name)
                .fetch_one(c)
                .await?;
        Ok(match holder {
            Some(holder) if holder == me => None,
            Some(holder) => {
                Some(format!("the named lock is held by connection {holder}, not by this process's connection {me}"))
            }
            None => Some("the named lock is free: it was released from within this process's session".to_owned()),
        })
    }
}

/// 1 while some connection holds the lock named `name` (before the database
/// is added to it), else 0, as an integer.
pub(super) fn held_in_sql(name: &str) -> Expr {
    Expr::cust_with_values(
        "(IS_USED_LOCK(LEFT(CONCAT(?, '@', COALESCE(DATABASE(), '')), 64)) IS NOT NULL)",
        [name.to_owned()],
    )
}

/// Ends the connection with id `connection_id`, and with it the locks it holds.
pub(super) async fn end_session(c: &mut MySqlConnection, connection_id: i64) -> Result<()> {
    // `connection_id` is a number read from the server, not user input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {connection_id}"))).execute(c).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_a_line_of_the_statement() {
        assert_eq!(syntax_error_line("You have an error ... near 'FROM' at line 3"), Some(3));
        assert_eq!(syntax_error_line("Table 't' doesn't exist"), None);
    }
}

pub(super) use introspection::schema;

/// Reading the schema of a MySQL or MariaDB database from its `information_schema`.
mod introspection {
    use crate::error::Result;
    use migrations_rs_core::schema::Schema;
    use sqlx::mysql::MySqlConnection;

    /// The schema of the current database.
    pub(in crate::backend) async fn schema(_c: &mut MySqlConnection, _exclude: &[String]) -> Result<Schema> {
        Ok(Schema::default())
    }
}
