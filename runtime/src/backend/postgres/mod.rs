//! What PostgreSQL does its own way: connecting, its error codes and the
//! DETAIL, HINT and position of its errors, its type names in casts, its
//! clock in SQL, schemas, and its session lock (an advisory lock, seen in
//! `pg_locks`) with ending the session that holds one.
//!
//! The SQL of the dialect is here whatever the build; what talks to a server
//! needs the `postgres` feature.

use sea_query::Expr;
#[cfg(feature = "postgres")]
use {
    super::ErrorDetails,
    crate::error::{Error, Result},
    crate::url::DatabaseUrl,
    sqlx::Connection as _,
    sqlx::error::DatabaseError,
    sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition},
};

#[cfg(feature = "postgres")]
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
#[cfg(feature = "postgres")]
pub(super) fn is_missing_table(error: &dyn DatabaseError) -> bool {
    error.code().as_deref() == Some("42P01")
}

/// SQLSTATE undefined_column.
#[cfg(feature = "postgres")]
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
#[cfg(feature = "postgres")]
pub(super) fn details(error: &PgDatabaseError, statement: &str, out: &mut ErrorDetails) {
    out.detail = error.detail().map(str::to_owned);
    out.hint = error.hint().map(str::to_owned);
    if let Some(PgErrorPosition::Original(position)) = error.position() {
        out.position = line_and_column(statement, position);
    }
}

/// The 1-based line and column of the 1-based character `position` of `text`.
#[cfg(feature = "postgres")]
fn line_and_column(text: &str, position: usize) -> Option<(usize, usize)> {
    let before: String = text.chars().take(position.checked_sub(1)?).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    Some((line, column))
}

/// Whether `quoted` (a table name, quoted, possibly schema-qualified)
/// exists, resolved on the search path as a statement would.
#[cfg(feature = "postgres")]
pub(super) async fn table_exists(c: &mut PgConnection, quoted: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL").bind(quoted).fetch_one(c).await?)
}

/// The integer columns of `quoted` (a table name quoted for PostgreSQL) that
/// a single-column unique index over NOT NULL values covers: `(column, is the primary key)`.
#[cfg(feature = "postgres")]
pub(super) async fn integer_keys(c: &mut PgConnection, quoted: &str) -> Result<Vec<(String, bool)>> {
    Ok(sqlx::query_as(
        "SELECT a.attname::text, i.indisprimary FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = to_regclass($1) AND i.indnkeyatts = 1 AND i.indisunique AND i.indpred IS NULL \
         AND a.attnotnull AND a.atttypid IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) \
         ORDER BY i.indisprimary DESC, a.attnum",
    )
    .bind(quoted)
    .fetch_all(c)
    .await?)
}

/// SQLSTATE lock_not_available: a statement waited longer than `lock_timeout`.
pub(super) fn is_lock_timeout(code: &str) -> bool {
    code == "55P03"
}

/// Limits how long each statement of this session waits for a lock
/// (`lock_timeout`) and, when given, runs (`statement_timeout`). Returns the
/// session's values to put back.
#[cfg(feature = "postgres")]
pub(super) async fn limit_waits(
    c: &mut PgConnection,
    lock_wait: std::time::Duration,
    statement_timeout: Option<std::time::Duration>,
) -> Result<Vec<(&'static str, String)>> {
    let mut settings = vec![("lock_timeout", lock_wait)];
    settings.extend(statement_timeout.map(|timeout| ("statement_timeout", timeout)));
    let mut before = Vec::with_capacity(settings.len());
    for (name, value) in settings {
        let current: String = sqlx::query_scalar("SELECT current_setting($1)").bind(name).fetch_one(&mut *c).await?;
        before.push((name, current));
        set_lock_setting(c, name, &format!("{}ms", value.as_millis()), false).await?;
    }
    Ok(before)
}

/// Sets how long each statement waits for a lock: for the transaction the
/// connection is in when `in_transaction` (`SET LOCAL`, ended with it), else
/// for the session.
#[cfg(feature = "postgres")]
pub(super) async fn set_lock_wait(
    c: &mut PgConnection,
    lock_wait: std::time::Duration,
    in_transaction: bool,
) -> Result<()> {
    set_lock_setting(c, "lock_timeout", &format!("{}ms", lock_wait.as_millis()), in_transaction).await
}

