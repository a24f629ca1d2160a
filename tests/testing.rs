//! Test databases cloned from a migrated template (`migrations_rs::testing`),
//! on every backend: a clone has what migrating from scratch gives (tables,
//! rows, keys, generated columns, a view, a trigger, a routine), clones are
//! independent, the "migrate to V, seed, migrate further" pattern works, a
//! changed graph replaces its template, and on PostgreSQL test databases are
//! spare copies renamed, taken by one caller each.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::testing::TestDatabase;
use migrations_rs::{Backend, Migrator, Scope, Version, history::Tables, registry::Registry};
use support::{Inspect, TestDb};

#[migration(version = 2024_05_01_000000, risk = [schema])]
mod create_customers {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, full_name VARCHAR(100) NOT NULL, first_name VARCHAR(50))",
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE customers").await
    }
}

#[migration(version = 2024_05_02_000000, depends_on = [create_customers], risk = [data])]
mod seed_customers {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("INSERT INTO customers (id, full_name) VALUES (1, 'Ada Lovelace'), (2, 'Alan Turing')").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DELETE FROM customers WHERE id IN (1, 2)").await
    }
}

/// A data migration: fills `first_name` from `full_name`.
#[migration(version = 2024_05_03_000000, depends_on = [seed_customers], risk = [data])]
mod split_names {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let sql = match db.backend() {
            Backend::MySql => {
                "UPDATE customers SET first_name = SUBSTRING_INDEX(full_name, ' ', 1) WHERE first_name IS NULL"
            }
            Backend::Postgres => {
                "UPDATE customers SET first_name = split_part(full_name, ' ', 1) WHERE first_name IS NULL"
            }
            Backend::Sqlite => {
                "UPDATE customers SET first_name = substr(full_name, 1, instr(full_name, ' ') - 1) WHERE first_name IS NULL"
            }
        };
        db.exec(sql).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("UPDATE customers SET first_name = NULL WHERE first_name IS NOT NULL").await
    }
}

/// Orders with a foreign key, a generated column, a view, and a trigger that
/// writes an audit row (plus a function on PostgreSQL and MySQL).
#[migration(version = 2024_05_04_000000, depends_on = [create_customers], risk = [schema, constraint], allow = [opaque_sql])]
mod create_orders {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let id = match db.backend() {
            Backend::Postgres => "id SERIAL PRIMARY KEY",
            Backend::MySql => "id INTEGER AUTO_INCREMENT PRIMARY KEY",
            Backend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        db.exec(format!(
            "CREATE TABLE orders ({id}, customer_id INTEGER NOT NULL REFERENCES customers (id), \
             quantity INTEGER NOT NULL, doubled INTEGER GENERATED ALWAYS AS (quantity * 2) STORED)"
        ))
        .await?;
        db.exec("CREATE INDEX orders_by_customer ON orders (customer_id)").await?;
        db.exec("CREATE TABLE order_audit (order_id INTEGER NOT NULL)").await?;
        db.exec("INSERT INTO orders (customer_id, quantity) VALUES (1, 3)").await?;
        db.exec("CREATE VIEW big_orders AS SELECT id, customer_id FROM orders WHERE quantity > 2").await?;
        match db.backend() {
            Backend::Postgres => {
                db.exec(
                    "CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN INSERT INTO order_audit (order_id) VALUES (NEW.id); RETURN NEW; END $$",
                )
                .await?;
                db.exec(
                    "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_order()",
                )
                .await
            }
            Backend::MySql => {
                db.exec("CREATE FUNCTION twice(x INTEGER) RETURNS INTEGER DETERMINISTIC RETURN x * 2").await?;
                db.exec(
                    "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW \
                     INSERT INTO order_audit (order_id) VALUES (NEW.id)",
                )
                .await
            }
            Backend::Sqlite => {
                db.exec(
                    "CREATE TRIGGER orders_audit AFTER INSERT ON orders \
                     BEGIN INSERT INTO order_audit (order_id) VALUES (NEW.id); END",
                )
                .await
            }
        }
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP VIEW big_orders").await?;
        db.exec("DROP TABLE order_audit").await?;
        db.exec("DROP TABLE orders").await?;
        match db.backend() {
            Backend::Postgres => db.exec("DROP FUNCTION audit_order()").await,
            Backend::MySql => db.exec("DROP FUNCTION twice").await,
            Backend::Sqlite => Ok(()),
        }
    }
}

fn server(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => "sqlite:".to_owned(),
        _ => support::server_url(backend),
    }
}

