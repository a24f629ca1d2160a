//! `lock status` shows what a waiting step waits on: while one session holds
//! a table in an open transaction, running a long read of it, and a
//! migration's `ALTER` of that table waits with a long lock wait, the lock
//! status read from a third connection names the session that runs the
//! steps, what it waits for, and the blocking session with its query; once
//! the blocker commits, the migration finishes. Through the library, the
//! command line (`lock status`, table and `--json`). On SQLite it says
//! plainly that this is not available.

#[macro_use]
mod support;

use migrations_rs::lock::StepWaits;
use migrations_rs::prelude::*;
use migrations_rs::{Migrator, Scope, Version};
use std::time::{Duration, Instant};
use support::TestDb;

#[migration(version = 2024_05_01_000000, risk = [schema])]
pub mod create_queue {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE queue (id INTEGER)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE queue").await
    }
}

// Waits behind the blocker for as long as it reads.
#[migration(version = 2024_05_02_000000, depends_on = [create_queue], risk = [schema], lock_wait = "60s")]
pub mod widen_queue {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE queue ADD COLUMN note VARCHAR(20)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE queue DROP COLUMN note").await
    }
}

fn version(n: u64) -> Version {
    Version::parse(&n.to_string()).unwrap()
}

/// How long the blocker's read runs.
const BLOCKER_READS: Duration = Duration::from_secs(6);

/// `lock status` run in this process, on a thread of its own (it runs its own runtime).
async fn cli_lock_status(url: &str, json: bool) -> String {
    let mut args = vec!["lock".to_owned(), "status".to_owned(), "--database-url".to_owned(), url.to_owned()];
    if json {
        args.push("--json".to_owned());
    }
    let (code, out, err) =
        tokio::task::spawn_blocking(move || std::thread::spawn(move || support::cli_in_process(&args)).join().unwrap())
            .await
            .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS, "lock status failed: {err}");
    out
}

async fn lock_status_names_the_blocking_session_and_its_query(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = Migrator::from_linked().unwrap();
    migrator.up(&mut conn, Scope::UpTo(version(20240501000000))).await.unwrap();

    // The blocker: an open transaction that read the table, now running a long read of it.
    let mut blocker = db.inspect().await;
    let blocker_id = blocker
        .scalar(match backend {
            Backend::Postgres => "SELECT pg_backend_pid()::bigint",
            _ => "SELECT CAST(CONNECTION_ID() AS SIGNED)",
        })
        .await;
    blocker.execute("BEGIN").await;
    blocker.execute("SELECT count(*) FROM queue").await;
    let long_read = match backend {
        Backend::Postgres => format!("SELECT (SELECT count(*) FROM queue), pg_sleep({})", BLOCKER_READS.as_secs()),
        _ => format!("SELECT (SELECT count(*) FROM queue), SLEEP({})", BLOCKER_READS.as_secs()),
    };
    let reading = tokio::spawn(async move {
        blocker.execute(&long_read).await;
        blocker.execute("COMMIT").await;
    });

    let started = Instant::now();
    let run = tokio::spawn(async move { migrator.up(&mut conn, Scope::UpTo(version(20240502000000))).await });

    // From a third connection: the steps' session waits, blocked by the reader.
    let reader = Migrator::from_linked().unwrap();
    let mut third = db.connect().await;
    let waits = loop {
        let status = reader.lock_status(&mut third).await.unwrap();
        if let Some(StepWaits::Session(waits)) = &status.waits
            && !waits.blockers.is_empty()
        {
            break waits.clone();
        }
        assert!(started.elapsed() < BLOCKER_READS, "{backend}: no blocker shown before the read ended: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let waiting_for = waits.session.waiting_for.clone().unwrap_or_default();
    match backend {
        Backend::Postgres => assert_eq!(waiting_for, "Lock: relation", "{waits:?}"),
        _ => assert_eq!(waiting_for, "Waiting for table metadata lock", "{waits:?}"),
    }
    assert!(waits.session.query.as_deref().unwrap_or_default().contains("ALTER TABLE queue"), "{waits:?}");
    assert_ne!(waits.session.id, blocker_id);
    let found = waits.blockers.iter().find(|b| b.id == blocker_id).unwrap_or_else(|| panic!("{waits:?}"));
    assert!(found.query.as_deref().unwrap_or_default().contains("FROM queue"), "{found:?}");
    assert!(found.transaction_ms.is_some() && found.query_ms.is_some(), "{found:?}");
    assert!(!waits.found_by.is_empty());

    // The command line shows the same, as a table and as JSON.
    let url = db.url.expose().to_owned();
    let text = cli_lock_status(&url, false).await;
    assert!(text.contains(&format!("steps run in session {}", waits.session.id)), "{text}");
    assert!(text.contains(&waiting_for) && text.contains("blocked by"), "{text}");
    let waits_lines = text.lines().skip_while(|line| !line.starts_with("steps run"));
    assert!(waits_lines.into_iter().all(|line| line.chars().count() <= 100), "fits 100 columns: {text}");
    assert!(text.contains(&blocker_id.to_string()) && text.contains("FROM queue"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&cli_lock_status(&url, true).await).unwrap();
    assert_eq!(json["waits"]["kind"], "session", "{json}");
    assert_eq!(json["waits"]["session"]["id"], waits.session.id, "{json}");
    let blockers = json["waits"]["blockers"].as_array().unwrap_or_else(|| panic!("{json}"));
    assert!(blockers.iter().any(|b| b["id"] == blocker_id && b["query"].as_str().unwrap().contains("FROM queue")));

    // Once the blocker commits, the migration finishes.
    reading.await.unwrap();
    let report = run.await.unwrap().unwrap_or_else(|error| panic!("{backend}: the run failed: {error}"));
    assert_eq!(report.applied.len(), 1);
    assert!(started.elapsed() >= BLOCKER_READS - Duration::from_secs(1), "applied before the blocker ended");
    let after = reader.lock_status(&mut third).await.unwrap();
    assert!(!after.held);
    assert!(matches!(after.waits, Some(StepWaits::NoSession { .. })), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_status_names_the_blocking_session_and_its_query() {
    lock_status_names_the_blocking_session_and_its_query(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_lock_status_names_the_blocking_session_and_its_query() {
    lock_status_names_the_blocking_session_and_its_query(Backend::MySql).await;
}

/// SQLite shows no other connection's locks, and `lock status` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_says_what_a_step_waits_on_is_not_available() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut conn = db.connect().await;
    let migrator = Migrator::from_linked().unwrap();
    migrator.up(&mut conn, Scope::UpTo(version(20240501000000))).await.unwrap();
    let status = migrator.lock_status(&mut conn).await.unwrap();
    let Some(StepWaits::Unavailable { reason }) = &status.waits else { panic!("{status:?}") };
    assert!(reason.contains("SQLite"), "{reason}");
    let text = cli_lock_status(db.url.expose(), false).await;
    assert!(text.contains("waits on: not available (SQLite"), "{text}");
}
