//! Session settings and hooks, through the standalone binary: `--init-sql`
//! and an environment's `init_sql` run on every connection the migrator
//! opens (a MariaDB history that needs `FOREIGN_KEY_CHECKS = 0`, SQLite's
//! 12-step table rebuild with foreign keys off); the folder's
//! `beforeMigrate.sql` / `afterMigrate.sql` / `beforeEachMigrate.sql` /
//! `afterEachMigrate.sql` run around each run and step and are recorded in
//! the audit log.

#[macro_use]
mod support;

use migrations_rs::Backend;
use support::TestDb;
use support::sql_dir::{folder, run, run_in};

on_every_backend!(
    init_sql_runs_on_every_connection_the_migrator_opens,
    a_failing_init_sql_is_named,
    a_view_schema_is_rebuilt_around_each_run,
);

async fn init_sql_runs_on_every_connection_the_migrator_opens(backend: Backend) {
    let dir = folder(&[("1_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")]);
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    inspect.execute("CREATE TABLE connections_opened (n INTEGER)").await;
    let (code, text) = run(
        dir.path(),
        &db,
        &["up", "--init-sql", "INSERT INTO connections_opened (n) VALUES (1)", "--init-sql", "SELECT 1"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM connections_opened").await,
        2,
        "the migrations' connection and the lock's"
    );
}

async fn a_failing_init_sql_is_named(backend: Backend) {
    let dir = folder(&[("1_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")]);
    let db = TestDb::new(backend).await;
    let (code, text) = run(dir.path(), &db, &["up", "--init-sql", "SET no_such_setting_here = 1"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("the init SQL `SET no_such_setting_here = 1` failed"), "{text}");
    assert!(!db.inspect().await.table_exists("a").await, "nothing ran");
}

/// A history whose first migration refers to a table the second creates:
/// MariaDB refuses it (errno 150) unless the project's runner turns
/// foreign-key checks off for the session, as this one's did.
#[tokio::test]
async fn mariadb_history_that_needs_foreign_key_checks_off() {
    let dir = folder(&[
        (
            "1_create_orders.sql",
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, \
             CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE = InnoDB;",
        ),
        ("2_create_customers.sql", "CREATE TABLE customers (id INT PRIMARY KEY) ENGINE = InnoDB;"),
    ]);
    let without = TestDb::new(Backend::MySql).await;
    let (code, text) = run(dir.path(), &without, &["up"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("150"), "{text}");

    let with_flag = TestDb::new(Backend::MySql).await;
    let (code, text) = run(dir.path(), &with_flag, &["up", "--init-sql", "SET FOREIGN_KEY_CHECKS = 0"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("2 migration(s) applied"), "{text}");

    // The same setting from an environment of migrations.toml.
    let with_config = TestDb::new(Backend::MySql).await;
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("migrations.toml"),
        format!(
            "[environments.legacy]\ndatabase_url = \"{}\"\ninit_sql = [\"SET FOREIGN_KEY_CHECKS = 0\"]\n",
            with_config.url.expose()
        ),
    )
    .unwrap();
    let (code, text) = run_in(cwd.path(), dir.path(), &["up", "--env", "legacy"]);
    assert_eq!(code, Some(0), "{text}");
    let mut inspect = with_config.inspect().await;
    assert!(inspect.table_exists("orders").await && inspect.table_exists("customers").await);
    inspect.execute("INSERT INTO customers (id) VALUES (7)").await;
    inspect.execute("INSERT INTO orders (id, customer_id) VALUES (1, 7)").await;
}

/// SQLite's documented way to change a table: create the new one, copy the
/// rows, drop the old one, rename. With rows referencing the table it fails
/// while foreign keys are on, as they are on sqlx's connections.
#[tokio::test]
async fn sqlite_table_rebuild_with_foreign_keys_off() {
    let dir = folder(&[
        (
            "1_create_parent.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\n\
             INSERT INTO parent (id, name) VALUES (1, 'one'), (2, 'two');",
        ),
        (
            "2_create_child.sql",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id));\n\
             INSERT INTO child (id, parent_id) VALUES (10, 1), (20, 2);",
        ),
        (
            "3_parent_names_required.sql",
            "-- migrations-rs: allow = [drop_table]\n\
             CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n\
             INSERT INTO parent_new (id, name) SELECT id, coalesce(name, '') FROM parent;\n\
             DROP TABLE parent;\n\
             ALTER TABLE parent_new RENAME TO parent;",
        ),
    ]);
    let without = TestDb::new(Backend::Sqlite).await;
    let (code, text) = run(dir.path(), &without, &["up"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("FOREIGN KEY constraint failed"), "{text}");

    let with = TestDb::new(Backend::Sqlite).await;
    let (code, text) = run(dir.path(), &with, &["up", "--init-sql", "PRAGMA foreign_keys = OFF"]);
    assert_eq!(code, Some(0), "{text}");
    let mut inspect = with.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM parent").await, 2, "the rows were copied");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM child JOIN parent ON parent.id = child.parent_id").await,
        2,
        "the referencing rows still find their parents"
    );
    assert_eq!(inspect.scalar("SELECT count(*) FROM pragma_foreign_key_check").await, 0);
}

