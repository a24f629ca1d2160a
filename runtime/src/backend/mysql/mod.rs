//! What MySQL and MariaDB do their own way: connecting, their error numbers
//! and the line their syntax errors name, their type names in casts, their
//! clock in SQL, no schemas to qualify a table with, and their session lock
//! (a named lock, `GET_LOCK`) with ending the connection that holds one.
//!
//! The lock functions return `INT` on MariaDB and `BIGINT UNSIGNED` on
//! MySQL, so every result is cast to a signed `BIGINT`.
//!
//! The SQL of the dialect is here whatever the build; what talks to a server
//! needs the `mysql` feature.

use sea_query::Expr;
#[cfg(feature = "mysql")]
use {
    super::ErrorDetails,
    crate::error::{Error, Result},
    crate::url::DatabaseUrl,
    sqlx::Connection as _,
    sqlx::error::DatabaseError,
    sqlx::mysql::{MySqlConnection, MySqlDatabaseError},
};

#[cfg(feature = "mysql")]
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
#[cfg(feature = "mysql")]
pub(super) fn is_missing_table(error: &MySqlDatabaseError) -> bool {
    error.number() == 1146 || error.code() == Some("42S02")
}

/// Error 1054, SQLSTATE 42S22: unknown column.
#[cfg(feature = "mysql")]
pub(super) fn is_missing_column(error: &MySqlDatabaseError) -> bool {
    error.number() == 1054 || error.code() == Some("42S22")
}

/// The error number as the code, the SQLSTATE beside it, and the line of
/// the statement a syntax error names.
#[cfg(feature = "mysql")]
pub(super) fn details(error: &MySqlDatabaseError, out: &mut ErrorDetails) {
    out.code = Some(error.number().to_string());
    out.sqlstate = error.code().map(str::to_owned);
    // Syntax errors end with "at line N", a line of the statement.
    out.position = syntax_error_line(DatabaseError::message(error)).map(|line| (line, 0));
}

/// N of a message ending in "at line N".
#[cfg(feature = "mysql")]
fn syntax_error_line(message: &str) -> Option<usize> {
    let (_, after) = message.rsplit_once(" at line ")?;
    after.trim().parse().ok()
}

/// An identifier quoted with backticks.
pub(super) fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Whether `table` (`name`, or `database.name`) exists; unqualified, in the current database.
#[cfg(feature = "mysql")]
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

/// The integer columns of `table` that a single-column unique index over NOT
/// NULL values covers: `(column, is the primary key)`.
#[cfg(feature = "mysql")]
pub(super) async fn integer_keys(c: &mut MySqlConnection, table: &str) -> Result<Vec<(String, bool)>> {
    let (schema, name) = match table.split('.').collect::<Vec<_>>().as_slice() {
        [schema, name] => (Some(*schema), *name),
        _ => (None, table),
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CAST(s.column_name AS CHAR), CAST(s.index_name = 'PRIMARY' AS SIGNED) \
         FROM information_schema.statistics s JOIN information_schema.columns c \
         ON c.table_schema = s.table_schema AND c.table_name = s.table_name AND c.column_name = s.column_name \
         WHERE s.table_schema = coalesce(?, DATABASE()) AND s.table_name = ? AND s.non_unique = 0 \
         AND c.is_nullable = 'NO' AND c.data_type IN ('tinyint', 'smallint', 'mediumint', 'int', 'bigint') \
         AND (SELECT count(*) FROM information_schema.statistics o WHERE o.table_schema = s.table_schema \
              AND o.table_name = s.table_name AND o.index_name = s.index_name) = 1 \
         ORDER BY s.index_name = 'PRIMARY' DESC, c.ordinal_position",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(column, primary)| (column, primary != 0)).collect())
}

/// The largest statement the server accepts (`max_allowed_packet`): a larger
/// one is answered by dropping the connection.
#[cfg(feature = "mysql")]
pub(super) async fn max_statement_bytes(c: &mut MySqlConnection) -> Result<u64> {
    let text: String = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS CHAR)").fetch_one(c).await?;
    Ok(text.trim().parse().unwrap_or(u64::MAX))
}