async fn inspect(db: &TestDatabase) -> Inspect {
    Inspect::connect_raw(db.url().backend(), db.url().expose()).await
}

async fn a_clone_has_what_migrating_from_scratch_gives(backend: Backend) {
    let scratch = TestDb::new(backend).await;
    let mut conn = scratch.connect().await;
    Migrator::from_linked().unwrap().up(&mut conn, Scope::All).await.unwrap();
    let mut reference = scratch.inspect().await;

    let first = TestDatabase::new(&server(backend)).await.unwrap();
    let db = TestDatabase::new(&server(backend)).await.unwrap();
    assert!(db.reused_template(), "the second clone reuses the template the first one built");
    assert_ne!(first.name(), db.name());
    let mut clone = inspect(&db).await;
    assert_eq!(clone.schema().await, reference.schema().await, "tables, columns and indexes as migrating gives them");
    let rows = "SELECT id || ' ' || full_name || ' ' || first_name FROM customers ORDER BY id";
    let rows = if backend == Backend::MySql {
        "SELECT CONCAT(id, ' ', full_name, ' ', first_name) FROM customers ORDER BY id"
    } else {
        rows
    };
    assert_eq!(clone.strings(rows).await, ["1 Ada Lovelace Ada", "2 Alan Turing Alan"]);
    assert_eq!(clone.scalar("SELECT COUNT(*) FROM big_orders").await, 1, "the view reads the copied rows");

    // The trigger, the generated column and the key sequence work in the clone.
    clone.execute("INSERT INTO orders (customer_id, quantity) VALUES (2, 5)").await;
    assert_eq!(
        clone.scalar("SELECT COUNT(*) FROM orders WHERE id = 2 AND doubled = 10").await,
        1,
        "ids continue after the copied rows, and the generated column is computed"
    );
    assert_eq!(
        clone.scalar("SELECT COUNT(*) FROM order_audit WHERE order_id = 2").await,
        1,
        "the trigger wrote an audit row"
    );
    if backend == Backend::MySql {
        assert_eq!(
            clone.scalar("SELECT COUNT(*) FROM orders WHERE twice(quantity) = doubled").await,
            2,
            "routines are copied"
        );
    }
    if backend == Backend::Sqlite {
        clone.execute("PRAGMA foreign_keys = ON").await;
    }
    assert!(
        clone.try_execute("INSERT INTO orders (customer_id, quantity) VALUES (99, 1)").await.is_err(),
        "the foreign key is enforced in the clone"
    );

    // The bookkeeping came along: the clone is up to date.
    let mut conn = db.connect().await.unwrap();
    let status = db.migrator().status(&mut conn).await.unwrap();
    assert!(status.is_up_to_date(), "{status:?}");
    drop(conn);

    // Clones are independent.
    let mut other = inspect(&first).await;
    assert_eq!(other.scalar("SELECT COUNT(*) FROM orders").await, 1, "a write in one clone is not in another");

    let name = db.name().to_owned();
    db.drop_now().await.unwrap();
    assert!(!exists(backend, &name).await, "drop_now removed {name}");
    let name = first.name().to_owned();
    drop(first);
    assert!(!exists(backend, &name).await, "dropping the value removed {name}");
}

async fn migrate_to_a_version_seed_and_migrate_further(backend: Backend) {
    let before = Version::parse("20240502000000").unwrap();
    let db = TestDatabase::builder(&server(backend)).to(before).create().await.unwrap();
    let mut rows = inspect(&db).await;
    assert!(!rows.table_exists("orders").await, "only what 20240502000000 needs is applied");
    rows.execute("INSERT INTO customers (id, full_name) VALUES (3, 'Grace Hopper')").await;
    let report = db.up(Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), 2, "{report:?}");
    let first_names = rows.strings("SELECT first_name FROM customers ORDER BY id").await;
    assert_eq!(first_names, ["Ada", "Alan", "Grace"], "the data migration ran over the seeded row too");
    assert!(rows.table_exists("orders").await);
}

async fn a_changed_graph_replaces_its_template(backend: Backend) {
    // Table names of their own: another family than the other tests' templates.
    let tables = || Tables::new("tpl_history", "tpl_log", "tpl_lock").unwrap();
    let linked: Vec<&'static migrations_rs::registry::Migration> =
        Registry::from_linked().unwrap().in_order().collect();
    let smaller = Migrator::new(Registry::new(linked[..1].iter().copied()).unwrap()).with_tables(tables());
    let larger = Migrator::new(Registry::new(linked[..2].iter().copied()).unwrap()).with_tables(tables());

    let old = TestDatabase::builder(&server(backend)).migrator(smaller).create().await.unwrap();
    let old_template = old.template().to_owned();
    assert!(template_exists(backend, &old_template).await);
    let new = TestDatabase::builder(&server(backend)).migrator(larger).create().await.unwrap();
    assert!(!new.reused_template());
    assert_ne!(new.template(), old_template);
    assert!(template_exists(backend, new.template()).await);
    assert!(!template_exists(backend, &old_template).await, "the template of the old graph is dropped");
}

