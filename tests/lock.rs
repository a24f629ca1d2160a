//! The migration lock when things go wrong: commands that read or free the
//! lock while a migration holds it, a holder whose lock is taken from it
//! (its connection killed on the server, or `lock release` from another
//! shell), leases judged by the database's clock and the holder's own
//! stale-after, and a lock table created by an older version.

#[macro_use]
mod support;

use migrations_rs::Backend;
use migrations_rs::http::HttpApi;
use migrations_rs::http::axum::Router;
use std::process::Child;
use std::time::{Duration, Instant};
use support::process::{finish, run, start, text};
use support::{Inspect, TestDb};

const FIXTURE: &str = "test-fixture";
/// The fixture's migrations, all applied by a full `up`.
const FIXTURE_MIGRATIONS: i64 = 5;

/// Polls `sql` (one integer) until it is at least `at_least`, for at most 60 s.
async fn wait_until(inspect: &mut Inspect, sql: &str, at_least: i64) {
    let started = Instant::now();
    while inspect.try_scalar(sql).await.unwrap_or(0) < at_least {
        assert!(started.elapsed() < Duration::from_secs(60), "`{sql}` did not reach {at_least} within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `lock status` says the lock is held.
fn wait_until_held(url: &str, extra: &[&str]) {
    let started = Instant::now();
    loop {
        let args: Vec<&str> = ["lock", "status"].iter().chain(extra).copied().collect();
        let status = run(FIXTURE, url, &args);
        assert!(status.status.success(), "lock status fails while the lock is taken: {}", text(&status.stderr));
        if text(&status.stdout).contains("lock: held by pid") {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the lock was not taken within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every fixture migration is applied, and the audit log shows each applied exactly once.
async fn assert_each_applied_once(inspect: &mut Inspect) {
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await,
        FIXTURE_MIGRATIONS
    );
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await,
        FIXTURE_MIGRATIONS
    );
    assert_eq!(
        inspect
            .scalar("SELECT count(*) FROM (SELECT DISTINCT version FROM migrations_rs_log WHERE action = 'apply') v")
            .await,
        FIXTURE_MIGRATIONS,
        "no migration was applied twice"
    );
}

/// The server session holding the session lock, read from outside.
async fn lock_session(inspect: &mut Inspect, backend: Backend) -> i64 {
    match backend {
        Backend::Postgres => {
            inspect
                .scalar(
                    "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                )
                .await
        }
        _ => {
            inspect
                .scalar(
                    "SELECT CAST(IS_USED_LOCK(CONCAT('migrations-rs:migrations_rs_history@', DATABASE())) AS SIGNED)",
                )
                .await
        }
    }
}

mod session {
    macro_rules! on_session_backends {
        ($($name:ident),* $(,)?) => {
            mod postgres {
                $(#[tokio::test] async fn $name() { super::super::$name(migrations_rs::Backend::Postgres).await })*
            }
            mod mysql {
                $(#[tokio::test] async fn $name() { super::super::$name(migrations_rs::Backend::MySql).await })*
            }
        };
    }

    on_session_backends!(
        lock_status_shows_a_dead_holders_record_as_not_held,
        lock_commands_and_routes_work_while_a_migration_holds_the_lock,
        a_holder_whose_connection_is_killed_stops_before_its_next_step,
        a_holder_whose_lock_is_released_from_another_shell_stops_before_its_next_step,
    );
}

async fn serve(api: HttpApi) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().nest("/migrations", api.router());
    tokio::spawn(async move { migrations_rs::http::axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/migrations")
}

/// A session lock's holder record outlives a holder that died without
/// clearing it: `lock status` shows it, and says nobody holds the lock.
async fn lock_status_shows_a_dead_holders_record_as_not_held(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let fresh = run(FIXTURE, &url, &["lock", "status", "--json"]);
    assert!(fresh.status.success(), "no lock table yet: {}", text(&fresh.stderr));
    let lock: serde_json::Value = serde_json::from_slice(&fresh.stdout).unwrap();
    assert_eq!((lock["held"].as_bool(), lock["holder"].is_null()), (Some(false), true), "{lock}");

    create_tables(&url);
    let mut inspect = db.inspect().await;
    write_lease(&mut inspect, clock_ms(-120_000), "30000").await;
    let status = run(FIXTURE, &url, &["lock", "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let lock: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((lock["held"].as_bool(), lock["holder"]["pid"].as_i64()), (Some(false), Some(4242)), "{lock}");
    assert_eq!(lock["holder"]["host"], "replica-b", "{lock}");
    let age = lock["holder"]["heartbeat_age_ms"].as_i64().unwrap_or_default();
    assert!((119_000..600_000).contains(&age), "the heartbeat's age by the database's clock: {lock}");
}

async fn lock_commands_and_routes_work_while_a_migration_holds_the_lock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let holder = start(FIXTURE, &url, &["up"], &[("FIXTURE_STEP_MS", "1500")]);
    wait_until_held(&url, &[]);

    let status = run(FIXTURE, &url, &["status"]);
    assert_eq!(status.status.code(), Some(3), "not up to date, and no error: {}", text(&status.stderr));
    assert!(text(&status.stdout).contains(&format!("lock: held by pid {}", holder.id())), "{}", text(&status.stdout));
    let json = run(FIXTURE, &url, &["lock", "status", "--json"]);
    let lock: serde_json::Value = serde_json::from_slice(&json.stdout).expect("lock status --json");
    assert_eq!((lock["held"].as_bool(), lock["holder"]["pid"].as_i64()), (Some(true), Some(i64::from(holder.id()))));

    let base = serve(HttpApi::new(&db.url).unwrap().bearer_token("token")).await;
    let http = reqwest::Client::new();
    let response = http.get(format!("{base}/lock")).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let lock: serde_json::Value = response.json().await.unwrap();
    assert_eq!(lock["held"], true, "{lock}");
    let response = http.get(format!("{base}/health")).send().await.unwrap();
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["lock"]["held"], true, "{health}");

    let response = http.post(format!("{base}/lock/release")).bearer_auth("token").send().await.unwrap();
    let status = response.status();
    let released: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "{released}");
    assert_eq!(released["released"]["pid"].as_i64(), Some(i64::from(holder.id())), "{released}");

    let holder = finish(holder);
    assert_eq!(holder.status.code(), Some(1), "{}", text(&holder.stderr));
    assert!(text(&holder.stderr).contains("the migration lock was lost"), "{}", text(&holder.stderr));
    let next = run(FIXTURE, &url, &["up"]);
    assert!(next.status.success(), "{}", text(&next.stderr));
    assert_each_applied_once(&mut db.inspect().await).await;
}

async fn a_holder_whose_connection_is_killed_stops_before_its_next_step(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let mut inspect = db.inspect().await;
    let holder = start(FIXTURE, &url, &["up"], &[("FIXTURE_STEP_MS", "1500")]);
    // Inside the second step, each of which takes 1.5 s.
    wait_until(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'", 1).await;
    let session = lock_session(&mut inspect, backend).await;
    match backend {
        Backend::Postgres => inspect.execute(&format!("SELECT pg_terminate_backend({session})")).await,
        _ => inspect.execute(&format!("KILL {session}")).await,
    }
    let applied_at_kill = inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await;
    let stderr = stops_and_another_process_finishes(&db, &mut inspect, holder, applied_at_kill).await;
    assert!(stderr.contains("the lock's own database connection failed"), "says why: {stderr}");
}

async fn a_holder_whose_lock_is_released_from_another_shell_stops_before_its_next_step(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let mut inspect = db.inspect().await;
    let holder = start(FIXTURE, &url, &["up"], &[("FIXTURE_STEP_MS", "1500")]);
    wait_until(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'", 1).await;
    let released = run(FIXTURE, &url, &["lock", "release", "--yes"]);
    assert!(released.status.success(), "{}", text(&released.stderr));
    assert!(
        text(&released.stdout).contains(&format!("released the migration lock held by pid {}", holder.id())),
        "{}",
        text(&released.stdout)
    );
    let applied_at_release = inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await;
    let stderr = stops_and_another_process_finishes(&db, &mut inspect, holder, applied_at_release).await;
    assert!(stderr.contains("the lock's own database connection failed"), "says why: {stderr}");
}

/// The holder stops before the step after the one it was running when it
/// lost the lock, says so and records it; then another process applies the
/// rest, every migration exactly once.
async fn stops_and_another_process_finishes(
    db: &TestDb,
    inspect: &mut Inspect,
    holder: Child,
    applied_at_loss: i64,
) -> String {
    let holder = finish(holder);
    let stderr = text(&holder.stderr);
    assert_eq!(holder.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the migration lock was lost"), "{stderr}");
    let applied_by_holder = inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await;
    assert!(
        applied_by_holder <= applied_at_loss + 1,
        "the holder finished at most the step it was running: {applied_at_loss} applied at the loss, {applied_by_holder} at its end"
    );
    assert!(applied_by_holder < FIXTURE_MIGRATIONS, "the holder stopped early: {stderr}");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE error LIKE '%the migration lock was lost%'").await,
        1,
        "the audit log records the lost lock"
    );
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state <> 'applied'").await,
        0,
        "nothing is left dirty"
    );
    let next = run(FIXTURE, db.url.expose(), &["up", "--lock-timeout", "30"]);
    assert!(next.status.success(), "{}", text(&next.stderr));
    assert_each_applied_once(inspect).await;
    stderr
}

on_every_backend!(
    a_waiter_judges_a_lease_by_the_holders_stale_after,
    a_lease_with_a_heartbeat_in_the_future_is_not_taken_over,
    a_lease_is_taken_over_only_after_the_holders_own_stale_after,
    a_lock_table_of_the_previous_version_gains_its_new_column,
    a_stale_after_shorter_than_several_heartbeats_is_refused,
    a_holder_whose_lease_is_released_stops_before_its_next_step,
);

async fn a_holder_whose_lease_is_released_stops_before_its_next_step(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let mut inspect = db.inspect().await;
    let holder = start(FIXTURE, &url, &["up", "--lock", "lease"], &[("FIXTURE_STEP_MS", "1500")]);
    wait_until(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'", 1).await;
    let released = run(FIXTURE, &url, &["lock", "release", "--yes", "--lock", "lease"]);
    assert!(released.status.success(), "{}", text(&released.stderr));
    let applied_at_release = inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await;
    let stderr = stops_and_another_process_finishes(&db, &mut inspect, holder, applied_at_release).await;
    assert!(stderr.contains("the lease row was deleted"), "says why: {stderr}");
}

/// Milliseconds since 1970 by this machine's clock, shifted by `offset_ms`.
fn clock_ms(offset_ms: i64) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(now.as_millis()).unwrap() + offset_ms
}

/// Creates the bookkeeping tables with the first migration, leaving the lock free.
fn create_tables(url: &str) {
    let first = run(FIXTURE, url, &["up", "--lock", "lease", "--to", "20240101000000"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
}

/// A lease row of another process, as a live holder on another machine would write it.
async fn write_lease(inspect: &mut Inspect, heartbeat_ms: i64, stale_after_ms: &str) {
    inspect
        .execute(&format!(
            "INSERT INTO migrations_rs_lock (id, lock_id, pid, host, since, heartbeat_ms, stale_after_ms) \
             VALUES (1, 'elsewhere-1', 4242, 'replica-b', '2026-01-01T00:00:00.000Z', {heartbeat_ms}, {stale_after_ms})"
        ))
        .await;
}

async fn a_waiter_judges_a_lease_by_the_holders_stale_after(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let args = ["up", "--lock", "lease", "--to", "20240102000000", "--lock-timeout", "60"];
    // Steps of 3 s: the holder's heartbeat (every 7.5 s of its 30 s) is older
    // than the waiter's 2 s long before the holder finishes.
    let holder_args: Vec<&str> = args.iter().copied().chain(["--stale-lock-after", "30"]).collect();
    let holder = start(FIXTURE, &url, &holder_args, &[("FIXTURE_STEP_MS", "3000")]);
    wait_until_held(&url, &["--lock", "lease"]);
    let waiter_args: Vec<&str> = args.iter().copied().chain(["--stale-lock-after", "2"]).collect();
    let waiter = finish(start(FIXTURE, &url, &waiter_args, &[]));
    let holder = finish(holder);
    assert!(holder.status.success(), "the holder kept its lease: {}", text(&holder.stderr));
    assert!(waiter.status.success(), "{}", text(&waiter.stderr));
    assert!(text(&waiter.stdout).contains("nothing to apply"), "the waiter waited: {}", text(&waiter.stdout));
    assert!(!text(&waiter.stderr).contains("took over"), "{}", text(&waiter.stderr));
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, 2);
}

async fn a_lease_with_a_heartbeat_in_the_future_is_not_taken_over(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    create_tables(&url);
    let mut inspect = db.inspect().await;
    // Written by a holder whose clock runs 60 s ahead, with the waiter's own stale-after.
    write_lease(&mut inspect, clock_ms(60_000), "2000").await;
    let status = run(FIXTURE, &url, &["lock", "status", "--lock", "lease"]);
    assert!(text(&status.stdout).contains("lock: held by pid 4242 on replica-b"), "{}", text(&status.stdout));
    let waiter = run(FIXTURE, &url, &["up", "--lock", "lease", "--lock-timeout", "3", "--stale-lock-after", "2"]);
    assert_eq!(waiter.status.code(), Some(1), "{}", text(&waiter.stdout));
    assert!(
        text(&waiter.stderr).contains("gave up waiting for the migration lock after 3 s: it is held by pid 4242"),
        "{}",
        text(&waiter.stderr)
    );
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_lock WHERE lock_id = 'elsewhere-1'").await, 1);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 1, "nothing more ran");
}

async fn a_lease_is_taken_over_only_after_the_holders_own_stale_after(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    create_tables(&url);
    let mut inspect = db.inspect().await;
    // A heartbeat 10 s old: stale by the waiter's 2 s, live by the holder's 30 s.
    write_lease(&mut inspect, clock_ms(-10_000), "30000").await;
    let waiter = run(FIXTURE, &url, &["up", "--lock", "lease", "--lock-timeout", "2", "--stale-lock-after", "2"]);
    assert_eq!(waiter.status.code(), Some(1), "not taken over: {}", text(&waiter.stdout));
    assert!(text(&waiter.stderr).contains("it is held by pid 4242"), "{}", text(&waiter.stderr));
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 1, "nothing more ran");

    // The same heartbeat, with a holder's stale-after of 5 s: abandoned, even for a waiter of 60 s.
    inspect.execute("UPDATE migrations_rs_lock SET stale_after_ms = 5000").await;
    let waiter = run(FIXTURE, &url, &["up", "--lock", "lease", "--lock-timeout", "10", "--stale-lock-after", "60"]);
    assert!(waiter.status.success(), "{}", text(&waiter.stderr));
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 5);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_lock").await, 0, "released after the run");
}

async fn a_lock_table_of_the_previous_version_gains_its_new_column(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let mut inspect = db.inspect().await;
    inspect
        .execute(
            "CREATE TABLE migrations_rs_lock (id INTEGER NOT NULL PRIMARY KEY, lock_id VARCHAR(64) NOT NULL, \
             pid BIGINT NOT NULL, host VARCHAR(255) NOT NULL, since VARCHAR(32) NOT NULL, heartbeat_ms BIGINT NOT NULL)",
        )
        .await;
    // The previous version wrote its own clock's milliseconds; this holder died a minute ago.
    inspect
        .execute(&format!(
            "INSERT INTO migrations_rs_lock (id, lock_id, pid, host, since, heartbeat_ms) \
             VALUES (1, 'old-1', 4242, 'replica-b', '2026-01-01T00:00:00.000Z', {})",
            clock_ms(-60_000)
        ))
        .await;
    let status = run(FIXTURE, &url, &["lock", "status", "--lock", "lease", "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let lock: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((lock["held"].as_bool(), lock["holder"]["pid"].as_i64()), (Some(false), Some(4242)), "{lock}");
    assert_eq!(lock["holder"]["stale_after_ms"], 30000, "judged by the reader's setting: {lock}");
    let migrator =
        migrations_rs::Migrator::from_linked().unwrap().with_lock_options(migrations_rs::lock::LockOptions {
            strategy: migrations_rs::lock::LockStrategy::Lease,
            ..migrations_rs::lock::LockOptions::default()
        });
    let health = migrator.health(&mut db.connect().await).await.expect("health reads an old lock table");
    assert_eq!((health.lock.held, health.lock.holder.map(|h| h.pid)), (false, Some(4242)));

    let up = run(FIXTURE, &url, &["up", "--lock", "lease"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 5);
    assert_eq!(inspect.scalar("SELECT count(stale_after_ms) FROM migrations_rs_lock").await, 0, "the column exists");
    // The database's own lock records its holder in the upgraded table too.
    let native = run(FIXTURE, &url, &["up"]);
    assert!(native.status.success(), "{}", text(&native.stderr));
}

async fn a_stale_after_shorter_than_several_heartbeats_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    for value in ["0", "1"] {
        let refused = run(FIXTURE, &url, &["up", "--lock", "lease", "--stale-lock-after", value]);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
        let stderr = text(&refused.stderr);
        assert!(stderr.contains("--stale-lock-after") && stderr.contains("at least 2 s"), "{stderr}");
    }
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("migrations_rs_history").await, "nothing was created");
    let migrator =
        migrations_rs::Migrator::from_linked().unwrap().with_lock_options(migrations_rs::lock::LockOptions {
            stale_after: Duration::ZERO,
            ..migrations_rs::lock::LockOptions::default()
        });
    let error = migrator.down(&mut db.connect().await, migrations_rs::RevertScope::Steps(1)).await.unwrap_err();
    assert!(error.to_string().contains("LockOptions::stale_after is 0 ms: it must be at least 2000 ms"), "{error}");
    assert!(!inspect.table_exists("migrations_rs_lock").await, "nothing was created");
}

/// SQLite has one writer at a time: while the holder's migration writes in
/// its transaction, waiters cannot write their lease and the holder's
/// heartbeat cannot renew it. Waiters wait their whole `--lock-timeout` and
/// no longer, saying who holds the lock; nobody takes the lease over.
#[tokio::test]
async fn sqlite_waiters_wait_their_lock_timeout_behind_a_migration_that_writes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let url = db.url.expose().to_owned();
    // create_items writes, then keeps its transaction (and the write lock) open for 8 s:
    // longer than the lock's one-second busy timeout, and than the 2 s stale-after.
    let args = ["up", "--to", "20240101000000", "--stale-lock-after", "2"];
    let holder = start(FIXTURE, &url, &args, &[("FIXTURE_STEP_MS", "8000")]);
    let mut inspect = db.inspect().await;
    wait_until_held(&url, &[]);
    std::thread::sleep(Duration::from_millis(2500));

    let status = run(FIXTURE, &url, &["lock", "status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains(&format!("lock: held by pid {}", holder.id())),
        "a holder whose migration writes holds the lock: {}",
        text(&status.stdout)
    );
    let started = Instant::now();
    let impatient = run(FIXTURE, &url, &["up", "--lock-timeout", "3", "--stale-lock-after", "2"]);
    let waited = started.elapsed();
    let stderr = text(&impatient.stderr);
    assert_eq!(impatient.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("database is locked"), "{stderr}");
    assert!(stderr.contains(&format!("waiting for the migration lock held by pid {}", holder.id())), "{stderr}");
    assert!(stderr.contains("gave up waiting for the migration lock after 3 s"), "{stderr}");
    assert!(waited < Duration::from_secs(6), "gave up after its 3 s, not after the holder: {waited:?}");

    let patient = finish(start(FIXTURE, &url, &[&args[..], &["--lock-timeout", "60"]].concat(), &[]));
    let holder = finish(holder);
    assert!(holder.status.success(), "the holder kept its lease: {}", text(&holder.stderr));
    assert!(patient.status.success(), "{}", text(&patient.stderr));
    assert!(text(&patient.stdout).contains("nothing to apply"), "{}", text(&patient.stdout));
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, 1);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_lock").await, 0);
}

/// A process already waiting gets the lock the moment the holder's lock
/// connection is killed, and runs the step the holder is still in: the holder
/// must roll that step back at its record, so each migration counts once.
#[tokio::test]
async fn postgres_a_waiter_that_gets_a_lost_lock_and_the_holder_apply_each_migration_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.expose().to_owned();
    let mut inspect = db.inspect().await;
    let holder = start(FIXTURE, &url, &["up"], &[("FIXTURE_STEP_MS", "1500")]);
    wait_until(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'", 1).await;
    let waiter = start(FIXTURE, &url, &["up", "--lock-timeout", "60"], &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let session = lock_session(&mut inspect, Backend::Postgres).await;
    inspect.execute(&format!("SELECT pg_terminate_backend({session})")).await;

    let holder = finish(holder);
    let waiter = finish(waiter);
    assert_eq!(holder.status.code(), Some(1), "{}", text(&holder.stderr));
    assert!(text(&holder.stderr).contains("the migration lock was lost"), "{}", text(&holder.stderr));
    assert!(waiter.status.success(), "{}", text(&waiter.stderr));
    assert_each_applied_once(&mut inspect).await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM items").await, 10_000, "fill_items counted once");
    assert_eq!(
        inspect
            .scalar(
                "SELECT count(*) FROM migrations_rs_log WHERE action = 'apply_failed' \
                 AND error NOT LIKE '%the migration lock was lost%'"
            )
            .await,
        0,
        "no failure is logged except as the lost lock it was"
    );
}

/// Creates the table the next migration's body writes into.
#[migrations_rs::migration(version = 2024_09_01_000000, risk = [schema])]
mod create_lease_notes {
    use migrations_rs::prelude::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE lease_notes (id INTEGER)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE lease_notes").await
    }
}

/// Hands the lease to another holder in its own transaction, then writes:
/// what a holder that lost its lease between its last check and its record sees.
#[migrations_rs::migration(version = 2024_09_02_000000, depends_on = [create_lease_notes], risk = [data])]
mod lose_the_lease_then_write {
    use migrations_rs::prelude::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("UPDATE migrations_rs_lock SET lock_id = 'another-holder', pid = 4242 WHERE id = 1").await?;
        db.exec("INSERT INTO lease_notes (id) VALUES (1)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DELETE FROM lease_notes").await
    }
}

/// A step in a transaction whose lease no longer names its holder when it
/// is recorded writes nothing: on SQLite the record's own writes are
/// conditional on the lease (it was renewed less than half a heartbeat
/// interval before), on PostgreSQL the record renews it.
async fn a_step_whose_lease_is_gone_when_it_is_recorded_commits_nothing(backend: Backend) {
    use migrations_rs::lock::{LockOptions, LockStrategy};
    use migrations_rs::registry::Registry;
    use migrations_rs::{Connection, Migrator, Scope};

    let db = TestDb::new(backend).await;
    let linked = Registry::from_linked().unwrap();
    let chosen = linked.in_order().filter(|m| m.version.as_u64() >= 20240901000000);
    let migrator = Migrator::new(Registry::new(chosen).unwrap())
        .with_lock_options(LockOptions { strategy: LockStrategy::Lease, ..LockOptions::default() });
    let mut conn = Connection::connect(&db.url).await.unwrap();
    let error = migrator.up(&mut conn, Scope::All).await.unwrap_err().to_string();
    assert!(error.contains("20240902000000 lose_the_lease_then_write"), "{error}");
    assert!(error.contains("the migration lock was lost: the lease is now held by pid 4242"), "{error}");
    assert!(error.contains("nothing of it was committed"), "{error}");
    conn.close().await.unwrap();

    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM lease_notes").await, 0, "the step's row was rolled back");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE version = 20240902000000").await,
        0,
        "the step is not recorded"
    );
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 1);
}

#[tokio::test]
async fn sqlite_a_step_whose_lease_is_gone_when_it_is_recorded_commits_nothing() {
    a_step_whose_lease_is_gone_when_it_is_recorded_commits_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_step_whose_lease_is_gone_when_it_is_recorded_commits_nothing() {
    a_step_whose_lease_is_gone_when_it_is_recorded_commits_nothing(Backend::Postgres).await;
}