/// Error 1205 (ER_LOCK_WAIT_TIMEOUT): a statement waited longer than
/// `innodb_lock_wait_timeout` for a row lock, or than `lock_wait_timeout`
/// for a table's metadata lock.
pub(super) fn is_lock_timeout(code: &str) -> bool {
    code == "1205"
}

/// Limits how long each statement of this session waits for a lock
/// (`lock_wait_timeout` for metadata locks, `innodb_lock_wait_timeout` for
/// row locks; both whole seconds, so a wait is rounded up to one) and, when
/// given, runs (`max_statement_time` on MariaDB, `max_execution_time` on
/// MySQL, which limits only `SELECT`). Returns the session's values to put back.
#[cfg(feature = "mysql")]
pub(super) async fn limit_waits(
    c: &mut MySqlConnection,
    lock_wait: std::time::Duration,
    statement_timeout: Option<std::time::Duration>,
) -> Result<Vec<(&'static str, String)>> {
    let seconds = lock_wait_seconds(lock_wait);
    let mut settings = vec![("lock_wait_timeout", seconds.clone()), ("innodb_lock_wait_timeout", seconds)];
    if let Some(timeout) = statement_timeout {
        let mariadb: i64 = sqlx::query_scalar("SELECT VERSION() LIKE '%MariaDB%'").fetch_one(&mut *c).await?;
        settings.push(if mariadb != 0 {
            ("max_statement_time", format!("{:.3}", timeout.as_secs_f64()))
        } else {
            ("max_execution_time", timeout.as_millis().to_string())
        });
    }
    // One round trip: the values to put back are read, then every setting changed.
    let read: Vec<String> = settings.iter().map(|(name, _)| format!("CAST(@@SESSION.{name} AS CHAR)")).collect();
    let set: Vec<String> = settings.iter().map(|(name, value)| format!("{name} = {value}")).collect();
    let sql = format!("SELECT {}; SET SESSION {}", read.join(", "), set.join(", "));
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
    let row = rows.first().ok_or_else(|| sqlx::Error::RowNotFound)?;
    let mut before = Vec::with_capacity(settings.len());
    for (index, (name, _)) in settings.iter().enumerate() {
        before.push((*name, sqlx::Row::try_get::<String, _>(row, index)?));
    }
    Ok(before)
}

/// Sets how long each statement of this session waits for a lock, as
/// [`limit_waits`] does, without reading what it was.
#[cfg(feature = "mysql")]
pub(super) async fn set_lock_wait(c: &mut MySqlConnection, lock_wait: std::time::Duration) -> Result<()> {
    let seconds = lock_wait_seconds(lock_wait);
    let sql = format!("SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *c).await?;
    Ok(())
}

/// A lock wait in the whole seconds MySQL/MariaDB take, rounded up, at least one.
#[cfg(feature = "mysql")]
fn lock_wait_seconds(lock_wait: std::time::Duration) -> String {
    lock_wait.as_millis().div_ceil(1000).max(1).to_string()
}

/// Puts back session settings that [`limit_waits`] changed (numbers, as read).
#[cfg(feature = "mysql")]
pub(super) async fn restore_settings(c: &mut MySqlConnection, before: Vec<(&'static str, String)>) -> Result<()> {
    let set: Vec<String> = before
        .iter()
        .map(|(name, value)| format!("{name} = {}", value.trim().parse::<f64>().unwrap_or_default()))
        .collect();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET SESSION {}", set.join(", ")))).execute(&mut *c).await?;
    Ok(())
}

/// A named lock: `name@database`, at most 64 characters as `GET_LOCK` allows.
#[cfg(feature = "mysql")]
#[derive(Debug, Clone)]
pub(crate) struct NamedLock {
    name: String,
}

#[cfg(feature = "mysql")]
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

/// 1 while the connection with id `connection_id` holds the lock named
/// `name` (before the database is added to it), else 0, as an integer.
pub(super) fn held_by_sql(name: &str, connection_id: i64) -> Expr {
    Expr::cust_with_values(
        "CAST(COALESCE(IS_USED_LOCK(LEFT(CONCAT(?, '@', COALESCE(DATABASE(), '')), 64)) = ?, 0) AS SIGNED)",
        [sea_query::Value::from(name.to_owned()), connection_id.into()],
    )
}

/// Ends the connection with id `connection_id`, and with it the locks it holds.
#[cfg(feature = "mysql")]
pub(super) async fn end_session(c: &mut MySqlConnection, connection_id: i64) -> Result<()> {
    // `connection_id` is a number read from the server, not user input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {connection_id}"))).execute(c).await?;
    Ok(())
}

/// This connection's id.
#[cfg(feature = "mysql")]
pub(super) async fn session_id(c: &mut MySqlConnection) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)").fetch_one(c).await?)
}

