//! The health report costs one statement on every backend, lock holder
//! included, takes no lock, and tells pending, dirty, failed and modified
//! apart; a start-up with nothing pending costs one statement too.
//!
//! Alone in its test binary: it counts every statement sqlx sends in the process.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{Backend, Database, Migrator, Scope, Startup, Version, report::Health};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{QueryCounter, TestDb};

/// While set, `wait_here` waits inside its migration, holding the lock.
static HOLD: AtomicBool = AtomicBool::new(false);
/// Set by `wait_here` once it waits.
static INSIDE: AtomicBool = AtomicBool::new(false);
/// While set, `fail_on_request` fails.
static FAIL: AtomicBool = AtomicBool::new(false);

#[path = "shared/things.rs"]
mod things;

#[migration(version = 2024_01_02_000000, depends_on = [things::create_things], risk = [schema])]
mod wait_here {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("waited").col(ColumnDef::new("id").integer().primary_key())).await?;
        // Only while the statements reach the database, not while the risk analysis writes them down.
        if db.is_live() {
            INSIDE.store(true, std::sync::atomic::Ordering::SeqCst);
            while HOLD.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("waited")).await
    }
}

#[migration(version = 2024_01_03_000000, depends_on = [wait_here], risk = [data])]
mod fail_on_request {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        if FAIL.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::msg("fail_on_request was asked to fail"));
        }
        db.exec(Query::insert().into_table("things").columns(["id"]).values_panic([1.into()])).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Query::delete().from_table("things")).await
    }
}

fn v(version: u64) -> Version {
    Version::try_from(version as i64).unwrap()
}

/// The health report and how many statements reading it sent.
async fn counted(counter: &QueryCounter, migrator: &Migrator, conn: &mut migrations_rs::Connection) -> (Health, usize) {
    let before = counter.count();
    let health = migrator.health(conn).await.unwrap();
    (health, counter.count() - before)
}

#[test]
fn health_reads_everything_in_one_statement_on_every_backend() {
    let counter = QueryCounter::default();
    tracing::subscriber::set_global_default(counter.clone()).expect("the only subscriber of this binary");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        runtime.block_on(check_backend(backend, &counter));
    }
}

