//! The database backends behind one enum. Everything one backend does its
//! own way is in its file (`postgres`, `mysql`, `sqlite`); this module is the
//! one place that picks the file for a connection, an error or a backend:
//! connections and transactions, error codes, casts, the clock, schemas,
//! session locks, and what only SQLite has.
//!
//! Each backend's driver is a cargo feature (`sqlite`, `postgres`, `mysql`):
//! a program built without one has no value of that backend's connection,
//! and connecting to its URL is [`Error::UnsupportedUrl`] naming the feature.
//! Its SQL dialect (casts, clock, quoting, lock expressions) is there in
//! every build, as [`Backend`] is.

pub use migrations_rs_core::Backend;

use crate::error::{Error, Result};
use crate::url::DatabaseUrl;

mod connection;
pub(crate) mod mysql;
pub(crate) mod postgres;
mod session;
pub(crate) mod sqlite;
mod together;

pub use connection::Connection;
pub(crate) use connection::{AnyPool, ConnRef, Tx};
pub use session::{QUERY_CHARS, ServerSession, SessionWaits};
pub(crate) use together::{READ_AFTER, RowWrite, Together};

use crate::database_error::{ErrorDetails, StatementError};
use connection::{Conn, Handle};
use sea_query::Expr;
use sqlx::error::DatabaseError;
#[cfg(feature = "mysql")]
use sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnection, PgDatabaseError};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqliteError;

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("migrations-rs needs at least one backend feature: `sqlite`, `postgres` or `mysql`");

/// Runs `$body` with `$conn` bound to the backend-specific value inside
/// `$value`, for each backend this program is built with.
macro_rules! dispatch {
    ($value:expr, $enum:ident, $conn:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $enum::Sqlite($conn) => $body,
            #[cfg(feature = "postgres")]
            $enum::Postgres($conn) => $body,
            #[cfg(feature = "mysql")]
            $enum::MySql($conn) => $body,
        }
    };
}
pub(crate) use dispatch;

/// The cargo feature of migrations-rs that builds `backend`'s driver.
pub fn feature(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    }
}

/// Whether this program is built with `backend`'s driver, and so can connect to it.
pub fn is_built(backend: Backend) -> bool {
    match backend {
        Backend::Sqlite => cfg!(feature = "sqlite"),
        Backend::Postgres => cfg!(feature = "postgres"),
        Backend::MySql => cfg!(feature = "mysql"),
    }
}

/// The error for connecting to `url`, whose backend this program is built without.
pub(crate) fn not_built(url: &DatabaseUrl) -> Error {
    Error::UnsupportedUrl {
        url: url.redacted(),
        reason: format!(
            "this program was built without the `{}` feature of migrations-rs: enable it in Cargo.toml",
            feature(url.backend())
        ),
    }
}

/// Opens a connection to `url` the way its backend connects.
async fn open(url: &DatabaseUrl) -> Result<Conn> {
    Ok(match url.backend() {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Conn::Sqlite(Handle::Own(sqlite::connect(url).await?)),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Conn::Postgres(Handle::Own(postgres::connect(url).await?)),
        #[cfg(feature = "mysql")]
        Backend::MySql => Conn::MySql(Handle::Own(mysql::connect(url).await?)),
        // A backend whose feature is off.
        #[allow(unreachable_patterns)]
        _ => return Err(not_built(url)),
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
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => postgres::table_exists(c, &quote_table(Backend::Postgres, table)).await,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::table_exists(c, table).await,
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => sqlite::table_exists(c, table).await,
        }
    }

    /// The integer columns of `table` whose values are unique and never
    /// NULL, as `(column, is the primary key)`, the primary key first: the
    /// keys a backfill can walk the table by.
    pub(crate) async fn integer_keys(&mut self, table: &str) -> Result<Vec<(String, bool)>> {
        match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => postgres::integer_keys(c, &quote_table(Backend::Postgres, table)).await,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::integer_keys(c, table).await,
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => sqlite::integer_keys(c, table).await,
        }
    }

    /// The size of the largest statement the server takes, where it drops
    /// the connection over a larger one (MySQL/MariaDB); `None` elsewhere.
    pub(crate) async fn max_statement_bytes(&mut self) -> Result<Option<u64>> {
        match self {
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::max_statement_bytes(c).await.map(Some),
            #[allow(unreachable_patterns)]
            _ => Ok(None),
        }
    }
}