/// The process list's rows of some connections (`{ids}`, numbers read from
/// the server), with the age of each one's InnoDB transaction.
#[cfg(feature = "mysql")]
const SESSIONS: &str = "SELECT CAST(p.ID AS SIGNED), p.COMMAND, p.STATE, LEFT(p.INFO, ?), \
     CAST(p.TIME AS SIGNED) * 1000, CAST(GREATEST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0) AS SIGNED) * 1000 \
     FROM information_schema.PROCESSLIST p LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
     WHERE p.ID IN ({ids}) ORDER BY p.ID";

/// Where the server says who blocks connection `?`, by what it waits for:
/// metadata locks (`performance_schema`, when enabled), row locks (MariaDB
/// and MySQL 5.7's `information_schema`, MySQL 8's `performance_schema`).
#[cfg(feature = "mysql")]
const BLOCKERS: [(&str, &str); 3] = [
    (
        "performance_schema.metadata_locks",
        "SELECT DISTINCT CAST(gt.PROCESSLIST_ID AS SIGNED) FROM performance_schema.metadata_locks w \
         JOIN performance_schema.threads wt ON wt.THREAD_ID = w.OWNER_THREAD_ID \
         JOIN performance_schema.metadata_locks g ON g.OBJECT_TYPE = w.OBJECT_TYPE \
           AND g.OBJECT_SCHEMA <=> w.OBJECT_SCHEMA AND g.OBJECT_NAME <=> w.OBJECT_NAME \
           AND g.LOCK_STATUS = 'GRANTED' AND g.OWNER_THREAD_ID <> w.OWNER_THREAD_ID \
         JOIN performance_schema.threads gt ON gt.THREAD_ID = g.OWNER_THREAD_ID \
         WHERE wt.PROCESSLIST_ID = ? AND w.LOCK_STATUS = 'PENDING' AND gt.PROCESSLIST_ID IS NOT NULL",
    ),
    (
        "information_schema.INNODB_LOCK_WAITS",
        "SELECT DISTINCT CAST(b.trx_mysql_thread_id AS SIGNED) FROM information_schema.INNODB_LOCK_WAITS w \
         JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id \
         JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
         WHERE r.trx_mysql_thread_id = ?",
    ),
    (
        "performance_schema.data_lock_waits",
        "SELECT DISTINCT CAST(bt.PROCESSLIST_ID AS SIGNED) FROM performance_schema.data_lock_waits w \
         JOIN performance_schema.threads rt ON rt.THREAD_ID = w.REQUESTING_THREAD_ID \
         JOIN performance_schema.threads bt ON bt.THREAD_ID = w.BLOCKING_THREAD_ID \
         WHERE rt.PROCESSLIST_ID = ? AND bt.PROCESSLIST_ID IS NOT NULL",
    ),
];