/// A project that drops its views before every run and recreates them from
/// the current definition after: a migration may then drop a column a view
/// used (PostgreSQL and SQLite refuse that while the view exists).
async fn a_view_schema_is_rebuilt_around_each_run(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    inspect.execute("CREATE TABLE hook_calls (what VARCHAR(20))").await;
    let dir = folder(&[
        ("beforeMigrate.sql", "DROP VIEW IF EXISTS user_names;"),
        ("afterMigrate.sql", "CREATE VIEW user_names AS SELECT id, name, nickname FROM users;"),
        ("beforeEachMigrate.sql", "INSERT INTO hook_calls (what) VALUES ('before each');"),
        ("afterEachMigrate.sql", "INSERT INTO hook_calls (what) VALUES ('after each');"),
        ("1_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50), nickname VARCHAR(50));"),
    ]);
    let (code, text) = run(dir.path(), &db, &["up"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("not a migration"), "hook files are not listed as ignored: {text}");
    inspect.execute("INSERT INTO users (id, name, nickname) VALUES (1, 'Ada', 'ada')").await;
    assert_eq!(inspect.strings("SELECT nickname FROM user_names").await, ["ada"]);

    // The next release drops the column and the view's definition with it.
    std::fs::write(
        dir.path().join("2_drop_nickname.up.sql"),
        "-- migrations-rs: allow = [drop_column]\nALTER TABLE users DROP COLUMN nickname;",
    )
    .unwrap();
    std::fs::write(dir.path().join("2_drop_nickname.down.sql"), "ALTER TABLE users ADD COLUMN nickname VARCHAR(50);")
        .unwrap();
    std::fs::write(dir.path().join("afterMigrate.sql"), "CREATE VIEW user_names AS SELECT id, name FROM users;")
        .unwrap();
    if backend != Backend::MySql {
        // Without the hook that drops the view first, the database refuses the migration.
        let without = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("2_drop_nickname.up.sql"), without.path().join("2_drop_nickname.up.sql"))
            .unwrap();
        std::fs::copy(dir.path().join("1_create_users.sql"), without.path().join("1_create_users.sql")).unwrap();
        let (code, text) = run(without.path(), &db, &["up"]);
        assert_eq!(code, Some(1), "{text}");
    }
    let (code, text) = run(dir.path(), &db, &["up"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(inspect.strings("SELECT name FROM user_names").await, ["Ada"]);

    // Nothing to apply: no hook runs.
    let (code, text) = run(dir.path(), &db, &["up"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM hook_calls WHERE what = 'before each'").await, 2);
    assert_eq!(inspect.scalar("SELECT count(*) FROM hook_calls WHERE what = 'after each'").await, 2);
    let logged =
        inspect.strings("SELECT name FROM migrations_rs_log WHERE action = 'hook' AND error IS NULL ORDER BY id").await;
    let run_hooks = ["beforeMigrate.sql", "beforeEachMigrate.sql", "afterEachMigrate.sql", "afterMigrate.sql"];
    assert_eq!(logged, [run_hooks, run_hooks].concat(), "each hook is in the audit log, in the order it ran");

    // down runs them too, so the view follows the revert.
    let (code, text) = run(dir.path(), &db, &["down"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'hook'").await, 12);
    assert_eq!(inspect.strings("SELECT name FROM user_names").await, ["Ada"], "recreated after the revert");
}
