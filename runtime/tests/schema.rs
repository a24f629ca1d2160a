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
    a_schema_survives_a_round_trip_through_json,
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

#[tokio::test]
async fn postgres_objects_are_read_into_the_model() {
    let mut db = Scratch::new(Backend::Postgres).await;
    db.execute_all(&[
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
        "CREATE DOMAIN positive AS integer NOT NULL DEFAULT 1 CHECK (VALUE > 0)",
        "CREATE SEQUENCE invoice_numbers START 1000 INCREMENT 5",
        "CREATE TABLE users (id serial PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, name text COLLATE \"C\", \
         status text DEFAULT 'active', feeling mood, score positive, created timestamptz NOT NULL DEFAULT now(), \
         lower_email text GENERATED ALWAYS AS (lower(email)) STORED)",
        "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE, total numeric(10,2) CHECK (total >= 0))",
        "CREATE INDEX orders_user_idx ON orders (user_id) WHERE total > 0",
        "CREATE INDEX users_lower_name ON users USING hash (lower(name))",
        "CREATE INDEX orders_recent ON orders (id DESC, total)",
        "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active'",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()",
    ])
    .await;
    let schema = db.schema().await;
    let users = schema.table("users").expect("users");
    let email = users.column("email").unwrap();
    assert_eq!((email.data_type.as_str(), email.nullable), ("character varying(255)", false));
    assert_eq!(users.column("id").unwrap().default.as_deref(), Some("nextval('users_id_seq'::regclass)"));
    assert_eq!(users.column("name").unwrap().collation.as_deref(), Some("C"));
    assert_eq!(users.column("status").unwrap().default.as_deref(), Some("'active'::text"));
    assert_eq!(users.column("created").unwrap().default.as_deref(), Some("now()"));
    assert_eq!(users.column("feeling").unwrap().data_type, "mood");
    let generated = users.column("lower_email").unwrap().generated.clone().expect("generated");
    assert!(generated.stored && generated.expression.contains("lower("), "{generated:?}");
    assert_eq!(users.primary_key.as_ref().unwrap().columns, ["id"]);
    assert_eq!(users.uniques[0].name.as_deref(), Some("users_email_key"));
    assert_eq!(users.uniques[0].columns, ["email"]);
    let lower_name = users.index("users_lower_name").unwrap();
    assert_eq!(
        (lower_name.columns.as_slice(), lower_name.method.as_deref()),
        (&["lower(name)".to_owned()][..], Some("hash"))
    );
    assert_eq!(users.indexes.len(), 1, "the key's indexes are not listed: {:?}", users.indexes);

    let orders = schema.table("orders").unwrap();
    assert_eq!(orders.column("id").unwrap().identity.as_deref(), Some("ALWAYS"));
    let key = &orders.foreign_keys[0];
    assert_eq!((key.columns.as_slice(), key.referenced_table.as_str()), (&["user_id".to_owned()][..], "users"));
    assert_eq!((key.referenced_columns.as_slice(), key.on_delete.as_str()), (&["id".to_owned()][..], "CASCADE"));
    assert_eq!(key.on_update, "NO ACTION");
    assert!(orders.checks[0].expression.contains("total >="), "{:?}", orders.checks);
    let partial = orders.index("orders_user_idx").unwrap();
    assert_eq!(partial.columns, ["user_id"]);
    assert!(partial.predicate.as_deref().unwrap().contains("total > "), "{partial:?}");
    assert_eq!(orders.index("orders_recent").unwrap().columns, ["id DESC", "total"]);

    assert_eq!(schema.views[0].name, "active_users");
    assert!(schema.views[0].definition.contains("FROM users"), "{:?}", schema.views[0]);
    let sequences: Vec<_> = schema.sequences.iter().map(|s| (s.name.as_str(), s.start, s.increment)).collect();
    assert_eq!(sequences, [("invoice_numbers", 1000, 5)], "a column's own sequence is part of the column");
    assert_eq!(schema.enums[0].values, ["sad", "ok", "happy"]);
    let domain = &schema.domains[0];
    assert_eq!((domain.name.as_str(), domain.data_type.as_str(), domain.nullable), ("positive", "integer", false));
    assert!(domain.checks[0].expression.contains("VALUE > 0"), "{domain:?}");
    assert_eq!((schema.triggers[0].name.as_str(), schema.triggers[0].table.as_str()), ("users_touch", "users"));
    assert_eq!((schema.functions[0].name.as_str(), schema.functions[0].arguments.as_str()), ("touch", ""));
    assert!(schema.functions[0].definition.contains("RETURN NEW"));
}

