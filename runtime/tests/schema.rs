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
        Scratch { backend, name, raw, conn, _dir: dir }
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

on_every_backend!(
    a_fresh_database_does_not_differ_from_itself,
    own_tables_are_left_out,
    each_manual_change_is_reported,
    schemas_built_in_another_order_do_not_differ,
);

fn lines(diff: &SchemaDiff) -> Vec<String> {
    diff.changes.iter().map(ToString::to_string).collect()
}

impl Scratch {
    async fn execute_all(&mut self, statements: &[&str]) {
        for sql in statements {
            self.execute(sql).await;
        }
    }
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
}

/// SQLite changes a table by building it again: `items` as it is after a step.
fn sqlite_items(label: &str, status: &str, constraints: &[&str]) -> String {
    let mut parts = vec!["id INTEGER PRIMARY KEY".to_owned(), "owner_id INTEGER".to_owned()];
    parts.push(format!("label {label}"));
    parts.push(format!("status {status}"));
    parts.extend(constraints.iter().map(|c| c.to_string()));
    format!("DROP TABLE items; CREATE TABLE items ({})", parts.join(", "))
}

/// One change made by hand, and the one difference the diff must report for it.
struct Step {
    sql: String,
    kind: ChangeKind,
    object: &'static str,
    detail: Option<&'static str>,
}

fn step(sql: impl Into<String>, kind: ChangeKind, object: &'static str, detail: Option<&'static str>) -> Step {
    Step { sql: sql.into(), kind, object, detail }
}

fn manual_changes(backend: Backend) -> Vec<Step> {
    use ChangeKind::{Added, Changed, Removed};
    let by_backend = |postgres: &str, mysql: &str, sqlite: String| match backend {
        Backend::Postgres => postgres.to_owned(),
        Backend::MySql => mysql.to_owned(),
        Backend::Sqlite => sqlite,
    };
    let unique = "UNIQUE (status)";
    let check = "CONSTRAINT items_id_positive CHECK (id > 0)";
    let foreign_key = "CONSTRAINT items_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)";
    vec![
        step("CREATE TABLE extra (id INTEGER PRIMARY KEY)", Added, "table extra", None),
        step("DROP TABLE extra", Removed, "table extra", None),
        step("ALTER TABLE users ADD COLUMN nickname VARCHAR(50)", Added, "column users.nickname", None),
        step("ALTER TABLE users DROP COLUMN nickname", Removed, "column users.nickname", None),
        step("CREATE INDEX users_name_idx ON users (name)", Added, "index on users (name)", None),
        step("CREATE INDEX by_email ON users (email)", Added, "index by_email on users (email)", None),
        step(
            by_backend("DROP INDEX by_email", "DROP INDEX by_email ON users", "DROP INDEX by_email".to_owned()),
            Removed,
            "index by_email on users (email)",
            None,
        ),
        step("CREATE VIEW named_users AS SELECT id, name FROM users", Added, "view named_users", None),
        step("DROP VIEW named_users", Removed, "view named_users", None),
        step(
            by_backend(
                "ALTER TABLE items ADD CONSTRAINT items_status_unique UNIQUE (status)",
                "ALTER TABLE items ADD CONSTRAINT items_status_unique UNIQUE (status)",
                sqlite_items("VARCHAR(50)", "VARCHAR(20)", &[unique]),
            ),
            Added,
            "unique constraint",
            None,
        ),
        step(
            by_backend(
                "ALTER TABLE items ADD CONSTRAINT items_id_positive CHECK (id > 0)",
                "ALTER TABLE items ADD CONSTRAINT items_id_positive CHECK (id > 0)",
                sqlite_items("VARCHAR(50)", "VARCHAR(20)", &[unique, check]),
            ),
            Added,
            "check constraint items_id_positive on items",
            None,
        ),
        step(
            by_backend(
                "ALTER TABLE items ADD CONSTRAINT items_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)",
                "ALTER TABLE items ADD CONSTRAINT items_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)",
                sqlite_items("VARCHAR(50)", "VARCHAR(20)", &[unique, check, foreign_key]),
            ),
            Added,
            "foreign key",
            None,
        ),
        step(
            by_backend(
                "ALTER TABLE items DROP CONSTRAINT items_status_unique",
                "ALTER TABLE items DROP INDEX items_status_unique",
                sqlite_items("VARCHAR(50)", "VARCHAR(20)", &[check, foreign_key]),
            ),
            Removed,
            "unique constraint",
            None,
        ),
        step(
            by_backend(
                "ALTER TABLE items ALTER COLUMN label TYPE text",
                "ALTER TABLE items MODIFY label TEXT",
                sqlite_items("TEXT", "VARCHAR(20)", &[check, foreign_key]),
            ),
            Changed,
            "column items.label",
            Some("type "),
        ),
        step(
            by_backend(
                "ALTER TABLE items ALTER COLUMN label SET NOT NULL",
                "ALTER TABLE items MODIFY label TEXT NOT NULL",
                sqlite_items("TEXT NOT NULL", "VARCHAR(20)", &[check, foreign_key]),
            ),
            Changed,
            "column items.label",
            Some("nullable → not null"),
        ),
        step(
            by_backend(
                "ALTER TABLE items ALTER COLUMN status SET DEFAULT 'new'",
                "ALTER TABLE items ALTER COLUMN status SET DEFAULT 'new'",
                sqlite_items("TEXT NOT NULL", "VARCHAR(20) DEFAULT 'new'", &[check, foreign_key]),
            ),
            Changed,
            "column items.status",
            Some("default "),
        ),
        step(
            by_backend(
                "ALTER TABLE items DROP CONSTRAINT items_owner_fk",
                // The index MySQL made for the foreign key stays: it is dropped on its own.
                "ALTER TABLE items DROP FOREIGN KEY items_owner_fk; DROP INDEX items_owner_fk ON items",
                sqlite_items("TEXT NOT NULL", "VARCHAR(20) DEFAULT 'new'", &[check]),
            ),
            Removed,
            "foreign key",
            None,
        ),
    ]
}