#[cfg(feature = "postgres")]
async fn set_lock_setting(c: &mut PgConnection, name: &str, value: &str, in_transaction: bool) -> Result<()> {
    sqlx::query("SELECT set_config($1, $2, $3)").bind(name).bind(value).bind(in_transaction).execute(&mut *c).await?;
    Ok(())
}

/// Puts back session settings that [`limit_waits`] changed.
#[cfg(feature = "postgres")]
pub(super) async fn restore_settings(c: &mut PgConnection, before: Vec<(&'static str, String)>) -> Result<()> {
    for (name, value) in before {
        set_lock_setting(c, name, &value, false).await?;
    }
    Ok(())
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

    /// True while the session with backend pid `pid` holds the lock.
    pub(super) fn held_by_sql(self, pid: i64) -> Expr {
        let (class_id, object_id) = self.parts();
        Expr::cust_with_values(format!("EXISTS (SELECT 1 {LOCK_ROWS} AND pid = $3)"), [class_id, object_id, pid])
    }

    /// The number of sessions holding the lock (0 or 1), as a `BIGINT`.
    pub(super) fn held_in_sql(self) -> Expr {
        let (class_id, object_id) = self.parts();
        Expr::cust_with_values(format!("(SELECT count(*) {LOCK_ROWS})"), [class_id, object_id])
    }
}

#[cfg(feature = "postgres")]
impl AdvisoryLock {
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
}

/// Ends the session with backend pid `pid`, and with it the locks it holds.
#[cfg(feature = "postgres")]
pub(super) async fn end_session(c: &mut PgConnection, pid: i64) -> Result<()> {
    // `pid` is a number read from the server, not user input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT pg_terminate_backend({pid})"))).execute(c).await?;
    Ok(())
}

/// This connection's backend pid.
#[cfg(feature = "postgres")]
pub(super) async fn session_id(c: &mut PgConnection) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT pg_backend_pid()::bigint").fetch_one(c).await?)
}

/// The session `$1` and the sessions `pg_blocking_pids` names for it, the
/// session first: each with its state, wait event, query cut at `$2`
/// characters, and the ages of its statement and transaction by the
/// server's clock.
#[cfg(feature = "postgres")]
const SESSION_WAITS: &str = "SELECT a.pid::bigint, a.state, a.wait_event_type || ': ' || a.wait_event, left(a.query, $2), \
     CAST(EXTRACT(EPOCH FROM clock_timestamp() - a.query_start) * 1000 AS BIGINT), \
     CAST(EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start) * 1000 AS BIGINT) \
     FROM pg_stat_activity a WHERE a.pid = $1 OR a.pid = ANY (pg_blocking_pids($1)) \
     ORDER BY a.pid <> $1, a.pid";

/// Session `pid` and the sessions that block it, as `pg_stat_activity` shows them.
#[cfg(feature = "postgres")]
pub(super) async fn session_waits(c: &mut PgConnection, pid: i64) -> Result<Option<super::SessionWaits>> {
    type Activity = (i64, Option<String>, Option<String>, Option<String>, Option<i64>, Option<i64>);
    let Ok(pid) = i32::try_from(pid) else { return Ok(None) };
    let rows: Vec<Activity> =
        sqlx::query_as(SESSION_WAITS).bind(pid).bind(super::QUERY_CHARS as i32).fetch_all(c).await?;
    let mut sessions = rows.into_iter().map(|(id, state, waiting_for, query, query_ms, transaction_ms)| {
        super::ServerSession { id, state, waiting_for, query, query_ms, transaction_ms }
    });
    let Some(session) = sessions.next().filter(|s| s.id == i64::from(pid)) else { return Ok(None) };
    Ok(Some(super::SessionWaits { session, blockers: sessions.collect(), found_by: "pg_blocking_pids".to_owned() }))
}

/// Whole databases on the server, for test databases and their templates:
/// the connection the statements run on is any one to the server.
#[cfg(feature = "postgres")]
pub(crate) mod databases {
    use crate::url::DatabaseUrl;
    use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
    use std::time::Duration;

    /// A connection to the server of `server`, to create and drop databases on.
    pub(crate) async fn admin(server: &DatabaseUrl) -> sqlx::Result<PgConnection> {
        PgConnection::connect(server.expose()).await
    }