async fn check_backend(backend: Backend, counter: &QueryCounter) {
    let db = TestDb::new(backend).await;
    let migrator = Migrator::from_linked().unwrap();
    let mut conn = db.connect().await;

    // Never migrated: the one statement finds no tables, then the history and the lock are read apart.
    let (fresh, fresh_queries) = counted(counter, &migrator, &mut conn).await;
    let separate_lock_reads = match backend {
        Backend::Sqlite => 1,   // the lease row
        Backend::Postgres => 2, // the holder's record, pg_locks
        Backend::MySql => 3,    // the holder's record, DATABASE(), IS_USED_LOCK
    };
    eprintln!("{backend}: {fresh_queries} statements on a fresh database");
    assert!(fresh_queries <= 2 + separate_lock_reads, "{backend}: {fresh_queries}");
    assert_eq!((fresh.applied, fresh.pending, fresh.current_version), (0, 3, None), "{backend}");
    assert!(fresh.healthy && !fresh.up_to_date && !fresh.lock.held, "{backend}: {fresh:?}");

    // A migrator holds the lock, paused inside `wait_here` after its DDL.
    migrator.up(&mut conn, Scope::UpTo(v(20240101000000))).await.unwrap();
    HOLD.store(true, Ordering::SeqCst);
    INSIDE.store(false, Ordering::SeqCst);
    let running = {
        let url = db.url.clone();
        tokio::spawn(async move {
            let mut conn = migrations_rs::Connection::connect(&url).await.unwrap();
            Migrator::from_linked().unwrap().up(&mut conn, Scope::UpTo(v(20240102000000))).await
        })
    };
    let mut waited = Duration::ZERO;
    while !INSIDE.load(Ordering::SeqCst) {
        assert!(waited < Duration::from_secs(30), "{backend}: the paused migration never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    let held = counted(counter, &migrator, &mut conn).await;
    let (health, queries) = held;
    assert_eq!(queries, 1, "{backend}: one statement while the lock is held");
    assert!(health.lock.held, "{backend}: {health:?}");
    let holder = health.lock.holder.as_ref().expect("the holder is recorded");
    assert_eq!(holder.pid, i64::from(std::process::id()), "{backend}");
    if backend.transactional_ddl() {
        assert_eq!((health.applied, health.pending, health.dirty.len()), (1, 2, 0), "{backend}");
    } else {
        // On MariaDB the step's DDL committed its `applying` row as it began: dirty, but not unhealthy
        // while the lock is held.
        assert_eq!((health.applied, health.pending, health.dirty.len()), (1, 1, 1), "{backend}");
        assert_eq!(health.dirty[0].version, v(20240102000000));
    }
    assert!(health.healthy, "{backend}: {health:?}");
    HOLD.store(false, Ordering::SeqCst);
    running.await.unwrap().unwrap();

    // Freed again, and read through an application's pool.
    let (health, queries) = counted(counter, &migrator, &mut conn).await;
    assert_eq!(queries, 1, "{backend}");
    assert!(!health.lock.held, "{backend}: {health:?}");
    assert_eq!(health.current_version, Some(v(20240102000000)));
    let pool = pool_for(&db).await;
    let mut pooled = pool.connect().await.unwrap();
    let (through_pool, queries) = counted(counter, &migrator, &mut pooled).await;
    assert_eq!(queries, 1, "{backend}: one statement through a pool");
    assert_eq!(through_pool, health);
    drop(pooled);

    // The last run failed: reported until something else is recorded.
    FAIL.store(true, Ordering::SeqCst);
    migrator.up(&mut conn, Scope::All).await.unwrap_err();
    FAIL.store(false, Ordering::SeqCst);
    let (failed, queries) = counted(counter, &migrator, &mut conn).await;
    assert_eq!(queries, 1, "{backend}");
    let failure = failed.last_failure.as_ref().expect("the failure is reported");
    assert_eq!((failure.version, failure.action.as_str()), (v(20240103000000), "apply_failed"));
    assert!(failure.error.as_deref().unwrap_or_default().contains("asked to fail"), "{failure:?}");
    assert!(!failed.healthy, "{backend}");
    // The body failed before sending anything, so even on MariaDB nothing is left dirty.
    assert!(failed.dirty.is_empty() && failed.pending == 1, "{backend}: {failed:?}");
    migrator.up(&mut conn, Scope::All).await.unwrap();

    let (done, queries) = counted(counter, &migrator, &mut conn).await;
    assert_eq!(queries, 1, "{backend}");
    assert!(done.healthy && done.up_to_date, "{backend}: {done:?}");
    assert_eq!((done.applied, done.pending, done.last_failure.as_ref()), (3, 0, None));
    let last = done.last_applied.as_ref().unwrap();
    assert_eq!((last.version, last.name.as_str()), (v(20240103000000), "fail_on_request"));

    // With nothing to do, `up` and a start-up read the state once and take no lock, on a connection or through a pool.
    let before = counter.count();
    let report = migrator.up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(counter.count() - before, 1, "{backend}: an up with nothing pending sends one statement, no lock");
    assert!(report.applied.is_empty());
    let before = counter.count();
    let report = Startup::new(pool.clone()).run().await.unwrap();
    assert_eq!(counter.count() - before, 1, "{backend}: the same through the application's pool");
    assert!(!report.took_lock && report.applied.is_empty(), "{report:?}");

    // Code changed since it was applied, and a migration this program does not have.
    let mut inspect = db.inspect().await;
    inspect.execute("UPDATE migrations_rs_history SET checksum = 'changed' WHERE version = 20240101000000").await;
    inspect
        .execute(
            "INSERT INTO migrations_rs_history \
             (version, name, module, module_version, checksum, risk, applied_at, applied_by, execution_ms, batch, seq, state) \
             VALUES (20990101000000, 'from_the_future', 'other', '9.9.9', 'ab', '', '2099-01-01T00:00:00.000Z', 'x@y', 1, 9, 99, 'applied')",
        )
        .await;
    let (drifted, queries) = counted(counter, &migrator, &mut conn).await;
    assert_eq!(queries, 1, "{backend}");
    assert_eq!(drifted.modified, [v(20240101000000)]);
    assert_eq!(drifted.missing_from_code, 1);
    assert!(!drifted.healthy);
    assert_eq!(drifted.current_version, Some(v(20990101000000)));
    let json = serde_json::to_value(&drifted).unwrap();
    assert_eq!(json["lock"]["held"], false, "{json}");
    assert_eq!(json["last_applied"]["name"], "from_the_future", "{json}");
}

async fn pool_for(db: &TestDb) -> Database {
    use migrations_rs::sqlx::pool::PoolOptions;
    use migrations_rs::sqlx::{MySql, Postgres, Sqlite};
    let url = db.url.expose();
    match db.backend {
        Backend::Sqlite => PoolOptions::<Sqlite>::new().max_connections(2).connect(url).await.map(Database::from),
        Backend::Postgres => PoolOptions::<Postgres>::new().max_connections(2).connect(url).await.map(Database::from),
        Backend::MySql => PoolOptions::<MySql>::new().max_connections(2).connect(url).await.map(Database::from),
    }
    .expect("a pool")
}
