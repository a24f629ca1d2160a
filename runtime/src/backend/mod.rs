//! The database backends behind one enum. Everything one backend does its
//! own way is in its file (`postgres`, `mysql`, `sqlite`); this module is the
//! one place that picks the file for a connection, an error or a backend:
//! connections and transactions, error codes, casts, the clock, schemas,
//! session locks, and what only SQLite has.

pub use migrations_rs_core::Backend;

use crate::database_error::{ErrorDetails, StatementError};
use crate::error::{Error, Result};

mod connection;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

pub use connection::Connection;
pub(crate) use connection::{AnyPool, ConnRef, Tx};

use connection::{Conn, Handle};
use sea_query::Expr;
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
use sqlx::postgres::{PgConnection, PgDatabaseError};
use sqlx::sqlite::SqliteError;

/// Runs `$body` with `$conn` bound to the backend-specific value inside `$value`.
macro_rules! dispatch {
    ($value:expr, $enum:ident, $conn:ident => $body:expr) => {
        match $value {
            $enum::Sqlite($conn) => $body,
            $enum::Postgres($conn) => $body,
            $enum::MySql($conn) => $body,
        }
    };
}
pub(crate) use dispatch;

/// Opens a connection to `url` the way its backend connects.
async fn open(url: &crate::url::DatabaseUrl) -> Result<Conn> {
    Ok(match url.backend() {
        Backend::Sqlite => Conn::Sqlite(Handle::Own(sqlite::connect(url).await?)),
        Backend::Postgres => Conn::Postgres(Handle::Own(postgres::connect(url).await?)),
        Backend::MySql => Conn::MySql(Handle::Own(mysql::connect(url).await?)),
    })
}

/// Whether tables can be qualified as `schema.table` (PostgreSQL only).
pub(crate) fn has_schemas(backend: Backend) -> bool {
    match backend {
        Backend::Postgres => postgres::SCHEMAS,
        Backend::MySql => mysql::SCHEMAS,
        Backend::Sqlite => sqlite::SCHEMAS,
    }
}

/// The database's clock, in milliseconds since 1970, as SQL: lease times are
/// written and compared by it, never by a client's clock.
pub(crate) fn now_ms_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => postgres::NOW_MS,
        Backend::MySql => mysql::NOW_MS,
        Backend::Sqlite => sqlite::NOW_MS,
    }
}

/// `column` (any SQL expression) cast to text, as SQL.
pub(crate) fn cast_to_text(backend: Backend, column: &str) -> String {
    let text = match backend {
        Backend::Postgres => postgres::TEXT,
        Backend::MySql => mysql::TEXT,
        Backend::Sqlite => sqlite::TEXT,
    };
    format!("CAST({column} AS {text})")
}

/// `column` (any SQL expression) cast to a 64-bit integer, as SQL.
pub(crate) fn cast_to_integer(backend: Backend, column: &str) -> String {
    let integer = match backend {
        Backend::Postgres => postgres::INTEGER,
        Backend::MySql => mysql::INTEGER,
        Backend::Sqlite => sqlite::INTEGER,
    };
    format!("CAST({column} AS {integer})")
}

/// `table` (possibly qualified with `.`) quoted for `backend`, part by part.
pub(crate) fn quote_table(backend: Backend, table: &str) -> String {
    let quote = |part: &str| match backend {
        Backend::MySql => mysql::quote(part),
        Backend::Postgres | Backend::Sqlite => quote_standard(part),
    };
    table.split('.').map(quote).collect::<Vec<_>>().join(".")
}

/// An identifier in standard SQL's double quotes.
fn quote_standard(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl ConnRef<'_> {
    /// Whether `table` (a name as the database resolves it, possibly
    /// qualified with `.`) exists, looked up in the catalogue: a query of a
    /// missing table would abort a PostgreSQL transaction.
    pub(crate) async fn table_exists(&mut self, table: &str) -> Result<bool> {
        match self {
            ConnRef::Postgres(c) => postgres::table_exists(c, &quote_table(Backend::Postgres, table)).await,
            ConnRef::MySql(c) => mysql::table_exists(c, table).await,
            ConnRef::Sqlite(c) => sqlite::table_exists(c, table).await,
        }
    }

    /// The size of the largest statement the server takes, where it drops
    /// the connection over a larger one (MySQL/MariaDB); `None` elsewhere.
    pub(crate) async fn max_statement_bytes(&mut self) -> Result<Option<u64>> {
        match self {
            ConnRef::MySql(c) => mysql::max_statement_bytes(c).await.map(Some),
            ConnRef::Postgres(_) | ConnRef::Sqlite(_) => Ok(None),
        }
    }
}

