//! The database backends behind one enum: connecting, transactions and the
//! few places where SQLite, PostgreSQL and MySQL/MariaDB differ.

pub use migrations_rs_core::Backend;

use crate::error::{Error, Result};
use crate::url::DatabaseUrl;
use sqlx::mysql::MySqlConnection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _, MySql, Pool, Postgres, Sqlite};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

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
    /// The application's pool this connection was borrowed from, if any.
    pool: Option<AnyPool>,
    /// Session settings run on this connection and on every one opened from it.
    init_sql: Arc<[String]>,
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
    /// Borrowed from the application's pool, and given back to it when dropped.
    Pooled(PooledConn),
}

enum PooledConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
    MySql(PoolConnection<MySql>),
}

/// A pool of the application's, of any backend.
#[derive(Clone, Debug)]
pub(crate) enum AnyPool {
    Sqlite(Pool<Sqlite>),
    Postgres(Pool<Postgres>),
    MySql(Pool<MySql>),
}

impl AnyPool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            AnyPool::Sqlite(_) => Backend::Sqlite,
            AnyPool::Postgres(_) => Backend::Postgres,
            AnyPool::MySql(_) => Backend::MySql,
        }
    }

    /// The URL the pool connects with, as sqlx writes it back (password included: never print it).
    pub(crate) fn url(&self) -> Result<DatabaseUrl> {
        let url = dispatch!(self, AnyPool, pool => pool.connect_options().to_url_lossy());
        DatabaseUrl::parse(url.as_str())
    }
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
        Ok(Connection { url: url.clone(), inner, pool: None, init_sql: Arc::new([]) })
    }

    /// Runs `statements` on this connection now, in order, and on every
    /// connection opened from it later (the lock's): session settings a
    /// project's migrations rely on, such as MySQL's `SET FOREIGN_KEY_CHECKS = 0`
    /// or SQLite's `PRAGMA foreign_keys = OFF`. A statement that fails is an
    /// error naming it.
    pub async fn with_init_sql(mut self, statements: Vec<String>) -> Result<Self> {
        self.init_sql = statements.into();
        let init_sql = self.init_sql.clone();
        run_init_sql(&mut self, &init_sql).await?;
        Ok(self)
    }

    /// The statements run on every connection opened from this one.
    pub fn init_sql(&self) -> &[String] {
        &self.init_sql
    }

    /// Borrows a connection from the application's pool; dropped, it goes back to the pool.
    pub(crate) async fn from_pool(pool: &AnyPool) -> Result<Self> {
        let url = pool.url()?;
        let connect_error = |cause| Error::Connect { url: url.redacted(), cause };
        let inner = match pool {
            AnyPool::Sqlite(p) => PooledConn::Sqlite(p.acquire().await.map_err(connect_error)?),
            AnyPool::Postgres(p) => PooledConn::Postgres(p.acquire().await.map_err(connect_error)?),
            AnyPool::MySql(p) => PooledConn::MySql(p.acquire().await.map_err(connect_error)?),
        };
        Ok(Connection { url, inner: Conn::Pooled(inner), pool: Some(pool.clone()), init_sql: Arc::new([]) })
    }

    /// Another connection to the same database, outside any pool, with the
    /// pool's connect options when this one came from a pool. The lock holds
    /// one: a session lock must never go back to a pool with its connection.
    /// The init SQL of this one runs on it too.
    pub(crate) async fn open_unpooled(&self) -> Result<Self> {
        let mut opened = match &self.pool {
            None => Self::connect(&self.url).await?,
            Some(pool) => {
                let connect_error = |cause| Error::Connect { url: self.url.redacted(), cause };
                let inner = match pool {
                    AnyPool::Sqlite(p) => Conn::Sqlite(p.connect_options().connect().await.map_err(connect_error)?),
                    AnyPool::Postgres(p) => Conn::Postgres(p.connect_options().connect().await.map_err(connect_error)?),
                    AnyPool::MySql(p) => Conn::MySql(p.connect_options().connect().await.map_err(connect_error)?),
                };
                Connection { url: self.url.clone(), inner, pool: None, init_sql: Arc::new([]) }
            }
        };
        opened.init_sql = self.init_sql.clone();
        run_init_sql(&mut opened, &self.init_sql).await?;
        Ok(opened)
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub(crate) fn as_ref(&mut self) -> ConnRef<'_> {
        match &mut self.inner {
            Conn::Sqlite(c) => c.into(),
            Conn::Postgres(c) => c.into(),
            Conn::MySql(c) => c.into(),
            Conn::Pooled(pooled) => dispatch!(pooled, PooledConn, c => (&mut **c).into()),
        }
    }

    /// Starts a transaction on this connection.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        Ok(match self.as_ref() {
            ConnRef::Sqlite(c) => Tx::Sqlite(c.begin().await?),
            ConnRef::Postgres(c) => Tx::Postgres(c.begin().await?),
            ConnRef::MySql(c) => Tx::MySql(c.begin().await?),
        })
    }

    /// Closes the connection; one borrowed from a pool goes back to it instead.
    pub async fn close(self) -> Result<()> {
        match self.inner {
            Conn::Sqlite(c) => c.close().await?,
            Conn::Postgres(c) => c.close().await?,
            Conn::MySql(c) => c.close().await?,
            Conn::Pooled(pooled) => drop(pooled),
        }
        Ok(())
    }
}

/// Runs each init statement as it is, outside any transaction.
async fn run_init_sql(conn: &mut Connection, statements: &[String]) -> Result<()> {
    for sql in statements {
        let result = dispatch!(conn.as_ref(), ConnRef, c => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut *c).await.map(drop)
        });
        result.map_err(|cause| Error::InitSql { sql: sql.clone(), cause })?;
    }
    Ok(())
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
    /// The same connection, borrowed again for one more statement.
    pub(crate) fn reborrow(&mut self) -> ConnRef<'_> {
        match self {
            ConnRef::Sqlite(c) => ConnRef::Sqlite(c),
            ConnRef::Postgres(c) => ConnRef::Postgres(c),
            ConnRef::MySql(c) => ConnRef::MySql(c),
        }
    }

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

/// Whether `error` says a column does not exist: a table created by an older version.
pub(crate) fn is_missing_column(error: &Error) -> bool {
    let Error::Database(sqlx::Error::Database(database)) = error else { return false };
    match database.code().as_deref() {
        Some("42703") | Some("1054") | Some("42S22") => true,
        _ => database.message().contains("no such column"),
    }
}

/// Whether `error` is SQLite's "database is locked": another connection
/// writes, and the busy timeout ran out waiting for it.
pub(crate) fn is_busy(error: &Error) -> bool {
    let Error::Database(sqlx::Error::Database(database)) = error else { return false };
    matches!(database.code().as_deref(), Some("5") | Some("6") | Some("261") | Some("517"))
        || database.message().contains("database is locked")
}
