//! Several processes at once (16 racing for the lock on each backend, with the
//! database's own lock and with a lease), and processes that die: the lock,
//! the concurrent index build on PostgreSQL, and crash recovery on each backend.

#[macro_use]
mod support;

use migrations_rs::Backend;
use std::process::{Child, Output};
use std::time::{Duration, Instant};
use support::TestDb;
use support::process::{finish, run, start, text, wait_for};

on_every_backend!(
    sixteen_processes_apply_every_migration_exactly_once,
    sixteen_processes_share_a_lease_lock,
    a_process_killed_mid_migration_leaves_a_documented_state,
    a_panicking_migration_releases_the_lock,
    a_waiting_process_gives_up_after_the_lock_timeout,
);

/// How many processes race for the lock in the race tests.
const RACERS: usize = 16;
/// The whole race, start to last exit, stays within this.
const RACE_LIMIT: Duration = Duration::from_secs(90);

/// Starts [`RACERS`] processes of `up` at once and waits for them all, within [`RACE_LIMIT`].
fn race(url: &str, args: &[&str]) -> Vec<Output> {
    let started = Instant::now();
    let children: Vec<Child> = (0..RACERS).map(|_| start("migrate", url, args, &[])).collect();
    let outputs: Vec<Output> = children.into_iter().map(finish).collect();
    assert!(started.elapsed() < RACE_LIMIT, "{RACERS} processes took {:?}", started.elapsed());
    for output in &outputs {
        assert!(output.status.success(), "every process exits 0: {}", text(&output.stderr));
    }
    let applied_lines: usize =
        outputs.iter().map(|o| text(&o.stdout).lines().filter(|l| l.starts_with("applied ")).count()).sum();
    assert_eq!(applied_lines, 8, "the 8 migrations were applied once in all");
    outputs
}

async fn sixteen_processes_share_a_lease_lock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    race(&url, &["up", "--lock", "lease", "--lock-timeout", "120"]);
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, 8);
    assert_eq!(
        inspect
            .scalar("SELECT count(*) FROM (SELECT DISTINCT version FROM migrations_rs_log WHERE action = 'apply') v")
            .await,
        8
    );
    let status = run("migrate", &url, &["lock", "status", "--lock", "lease"]);
    assert!(text(&status.stdout).contains("lock: free"), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains("lease row with heartbeat"), "{}", text(&status.stdout));
}

async fn a_panicking_migration_releases_the_lock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let panicked = finish(start("test-fixture", &url, &["up"], &[("FIXTURE_PANIC", "1")]));
    assert!(!panicked.status.success());
    assert!(text(&panicked.stderr).contains("asked to panic"), "{}", text(&panicked.stderr));
    let status = run("test-fixture", &url, &["lock", "status"]);
    assert!(text(&status.stdout).contains("lock: free"), "released on the way out: {}", text(&status.stdout));
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_lock").await, 0);
}

async fn a_waiting_process_gives_up_after_the_lock_timeout(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let holder = start("test-fixture", &url, &["up", "--to", "20240103000000"], &[("FIXTURE_PAUSE_MS", "4000")]);
    std::thread::sleep(Duration::from_millis(1500));
    let impatient = run("test-fixture", &url, &["up", "--lock-timeout", "1"]);
    assert_eq!(impatient.status.code(), Some(1));
    let stderr = text(&impatient.stderr);
    assert!(stderr.contains("waiting for the migration lock held by pid"), "{stderr}");
    assert!(stderr.contains("gave up waiting for the migration lock after 1 s: it is held by pid"), "{stderr}");
    assert!(stderr.contains("lock release"), "says what to do: {stderr}");
    assert!(finish(holder).status.success());
}

async fn sixteen_processes_apply_every_migration_exactly_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    race(&url, &["up", "--lock-timeout", "120"]);

    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 8);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, 8);
    assert_eq!(
        inspect
            .scalar("SELECT count(*) FROM (SELECT DISTINCT version FROM migrations_rs_log WHERE action = 'apply') v")
            .await,
        8,
        "the audit log shows each migration applied once"
    );
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_lock").await, 0, "the lock was released");
}

