//! `#[migrations_rs::testing::test]` on every backend: each test gets a
//! database of its own migrated to the head, or to `to = V` for the "seed,
//! migrate further, assert" pattern; every parameter shape works; two tests
//! get separate databases; and the database is dropped also when the body
//! panics.

mod support;

use migrations_rs::Scope;
use migrations_rs::prelude::*;
use migrations_rs::testing::{self, TestDatabase};
use std::sync::Mutex;
use support::Inspect;

#[migration(version = 2024_06_01_000000, risk = [schema])]
mod create_people {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, full_name VARCHAR(100) NOT NULL)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE people").await
    }
}

/// A data migration: a `first_name` column filled from `full_name`.
#[migration(version = 2024_06_02_000000, depends_on = [create_people], risk = [schema, data])]
mod split_names {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE people ADD COLUMN first_name VARCHAR(50)").await?;
        let first_word = match db.backend() {
            Backend::MySql => "SUBSTRING_INDEX(full_name, ' ', 1)",
            Backend::Postgres => "split_part(full_name, ' ', 1)",
            Backend::Sqlite => "substr(full_name, 1, instr(full_name, ' ') - 1)",
        };
        db.exec(format!("UPDATE people SET first_name = {first_word}")).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE people DROP COLUMN first_name").await
    }
}

#[migration(version = 2024_06_03_000000, risk = [schema])]
mod create_visits {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE visits (visitor VARCHAR(50) NOT NULL)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE visits").await
    }
}

async fn inspect(db: &TestDatabase) -> Inspect {
    Inspect::connect_raw(db.url().backend(), db.url().expose()).await
}

// Migrated to the head, each parameter shape.

#[testing::test]
async fn sqlite_by_default_at_the_head(db: TestDatabase) {
    assert_eq!(db.url().backend(), Backend::Sqlite);
    let mut conn = db.connect().await.unwrap();
    let status = db.migrator().status(&mut conn).await.unwrap();
    assert!(status.is_up_to_date(), "{status:?}");
    assert_eq!(status.migrations.len(), 3);
    conn.close().await.unwrap();
    let name = db.name().to_owned();
    db.drop_now().await.unwrap();
    assert!(!std::path::Path::new(&name).exists(), "drop_now removed {name}");
}

#[testing::test(backend = postgres)]
async fn a_postgres_pool(pool: sqlx::PgPool) {
    sqlx::query("INSERT INTO people (id, full_name, first_name) VALUES (1, 'Ada Lovelace', 'Ada')")
        .execute(&pool)
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 1);
}

#[testing::test(backend = mysql, crate = ::migrations_rs)]
async fn a_mysql_connection(mut conn: sqlx::MySqlConnection) -> std::result::Result<(), sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('people', 'visits') ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(tables, ["people", "visits"]);
    Ok(())
}

#[testing::test(backend = sqlite)]
async fn a_sqlite_pool(pool: sqlx::SqlitePool) {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM people").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 0);
}

#[testing::test]
#[should_panic(expected = "needs PostgreSQL, but the test runs on SQLite")]
async fn a_pool_of_another_backend_is_refused(_pool: sqlx::PgPool) {}

// Migrate to V, seed, migrate further, assert.

async fn seed_then_migrate_further(db: &TestDatabase) {
    let mut rows = inspect(db).await;
    assert!(!rows.table_exists("visits").await, "only what 2024_06_01_000000 needs is applied");
    rows.execute("INSERT INTO people (id, full_name) VALUES (1, 'Grace Hopper'), (2, 'Alan Turing')").await;
    let report = db.up(Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), 2, "{report:?}");
    let first_names = rows.strings("SELECT first_name FROM people ORDER BY id").await;
    assert_eq!(first_names, ["Grace", "Alan"], "the data migration filled the seeded rows");
    assert!(rows.table_exists("visits").await);
}

#[testing::test(to = 2024_06_01_000000)]
async fn seed_at_a_version_on_sqlite(db: &TestDatabase) {
    seed_then_migrate_further(db).await;
}

#[testing::test(backend = postgres, to = 2024_06_01_000000)]
async fn seed_at_a_version_on_postgres(db: &TestDatabase) {
    seed_then_migrate_further(db).await;
}

#[testing::test(backend = mysql, to = 2024_06_01_000000)]
async fn seed_at_a_version_on_mysql(db: &TestDatabase) {
    seed_then_migrate_further(db).await;
}

// Two tests, two databases.

/// The database each of the two tests below used.
static VISITS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Finds no row of the other test's, whether it ran before (its database
/// is not this one, nor the template) or runs alongside; writes its own.
async fn visit(db: &TestDatabase, visitor: &str) {
    let mut rows = inspect(db).await;
    assert!(rows.strings("SELECT visitor FROM visits").await.is_empty(), "a fresh database has no visits");
    rows.execute(&format!("INSERT INTO visits (visitor) VALUES ('{visitor}')")).await;
    {
        let mut visits = VISITS.lock().unwrap();
        visits.push(db.name().to_owned());
        if let [first, second] = visits.as_slice() {
            assert_ne!(first, second, "each test has a database of its own");
        }
    }
    assert_eq!(rows.strings("SELECT visitor FROM visits").await, [visitor]);
}

#[testing::test(backend = postgres)]
async fn one_of_two_tests(db: &TestDatabase) {
    visit(db, "one").await;
}

#[testing::test(backend = postgres)]
async fn the_other_of_two_tests(db: &TestDatabase) {
    visit(db, "other").await;
}

// A body that panics.

/// The database of the test that panics.
static PANICKED_IN: Mutex<Option<String>> = Mutex::new(None);

#[testing::test]
#[ignore = "run by a_panicking_body_drops_its_database"]
async fn panics_with_its_database(db: &TestDatabase) {
    *PANICKED_IN.lock().unwrap() = Some(db.name().to_owned());
    panic!("on purpose");
}

#[test]
fn a_panicking_body_drops_its_database() {
    let outcome = std::panic::catch_unwind(panics_with_its_database);
    assert!(outcome.is_err(), "the body panicked");
    let name = PANICKED_IN.lock().unwrap().clone().expect("the body ran");
    assert!(!std::path::Path::new(&name).exists(), "{name} was dropped");
}
