//! Where the migrator finds the database: a URL, or a pool the application
//! already has, so a service that migrates at start-up needs no second
//! connection string.

use crate::backend::{AnyPool, Backend, Connection};
use crate::error::Result;
use crate::url::DatabaseUrl;
#[cfg(feature = "mysql")]
use sqlx::MySqlPool;
#[cfg(feature = "postgres")]
use sqlx::PgPool;
#[cfg(feature = "sqlite")]
use sqlx::SqlitePool;
use std::fmt;

/// A database to migrate, by URL or by pool. `Debug` never shows a password.
#[derive(Clone)]
pub struct Database {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Url(DatabaseUrl),
    Pool(AnyPool),
}

impl Database {
    /// A database by URL: each use opens a connection of its own.
    pub fn url(raw: &str) -> Result<Self> {
        Ok(DatabaseUrl::parse(raw)?.into())
    }

    /// The backend the database runs on.
    pub fn backend(&self) -> Backend {
        match &self.source {
            Source::Url(url) => url.backend(),
            Source::Pool(pool) => pool.backend(),
        }
    }

    /// The URL without its password, to show where the database is.
    pub fn redacted(&self) -> String {
        match &self.source {
            Source::Url(url) => url.redacted(),
            Source::Pool(pool) => {
                pool.url().map_or_else(|_| format!("a {} pool", pool.backend()), |url| url.redacted())
            }
        }
    }

    /// A connection: a new one for a URL, one borrowed from the pool for a
    /// pool (it goes back when closed or dropped). The migration lock always
    /// opens a connection of its own beside it.
    pub async fn connect(&self) -> Result<Connection> {
        match &self.source {
            Source::Url(url) => Connection::connect(url).await,
            Source::Pool(pool) => Connection::from_pool(pool).await,
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Url(_) => write!(f, "Database({})", self.redacted()),
            Source::Pool(_) => write!(f, "Database(pool: {})", self.redacted()),
        }
    }
}

impl From<DatabaseUrl> for Database {
    fn from(url: DatabaseUrl) -> Self {
        Database { source: Source::Url(url) }
    }
}

impl From<&DatabaseUrl> for Database {
    fn from(url: &DatabaseUrl) -> Self {
        url.clone().into()
    }
}

#[cfg(feature = "sqlite")]
impl From<SqlitePool> for Database {
    fn from(pool: SqlitePool) -> Self {
        Database { source: Source::Pool(AnyPool::Sqlite(pool)) }
    }
}

#[cfg(feature = "postgres")]
impl From<PgPool> for Database {
    fn from(pool: PgPool) -> Self {
        Database { source: Source::Pool(AnyPool::Postgres(pool)) }
    }
}

#[cfg(feature = "mysql")]
impl From<MySqlPool> for Database {
    fn from(pool: MySqlPool) -> Self {
        Database { source: Source::Pool(AnyPool::MySql(pool)) }
    }
}

#[cfg(feature = "sqlite")]
impl From<&SqlitePool> for Database {
    fn from(pool: &SqlitePool) -> Self {
        pool.clone().into()
    }
}

#[cfg(feature = "postgres")]
impl From<&PgPool> for Database {
    fn from(pool: &PgPool) -> Self {
        pool.clone().into()
    }
}

#[cfg(feature = "mysql")]
impl From<&MySqlPool> for Database {
    fn from(pool: &MySqlPool) -> Self {
        pool.clone().into()
    }
}
