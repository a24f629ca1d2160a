//! Lock waits: a migration's statement that meets a lock held by another
//! session's open transaction gives up after the lock wait instead of
//! queueing (and holding every later reader in the queue behind it), its
//! step is rolled back and tried again, and it succeeds once the holder
//! commits; a holder that never lets go fails the run after its tries,
//! with nothing half applied. On SQLite the holder is another connection's
//! write transaction, and the wait is the busy timeout. The migration's own
//! `lock_wait` is the one that counts, over the run's.

#[macro_use]
mod support;

use migrations_rs::history::{Action, LogQuery};
use migrations_rs::migrator::{Progress, StatementLimits};
use migrations_rs::prelude::*;
use migrations_rs::{Connection, Migrator, RevertScope, Scope, Version};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Inspect, TestDb};
use tokio::sync::Notify;

#[migration(version = 2024_03_01_000000, risk = [schema])]
pub mod create_queue {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE queue (id INTEGER)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE queue").await
    }
}

// Its own lock wait wins over the run's (see `with_queue`).
#[migration(version = 2024_03_02_000000, depends_on = [create_queue], risk = [schema], lock_wait = "300ms")]
pub mod widen_queue {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        if db.backend() == Backend::Sqlite {
            // The holder starts writing once this step has started (see `with_queue`).
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        db.exec("ALTER TABLE queue ADD COLUMN note VARCHAR(20)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE queue DROP COLUMN note").await
    }
}

// Outside a transaction: a statement that gives up cannot be rolled back with
// what ran before it, so the step is not tried again.
#[migration(version = 2024_03_03_000000, depends_on = [create_queue], risk = [schema], transaction = false, lock_wait = "300ms")]
pub mod widen_queue_outside_a_transaction {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE queue ADD COLUMN other VARCHAR(20)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE queue DROP COLUMN other").await
    }
}

// Without a lock wait of its own, after two steps that had one: writes down the one its statements get.
#[migration(version = 2024_03_04_000000, depends_on = [widen_queue, widen_queue_outside_a_transaction])]
pub mod read_lock_wait {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let wait = session_lock_wait(db).await?;
        LOCK_WAITS_SEEN.lock().unwrap().push((db.backend(), wait));
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// The lock waits `read_lock_wait` found, one per run, by backend (the tests of the three run side by side).
static LOCK_WAITS_SEEN: std::sync::Mutex<Vec<(Backend, String)>> = std::sync::Mutex::new(Vec::new());

/// How long a statement of this session waits for a lock, as the database shows it.
async fn session_lock_wait(db: &mut Db<'_>) -> Result<String> {
    let read = match db.backend() {
        Backend::Postgres => "SELECT current_setting('lock_timeout') AS wait",
        Backend::MySql => "SELECT CAST(@@SESSION.innodb_lock_wait_timeout AS CHAR) AS wait",
        Backend::Sqlite => "PRAGMA busy_timeout",
    };
    let rows = db.fetch_all(read).await?;
    let row = rows.first().ok_or_else(|| Error::msg("no row"))?;
    match db.backend() {
        Backend::Sqlite => Ok(row.get::<i64>("timeout")?.to_string()),
        _ => row.get::<String>("wait"),
    }
}

/// The version of `widen_queue`.
const WIDEN: u64 = 20240302000000;

/// How long each statement of `widen_queue` waits for a lock, as its
/// attribute says (MySQL/MariaDB round it up to 1 s).
const LOCK_WAIT: Duration = Duration::from_millis(300);

/// The run's lock wait, longer than any test: `widen_queue`'s own wins.
const RUN_LOCK_WAIT: Duration = Duration::from_secs(30);

fn version(n: u64) -> Version {
    Version::parse(&n.to_string()).unwrap()
}

/// A database with `queue` created, a migrator that tries each step `tries`
/// times, and what it notifies when `widen_queue` starts.
async fn with_queue(backend: Backend, tries: u32) -> (TestDb, Connection, Migrator, Arc<Notify>) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let widening = Arc::new(Notify::new());
    let notify = widening.clone();
    let migrator = Migrator::from_linked()
        .unwrap()
        .with_statement_limits(StatementLimits { lock_wait: RUN_LOCK_WAIT, lock_tries: tries, statement_timeout: None })
        .on_progress(move |progress| {
            if let Progress::Started { migration, .. } = progress
                && migration.name == "widen_queue"
            {
                notify.notify_one();
            }
        });
    migrator.up(&mut conn, Scope::UpTo(version(20240301000000))).await.unwrap();
    (db, conn, migrator, widening)
}

