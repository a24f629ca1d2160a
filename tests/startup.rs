//! Migrating at start-up on every backend: one call that applies what is
//! pending and reports it, reads only once when nothing is, reports or returns
//! failures as asked, and lets 8 replicas start at once.

#[macro_use]
mod support;

use migrations_rs::error::LockError;
use migrations_rs::prelude::*;
use migrations_rs::{
    Backend, Database, Migrator, Startup, Version,
    error::Remedy,
    lock::{LockOptions, LockStrategy},
    startup::{StartupOutcome, StartupReport},
};
use std::time::{Duration, Instant};
use support::TestDb;

#[path = "shared/items.rs"]
mod items;

#[migration(version = 2024_01_04_000000, depends_on = [items::create_notes], risk = [index])]
mod index_items {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::create().name("items_by_label").table("items").col("label")).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::drop().name("items_by_label").table("items")).await
    }
}

const ALL: usize = 4;

fn v(version: u64) -> Version {
    Version::try_from(version as i64).unwrap()
}

fn versions(report: &StartupReport) -> Vec<Version> {
    report.applied.iter().map(|s| s.version).collect()
}

on_every_backend!(
    a_start_up_applies_what_is_pending_then_only_reads,
    a_failed_start_up_reports_what_it_applied_before_the_failure,
    a_start_up_gives_up_after_the_lock_timeout,
    a_start_up_uses_the_applications_pool,
    eight_replicas_starting_at_once_apply_each_migration_once,
);

async fn a_start_up_applies_what_is_pending_then_only_reads(backend: Backend) {
    let db = TestDb::new(backend).await;
    let report = Startup::new(&db.url).environment("staging").run().await.unwrap();
    assert_eq!(report.outcome, StartupOutcome::Migrated);
    assert_eq!(versions(&report), [v(20240101000000), v(20240102000000), v(20240103000000), v(20240104000000)]);
    assert!(report.took_lock && report.is_success());
    assert_eq!(report.environment.as_deref(), Some("staging"));
    assert!(report.total >= report.applied.iter().map(|s| s.duration).sum(), "{report:?}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "migrated");
    assert_eq!(json["applied"][0]["name"], "create_items");
    assert!(json["applied"][0]["duration_ms"].is_u64() && json["total_ms"].is_u64(), "{json}");
    assert!(json["failure"].is_null());

    let again = Startup::new(&db.url).run().await.unwrap();
    assert_eq!(again.outcome, StartupOutcome::UpToDate);
    assert!(again.applied.is_empty() && !again.took_lock, "nothing pending: no lock: {again:?}");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, ALL as i64);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log").await, ALL as i64);
}

async fn a_failed_start_up_reports_what_it_applied_before_the_failure(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = Startup::new(&db.url).target(v(20240101000000)).run().await.unwrap();
    assert_eq!(versions(&first), [v(20240101000000)], "only the target and what it depends on");
    let mut inspect = db.inspect().await;
    inspect.execute("INSERT INTO switches (name) VALUES ('far too long for a note')").await;

    let report = Startup::new(&db.url).continue_on_failure().run().await.unwrap();
    assert_eq!(report.outcome, StartupOutcome::Failed);
    assert_eq!(versions(&report), [v(20240102000000)], "applied before the failure: {report:?}");
    let failure = report.failure.as_ref().expect("the failure is reported");
    assert_eq!(failure.version, Some(v(20240103000000)));
    assert!(failure.error.contains("20240103000000 create_notes"), "{}", failure.error);
    assert_eq!(failure.dirty, !backend.transactional_ddl());
    let next = if failure.dirty { Remedy::ResolveDirty { version: v(20240103000000) } } else { Remedy::FixAndRetry };
    assert!(failure.remedies.contains(&next), "{failure:?}");

    let error = Startup::new(&db.url).run().await.unwrap_err();
    if backend.transactional_ddl() {
        assert!(matches!(error, Error::MigrationFailed { dirty: false, .. }), "{error}");
    } else {
        assert!(matches!(error, Error::Dirty { .. }), "MariaDB left it dirty: {error}");
        assert_eq!(error.remedies(), [Remedy::ResolveDirty { version: v(20240103000000) }], "{error}");
    }
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 2);
}

