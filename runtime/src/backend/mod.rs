//! The database backends behind one enum: connecting, transactions and the
//! few places where SQLite, PostgreSQL and MySQL/MariaDB differ.

use crate::error::{Error, Result};
use crate::url::DatabaseUrl;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, MySql, Postgres, Sqlite};
use std::fmt;
use std::str::FromStr;

/// Which kind of database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    /// Whether DDL can be rolled back, so a migration and its history row commit together.
    /// MySQL and MariaDB commit DDL implicitly.
    pub const fn transactional_ddl(self) -> bool {
        !matches!(self, Backend::MySql)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL/MariaDB",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// One open connection to the database being migrated, with the URL it
/// came from (the lock opens its own connection to the same database).
pub struct Connection {
    url: DatabaseUrl,
    inner: Conn,
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connection({})", self.url)
    }
}

impl Connection {
    /// Connects to `url`. A SQLite file is created if it does not exist yet.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self> {
        let connect_error = |cause| Error::Connect { url: url.redacted(), cause };
        let inner = match url.backend() {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .map_err(connect_error)?
                    .create_if_missing(true)
                    .busy_timeout(std::time::Duration::from_secs(30));
                Conn::Sqlite(SqliteConnection::connect_with(&options).await.map_err(connect_error)?)
            }
            Backend::Postgres => Conn::Postgres(PgConnection::connect(url.expose()).await.map_err(connect_error)?),
            Backend::MySql => Conn::MySql(MySqlConnection::connect(url.expose()).await.map_err(connect_error)?),
        };
        Ok(Connection { url: url.clone(), inner })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub(crate) fn as_ref(&mut self) -> ConnRef<'_> {
        dispatch!(&mut self.inner, Conn, c => c.into())
    }

    /// Starts a transaction on this connection.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        Ok(match &mut self.inner {
            Conn::Sqlite(c) => Tx::Sqlite(c.begin().await?),
            Conn::Postgres(c) => Tx::Postgres(c.begin().await?),
            Conn::MySql(c) => Tx::MySql(c.begin().await?),
        })
    }

    pub async fn close(self) -> Result<()> {
        dispatch!(self.inner, Conn, c => c.close().await?);
        Ok(())
    }
}

/// A borrowed connection, inside a transaction or not.
pub(crate) enum ConnRef<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
    MySql(&'c mut MySqlConnection),
}

impl<'c> From<&'c mut SqliteConnection> for ConnRef<'c> {
    fn from(c: &'c mut SqliteConnection) -> Self {
        ConnRef::Sqlite(c)
    }
}

impl<'c> From<&'c mut PgConnection> for ConnRef<'c> {
    fn from(c: &'c mut PgConnection) -> Self {
        ConnRef::Postgres(c)
    }
}

impl<'c> From<&'c mut MySqlConnection> for ConnRef<'c> {
    fn from(c: &'c mut MySqlConnection) -> Self {
        ConnRef::MySql(c)
    }
}

impl ConnRef<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            ConnRef::Sqlite(_) => Backend::Sqlite,
            ConnRef::Postgres(_) => Backend::Postgres,
            ConnRef::MySql(_) => Backend::MySql,
        }
    }
}

/// An open transaction; dropped without `commit`, it rolls back.
pub(crate) enum Tx<'c> {
    Sqlite(sqlx::Transaction<'c, Sqlite>),
    Postgres(sqlx::Transaction<'c, Postgres>),
    MySql(sqlx::Transaction<'c, MySql>),
}

impl Tx<'_> {
    pub(crate) fn conn(&mut self) -> ConnRef<'_> {
        dispatch!(self, Tx, tx => (&mut **tx).into())
    }

    pub(crate) async fn commit(self) -> Result<()> {
        dispatch!(self, Tx, tx => tx.commit().await?);
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        dispatch!(self, Tx, tx => tx.rollback().await?);
        Ok(())
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
    let sqlx::Error::Database(database) = error else { return false };
    match database.code().as_deref() {
        Some("42P01") | Some("1146") | Some("42S02") => true,
        _ => database.message().contains("no such table"),
    }
}