async fn each_manual_change_is_reported(backend: Backend) {
    let mut db = Scratch::new(backend).await;
    db.execute_all(&[
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(100))",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, owner_id INTEGER, label VARCHAR(50), status VARCHAR(20))",
    ])
    .await;
    let mut before = db.schema().await;
    for step in manual_changes(backend) {
        for sql in step.sql.split("; ") {
            db.execute(sql).await;
        }
        let after = db.schema().await;
        let diff = before.diff(&after);
        let [change] = diff.changes.as_slice() else {
            panic!("{}: expected one change, the diff says:\n{diff}", step.sql);
        };
        assert_eq!(change.kind, step.kind, "{}: {change}", step.sql);
        assert!(change.object.starts_with(step.object), "{}: {change}", step.sql);
        match step.detail {
            Some(detail) => {
                assert!(change.detail.as_deref().is_some_and(|d| d.starts_with(detail)), "{}: {change}", step.sql)
            }
            None => assert_eq!(change.detail, None),
        }
        // Read the other way round, the same difference is the opposite one.
        let back = after.diff(&before);
        assert_eq!(back.len(), 1, "{}: {back}", step.sql);
        before = after;
    }
}

/// The same schema, built in two ways that differ only in what means
/// nothing: column order, creation order, names the database made up,
/// spacing and case of a view.
fn built_two_ways(backend: Backend) -> (Vec<&'static str>, Vec<&'static str>) {
    let first = vec![
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(100) DEFAULT 'x')",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total INTEGER, \
         CHECK (total >= 0), UNIQUE (user_id, total), FOREIGN KEY (user_id) REFERENCES users (id))",
        "CREATE INDEX orders_total_idx ON orders (total)",
        "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
    ];
    let second = match backend {
        Backend::Sqlite => vec![
            "create   view big_orders as\n  select id,total from \"orders\" where total>100",
            "CREATE TABLE orders (total INTEGER, user_id INTEGER REFERENCES users (id), id INTEGER PRIMARY KEY, \
             UNIQUE (user_id, total), CHECK ((total >= 0)))",
            "CREATE TABLE users (name VARCHAR(100) DEFAULT ('x'), email VARCHAR(255) NOT NULL, id INTEGER PRIMARY KEY)",
            "CREATE INDEX orders_total_idx1 ON orders (\"total\")",
        ],
        Backend::Postgres | Backend::MySql => vec![
            "CREATE TABLE users (name VARCHAR(100), id INTEGER PRIMARY KEY)",
            "ALTER TABLE users ADD COLUMN email VARCHAR(255) NOT NULL",
            "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'x'",
            "CREATE TABLE orders (total INTEGER, user_id INTEGER, id INTEGER PRIMARY KEY)",
            "CREATE INDEX orders_total_idx1 ON orders (total)",
            "ALTER TABLE orders ADD UNIQUE (user_id, total)",
            "ALTER TABLE orders ADD CHECK (total >= 0)",
            "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id)",
            "create   view big_orders as\n  select id,total from orders where (total>100)",
        ],
    };
    (first, second)
}

async fn schemas_built_in_another_order_do_not_differ(backend: Backend) {
    let (first, second) = built_two_ways(backend);
    let mut one = Scratch::new(backend).await;
    one.execute_all(&first).await;
    let mut other = Scratch::new(backend).await;
    other.execute_all(&second).await;
    let (one, other) = (one.schema().await, other.schema().await);
    let diff = one.diff(&other);
    assert!(diff.is_empty(), "{diff}\n{one:#?}\n{other:#?}");
    assert!(other.diff(&one).is_empty());
}