/// The sessions on this database, other than `?` and the reader's own, with
/// an open InnoDB transaction or a running statement: those that can hold a
/// table's metadata lock, when the server does not say which one does.
#[cfg(feature = "mysql")]
const MAY_HOLD_METADATA_LOCKS: &str = "SELECT CAST(p.ID AS SIGNED) FROM information_schema.PROCESSLIST p \
     LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
     WHERE p.ID <> ? AND p.ID <> CONNECTION_ID() AND p.DB <=> DATABASE() \
       AND (t.trx_id IS NOT NULL OR p.COMMAND = 'Query') ORDER BY p.ID";

/// Connection `id` as the process list shows it, and the connections that block it.
#[cfg(feature = "mysql")]
pub(super) async fn session_waits(c: &mut MySqlConnection, id: i64) -> Result<Option<super::SessionWaits>> {
    let Some(session) = sessions(c, &[id]).await?.into_iter().next() else { return Ok(None) };
    let mut blockers = Vec::new();
    let mut found_by = Vec::new();
    for (source, sql) in BLOCKERS {
        // A table this server does not have, or may not show: the next source.
        let Ok(ids) = sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_all(&mut *c).await else { continue };
        if !ids.is_empty() {
            found_by.push(source);
        }
        for blocker in ids {
            if blocker != id && !blockers.contains(&blocker) {
                blockers.push(blocker);
            }
        }
    }
    let waits_for_metadata = session.waiting_for.as_deref().is_some_and(|state| state.contains("metadata lock"));
    if blockers.is_empty() && waits_for_metadata {
        blockers = sqlx::query_scalar(MAY_HOLD_METADATA_LOCKS).bind(id).fetch_all(&mut *c).await?;
        found_by.push(
            "the sessions on this database with an open transaction or a running statement \
             (information_schema.INNODB_TRX and PROCESSLIST; performance_schema shows no metadata locks)",
        );
    }
    let blockers = if blockers.is_empty() { Vec::new() } else { sessions(c, &blockers).await? };
    Ok(Some(super::SessionWaits { session, blockers, found_by: found_by.join(", ") }))
}

/// The process list's rows of connections `ids`, in id order.
#[cfg(feature = "mysql")]
async fn sessions(c: &mut MySqlConnection, ids: &[i64]) -> Result<Vec<super::ServerSession>> {
    type Process = (i64, Option<String>, Option<String>, Option<String>, Option<i64>, Option<i64>);
    // The ids are numbers, read from the server.
    let ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let sql = SESSIONS.replace("{ids}", &ids);
    let rows: Vec<Process> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(super::QUERY_CHARS as i64).fetch_all(c).await?;
    Ok(rows
        .into_iter()
        .map(|(id, state, waiting_for, query, query_ms, transaction_ms)| super::ServerSession {
            id,
            state,
            waiting_for: waiting_for.filter(|w| !w.is_empty()),
            query,
            query_ms,
            transaction_ms,
        })
        .collect())
}

/// Whole databases on the server, for test databases and their templates:
/// the connection the statements run on is any one to the server. A
/// database is copied inside the server, as MySQL/MariaDB has no template
/// databases.
#[cfg(feature = "mysql")]
pub(crate) mod databases {
    use crate::url::DatabaseUrl;
    use sqlx::{AssertSqlSafe, Connection as _, Executor as _, MySqlConnection, Row as _};
    use std::collections::{HashMap, HashSet};

    /// A connection to the server of `server`, to create and drop databases on.
    pub(crate) async fn admin(server: &DatabaseUrl) -> sqlx::Result<MySqlConnection> {
        MySqlConnection::connect(server.expose()).await
    }