async fn exists(backend: Backend, name: &str) -> bool {
    match backend {
        Backend::Sqlite => std::path::Path::new(name).exists(),
        Backend::Postgres => {
            let mut admin = Inspect::connect_raw(backend, &support::server_url(backend)).await;
            admin.scalar(&format!("SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'")).await == 1
        }
        Backend::MySql => {
            let mut admin = Inspect::connect_raw(backend, &support::server_url(backend)).await;
            admin
                .scalar(&format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'"))
                .await
                == 1
        }
    }
}

async fn template_exists(backend: Backend, template: &str) -> bool {
    match backend {
        Backend::Sqlite => std::env::temp_dir().join("migrations-rs-testing").join(format!("{template}.db")).exists(),
        _ => exists(backend, template).await,
    }
}

/// The spares of `template` on the PostgreSQL server.
async fn spares_of(template: &str) -> i64 {
    let prefix = template.replacen("mrs_tpl_", "mrs_spr_", 1).replace('_', "\\_");
    let mut admin = Inspect::connect_raw(Backend::Postgres, &support::server_url(Backend::Postgres)).await;
    admin.scalar(&format!("SELECT COUNT(*) FROM pg_database WHERE datname LIKE '{prefix}\\_%'")).await
}

/// Waits up to a minute for `template` to have `count` spares.
async fn wait_for_spares(template: &str, count: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let have = spares_of(template).await;
        if have == count {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{template} has {have} spares after a minute, not {count}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn postgres_test_databases_are_spares_renamed_and_refilled() {
    // Table names of their own: a template family no other test uses.
    let tables = || Tables::new("spr_history", "spr_log", "spr_lock").unwrap();
    let linked: Vec<&'static migrations_rs::registry::Migration> =
        Registry::from_linked().unwrap().in_order().collect();
    let migrator = |n: usize| Migrator::new(Registry::new(linked[..n].iter().copied()).unwrap()).with_tables(tables());
    let server = server(Backend::Postgres);
    let create = |n: usize, spares: usize| TestDatabase::builder(&server).migrator(migrator(n)).spares(spares).create();

    let first = create(2, 3).await.unwrap();
    let template = first.template().to_owned();
    wait_for_spares(&template, 3).await;

    // Six at once from three spares: each spare goes to one caller, the others copy.
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (server, migrator) = (server.clone(), migrator(2));
        callers.spawn(async move { TestDatabase::builder(&server).migrator(migrator).spares(3).create().await });
    }
    let made: Vec<TestDatabase> = callers.join_all().await.into_iter().map(Result::unwrap).collect();
    let from_spares = made.iter().filter(|db| db.from_spare()).count();
    assert!((1..=3).contains(&from_spares), "{from_spares} of 6 came from the 3 spares");
    let mut names: Vec<&str> = made.iter().map(TestDatabase::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 6, "every caller got a database of its own");
    for db in &made {
        assert!(db.name().starts_with("mrs_test_"), "a taken spare carries the test database's name: {}", db.name());
        let mut conn = db.connect().await.unwrap();
        let status = db.migrator().status(&mut conn).await.unwrap();
        assert!(status.is_up_to_date(), "{}: {status:?}", db.name());
        drop(conn);
        assert!(inspect(db).await.table_exists("customers").await, "{} holds the migrated schema", db.name());
    }
    // Taking spares asked for new ones.
    wait_for_spares(&template, 3).await;
    let taken = create(2, 3).await.unwrap();
    assert!(taken.from_spare(), "a ready spare is taken");

    // A changed graph drops the old graph's spares with its template.
    let changed = create(3, 0).await.unwrap();
    assert!(!changed.reused_template());
    assert_eq!(spares_of(&template).await, 0, "the spares of the old graph are dropped");
    assert!(!changed.from_spare());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(spares_of(changed.template()).await, 0, "spares(0) makes none");
}

on_every_backend!(
    a_clone_has_what_migrating_from_scratch_gives,
    migrate_to_a_version_seed_and_migrate_further,
    a_changed_graph_replaces_its_template,
);
