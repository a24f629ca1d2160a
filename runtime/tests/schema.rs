//! Schema introspection on real databases: objects created with SQL are
//! read back into the model, a diff names each kind of change made by hand,
//! and reports nothing between schemas that differ only in what means
//! nothing. PostgreSQL and MySQL/MariaDB are reached through
//! `MIGRATIONS_RS_POSTGRES_URL` and `MIGRATIONS_RS_MYSQL_URL`; each test
//! makes a database of its own, so tests run in parallel.

use migrations_rs_runtime::schema::{ChangeKind, Schema, SchemaDiff};
use migrations_rs_runtime::sqlx::mysql::MySqlConnection;
use migrations_rs_runtime::sqlx::postgres::PgConnection;
use migrations_rs_runtime::sqlx::sqlite::SqliteConnection;
use migrations_rs_runtime::sqlx::{self, AssertSqlSafe, Connection as _};
use migrations_rs_runtime::{Backend, Connection, DatabaseUrl};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A database of its own for one test, dropped at the end.
struct Scratch {
    backend: Backend,
    url: DatabaseUrl,
    name: String,
    raw: Raw,
    conn: Connection,
    _dir: Option<tempfile::TempDir>,
}

/// A plain sqlx connection that runs the test's SQL.
enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

fn server_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => std::env::var("MIGRATIONS_RS_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        Backend::MySql => {
            std::env::var("MIGRATIONS_RS_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
        }
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    }
}

impl Raw {
    async fn connect(backend: Backend, url: &str) -> Raw {
        let fail = |error: sqlx::Error| -> ! { panic!("cannot connect to {backend}: {error}") };
        match backend {
            Backend::Sqlite => Raw::Sqlite(SqliteConnection::connect(url).await.unwrap_or_else(|e| fail(e))),
            Backend::Postgres => Raw::Postgres(PgConnection::connect(url).await.unwrap_or_else(|e| fail(e))),
            Backend::MySql => Raw::MySql(MySqlConnection::connect(url).await.unwrap_or_else(|e| fail(e))),
        }
    }

    async fn execute(&mut self, sql: &str) {
        let query = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let result = match self {
            Raw::Sqlite(c) => query.execute(c).await.map(drop),
            Raw::Postgres(c) => query.execute(c).await.map(drop),
            Raw::MySql(c) => query.execute(c).await.map(drop),
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Scratch {
    async fn new(backend: Backend) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("mrs_schema_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos);
        let (url, dir) = if backend == Backend::Sqlite {
            let dir = tempfile::tempdir().expect("a temporary directory");
            (format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()), Some(dir))
        } else {
            let server = server_url(backend);
            Raw::connect(backend, &server).await.execute(&format!("CREATE DATABASE {name}")).await;
            let base = server.split('?').next().unwrap();
            let (prefix, _) = base.rsplit_once('/').expect("the server URL names a database");
            (format!("{prefix}/{name}"), None)
        };
        let url = DatabaseUrl::parse(&url).unwrap();
        let raw = Raw::connect(backend, url.expose()).await;
        let conn = Connection::connect(&url).await.expect("connect");
        Scratch { backend, url, name, raw, conn, _dir: dir }
    }

    async fn execute(&mut self, sql: &str) {
        self.raw.execute(sql).await;
    }

    async fn schema(&mut self) -> Schema {
        self.conn.schema(&[]).await.expect("read the schema")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.backend == Backend::Sqlite {
            return;
        }
        let (backend, name) = (self.backend, self.name.clone());
        // A runtime of its own: the test's may be gone.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let sql = match backend {
                    Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {name}"),
                };
                Raw::connect(backend, &server_url(backend)).await.execute(&sql).await;
            });
        });
        let _ = dropper.join();
        let _ = &self.url;
    }
}

/// Runs each named `async fn(Backend)` as a test on SQLite, PostgreSQL and MySQL/MariaDB.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
        mod mysql {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::MySql).await })*
        }
    };
}

on_every_backend!(a_fresh_database_does_not_differ_from_itself, own_tables_are_left_out);

fn lines(diff: &SchemaDiff) -> Vec<String> {
    diff.changes.iter().map(ToString::to_string).collect()
}

async fn a_fresh_database_does_not_differ_from_itself(backend: Backend) {
    let mut db = Scratch::new(backend).await;
    let empty = db.schema().await;
    assert_eq!(empty, Schema::default());
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL)").await;
    db.execute("CREATE INDEX users_email_idx ON users (email)").await;
    let first = db.schema().await;
    let second = db.schema().await;
    assert_eq!(first, second);
    assert!(first.diff(&second).is_empty(), "{}", first.diff(&second));
    assert_eq!(lines(&empty.diff(&first)), ["table users is new"]);
}

async fn own_tables_are_left_out(backend: Backend) {
    let mut db = Scratch::new(backend).await;
    db.execute("CREATE TABLE migrations_rs_history (version BIGINT PRIMARY KEY)").await;
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)").await;
    let exclude = ["migrations_rs_history".to_owned()];
    let schema = db.conn.schema(&exclude).await.unwrap();
    let names: Vec<_> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["users"]);
    let _ = ChangeKind::Added;
}