async fn a_start_up_gives_up_after_the_lock_timeout(backend: Backend) {
    let db = TestDb::new(backend).await;
    Startup::new(&db.url).target(v(20240101000000)).run().await.unwrap();
    // Another replica holds a lease that stays fresh for ten minutes.
    let mut inspect = db.inspect().await;
    let fresh_for_ten_minutes =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 600_000;
    inspect
        .execute(&format!(
            "INSERT INTO migrations_rs_lock (id, lock_id, pid, host, since, heartbeat_ms) \
             VALUES (1, 'elsewhere-1', 4242, 'replica-b', '2024-06-01T00:00:00.000Z', {fresh_for_ten_minutes})"
        ))
        .await;
    let lease = || {
        Migrator::from_linked().unwrap().with_lock_options(LockOptions {
            strategy: LockStrategy::Lease,
            poll_interval: Duration::from_millis(50),
            ..LockOptions::default()
        })
    };

    let started = Instant::now();
    let report =
        Startup::new(&db.url).migrator(lease()).lock_timeout(Duration::from_secs(1)).continue_on_failure().run().await;
    let report = report.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "gave up after about a second");
    assert_eq!(report.outcome, StartupOutcome::Failed);
    let failure = report.failure.as_ref().unwrap();
    assert_eq!(failure.version, None);
    assert!(failure.error.contains("held by pid 4242 on replica-b"), "{}", failure.error);

    let error = Startup::new(&db.url).migrator(lease()).lock_timeout(Duration::from_secs(1)).run().await.unwrap_err();
    assert!(matches!(error, Error::Lock(LockError::Timeout { .. })), "{error}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 1, "nothing ran");
}

async fn a_start_up_uses_the_applications_pool(backend: Backend) {
    use migrations_rs::sqlx::pool::PoolOptions;
    use migrations_rs::sqlx::{MySql, Postgres, Sqlite};
    let db = TestDb::new(backend).await;
    let url = db.url.expose();
    let pool: Database = match backend {
        Backend::Sqlite => PoolOptions::<Sqlite>::new().max_connections(1).connect(url).await.map(Database::from),
        Backend::Postgres => PoolOptions::<Postgres>::new().max_connections(1).connect(url).await.map(Database::from),
        Backend::MySql => PoolOptions::<MySql>::new().max_connections(1).connect(url).await.map(Database::from),
    }
    .unwrap();
    assert!(format!("{pool:?}").contains("pool"), "{pool:?}");
    // One pooled connection is enough: the lock opens its own, outside the pool.
    let report = Startup::new(pool.clone()).run().await.unwrap();
    assert_eq!(report.applied.len(), ALL);
    let again = Startup::new(pool.clone()).run().await.unwrap();
    assert_eq!(again.outcome, StartupOutcome::UpToDate);
    let mut conn = pool.connect().await.unwrap();
    let health = Migrator::from_linked().unwrap().health(&mut conn).await.unwrap();
    assert!(health.up_to_date && !health.lock.held, "{health:?}");
}

async fn eight_replicas_starting_at_once_apply_each_migration_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let started = Instant::now();
    let replicas: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { Startup::new(url).lock_timeout(Duration::from_secs(120)).run().await })
        })
        .collect();
    let mut reports = Vec::new();
    for replica in replicas {
        reports.push(replica.await.unwrap().expect("every replica comes up"));
    }
    let elapsed = started.elapsed();
    let applied: Vec<Version> = reports.iter().flat_map(versions).collect();
    assert_eq!(applied.len(), ALL, "each migration applied once in all: {reports:?}");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 4);
    assert_eq!(
        inspect
            .scalar("SELECT count(*) FROM (SELECT DISTINCT version FROM migrations_rs_log WHERE action = 'apply') v")
            .await,
        4
    );
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log").await, 4, "no failures logged");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_lock").await, 0, "the lock was released");

    // A ninth replica starting later finds nothing to do and does not touch the lock.
    let later = Instant::now();
    let ninth = Startup::new(&db.url).run().await.unwrap();
    assert!(!ninth.took_lock && ninth.applied.is_empty());
    eprintln!(
        "{backend}: 8 replicas came up in {} ms ({} took the lock); a later start-up took {} ms",
        elapsed.as_millis(),
        reports.iter().filter(|r| r.took_lock).count(),
        later.elapsed().as_millis()
    );
}