#[tokio::test]
async fn postgres_tables_outside_the_first_schema_are_qualified() {
    let mut db = Scratch::new(Backend::Postgres).await;
    db.execute_all(&[
        "CREATE SCHEMA billing",
        "CREATE TABLE billing.invoices (id integer PRIMARY KEY)",
        "CREATE TABLE billing.hidden (id integer PRIMARY KEY)",
        "CREATE TABLE users (id integer PRIMARY KEY, invoice_id integer REFERENCES billing.invoices (id))",
    ])
    .await;
    let set_path = format!("ALTER DATABASE {} SET search_path = public, billing", db.name);
    db.execute(&set_path).await;
    let mut conn = Connection::connect(db.conn.url()).await.unwrap();
    let schema = conn.schema(&["billing.hidden".to_owned()]).await.unwrap();
    let names: Vec<_> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["billing.invoices", "users"]);
    assert_eq!(schema.tables[1].foreign_keys[0].referenced_table, "billing.invoices");
    let without_billing = conn.schema(&["billing".to_owned()]).await.unwrap();
    assert_eq!(without_billing.tables.len(), 1);
}

#[tokio::test]
async fn mysql_objects_are_read_into_the_model() {
    let mut db = Scratch::new(Backend::MySql).await;
    db.execute_all(&[
        "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL, \
         name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, status VARCHAR(20) DEFAULT 'active', \
         lower_email VARCHAR(255) AS (LOWER(email)) STORED, UNIQUE KEY users_email_unique (email))",
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id INT NOT NULL, total DECIMAL(10,2), \
         CONSTRAINT orders_total_positive CHECK (total >= 0), \
         CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE)",
        "CREATE INDEX orders_total_idx ON orders (total, user_id)",
        "CREATE INDEX users_name_prefix ON users (name(10))",
        "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active'",
        "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW SET NEW.status = NEW.status",
        "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    ])
    .await;
    let schema = db.schema().await;
    let users = schema.table("users").expect("users");
    let id = users.column("id").unwrap();
    // MariaDB and MySQL before 8.0.19 write a display width: `int(11)`.
    assert!(id.data_type.starts_with("int"), "{id:?}");
    assert_eq!((id.nullable, id.identity.as_deref()), (false, Some("AUTO_INCREMENT")));
    assert_eq!(users.column("email").unwrap().data_type, "varchar(255)");
    assert_eq!(users.column("name").unwrap().collation.as_deref(), Some("utf8mb4_bin"));
    assert!(users.column("status").unwrap().default.as_deref().unwrap().contains("active"));
    let generated = users.column("lower_email").unwrap().generated.clone().expect("generated");
    // MariaDB writes LOWER back as `lcase`.
    let expression = generated.expression.to_lowercase();
    assert!(generated.stored && (expression.contains("lower(") || expression.contains("lcase(")), "{generated:?}");
    assert_eq!(users.primary_key.as_ref().unwrap().columns, ["id"]);
    assert_eq!(users.uniques[0].name.as_deref(), Some("users_email_unique"));
    assert_eq!(users.index("users_name_prefix").unwrap().columns, ["name(10)"]);
    assert_eq!(users.indexes.len(), 1, "the keys' indexes are not listed: {:?}", users.indexes);

    let orders = schema.table("orders").unwrap();
    let key = &orders.foreign_keys[0];
    assert_eq!(key.name.as_deref(), Some("orders_user_fk"));
    assert_eq!((key.columns.as_slice(), key.referenced_table.as_str()), (&["user_id".to_owned()][..], "users"));
    assert_eq!((key.on_delete.as_str(), key.on_update.as_str()), ("CASCADE", "RESTRICT"));
    assert_eq!(orders.checks[0].name.as_deref(), Some("orders_total_positive"));
    assert!(orders.checks[0].expression.contains(">= 0"), "{:?}", orders.checks);
    let names: Vec<_> = orders.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["orders_total_idx"], "the foreign key's index is part of it");
    assert_eq!(orders.indexes[0].columns, ["total", "user_id"]);

    assert_eq!(schema.views[0].name, "active_users");
    assert!(!schema.views[0].definition.contains(&db.name), "{:?}", schema.views[0]);
    assert_eq!((schema.triggers[0].name.as_str(), schema.triggers[0].table.as_str()), ("users_touch", "users"));
    assert!(schema.triggers[0].definition.starts_with("BEFORE UPDATE ON users"));
    assert_eq!(schema.functions[0].name, "twice");
    assert!(schema.functions[0].arguments.starts_with("int"), "{:?}", schema.functions[0]);
}