/// Session settings as they were before [`ConnRef::limit_waits`] changed
/// them, to put back with [`ConnRef::restore_settings`].
#[derive(Debug, Default)]
#[must_use = "the settings are put back with `restore_settings`"]
pub(crate) struct SavedSettings(Vec<(&'static str, String)>);

impl ConnRef<'_> {
    /// Limits how long each statement of this connection's session waits for
    /// a lock another session holds (`lock_wait`) and, when given, how long it
    /// runs (`statement_timeout`; SQLite has none), until they are put back
    /// with [`ConnRef::restore_settings`]. Call it outside a transaction.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
    pub(crate) async fn limit_waits(
        &mut self,
        lock_wait: std::time::Duration,
        statement_timeout: Option<std::time::Duration>,
    ) -> Result<SavedSettings> {
        Ok(SavedSettings(match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => postgres::limit_waits(c, lock_wait, statement_timeout).await?,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::limit_waits(c, lock_wait, statement_timeout).await?,
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => sqlite::limit_waits(c, lock_wait).await?,
        }))
    }

    /// Changes only the lock wait that [`ConnRef::limit_waits`] set, without
    /// reading it first. `in_transaction` says the connection is inside the
    /// transaction the wait is for. Returns whether the change outlives that
    /// transaction and has to be set back: on PostgreSQL a wait set inside a
    /// transaction ends with it.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(crate) async fn set_lock_wait(&mut self, lock_wait: std::time::Duration, in_transaction: bool) -> Result<bool> {
        match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => {
                postgres::set_lock_wait(c, lock_wait, in_transaction).await.map(|()| !in_transaction)
            }
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::set_lock_wait(c, lock_wait).await.map(|()| true),
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => sqlite::set_lock_wait(c, lock_wait).await.map(|()| true),
        }
    }

    /// Puts back the settings [`ConnRef::limit_waits`] changed.
    pub(crate) async fn restore_settings(&mut self, saved: SavedSettings) -> Result<()> {
        if saved.0.is_empty() {
            return Ok(());
        }
        match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => postgres::restore_settings(c, saved.0).await,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::restore_settings(c, saved.0).await,
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => sqlite::restore_settings(c, saved.0).await,
        }
    }
}

/// Whether `error` is a statement giving up on a lock another session held
/// longer than the lock wait: PostgreSQL's `lock_timeout`, MySQL/MariaDB's
/// lock wait timeouts, SQLite's busy timeout.
pub(crate) fn is_lock_timeout(error: &Error) -> bool {
    let (backend, code) = match error {
        Error::Statement(refused) => (refused.dialect(), refused.code.clone()),
        Error::Database(error) => {
            let backend = match raised(error) {
                #[cfg(feature = "postgres")]
                Some(Raised::Postgres(_)) => Backend::Postgres,
                #[cfg(feature = "mysql")]
                Some(Raised::MySql(_)) => Backend::MySql,
                #[cfg(feature = "sqlite")]
                Some(Raised::Sqlite(_)) => Backend::Sqlite,
                None => return false,
            };
            (backend, error.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned()))
        }
        _ => return false,
    };
    let Some(code) = code else { return false };
    match backend {
        Backend::Postgres => postgres::is_lock_timeout(&code),
        Backend::MySql => mysql::is_lock_timeout(&code),
        Backend::Sqlite => sqlite::is_lock_timeout(&code),
    }
}

/// A lock the server keeps for one session until it is released or the
/// session ends, seen from a connection: PostgreSQL's advisory lock,
/// MySQL/MariaDB's named lock. SQLite has none.
pub(crate) enum SessionLock<'c> {
    #[cfg(feature = "postgres")]
    Postgres(&'c mut PgConnection, postgres::AdvisoryLock),
    #[cfg(feature = "mysql")]
    MySql(&'c mut MySqlConnection, mysql::NamedLock),
    /// A build without a server backend has no session lock: never made.
    #[cfg(not(any(feature = "postgres", feature = "mysql")))]
    #[expect(dead_code, reason = "a build without a server backend makes none")]
    Unbuilt(std::convert::Infallible, std::marker::PhantomData<&'c mut ()>),
}

/// Runs `$body` with `$c` and `$lock` bound to the connection and lock
/// inside the session lock `$value`.
macro_rules! on_session_lock {
    ($value:expr, $c:pat, $lock:pat => $body:expr) => {
        match $value {
            #[cfg(feature = "postgres")]
            SessionLock::Postgres($c, $lock) => $body,
            #[cfg(feature = "mysql")]
            SessionLock::MySql($c, $lock) => $body,
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            SessionLock::Unbuilt(never, _) => match *never {},
        }
    };
}

impl<'c> ConnRef<'c> {
    /// The session lock called `name` on this connection's database; `None`
    /// on SQLite, which has no session locks.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
    pub(crate) async fn session_lock(self, name: &str) -> Result<Option<SessionLock<'c>>> {
        Ok(match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => Some(SessionLock::Postgres(c, postgres::AdvisoryLock::named(name))),
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => {
                let lock = mysql::NamedLock::named(c, name).await?;
                Some(SessionLock::MySql(c, lock))
            }
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(_) => None,
        })
    }
}