    /// Waits for the advisory lock `key`, which the builders of one template share.
    pub(crate) async fn lock(c: &mut PgConnection, key: i64) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(c).await.map(drop)
    }

    pub(crate) async fn unlock(c: &mut PgConnection, key: i64) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(c).await.map(drop)
    }

    pub(crate) async fn exists(c: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1").bind(name).fetch_optional(c).await?;
        Ok(found.is_some())
    }

    /// The databases whose names start with `prefix` (a plain identifier).
    pub(crate) async fn named_like(c: &mut PgConnection, prefix: &str) -> sqlx::Result<Vec<String>> {
        let pattern = format!("{}%", prefix.replace('_', "\\_"));
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1").bind(pattern).fetch_all(c).await
    }

    /// An empty database `name`, dropped first if it exists.
    pub(crate) async fn recreate(c: &mut PgConnection, name: &str) -> sqlx::Result<()> {
        drop_database(&mut *c, name).await?;
        c.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.map(drop)
    }

    pub(crate) async fn rename(c: &mut PgConnection, from: &str, to: &str) -> sqlx::Result<()> {
        c.execute(AssertSqlSafe(format!("ALTER DATABASE {from} RENAME TO {to}"))).await.map(drop)
    }

    /// Renames database `from` to `to` if it is still there and unused:
    /// `Ok(false)` when another session took or renamed it first (3D000) or
    /// is connected to it (55006).
    pub(crate) async fn take(c: &mut PgConnection, from: &str, to: &str) -> sqlx::Result<bool> {
        match rename(c, from, to).await {
            Ok(()) => Ok(true),
            Err(error) if matches!(sqlstate(&error).as_deref(), Some("3D000" | "55006")) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Drops database `name`, ending the sessions connected to it.
    pub(crate) async fn drop_database(c: &mut PgConnection, name: &str) -> sqlx::Result<()> {
        c.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await.map(drop)
    }

    /// A new database `name`, a copy of database `template`: `CREATE DATABASE … TEMPLATE`.
    pub(crate) async fn copy(c: &mut PgConnection, template: &str, name: &str) -> sqlx::Result<()> {
        let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let mut tries = 0;
        loop {
            match c.execute(AssertSqlSafe(sql.as_str())).await {
                Ok(_) => return Ok(()),
                // 55006: the template is still in use, such as by a connection of the build that is closing.
                Err(error) if is_in_use(&error) && tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// SQLSTATE object_in_use.
    fn is_in_use(error: &sqlx::Error) -> bool {
        sqlstate(error).as_deref() == Some("55006")
    }

    fn sqlstate(error: &sqlx::Error) -> Option<String> {
        error.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned())
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_lines_and_columns() {
        assert_eq!(line_and_column("SELECT\n  x FROM t", 10), Some((2, 3)));
        assert_eq!(line_and_column("SELECT x", 1), Some((1, 1)));
        assert_eq!(line_and_column("SELECT x", 0), None);
    }
}

/// Creating and dropping databases on the server, for scratch databases.
pub(super) mod server {
    /// A database every server has, to connect to when the target does not exist yet.
    pub(in crate::backend) const ALWAYS_THERE: &str = "postgres";
    /// The privilege creating a database needs.
    pub(in crate::backend) const CREATE_PRIVILEGE: &str = "CREATEDB";
    /// The SQLSTATE of a refusal for want of a privilege.
    pub(in crate::backend) const NO_PRIVILEGE: &[&str] = &["42501"];

    pub(in crate::backend) fn create_database(name: &str) -> String {
        format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""))
    }

    /// Drops it even while others are connected.
    pub(in crate::backend) fn drop_database(name: &str) -> String {
        format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name.replace('"', "\"\""))
    }

    /// A query of the names (column `name`) of the databases whose name is `LIKE` `pattern`.
    pub(in crate::backend) fn databases_like(pattern: &str) -> String {
        format!("SELECT datname AS name FROM pg_database WHERE datname LIKE '{}'", pattern.replace('\'', "''"))
    }

    /// One `DROP` statement, as `statement`, for each object of the connected
    /// database: tables, views, sequences, types and routines, not those of extensions.
    pub(in crate::backend) const DROP_EVERYTHING: &str = "SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' \
               WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' \
               WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END, n.nspname, c.relname) AS statement \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')) \
             UNION ALL \
             SELECT format('DROP TYPE IF EXISTS %I.%I CASCADE', n.nspname, t.typname) AS statement \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' AND t.typtype IN ('e', 'd') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') \
             UNION ALL \
             SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) AS statement \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' AND p.prokind IN ('f', 'p') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')";
}

#[cfg(feature = "postgres")]
pub(super) use introspection::schema;

#[cfg(feature = "postgres")]
mod introspection;