    /// Takes the named lock `name`, waiting up to `wait_secs`; `false` when the wait ran out.
    pub(crate) async fn lock(c: &mut MySqlConnection, name: &str, wait_secs: u32) -> sqlx::Result<bool> {
        let locked: Option<i64> =
            sqlx::query_scalar("SELECT CAST(GET_LOCK(?, ?) AS SIGNED)").bind(name).bind(wait_secs).fetch_one(c).await?;
        Ok(locked == Some(1))
    }

    pub(crate) async fn unlock(c: &mut MySqlConnection, name: &str) -> sqlx::Result<()> {
        sqlx::query("SELECT RELEASE_LOCK(?)").bind(name).execute(c).await.map(drop)
    }

    /// How many of `names` exist.
    pub(crate) async fn count_existing(c: &mut MySqlConnection, names: [&str; 2]) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?, ?)")
            .bind(names[0])
            .bind(names[1])
            .fetch_one(c)
            .await
    }

    /// The databases whose names start with `prefix` (a plain identifier).
    pub(crate) async fn named_like(c: &mut MySqlConnection, prefix: &str) -> sqlx::Result<Vec<String>> {
        let pattern = format!("{}%", prefix.replace('_', "\\_"));
        sqlx::query_scalar("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?")
            .bind(pattern)
            .fetch_all(c)
            .await
    }

    pub(crate) async fn create(c: &mut MySqlConnection, name: &str) -> sqlx::Result<()> {
        c.execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`"))).await.map(drop)
    }

    pub(crate) async fn drop_database(c: &mut MySqlConnection, name: &str) -> sqlx::Result<()> {
        c.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"))).await.map(drop)
    }

    /// Copies every table (definition and rows), view, trigger and routine of
    /// database `from` into the empty database `to` on the server of
    /// `server`. The tables are made over up to [`COPIERS`] connections at
    /// once, since `CREATE TABLE` (a file or two per table, synced to disk)
    /// is most of the time and the server makes tables side by side faster
    /// than one after another; the rest goes over `c`. A failure names what
    /// was being copied.
    pub(crate) async fn copy(
        server: &DatabaseUrl,
        c: &mut MySqlConnection,
        from: &str,
        to: &str,
    ) -> Result<(), (String, sqlx::Error)> {
        let names = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).bind(from.to_owned());
        for sql in ["SET FOREIGN_KEY_CHECKS = 0".to_owned(), format!("USE `{to}`")] {
            c.execute(AssertSqlSafe(sql)).await.map_err(failed("session"))?;
        }
        let tables = names(
            "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(failed("tables"))?;
        if tables.is_empty() {
            let gone =
                sqlx::Error::Protocol(format!("the template {from} has no tables: it was dropped, or never migrated"));
            return Err(failed("tables")(gone));
        }
        // The columns a row copy writes (not the generated ones), by table, in one query.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND COALESCE(GENERATION_EXPRESSION, '') = '' ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
        .bind(from)
        .fetch_all(&mut *c)
        .await
        .map_err(failed("columns"))?;
        let mut columns: HashMap<String, Vec<String>> = HashMap::new();
        for (table, column) in rows {
            columns.entry(table).or_default().push(super::quote(&column));
        }
        let filled = filled(c, from, &tables).await.map_err(failed("tables"))?;
        let copiers = tables.len().div_ceil(TABLES_PER_COPIER).clamp(1, COPIERS);
        let mut shares: Vec<Vec<&String>> = vec![Vec::new(); copiers];
        for (i, table) in tables.iter().enumerate() {
            shares[i % copiers].push(table);
        }
        let plan = Plan { from, to, columns: &columns, filled: &filled };
        let mut others = Vec::new();
        for _ in 1..copiers {
            others.push(MySqlConnection::connect(server.expose()).await.map_err(failed("connecting"))?);
        }
        let mut shares = shares.into_iter();
        let own = plan.copy_tables(c, shares.next().unwrap_or_default());
        let theirs = others.iter_mut().zip(shares).map(|(other, share)| async move {
            for sql in ["SET FOREIGN_KEY_CHECKS = 0".to_owned(), format!("USE `{to}`")] {
                other.execute(AssertSqlSafe(sql)).await.map_err(failed("session"))?;
            }
            plan.copy_tables(other, share).await
        });
        let (own, theirs) = futures_util::future::join(own, futures_util::future::join_all(theirs)).await;
        for other in others {
            let _ = other.close().await;
        }
        own?;
        theirs.into_iter().collect::<Result<Vec<()>, _>>()?;
        // Views may read other views: create them in rounds until none is left.
        let mut views = names(
            "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(failed("views"))?;
        let qualified_from = format!("`{from}`.");
        let qualified_to = format!("`{to}`.");
        while !views.is_empty() {
            let mut left = Vec::new();
            let mut last_error = None;
            for view in views.iter() {
                let create =
                    show_create(c, &format!("SHOW CREATE VIEW `{from}`.`{view}`"), 1).await.map_err(failed(view))?;
                if let Err(error) = c.execute(AssertSqlSafe(create.replace(&qualified_from, &qualified_to))).await {
                    last_error = Some(error);
                    left.push(view.clone());
                }
            }
            if left.len() == views.len()
                && let Some(error) = last_error
            {
                return Err(failed("views")(error));
            }
            views = left;
        }
        let triggers = names("SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME")
            .fetch_all(&mut *c)
            .await
            .map_err(failed("triggers"))?;
        for trigger in &triggers {
            let create = show_create(c, &format!("SHOW CREATE TRIGGER `{from}`.`{trigger}`"), 2)
                .await
                .map_err(failed(trigger))?;
            c.execute(AssertSqlSafe(create)).await.map_err(failed(trigger))?;
        }
        let routines: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(ROUTINE_TYPE AS CHAR), CAST(ROUTINE_NAME AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME",
        )
        .bind(from)
        .fetch_all(&mut *c)
        .await
        .map_err(failed("routines"))?;
        for (kind, routine) in &routines {
            let create = show_create(c, &format!("SHOW CREATE {kind} `{from}`.`{routine}`"), 2)
                .await
                .map_err(failed(routine))?;
            c.execute(AssertSqlSafe(create)).await.map_err(failed(routine))?;
        }
        c.execute("SET FOREIGN_KEY_CHECKS = 1").await.map_err(failed("session"))?;
        Ok(())
    }

    /// The most connections a copy makes its tables over.
    const COPIERS: usize = 4;
    /// Tables enough to be worth another connection.
    const TABLES_PER_COPIER: usize = 25;

    /// The error of a step of a copy, naming what was being copied.
    fn failed(what: &str) -> impl Fn(sqlx::Error) -> (String, sqlx::Error) {
        let what = what.to_owned();
        move |cause| (what.clone(), cause)
    }

    /// Which of the tables of database `from` hold rows, asked in a few
    /// queries rather than one per table.
    async fn filled(c: &mut MySqlConnection, from: &str, tables: &[String]) -> sqlx::Result<HashSet<String>> {
        let mut filled = HashSet::new();
        for chunk in tables.chunks(200) {
            let sql = chunk
                .iter()
                .map(|table| {
                    let literal = table.replace('\\', "\\\\").replace('\'', "''");
                    format!(
                        "SELECT CAST('{literal}' AS CHAR) FROM DUAL WHERE EXISTS (SELECT 1 FROM `{from}`.{})",
                        super::quote(table)
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let names: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
            filled.extend(names);
        }
        Ok(filled)
    }

    /// What copying a share of the tables needs to know.
    #[derive(Clone, Copy)]
    struct Plan<'a> {
        from: &'a str,
        to: &'a str,
        columns: &'a HashMap<String, Vec<String>>,
        filled: &'a HashSet<String>,
    }

    impl Plan<'_> {
        /// Makes each of `tables` in `to` as `from` has it, and copies its rows
        /// if it has any, over `c` (already using `to`, foreign key checks off).
        async fn copy_tables(self, c: &mut MySqlConnection, tables: Vec<&String>) -> Result<(), (String, sqlx::Error)> {
            let (from, to) = (self.from, self.to);
            for table in tables {
                let create =
                    show_create(c, &format!("SHOW CREATE TABLE `{from}`.`{table}`"), 1).await.map_err(failed(table))?;
                c.execute(AssertSqlSafe(create)).await.map_err(failed(table))?;
                if !self.filled.contains(table) {
                    continue;
                }
                let columns = self.columns.get(table).map(|c| c.join(", ")).unwrap_or_default();
                let copy = format!("INSERT INTO `{to}`.`{table}` ({columns}) SELECT {columns} FROM `{from}`.`{table}`");
                c.execute(AssertSqlSafe(copy)).await.map_err(failed(table))?;
            }
            Ok(())
        }
    }

    /// The `column`th field of a `SHOW CREATE …` row, as text.
    async fn show_create(c: &mut MySqlConnection, sql: &str, column: usize) -> sqlx::Result<String> {
        let row = sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).fetch_one(&mut *c).await?;
        match row.try_get::<String, _>(column) {
            Ok(text) => Ok(text),
            Err(_) => row.try_get::<Vec<u8>, _>(column).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        }
    }
}

#[cfg(all(test, feature = "mysql"))]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_a_line_of_the_statement() {
        assert_eq!(syntax_error_line("You have an error ... near 'FROM' at line 3"), Some(3));
        assert_eq!(syntax_error_line("Table 't' doesn't exist"), None);
    }
}

/// Creating and dropping databases on the server, for scratch databases.
pub(super) mod server {
    /// A database every server has, to connect to when the target does not exist yet.
    pub(in crate::backend) const ALWAYS_THERE: &str = "information_schema";
    /// The privileges creating and dropping a database need.
    pub(in crate::backend) const CREATE_PRIVILEGE: &str = "CREATE and DROP";
    /// The error number and SQLSTATE of a refusal for want of a privilege.
    pub(in crate::backend) const NO_PRIVILEGE: &[&str] = &["1044", "42000"];

    pub(in crate::backend) fn create_database(name: &str) -> String {
        format!("CREATE DATABASE `{}`", name.replace('`', "``"))
    }

    pub(in crate::backend) fn drop_database(name: &str) -> String {
        format!("DROP DATABASE IF EXISTS `{}`", name.replace('`', "``"))
    }

    /// A query of the names (column `name`) of the databases whose name is `LIKE` `pattern`.
    pub(in crate::backend) fn databases_like(pattern: &str) -> String {
        format!(
            "SELECT CAST(SCHEMA_NAME AS CHAR) AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{}'",
            pattern.replace('\'', "''")
        )
    }

    /// One `DROP` statement, as `statement`, for each table, view, sequence,
    /// routine and event of the connected database.
    pub(in crate::backend) const DROP_EVERYTHING: &str = "SELECT CAST(CONCAT('DROP ', CASE TABLE_TYPE WHEN 'VIEW' THEN 'VIEW' WHEN 'SEQUENCE' THEN 'SEQUENCE' \
               ELSE 'TABLE' END, ' IF EXISTS `', REPLACE(TABLE_NAME, '`', '``'), '`') AS CHAR) AS statement \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT CAST(CONCAT('DROP ', ROUTINE_TYPE, ' IF EXISTS `', REPLACE(ROUTINE_NAME, '`', '``'), '`') AS CHAR) AS statement \
             FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT CAST(CONCAT('DROP EVENT IF EXISTS `', REPLACE(EVENT_NAME, '`', '``'), '`') AS CHAR) AS statement \
             FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()";
}

#[cfg(feature = "mysql")]
pub(super) use introspection::schema;

#[cfg(feature = "mysql")]
mod introspection;