impl SessionLock<'_> {
    /// Takes the lock if it is free, without waiting.
    pub(crate) async fn try_lock(&mut self) -> Result<bool> {
        on_session_lock!(self, c, lock => lock.try_lock(c).await)
    }

    pub(crate) async fn unlock(&mut self) -> Result<()> {
        on_session_lock!(self, c, lock => lock.unlock(c).await)
    }

    /// The server session (backend pid, connection id) holding the lock.
    pub(crate) async fn holder_session(&mut self) -> Result<Option<i64>> {
        on_session_lock!(self, c, lock => lock.holder_session(c).await)
    }

    /// `None` while this connection's own session holds the lock, else why not.
    pub(crate) async fn still_held(&mut self) -> Result<Option<String>> {
        on_session_lock!(self, c, lock => lock.still_held(c).await)
    }

    /// Ends the server session `session`, and with it the locks it holds.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
    pub(crate) async fn end_session(&mut self, session: i64) -> Result<()> {
        match self {
            #[cfg(feature = "postgres")]
            SessionLock::Postgres(c, _) => postgres::end_session(c, session).await,
            #[cfg(feature = "mysql")]
            SessionLock::MySql(c, _) => mysql::end_session(c, session).await,
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            SessionLock::Unbuilt(never, _) => match *never {},
        }
    }
}

/// A connection of its own that takes its server's session lock, and holds
/// it while the connection stays open.
pub(crate) enum SessionLockConnection {
    #[cfg(feature = "postgres")]
    Postgres(Handle<sqlx::Postgres>, postgres::AdvisoryLock),
    #[cfg(feature = "mysql")]
    MySql(Handle<sqlx::MySql>, mysql::NamedLock),
    /// A build without a server backend has no session lock: never made.
    #[cfg(not(any(feature = "postgres", feature = "mysql")))]
    #[expect(dead_code, reason = "a build without a server backend makes none")]
    Unbuilt(std::convert::Infallible),
}

impl Connection {
    /// This connection, made the one that takes the session lock called
    /// `name`; given back on SQLite, which has no session locks.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
    pub(crate) async fn into_session_lock(self, name: &str) -> Result<Result<SessionLockConnection, Connection>> {
        Ok(match self.inner {
            #[cfg(feature = "postgres")]
            Conn::Postgres(c) => Ok(SessionLockConnection::Postgres(c, postgres::AdvisoryLock::named(name))),
            #[cfg(feature = "mysql")]
            Conn::MySql(mut c) => {
                let lock = mysql::NamedLock::named(c.get(), name).await?;
                Ok(SessionLockConnection::MySql(c, lock))
            }
            #[cfg(feature = "sqlite")]
            inner @ Conn::Sqlite(_) => Err(Connection { inner, ..self }),
        })
    }

    /// The SQLite database, for what only SQLite has; `None` on a server.
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(&mut self) -> Option<sqlite::SqliteDatabase<'_>> {
        match &mut self.inner {
            Conn::Sqlite(c) => Some(sqlite::SqliteDatabase { conn: c.get(), url: &self.url }),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl SessionLockConnection {
    /// The lock, on this connection.
    pub(crate) fn lock(&mut self) -> SessionLock<'_> {
        match self {
            #[cfg(feature = "postgres")]
            SessionLockConnection::Postgres(c, lock) => SessionLock::Postgres(c.get(), *lock),
            #[cfg(feature = "mysql")]
            SessionLockConnection::MySql(c, lock) => SessionLock::MySql(c.get(), lock.clone()),
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            SessionLockConnection::Unbuilt(never) => match *never {},
        }
    }

    pub(crate) fn as_ref(&mut self) -> ConnRef<'_> {
        match self {
            #[cfg(feature = "postgres")]
            SessionLockConnection::Postgres(c, _) => c.get().into(),
            #[cfg(feature = "mysql")]
            SessionLockConnection::MySql(c, _) => c.get().into(),
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            SessionLockConnection::Unbuilt(never) => match *never {},
        }
    }

