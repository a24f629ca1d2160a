//! A connection to the database being migrated, of any backend: opened by
//! migrations-rs or borrowed from the application's pool, borrowed again for
//! one statement ([`ConnRef`]), or inside a transaction ([`Tx`]).

use super::{Backend, dispatch};
use crate::error::{Error, Result};
use crate::url::DatabaseUrl;
use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions as _, Connection as _, Pool};
#[cfg(feature = "mysql")]
use sqlx::{MySql, mysql::MySqlConnection};
#[cfg(feature = "postgres")]
use sqlx::{PgConnection, Postgres};
#[cfg(feature = "sqlite")]
use sqlx::{Sqlite, SqliteConnection};
use std::fmt;
use std::sync::Arc;

/// One open connection to the database being migrated, with the URL it
/// came from (the lock opens its own connection to the same database).
pub struct Connection {
    pub(super) url: DatabaseUrl,
    pub(super) inner: Conn,
    /// The application's pool this connection was borrowed from, if any.
    pub(super) pool: Option<AnyPool>,
    /// Session settings run on this connection and on every one opened from it.
    pub(super) init_sql: Arc<[String]>,
}

/// The connection, of one of the backends this program is built with.
pub(super) enum Conn {
    #[cfg(feature = "sqlite")]
    Sqlite(Handle<Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Handle<Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Handle<MySql>),
}

/// A connection of one backend: opened here, or borrowed from the
/// application's pool and given back to it when dropped.
pub(crate) enum Handle<DB: sqlx::Database> {
    Own(DB::Connection),
    Pooled(PoolConnection<DB>),
}

impl<DB: sqlx::Database> Handle<DB> {
    pub(super) fn get(&mut self) -> &mut DB::Connection {
        match self {
            Handle::Own(c) => c,
            Handle::Pooled(c) => c,
        }
    }

    /// Closes the connection; one borrowed from a pool goes back to it instead.
    pub(super) async fn close(self) -> Result<()> {
        match self {
            Handle::Own(c) => c.close().await?,
            Handle::Pooled(c) => drop(c),
        }
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
impl From<Handle<Sqlite>> for Conn {
    fn from(handle: Handle<Sqlite>) -> Self {
        Conn::Sqlite(handle)
    }
}

#[cfg(feature = "postgres")]
impl From<Handle<Postgres>> for Conn {
    fn from(handle: Handle<Postgres>) -> Self {
        Conn::Postgres(handle)
    }
}

#[cfg(feature = "mysql")]
impl From<Handle<MySql>> for Conn {
    fn from(handle: Handle<MySql>) -> Self {
        Conn::MySql(handle)
    }
}

/// A pool of the application's, of any backend.
#[derive(Clone, Debug)]
pub(crate) enum AnyPool {
    #[cfg(feature = "sqlite")]
    Sqlite(Pool<Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Pool<Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Pool<MySql>),
}

impl AnyPool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "sqlite")]
            AnyPool::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
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
        let inner = super::open(url).await?;
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
        let inner = dispatch!(pool, AnyPool, p => Handle::Pooled(p.acquire().await.map_err(connect_error)?).into());
        Ok(Connection { url, inner, pool: Some(pool.clone()), init_sql: Arc::new([]) })
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
                    #[cfg(feature = "sqlite")]
                    AnyPool::Sqlite(p) => {
                        Conn::Sqlite(Handle::Own(p.connect_options().connect().await.map_err(connect_error)?))
                    }
                    #[cfg(feature = "postgres")]
                    AnyPool::Postgres(p) => {
                        Conn::Postgres(Handle::Own(p.connect_options().connect().await.map_err(connect_error)?))
                    }
                    #[cfg(feature = "mysql")]
                    AnyPool::MySql(p) => {
                        Conn::MySql(Handle::Own(p.connect_options().connect().await.map_err(connect_error)?))
                    }
                };
                Connection { url: self.url.clone(), inner, pool: None, init_sql: Arc::new([]) }
            }
        };
        opened.init_sql = self.init_sql.clone();
        run_init_sql(&mut opened, &self.init_sql).await?;
        Ok(opened)
    }

    /// The URL this connection came from.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The backend this connection talks to.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub(crate) fn as_ref(&mut self) -> ConnRef<'_> {
        dispatch!(&mut self.inner, Conn, c => c.get().into())
    }

    /// Starts a transaction on this connection.
    pub(crate) async fn begin(&mut self) -> Result<Tx<'_>> {
        Ok(match self.as_ref() {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => Tx::Sqlite(c.begin().await?),
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => Tx::Postgres(c.begin().await?),
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => Tx::MySql(c.begin().await?),
        })
    }

    /// Closes the connection; one borrowed from a pool goes back to it instead.
    pub async fn close(self) -> Result<()> {
        dispatch!(self.inner, Conn, c => c.close().await)
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
    #[cfg(feature = "sqlite")]
    Sqlite(&'c mut SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut PgConnection),
    #[cfg(feature = "mysql")]
    MySql(&'c mut MySqlConnection),
}

#[cfg(feature = "sqlite")]
impl<'c> From<&'c mut SqliteConnection> for ConnRef<'c> {
    fn from(c: &'c mut SqliteConnection) -> Self {
        ConnRef::Sqlite(c)
    }
}

#[cfg(feature = "postgres")]
impl<'c> From<&'c mut PgConnection> for ConnRef<'c> {
    fn from(c: &'c mut PgConnection) -> Self {
        ConnRef::Postgres(c)
    }
}

#[cfg(feature = "mysql")]
impl<'c> From<&'c mut MySqlConnection> for ConnRef<'c> {
    fn from(c: &'c mut MySqlConnection) -> Self {
        ConnRef::MySql(c)
    }
}

impl ConnRef<'_> {
    /// The same connection, borrowed again for one more statement.
    pub(crate) fn reborrow(&mut self) -> ConnRef<'_> {
        dispatch!(self, ConnRef, c => (&mut **c).into())
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(_) => Backend::MySql,
        }
    }
}

/// An open transaction; dropped without `commit`, it rolls back.
pub(crate) enum Tx<'c> {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::Transaction<'c, Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::Transaction<'c, Postgres>),
    #[cfg(feature = "mysql")]
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