/// A session whose open transaction holds a lock on `queue`: it read the
/// table (PostgreSQL's ACCESS SHARE, MySQL/MariaDB's metadata lock), or on
/// SQLite holds the database's write lock.
async fn held_table(db: &TestDb) -> Inspect {
    let mut holder = db.inspect().await;
    if db.backend == Backend::Sqlite {
        holder.execute("BEGIN IMMEDIATE").await;
    } else {
        holder.execute("BEGIN").await;
        holder.execute("SELECT count(*) FROM queue").await;
    }
    holder
}

/// Commits the holder's transaction after `after`, from a task of its own.
fn release_after(mut holder: Inspect, after: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        holder.execute("COMMIT").await;
    })
}

/// Whether `queue` has the column `widen_queue` adds.
async fn widened(db: &TestDb) -> bool {
    db.inspect().await.try_scalar("SELECT count(note) FROM queue").await.is_some()
}

async fn gives_up_retries_and_succeeds_once_the_holder_commits(backend: Backend) {
    let (db, mut conn, migrator, widening) = with_queue(backend, 5).await;
    let holder = if backend == Backend::Sqlite {
        // The run takes its lease (a write) first; the holder starts while the body sleeps.
        None
    } else {
        Some(held_table(&db).await)
    };
    let started = Instant::now();
    let run = tokio::spawn(async move {
        let report = migrator.up(&mut conn, Scope::UpTo(version(WIDEN))).await;
        (report, conn)
    });
    let released = match holder {
        Some(holder) => release_after(holder, Duration::from_millis(1500)),
        None => {
            widening.notified().await;
            let holder = held_table(&db).await;
            release_after(holder, Duration::from_millis(1450))
        }
    };
    if backend == Backend::Postgres {
        // A reader queues behind the ALTER only while the ALTER waits: at most the lock wait.
        let mut reader = db.inspect().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        while started.elapsed() < Duration::from_millis(1300) {
            let read = Instant::now();
            reader.scalar("SELECT count(*) FROM queue").await;
            assert!(
                read.elapsed() < LOCK_WAIT + Duration::from_millis(500),
                "a reader waited {:?} behind the migration",
                read.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let (report, _conn) = run.await.unwrap();
    released.await.unwrap();
    let report = report.unwrap_or_else(|error| panic!("the run failed: {error}"));
    assert_eq!(report.applied.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(1400), "applied before the holder committed");
    assert!(widened(&db).await);
    each_retry_is_in_the_audit_log(&db).await;
}

/// One `lock_retry` entry per try that gave up, numbered from the first,
/// each with the pause before the next and the database's error, through
/// the library and `history --json`.
async fn each_retry_is_in_the_audit_log(db: &TestDb) {
    let mut conn = db.connect().await;
    let query = LogQuery { action: Some(Action::LockRetry), ..LogQuery::default() };
    let retries = Migrator::from_linked().unwrap().history(&mut conn, &query).await.unwrap();
    assert!(!retries.is_empty(), "{}: no retry logged", db.backend);
    for (n, retry) in retries.iter().rev().enumerate() {
        assert_eq!((retry.version, retry.name.as_str()), (version(WIDEN), "widen_queue"));
        let note = retry.note.as_deref().unwrap_or_default();
        assert!(note.starts_with(&format!("try {} of 5 gave up after a lock wait of 300 ms", n + 1)), "{note}");
        assert!(note.contains("the next try starts in") && note.contains("The database said:"), "{note}");
        assert!(retry.duration_ms >= 250, "{retry:?}");
    }
    let args = ["history", "--json", "--action", "lock_retry", "--database-url", db.url.expose()].map(String::from);
    // The command line runs a runtime of its own: not on this one's thread.
    let (code, out, err) = std::thread::spawn(move || support::cli_in_process(&args)).join().unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let entries = json.as_array().unwrap_or_else(|| panic!("{json}"));
    assert_eq!(entries.len(), retries.len(), "{json}");
    assert!(entries.iter().all(|e| e["action"] == "lock_retry" && e["note"].as_str().is_some()), "{json}");
}

async fn a_holder_that_never_lets_go_fails_the_run_after_its_tries(backend: Backend) {
    // On SQLite the run's lease heartbeat waits for the holder too, so each try takes longer.
    let tries = if backend == Backend::Sqlite { 2 } else { 3 };
    let (db, mut conn, migrator, widening) = with_queue(backend, tries).await;
    let run = async move { migrator.up(&mut conn, Scope::UpTo(version(WIDEN))).await };
    let (outcome, holder) = if backend == Backend::Sqlite {
        // Let go only after the tries, so that the failure can be written to the audit log.
        let run = tokio::spawn(run);
        widening.notified().await;
        let released = release_after(held_table(&db).await, Duration::from_millis(4500));
        let outcome = run.await.unwrap();
        released.await.unwrap();
        (outcome, None)
    } else {
        let holder = held_table(&db).await;
        (run.await, Some(holder))
    };
    let error = outcome.expect_err("the run cannot get its lock");
    let Error::MigrationFailed { cause, dirty, .. } = &error else { panic!("not MigrationFailed: {error}") };
    assert!(!dirty, "{error}");
    assert!(
        matches!(**cause, Error::LockWaitExhausted { tries: t, lock_wait_ms: 300, retryable: true, .. } if t == tries),
        "{cause:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&format!("tried {tries} times")) && message.contains("lock"), "{message}");
    assert!(
        error.remedies().iter().any(|r| matches!(r, migrations_rs::error::Remedy::RetryWhenTableFree { .. })),
        "{:?}",
        error.remedies()
    );
    if let Some(mut holder) = holder {
        holder.execute("COMMIT").await;
    }
    let mut inspect = db.inspect().await;
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE version = 20240302000000").await,
        0,
        "nothing of the failed step is recorded"
    );
    assert!(!widened(&db).await, "nothing of the failed step is applied");
    // Each try but the last is a retry in the log, and the failure is the newest entry.
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'lock_retry'").await,
        i64::from(tries - 1)
    );
    assert_eq!(
        inspect.strings("SELECT action FROM migrations_rs_log ORDER BY id DESC").await[0],
        "apply_failed",
        "{backend}"
    );
}

/// A step outside a transaction that gives up on a lock fails at once, as
/// dirty: what it did before cannot be told, so it is not run again blindly.
async fn a_step_outside_a_transaction_is_not_tried_again(backend: Backend) {
    let (db, mut conn, migrator, _) = with_queue(backend, 5).await;
    let mut holder = held_table(&db).await;
    let started = Instant::now();
    let outcome = migrator.up(&mut conn, Scope::UpTo(version(20240303000000))).await;
    holder.execute("COMMIT").await;
    let error = outcome.expect_err("the step cannot get its lock");
    let Error::MigrationFailed { cause, dirty, .. } = &error else { panic!("not MigrationFailed: {error}") };
    assert!(dirty, "{error}");
    assert!(matches!(**cause, Error::LockWaitExhausted { tries: 1, retryable: false, .. }), "{cause:?}");
    assert!(error.to_string().contains("not tried again"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3), "tried again: {:?}", started.elapsed());
}

#[tokio::test]
async fn postgres_a_step_outside_a_transaction_is_not_tried_again() {
    a_step_outside_a_transaction_is_not_tried_again(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_a_step_outside_a_transaction_is_not_tried_again() {
    a_step_outside_a_transaction_is_not_tried_again(Backend::MySql).await;
}

on_every_backend!(
    gives_up_retries_and_succeeds_once_the_holder_commits,
    a_holder_that_never_lets_go_fails_the_run_after_its_tries,
    the_run_s_lock_wait_holds_for_its_steps_and_the_session_gets_its_own_back,
);

/// The session's lock wait and statement timeout, read on the pool's one connection.
async fn pooled_session_settings(pool: &Pool) -> String {
    match pool {
        Pool::Sqlite(pool) => {
            sqlx::query_scalar::<_, i64>("PRAGMA busy_timeout").fetch_one(pool).await.unwrap().to_string()
        }
        Pool::Postgres(pool) => {
            sqlx::query_scalar("SELECT current_setting('lock_timeout') || ' ' || current_setting('statement_timeout')")
                .fetch_one(pool)
                .await
                .unwrap()
        }
        Pool::MySql(pool) => sqlx::query_scalar(
            "SELECT CAST(CONCAT(@@SESSION.lock_wait_timeout, ' ', @@SESSION.innodb_lock_wait_timeout, ' ', \
             @@SESSION.max_statement_time) AS CHAR)",
        )
        .fetch_one(pool)
        .await
        .unwrap(),
    }
}

/// An application's pool of one connection, of any backend.
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

/// A run sets its lock wait on its connection for its steps, a step with a
/// lock wait of its own has it for that step only, and the connection goes
/// back to the application's pool with the session's own lock wait and
/// statement timeout as they were, after a run that succeeded and, where a
/// table's lock can be held without holding the run's lease, after one that
/// failed.
async fn the_run_s_lock_wait_holds_for_its_steps_and_the_session_gets_its_own_back(backend: Backend) {
    use sqlx::pool::PoolOptions;
    let db = TestDb::new(backend).await;
    let url = db.url.expose();
    let pool = match backend {
        Backend::Sqlite => Pool::Sqlite(PoolOptions::new().max_connections(1).connect(url).await.unwrap()),
        Backend::Postgres => Pool::Postgres(PoolOptions::new().max_connections(1).connect(url).await.unwrap()),
        Backend::MySql => Pool::MySql(PoolOptions::new().max_connections(1).connect(url).await.unwrap()),
    };
    let database: migrations_rs::Database = match &pool {
        Pool::Sqlite(pool) => pool.into(),
        Pool::Postgres(pool) => pool.into(),
        Pool::MySql(pool) => pool.into(),
    };
    let before = pooled_session_settings(&pool).await;
    let limits =
        StatementLimits { lock_wait: RUN_LOCK_WAIT, lock_tries: 1, statement_timeout: Some(Duration::from_secs(600)) };
    let migrator = Migrator::from_linked().unwrap().with_statement_limits(limits);
    let mut conn = database.connect().await.unwrap();
    migrator.up(&mut conn, Scope::All).await.unwrap();
    drop(conn);
    let run_wait = match backend {
        Backend::Postgres => "30s",
        Backend::MySql => "30",
        Backend::Sqlite => "30000",
    };
    let seen: Vec<String> =
        LOCK_WAITS_SEEN.lock().unwrap().iter().filter(|(b, _)| *b == backend).map(|(_, wait)| wait.clone()).collect();
    assert_eq!(seen, [run_wait], "the run's lock wait, after two steps with their own");
    assert_eq!(pooled_session_settings(&pool).await, before, "after a run that succeeded");

    if backend == Backend::Sqlite {
        // The holder would keep the run from its lease, before any step.
        return;
    }
    // A step whose statement gives up on a lock fails the run.
    let mut conn = database.connect().await.unwrap();
    migrator.down(&mut conn, RevertScope::To(version(20240301000000))).await.unwrap();
    let mut holder = held_table(&db).await;
    let failed = migrator.up(&mut conn, Scope::All).await;
    holder.execute("COMMIT").await;
    drop(conn);
    assert!(failed.is_err(), "the holder kept the step from its lock");
    assert_eq!(pooled_session_settings(&pool).await, before, "after a run that failed");
}

/// A lock wait of zero, or one that is not a duration, is refused before
/// anything runs, naming the flag or the environment's key.
#[test]
fn a_zero_or_malformed_wait_is_refused_naming_the_flag_or_key() {
    let (_, _, err) = support::cli_in_process(&["up", "--lock-wait", "0s"]);
    assert!(err.contains("--lock-wait") && err.contains("zero"), "{err}");
    let (_, _, err) = support::cli_in_process(&["up", "--statement-timeout", "5h"]);
    assert!(err.contains("--statement-timeout") && err.contains("unknown unit"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("migrations.toml");
    std::fs::write(&config, "[environments.slow]\ndatabase_url = \"sqlite::memory:\"\nlock_wait = \"soon\"\n").unwrap();
    let (_, _, err) = support::cli_in_process(&["up", "--config", config.to_str().unwrap(), "--env", "slow"]);
    assert!(err.contains("`lock_wait` of environment `slow`") && err.contains("not a duration"), "{err}");
}