/// A lock the server keeps for one session until it is released or the
/// session ends, seen from a connection: PostgreSQL's advisory lock,
/// MySQL/MariaDB's named lock. SQLite has none.
pub(crate) enum SessionLock<'c> {
    Postgres(&'c mut PgConnection, postgres::AdvisoryLock),
    MySql(&'c mut MySqlConnection, mysql::NamedLock),
}

impl<'c> ConnRef<'c> {
    /// The session lock called `name` on this connection's database; `None`
    /// on SQLite, which has no session locks.
    pub(crate) async fn session_lock(self, name: &str) -> Result<Option<SessionLock<'c>>> {
        Ok(match self {
            ConnRef::Postgres(c) => Some(SessionLock::Postgres(c, postgres::AdvisoryLock::named(name))),
            ConnRef::MySql(c) => {
                let lock = mysql::NamedLock::named(c, name).await?;
                Some(SessionLock::MySql(c, lock))
            }
            ConnRef::Sqlite(_) => None,
        })
    }
}

impl SessionLock<'_> {
    /// Takes the lock if it is free, without waiting.
    pub(crate) async fn try_lock(&mut self) -> Result<bool> {
        match self {
            SessionLock::Postgres(c, lock) => lock.try_lock(c).await,
            SessionLock::MySql(c, lock) => lock.try_lock(c).await,
        }
    }

    pub(crate) async fn unlock(&mut self) -> Result<()> {
        match self {
            SessionLock::Postgres(c, lock) => lock.unlock(c).await,
            SessionLock::MySql(c, lock) => lock.unlock(c).await,
        }
    }

    /// The server session (backend pid, connection id) holding the lock.
    pub(crate) async fn holder_session(&mut self) -> Result<Option<i64>> {
        match self {
            SessionLock::Postgres(c, lock) => lock.holder_session(c).await,
            SessionLock::MySql(c, lock) => lock.holder_session(c).await,
        }
    }

    /// `None` while this connection's own session holds the lock, else why not.
    pub(crate) async fn still_held(&mut self) -> Result<Option<String>> {
        match self {
            SessionLock::Postgres(c, lock) => lock.still_held(c).await,
            SessionLock::MySql(c, lock) => lock.still_held(c).await,
        }
    }

    /// Ends the server session `session`, and with it the locks it holds.
    pub(crate) async fn end_session(&mut self, session: i64) -> Result<()> {
        match self {
            SessionLock::Postgres(c, _) => postgres::end_session(c, session).await,
            SessionLock::MySql(c, _) => mysql::end_session(c, session).await,
        }
    }
}

/// A connection of its own that takes its server's session lock, and holds
/// it while the connection stays open.
pub(crate) enum SessionLockConnection {
    Postgres(Handle<sqlx::Postgres>, postgres::AdvisoryLock),
    MySql(Handle<sqlx::MySql>, mysql::NamedLock),
}

impl Connection {
    /// This connection, made the one that takes the session lock called
    /// `name`; given back on SQLite, which has no session locks.
    pub(crate) async fn into_session_lock(self, name: &str) -> Result<Result<SessionLockConnection, Connection>> {
        let Connection { url, inner, pool, init_sql } = self;
        Ok(Ok(match inner {
            Conn::Postgres(c) => SessionLockConnection::Postgres(c, postgres::AdvisoryLock::named(name)),
            Conn::MySql(mut c) => {
                let lock = mysql::NamedLock::named(c.get(), name).await?;
                SessionLockConnection::MySql(c, lock)
            }
            inner @ Conn::Sqlite(_) => return Ok(Err(Connection { url, inner, pool, init_sql })),
        }))
    }

    /// The SQLite database, for what only SQLite has; `None` on a server.
    pub(crate) fn sqlite(&mut self) -> Option<sqlite::SqliteDatabase<'_>> {
        match &mut self.inner {
            Conn::Sqlite(c) => Some(sqlite::SqliteDatabase { conn: c.get(), url: &self.url }),
            Conn::Postgres(_) | Conn::MySql(_) => None,
        }
    }
}

impl SessionLockConnection {
    /// The lock, on this connection.
    pub(crate) fn lock(&mut self) -> SessionLock<'_> {
        match self {
            SessionLockConnection::Postgres(c, lock) => SessionLock::Postgres(c.get(), *lock),
            SessionLockConnection::MySql(c, lock) => SessionLock::MySql(c.get(), lock.clone()),
        }
    }

    pub(crate) fn as_ref(&mut self) -> ConnRef<'_> {
        match self {
            SessionLockConnection::Postgres(c, _) => c.get().into(),
            SessionLockConnection::MySql(c, _) => c.get().into(),
        }
    }

    /// Closes the connection, and with it the session and its lock.
    pub(crate) async fn close(self) -> Result<()> {
        match self {
            SessionLockConnection::Postgres(c, _) => c.close().await,
            SessionLockConnection::MySql(c, _) => c.close().await,
        }
    }
}

/// A SQL expression, a nonzero integer while some session holds the session
/// lock called `name`, for reading the lock in one statement with other
/// tables; `None` on SQLite, which has no session locks.
pub(crate) fn session_lock_held_sql(backend: Backend, name: &str) -> Option<Expr> {
    match backend {
        Backend::Postgres => Some(postgres::AdvisoryLock::named(name).held_in_sql()),
        Backend::MySql => Some(mysql::held_in_sql(name)),
        Backend::Sqlite => None,
    }
}