#[tokio::test]
async fn sqlite_objects_are_read_into_the_model() {
    let mut db = Scratch::new(Backend::Sqlite).await;
    db.execute_all(&[
        "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, \
         name TEXT COLLATE NOCASE, status TEXT DEFAULT 'active', lower_email TEXT AS (lower(email)) STORED)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users ON DELETE CASCADE, \
         total NUMERIC CHECK (total >= 0))",
        "CREATE INDEX orders_user_idx ON orders (user_id) WHERE total > 0",
        "CREATE INDEX users_lower_name ON users (lower(name))",
        "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active'",
        "CREATE TRIGGER users_touch AFTER UPDATE ON users BEGIN SELECT 1; END",
    ])
    .await;
    let schema = db.schema().await;
    let names: Vec<_> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["orders", "users"], "sqlite_sequence is SQLite's own");
    let users = schema.table("users").unwrap();
    let id = users.column("id").unwrap();
    assert_eq!((id.data_type.as_str(), id.identity.as_deref()), ("INTEGER", Some("AUTOINCREMENT")));
    assert!(!users.column("email").unwrap().nullable);
    assert_eq!(users.column("name").unwrap().collation.as_deref(), Some("nocase"));
    assert_eq!(users.column("status").unwrap().default.as_deref(), Some("'active'"));
    let generated = users.column("lower_email").unwrap().generated.clone().expect("generated");
    assert_eq!((generated.expression.as_str(), generated.stored), ("lower(email)", true));
    assert_eq!(users.primary_key.as_ref().unwrap().columns, ["id"]);
    assert_eq!(users.uniques[0].columns, ["email"]);
    assert_eq!(users.index("users_lower_name").unwrap().columns, ["lower(name)"]);
    assert_eq!(users.indexes.len(), 1);

    let orders = schema.table("orders").unwrap();
    let key = &orders.foreign_keys[0];
    assert_eq!((key.referenced_table.as_str(), key.referenced_columns.as_slice()), ("users", &["id".to_owned()][..]));
    assert_eq!((key.on_delete.as_str(), key.on_update.as_str()), ("CASCADE", "NO ACTION"));
    assert_eq!(orders.checks[0].expression, "total >= 0");
    assert_eq!(orders.index("orders_user_idx").unwrap().predicate.as_deref(), Some("total > 0"));
    assert_eq!(schema.views[0].definition, "SELECT id, email FROM users WHERE status = 'active'");
    assert_eq!((schema.triggers[0].name.as_str(), schema.triggers[0].table.as_str()), ("users_touch", "users"));
}

/// A schema is stored as JSON (`migrations.schema.json`) and read back equal.
async fn a_schema_survives_a_round_trip_through_json(backend: Backend) {
    let mut db = Scratch::new(backend).await;
    let (statements, _) = built_two_ways(backend);
    db.execute_all(&statements).await;
    let schema = db.schema().await;
    let json = serde_json::to_string_pretty(&schema).unwrap();
    let read: Schema = serde_json::from_str(&json).unwrap();
    assert_eq!(read, schema);
    // A field a later version adds is missing from an older file: it takes its default.
    let without_views: Schema = serde_json::from_str(r#"{"tables": []}"#).unwrap();
    assert_eq!(without_views, Schema::default());
}
