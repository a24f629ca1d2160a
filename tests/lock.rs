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
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, FIXTURE_MIGRATIONS);
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
                .scalar("SELECT CAST(IS_USED_LOCK(CONCAT('migrations-rs:migrations_rs_history@', DATABASE())) AS SIGNED)")
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
    stops_and_another_process_finishes(&db, &mut inspect, holder, applied_at_kill).await;
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
    stops_and_another_process_finishes(&db, &mut inspect, holder, applied_at_release).await;
}

/// The holder stops before the step after the one it was running when it
/// lost the lock, says so and records it; then another process applies the
/// rest, every migration exactly once.
async fn stops_and_another_process_finishes(db: &TestDb, inspect: &mut Inspect, holder: Child, applied_at_loss: i64) {
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
}