/// The database error inside `error`, by the backend that raised it.
enum Raised<'e> {
    Postgres(&'e PgDatabaseError),
    MySql(&'e MySqlDatabaseError),
    Sqlite(&'e SqliteError),
}

fn raised(error: &sqlx::Error) -> Option<Raised<'_>> {
    let database = error.as_database_error()?;
    if let Some(error) = database.try_downcast_ref::<PgDatabaseError>() {
        Some(Raised::Postgres(error))
    } else if let Some(error) = database.try_downcast_ref::<MySqlDatabaseError>() {
        Some(Raised::MySql(error))
    } else {
        database.try_downcast_ref::<SqliteError>().map(Raised::Sqlite)
    }
}

/// `None` when `result` failed because a table does not exist yet: a read of
/// a table that no run has created finds nothing, and creates nothing.
pub(crate) fn missing_table_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Database(error)) if is_missing_table(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Whether `error` says a table does not exist.
fn is_missing_table(error: &sqlx::Error) -> bool {
    match raised(error) {
        Some(Raised::Postgres(error)) => postgres::is_missing_table(error),
        Some(Raised::MySql(error)) => mysql::is_missing_table(error),
        Some(Raised::Sqlite(error)) => sqlite::is_missing_table(error),
        None => false,
    }
}

/// Whether `error` says a column does not exist: a table created by an older version.
pub(crate) fn is_missing_column(error: &Error) -> bool {
    let Error::Database(error) = error else { return false };
    match raised(error) {
        Some(Raised::Postgres(error)) => postgres::is_missing_column(error),
        Some(Raised::MySql(error)) => mysql::is_missing_column(error),
        Some(Raised::Sqlite(error)) => sqlite::is_missing_column(error),
        None => false,
    }
}

/// Whether `error` is SQLite's "database is locked": another connection
/// writes, and the busy timeout ran out waiting for it. The servers wait
/// for their locks instead.
pub(crate) fn is_busy(error: &Error) -> bool {
    let Error::Database(error) = error else { return false };
    matches!(raised(error), Some(Raised::Sqlite(error)) if sqlite::is_busy(error))
}

/// The database's error for `statement`, with everything its backend says
/// about it, or `None` when `error` is not one the database returned (a
/// broken connection, a decoding error).
pub(crate) fn statement_error(backend: Backend, error: &sqlx::Error, statement: &str) -> Option<StatementError> {
    let database = error.as_database_error()?;
    Some(StatementError::new(backend, database.message(), error_details(database, statement), statement))
}

/// The details of the database error `error`, raised by `statement`.
fn error_details(error: &dyn DatabaseError, statement: &str) -> ErrorDetails {
    let mut out = ErrorDetails { code: error.code().map(|c| c.into_owned()), ..ErrorDetails::default() };
    if let Some(error) = error.try_downcast_ref::<PgDatabaseError>() {
        postgres::details(error, statement, &mut out);
    } else if let Some(error) = error.try_downcast_ref::<MySqlDatabaseError>() {
        mysql::details(error, &mut out);
    }
    out
}

/// Whether a refused statement used an enum value in the transaction that
/// added it, which only PostgreSQL refuses.
pub(crate) fn is_new_enum_value_used(backend: Backend, code: Option<&str>) -> bool {
    match backend {
        Backend::Postgres => code.is_some_and(postgres::is_new_enum_value_used),
        Backend::MySql | Backend::Sqlite => false,
    }
}

/// Whether a refusal is one a step that did not run before could explain:
/// an object missing or already there, another depending on it, an enum
/// value not added. PostgreSQL says so in its SQLSTATE; the others in the message.
pub(crate) fn explained_by_earlier_step(backend: Backend, code: Option<&str>, message: &str) -> bool {
    match backend {
        Backend::Postgres => code.is_some_and(postgres::explained_by_earlier_step),
        Backend::MySql | Backend::Sqlite => {
            let message = message.to_ascii_lowercase();
            message.contains("no such") || message.contains("already exists")
        }
    }
}

impl Connection {
    /// The schema of the connected database (PostgreSQL: the schemas on the
    /// search path, PostgreSQL's own left out; MySQL/MariaDB: the current
    /// database; SQLite: `main`), without the tables and schemas named in
    /// `exclude`: migrations-rs's own history, log and lock tables, and any
    /// the caller leaves out. A name in `exclude` is a table's name, or on
    /// PostgreSQL `schema.table` or a schema's name.
    pub async fn schema(&mut self, exclude: &[String]) -> Result<migrations_rs_core::schema::Schema> {
        match self.as_ref() {
            ConnRef::Postgres(c) => postgres::schema(c, exclude).await,
            ConnRef::MySql(c) => mysql::schema(c, exclude).await,
            ConnRef::Sqlite(c) => sqlite::schema(c, exclude).await,
        }
    }
}
