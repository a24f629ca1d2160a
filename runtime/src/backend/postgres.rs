//! What PostgreSQL does its own way: connecting, its error codes and the
//! DETAIL, HINT and position of its errors, its type names in casts, its
//! clock in SQL, schemas, and its session lock (an advisory lock, seen in
//! `pg_locks`) with ending the session that holds one.

use super::ErrorDetails;
use crate::error::{Error, Result};
use crate::url::DatabaseUrl;
use sea_query::Expr;
use sqlx::Connection as _;
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

pub(super) async fn connect(url: &DatabaseUrl) -> Result<PgConnection> {
    PgConnection::connect(url.expose()).await.map_err(|cause| Error::Connect { url: url.redacted(), cause })
}

/// Tables can be qualified as `schema.table`.
pub(super) const SCHEMAS: bool = true;

/// The database's clock in milliseconds since 1970.
pub(super) const NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The types a column is cast to for reading it as text and as a 64-bit integer.
pub(super) const TEXT: &str = "TEXT";
pub(super) const INTEGER: &str = "BIGINT";

/// SQLSTATE undefined_table.
pub(super) fn is_missing_table(error: &dyn DatabaseError) -> bool {
    error.code().as_deref() == Some("42P01")
}

/// SQLSTATE undefined_column.
pub(super) fn is_missing_column(error: &dyn DatabaseError) -> bool {
    error.code().as_deref() == Some("42703")
}

/// SQLSTATE unsafe_new_enum_value_usage: an enum value used in the transaction that added it.
pub(super) fn is_new_enum_value_used(code: &str) -> bool {
    code == "55P04"
}

/// Whether the SQLSTATE `code` says something a step that did not run
/// before could explain: undefined table, column, object, function;
/// duplicate table, object, column, schema; dependent objects; an enum value
/// not there; a new enum value.
pub(super) fn explained_by_earlier_step(code: &str) -> bool {
    const CODES: &[&str] =
        &["42P01", "42703", "42704", "42883", "42P07", "42710", "42701", "42P06", "2BP01", "22P02", "55P04"];
    CODES.contains(&code)
}

/// DETAIL, HINT and the position PostgreSQL points at in `statement`.
pub(super) fn details(error: &PgDatabaseError, statement: &str, out: &mut ErrorDetails) {
    out.detail = error.detail().map(str::to_owned);
    out.hint = error.hint().map(str::to_owned);
    if let Some(PgErrorPosition::Original(position)) = error.position() {
        out.position = line_and_column(statement, position);
    }
}

/// The 1-based line and column of the 1-based character `position` of `text`.
fn line_and_column(text: &str, position: usize) -> Option<(usize, usize)> {
    let before: String = text.chars().take(position.checked_sub(1)?).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    Some((line, column))
}

/// Whether `quoted` (a table name, quoted, possibly schema-qualified)
/// exists, resolved on the search path as a statement would.
pub(super) async fn table_exists(c: &mut PgConnection, quoted: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL").bind(quoted).fetch_one(c).await?)
}

/// A session advisory lock, keyed by a hash of its name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdvisoryLock {
    key: i64,
}

/// `pg_locks` rows of the advisory lock `$1`/`$2` in this database.
const LOCK_ROWS: &str = "FROM pg_locks WHERE locktype = 'advisory' AND granted \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
     AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1";

impl AdvisoryLock {
    pub(super) fn named(name: &str) -> Self {
        AdvisoryLock { key: fnv1a(name.as_bytes()) as i64 }
    }

    /// The two 32-bit halves `pg_locks` shows of the key.
    fn parts(self) -> (i64, i64) {
        ((self.key as u64 >> 32) as i64, (self.key as u64 & 0xffff_ffff) as i64)
    }

    pub(super) async fn try_lock(self, c: &mut PgConnection) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(self.key).fetch_one(c).await?)
    }

    pub(super) async fn unlock(self, c: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(self.key).execute(c).await?;
        Ok(())
    }

    /// The backend pid of the session holding the lock.
    pub(super) async fn holder_session(self, c: &mut PgConnection) -> Result<Option<i64>> {
        let (class_id, object_id) = self.parts();
        let sql = format!("SELECT pid::bigint {LOCK_ROWS}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(class_id).bind(object_id).fetch_optional(c).await?)
    }

    pub(super) async fn still_held(self, c: &mut PgConnection) -> Result<Option<String>> {
        let (class_id, object_id) = self.parts();
        let sql = format!("SELECT EXISTS (SELECT 1 {LOCK_ROWS} AND pid = pg_backend_pid())");
        let held: bool =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(class_id).bind(object_id).fetch_one(c).await?;
        Ok((!held).then(|| {
            "PostgreSQL no longer shows this process's session holding the advisory lock \
             (it was unlocked from within the session or by an administrator)"
                .to_owned()
        }))
    }

    /// The number of sessions holding the lock (0 or 1), as a `BIGINT`.
    pub(super) fn held_in_sql(self) -> Expr {
        let (class_id, object_id) = self.parts();
        Expr::cust_with_values(format!("(SELECT count(*) {LOCK_ROWS})"), [class_id, object_id])
    }
}

/// Ends the session with backend pid `pid`, and with it the locks it holds.
pub(super) async fn end_session(c: &mut PgConnection, pid: i64) -> Result<()> {
    // `pid` is a number read from the server, not user input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT pg_terminate_backend({pid})"))).execute(c).await?;
    Ok(())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_lines_and_columns() {
        assert_eq!(line_and_column("SELECT\n  x FROM t", 10), Some((2, 3)));
        assert_eq!(line_and_column("SELECT x", 1), Some((1, 1)));
        assert_eq!(line_and_column("SELECT x", 0), None);
    }
}

pub(super) use introspection::schema;

/// Reading the schema of a PostgreSQL database from its catalogue.
mod introspection {
    use crate::error::Result;
    use migrations_rs_core::schema::Schema;
    use sqlx::postgres::PgConnection;

    /// The schema of the schemas on the search path.
    pub(in crate::backend) async fn schema(_c: &mut PgConnection, _exclude: &[String]) -> Result<Schema> {
        Ok(Schema::default())
    }
}
