//! Scratch databases: a fresh one for each measured run, dropped afterwards.

use migrations_rs::Backend;
use sqlx::{self, AssertSqlSafe, Connection as _, MySqlConnection, PgConnection};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the servers are: the URLs of an existing database on each, used to
/// create and drop scratch databases beside it.
#[derive(Debug, Clone)]
pub struct Servers {
    pub postgres: String,
    pub mysql: String,
    /// Directory for SQLite files.
    pub sqlite_dir: PathBuf,
}

impl Servers {
    /// From `MIGRATIONS_RS_POSTGRES_URL` and `MIGRATIONS_RS_MYSQL_URL`, else the local defaults.
    pub fn from_env(sqlite_dir: PathBuf) -> Self {
        Servers {
            postgres: std::env::var("MIGRATIONS_RS_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
            mysql: std::env::var("MIGRATIONS_RS_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned()),
            sqlite_dir,
        }
    }
}

/// A database of its own; [`Scratch::drop_now`] removes it.
#[derive(Debug)]
pub struct Scratch {
    pub backend: Backend,
    pub url: String,
    name: String,
    admin_url: String,
    file: Option<PathBuf>,
}

impl Scratch {
    pub async fn create(servers: &Servers, backend: Backend) -> sqlx::Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!("mrs_bench_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        if backend == Backend::Sqlite {
            let file = servers.sqlite_dir.join(format!("{name}.db"));
            let url = format!("sqlite://{}?mode=rwc", file.display());
            return Ok(Scratch { backend, url, name, admin_url: String::new(), file: Some(file) });
        }
        let admin_url = match backend {
            Backend::Postgres => servers.postgres.clone(),
            _ => servers.mysql.clone(),
        };
        admin(backend, &admin_url, &format!("CREATE DATABASE {name}")).await?;
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let (prefix, _) = base.rsplit_once('/').expect("a server URL names a database");
        Ok(Scratch { backend, url: format!("{prefix}/{name}"), name, admin_url, file: None })
    }

    pub async fn drop_now(self) -> sqlx::Result<()> {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
            return Ok(());
        }
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        admin(self.backend, &self.admin_url, &sql).await
    }
}

async fn admin(backend: Backend, url: &str, sql: &str) -> sqlx::Result<()> {
    // `sql` names a database this module made up, never user input.
    let sql = AssertSqlSafe(sql.to_owned());
    match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(url).await?;
            sqlx::raw_sql(sql).execute(&mut conn).await?;
            conn.close().await
        }
        _ => {
            let mut conn = MySqlConnection::connect(url).await?;
            sqlx::raw_sql(sql).execute(&mut conn).await?;
            conn.close().await
        }
    }
}