    /// Closes the connection, and with it the session and its lock.
    pub(crate) async fn close(self) -> Result<()> {
        match self {
            #[cfg(feature = "postgres")]
            SessionLockConnection::Postgres(c, _) => c.close().await,
            #[cfg(feature = "mysql")]
            SessionLockConnection::MySql(c, _) => c.close().await,
            #[cfg(not(any(feature = "postgres", feature = "mysql")))]
            SessionLockConnection::Unbuilt(never) => match never {},
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

/// SQL that says whether the server session `session` holds the session
/// lock called `name`, for a statement on another connection to check it:
/// on PostgreSQL a condition, on MySQL/MariaDB an integer, 1 while it does;
/// `None` on SQLite, which has no session locks.
pub(crate) fn session_lock_held_by_sql(backend: Backend, name: &str, session: i64) -> Option<Expr> {
    match backend {
        Backend::Postgres => Some(postgres::AdvisoryLock::named(name).held_by_sql(session)),
        Backend::MySql => Some(mysql::held_by_sql(name, session)),
        Backend::Sqlite => None,
    }
}

/// The database error inside `error`, by the backend that raised it.
enum Raised<'e> {
    #[cfg(feature = "postgres")]
    Postgres(&'e PgDatabaseError),
    #[cfg(feature = "mysql")]
    MySql(&'e MySqlDatabaseError),
    #[cfg(feature = "sqlite")]
    Sqlite(&'e SqliteError),
}

fn raised(error: &sqlx::Error) -> Option<Raised<'_>> {
    let database = error.as_database_error()?;
    #[cfg(feature = "postgres")]
    if let Some(error) = database.try_downcast_ref::<PgDatabaseError>() {
        return Some(Raised::Postgres(error));
    }
    #[cfg(feature = "mysql")]
    if let Some(error) = database.try_downcast_ref::<MySqlDatabaseError>() {
        return Some(Raised::MySql(error));
    }
    #[cfg(feature = "sqlite")]
    if let Some(error) = database.try_downcast_ref::<SqliteError>() {
        return Some(Raised::Sqlite(error));
    }
    None
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

/// Whether `error` says that the table `name` does not exist: a missing
/// table, named in the database's message, when a statement reads several.
pub(crate) fn is_missing_named_table(error: &Error, name: &str) -> bool {
    let Error::Database(error) = error else { return false };
    is_missing_table(error) && names_identifier(&error.to_string(), name)
}

/// Whether `text` holds `name` as a whole identifier, not as part of a longer one.
fn names_identifier(text: &str, name: &str) -> bool {
    let part_of_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(name).any(|(at, _)| {
        !part_of_name(text[..at].chars().next_back()) && !part_of_name(text[at + name.len()..].chars().next())
    })
}

/// Whether `error` says a table does not exist.
fn is_missing_table(error: &sqlx::Error) -> bool {
    match raised(error) {
        #[cfg(feature = "postgres")]
        Some(Raised::Postgres(error)) => postgres::is_missing_table(error),
        #[cfg(feature = "mysql")]
        Some(Raised::MySql(error)) => mysql::is_missing_table(error),
        #[cfg(feature = "sqlite")]
        Some(Raised::Sqlite(error)) => sqlite::is_missing_table(error),
        None => false,
    }
}

/// Whether `error` says a column does not exist: a table created by an older version.
pub(crate) fn is_missing_column(error: &Error) -> bool {
    let Error::Database(error) = error else { return false };
    match raised(error) {
        #[cfg(feature = "postgres")]
        Some(Raised::Postgres(error)) => postgres::is_missing_column(error),
        #[cfg(feature = "mysql")]
        Some(Raised::MySql(error)) => mysql::is_missing_column(error),
        #[cfg(feature = "sqlite")]
        Some(Raised::Sqlite(error)) => sqlite::is_missing_column(error),
        None => false,
    }
}

/// Whether `error` is SQLite's "database is locked": another connection
/// writes, and the busy timeout ran out waiting for it. The servers wait
/// for their locks instead.
pub(crate) fn is_busy(error: &Error) -> bool {
    let Error::Database(error) = error else { return false };
    match raised(error) {
        #[cfg(feature = "sqlite")]
        Some(Raised::Sqlite(error)) => sqlite::is_busy(error),
        _ => false,
    }
}

/// The database's error for `statement`, with everything its backend says
/// about it, or `None` when `error` is not one the database returned (a
/// broken connection, a decoding error).
pub(crate) fn statement_error(backend: Backend, error: &sqlx::Error, statement: &str) -> Option<StatementError> {
    let database = error.as_database_error()?;
    Some(StatementError::new(backend, database.message(), error_details(database, statement), statement))
}

/// The details of the database error `error`, raised by `statement`.
#[cfg_attr(not(feature = "postgres"), allow(unused_variables, unused_mut))]
fn error_details(error: &dyn DatabaseError, statement: &str) -> ErrorDetails {
    let mut out = ErrorDetails { code: error.code().map(|c| c.into_owned()), ..ErrorDetails::default() };
    #[cfg(feature = "postgres")]
    if let Some(error) = error.try_downcast_ref::<PgDatabaseError>() {
        postgres::details(error, statement, &mut out);
    }
    #[cfg(feature = "mysql")]
    if let Some(error) = error.try_downcast_ref::<MySqlDatabaseError>() {
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

/// A database server, where databases are created and dropped by name:
/// PostgreSQL and MySQL/MariaDB. SQLite's databases are files, so it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Postgres,
    MySql,
}

impl Server {
    /// The server `backend` runs on, if it has one.
    pub(crate) fn of(backend: Backend) -> Option<Server> {
        match backend {
            Backend::Postgres => Some(Server::Postgres),
            Backend::MySql => Some(Server::MySql),
            Backend::Sqlite => None,
        }
    }

    /// A database every server has, to connect to when another does not exist.
    pub(crate) fn always_there(self) -> &'static str {
        match self {
            Server::Postgres => postgres::server::ALWAYS_THERE,
            Server::MySql => mysql::server::ALWAYS_THERE,
        }
    }

    /// The privilege creating (and dropping) a database needs, as the server's manual names it.
    pub(crate) fn create_privilege(self) -> &'static str {
        match self {
            Server::Postgres => postgres::server::CREATE_PRIVILEGE,
            Server::MySql => mysql::server::CREATE_PRIVILEGE,
        }
    }

    /// Whether the error code `code` is a refusal for want of a privilege.
    pub(crate) fn lacks_privilege(self, code: &str) -> bool {
        match self {
            Server::Postgres => postgres::server::NO_PRIVILEGE.contains(&code),
            Server::MySql => mysql::server::NO_PRIVILEGE.contains(&code),
        }
    }

    pub(crate) fn create_database(self, name: &str) -> String {
        match self {
            Server::Postgres => postgres::server::create_database(name),
            Server::MySql => mysql::server::create_database(name),
        }
    }

    /// Drops database `name` if it exists.
    pub(crate) fn drop_database(self, name: &str) -> String {
        match self {
            Server::Postgres => postgres::server::drop_database(name),
            Server::MySql => mysql::server::drop_database(name),
        }
    }

    /// A query of the names (column `name`) of the databases whose name is
    /// `LIKE` `pattern` (backslash escapes `_` and `%`).
    pub(crate) fn databases_like(self, pattern: &str) -> String {
        match self {
            Server::Postgres => postgres::server::databases_like(pattern),
            Server::MySql => mysql::server::databases_like(pattern),
        }
    }
}

/// A query of one `DROP` statement (column `statement`) for each object of
/// the connected database.
pub(crate) fn drop_everything_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => postgres::server::DROP_EVERYTHING,
        Backend::MySql => mysql::server::DROP_EVERYTHING,
        Backend::Sqlite => sqlite::DROP_EVERYTHING,
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
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => postgres::schema(c, exclude).await,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => mysql::schema(c, exclude).await,
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => sqlite::schema(c, exclude).await,
        }
    }
}

/// Connecting to a backend left out of the build (so only in such a build).
#[cfg(all(test, not(all(feature = "sqlite", feature = "postgres", feature = "mysql"))))]
mod tests {
    use super::*;

    /// Connecting to `url`, of a backend this build is without, is an error
    /// naming the feature to enable.
    async fn refused_naming_feature(url: &str, feature: &str) {
        let url = DatabaseUrl::parse(url).expect("a database URL");
        assert!(!is_built(url.backend()));
        let error = Connection::connect(&url).await.expect_err("a backend that is not built");
        let Error::UnsupportedUrl { reason, .. } = &error else { panic!("not UnsupportedUrl: {error:?}") };
        assert!(reason.contains(&format!("without the `{feature}` feature of migrations-rs")), "{reason}");
        assert!(error.to_string().contains("enable it in Cargo.toml"), "{error}");
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn a_postgres_url_names_the_postgres_feature() {
        refused_naming_feature("postgres://postgres@127.0.0.1:5432/test", "postgres").await;
    }

    #[cfg(not(feature = "mysql"))]
    #[tokio::test]
    async fn a_mysql_url_names_the_mysql_feature() {
        refused_naming_feature("mysql://root@127.0.0.1:3306/test", "mysql").await;
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn a_sqlite_url_names_the_sqlite_feature() {
        refused_naming_feature("sqlite::memory:", "sqlite").await;
    }
}