async fn a_process_killed_mid_migration_leaves_a_documented_state(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("inside");
    let mut victim = start(
        "test-fixture",
        &url,
        &["up", "--stale-lock-after", "2"],
        &[("FIXTURE_CRASH_MARKER", marker.to_str().unwrap())],
    );
    wait_for(&marker, Duration::from_secs(120));
    victim.kill().expect("SIGKILL the migrating process");
    victim.wait().unwrap();

    let mut inspect = db.inspect().await;
    let crash_point = "SELECT count(*) FROM migrations_rs_history WHERE version = 20240104000000";
    if backend.transactional_ddl() {
        // The transaction died with the process: no table, no history row.
        assert!(!inspect.table_exists("crash_probe").await);
        assert_eq!(inspect.scalar(crash_point).await, 0);
        assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 3);
        if backend == Backend::Sqlite {
            // The lease of the dead process remains until it goes stale or is released.
            let status = run("test-fixture", &url, &["lock", "status", "--stale-lock-after", "60"]);
            assert!(text(&status.stdout).contains("lock: held by pid"), "{}", text(&status.stdout));
            let refused = run("test-fixture", &url, &["lock", "release"]);
            assert_eq!(refused.status.code(), Some(1));
            assert!(text(&refused.stderr).contains("pass --yes"), "{}", text(&refused.stderr));
            let released = run("test-fixture", &url, &["lock", "release", "--yes"]);
            assert!(
                text(&released.stdout).contains("released the migration lock held by pid"),
                "{}",
                text(&released.stdout)
            );
        }
        let next = run("test-fixture", &url, &["up", "--stale-lock-after", "60", "--lock-timeout", "10"]);
        assert!(next.status.success(), "{}", text(&next.stderr));
        assert!(text(&next.stdout).contains("applied  20240104000000 crash_point"), "{}", text(&next.stdout));
    } else {
        // MariaDB committed the CREATE TABLE; the migration is recorded as dirty.
        assert!(inspect.table_exists("crash_probe").await);
        assert_eq!(
            inspect.strings("SELECT state FROM migrations_rs_history WHERE version = 20240104000000").await,
            ["applying"]
        );
        let next = run("test-fixture", &url, &["up"]);
        assert_eq!(next.status.code(), Some(1));
        let stderr = text(&next.stderr);
        assert!(stderr.contains("20240104000000 crash_point was left partly applied"), "{stderr}");
        assert!(
            stderr.contains("mark-applied 20240104000000") && stderr.contains("mark-reverted 20240104000000"),
            "{stderr}"
        );
        let status = run("test-fixture", &url, &["status"]);
        assert!(text(&status.stdout).contains("DIRTY: apply did not finish"), "{}", text(&status.stdout));
        // The table is all the migration does, so its change is complete.
        let resolved = run("test-fixture", &url, &["mark-applied", "20240104000000"]);
        assert!(resolved.status.success(), "{}", text(&resolved.stderr));
        let after = run("test-fixture", &url, &["up"]);
        assert!(after.status.success(), "{}", text(&after.stderr));
        assert!(!text(&after.stdout).contains("crash_point"), "it is not run again: {}", text(&after.stdout));
    }
    assert_eq!(
        inspect.strings("SELECT state FROM migrations_rs_history WHERE version = 20240104000000").await,
        ["applied"]
    );
}

#[tokio::test]
async fn create_index_concurrently_completes_while_other_processes_wait_for_the_lock() {
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.expose().to_owned();
    let args = ["up", "--to", "20240103000000", "--lock-timeout", "60"];
    // The first process pauses under the lock before building the index, so the others queue behind it.
    let first = start("test-fixture", &url, &args, &[("FIXTURE_PAUSE_MS", "2500")]);
    std::thread::sleep(Duration::from_millis(800));
    let status = run("test-fixture", &url, &["lock", "status"]);
    assert!(text(&status.stdout).contains("lock: held by pid"), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains("PostgreSQL advisory lock"), "{}", text(&status.stdout));
    let waiters: Vec<Child> = (0..7).map(|_| start("test-fixture", &url, &args, &[])).collect();

    let started = Instant::now();
    let first = finish(first);
    let waiters: Vec<Output> = waiters.into_iter().map(finish).collect();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied  20240103000000 index_items_concurrently"),
        "{}",
        text(&first.stdout)
    );
    assert!(started.elapsed() < Duration::from_secs(50), "the index build did not wait for the queued processes");
    for waiter in &waiters {
        assert!(waiter.status.success(), "{}", text(&waiter.stderr));
        assert!(text(&waiter.stdout).contains("nothing to apply"), "{}", text(&waiter.stdout));
    }
    assert!(
        waiters.iter().any(|w| text(&w.stderr).contains("waiting for the migration lock held by pid")),
        "the others said whom they waited for"
    );
    let mut inspect = db.inspect().await;
    let valid = inspect
        .scalar("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'items_by_label' AND i.indisvalid")
        .await;
    assert_eq!(valid, 1, "the concurrently built index is valid");
}
