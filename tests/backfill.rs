//! Resumable batched backfills on every backend: 10,000 rows counted in
//! batches of 500, the run killed for real (SIGKILL of the process) after
//! some batches and resumed, every row changed exactly once; a changed
//! statement refused on resume; tables without a usable key, a transactional
//! migration and a batch of no rows refused.
//!
//! Kills per backend: 3 by default, 50 with `MIGRATIONS_RS_LONG_TRIALS=1`.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::registry::Registry;
use migrations_rs::{Migrator, RevertScope, Scope, Version};
use std::time::{Duration, Instant};
use support::process::{finish, run, start, text};
use support::{Inspect, TestDb};

/// The fixture's backfill migration (tests/fixture/backfill.rs).
const COUNT_ROWS: &str = "20240301000000";
const ROWS: i64 = 10_000;
const BATCH: i64 = 500;

/// `counted` with 10,000 rows whose keys have gaps (3, 6, …, 30000), every counter 0.
async fn fill_counted(inspect: &mut Inspect) {
    inspect.execute("CREATE TABLE counted (id BIGINT NOT NULL PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)").await;
    for chunk in 0..ROWS / 1000 {
        let values: Vec<String> = (chunk * 1000 + 1..=chunk * 1000 + 1000).map(|i| format!("({}, 0)", i * 3)).collect();
        inspect.execute(&format!("INSERT INTO counted (id, n) VALUES {}", values.join(", "))).await;
    }
}

/// The cursor row as `(last_key, rows_done, batches, done)`, if there is one.
async fn cursor(inspect: &mut Inspect) -> Option<(i64, i64, i64, bool)> {
    let from = "FROM migrations_rs_backfills WHERE name = 'counted'";
    let last_key = inspect.try_scalar(&format!("SELECT last_key {from}")).await?;
    let rows_done = inspect.scalar(&format!("SELECT rows_done {from}")).await;
    let batches = inspect.scalar(&format!("SELECT batches {from}")).await;
    let done = inspect.scalar(&format!("SELECT count(*) {from} AND state = 'done'")).await == 1;
    Some((last_key, rows_done, batches, done))
}

/// Checks that the data and the cursor agree: the rows up to the cursor
/// counted once, the rest not at all, and each batch full but the last.
async fn check_consistent(inspect: &mut Inspect, what: &str) -> (i64, i64, i64, bool) {
    let (last_key, rows_done, batches, done) = cursor(inspect).await.unwrap_or((0, 0, 0, false));
    let once = inspect.scalar(&format!("SELECT count(*) FROM counted WHERE n = 1 AND id <= {last_key}")).await;
    let untouched = inspect.scalar(&format!("SELECT count(*) FROM counted WHERE n = 0 AND id > {last_key}")).await;
    let total = inspect.scalar("SELECT count(*) FROM counted").await;
    assert_eq!(once, rows_done, "{what}: rows up to the cursor's key {last_key} counted once");
    assert_eq!(once + untouched, total, "{what}: no row counted twice, none past the cursor counted");
    let full_batches = if done { (rows_done + BATCH - 1) / BATCH } else { rows_done / BATCH };
    assert_eq!(batches, full_batches, "{what}: {rows_done} rows in {batches} batches of {BATCH}");
    (last_key, rows_done, batches, done)
}

fn kills() -> usize {
    if std::env::var("MIGRATIONS_RS_LONG_TRIALS").is_ok_and(|long| long == "1") { 50 } else { 3 }
}

/// The killed run left its migration dirty: recorded as reverted, it runs again and resumes.
fn resolve(url: &str) {
    let resolved = run("backfill-fixture", url, &["mark-reverted", COUNT_ROWS, "--lock-timeout", "60"]);
    assert!(resolved.status.success(), "mark-reverted: {}{}", text(&resolved.stdout), text(&resolved.stderr));
}

async fn a_killed_backfill_resumes_and_counts_every_row_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    let mut inspect = db.inspect().await;
    fill_counted(&mut inspect).await;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id()) ^ (backend as u64) << 32;
    let (mut kills_done, mut full_runs) = (0, 0);
    while kills_done < kills() {
        let before = cursor(&mut inspect).await.map_or(0, |(_, rows, _, _)| rows);
        let mut victim = start("backfill-fixture", &url, &["up", "--lock-timeout", "60"], &[("FIXTURE_RATE", "4000")]);
        // At least one more batch committed, then a little more of the run, then the kill.
        let started = Instant::now();
        let mut finished = false;
        loop {
            if victim.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            if cursor(&mut inspect).await.is_some_and(|(_, rows, _, _)| rows > before) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the backfill made no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !finished && kills_done == 0 {
            running_backfill_in_health(&db, &mut victim, &mut inspect).await;
        }
        if finished {
            // It finished before it could be killed: check it, and start over.
            let output = finish(victim);
            assert!(output.status.success(), "the run failed: {}", text(&output.stderr));
            let (_, rows, batches, done) = check_consistent(&mut inspect, "a finished run").await;
            assert!(done && rows == ROWS && batches == ROWS / BATCH, "finished: {rows} rows in {batches} batches");
            full_runs += 1;
            inspect.execute("UPDATE counted SET n = 0").await;
            inspect.execute("DELETE FROM migrations_rs_backfills").await;
            inspect.execute("DELETE FROM migrations_rs_history").await;
            continue;
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(seed % 600)).await;
        let _ = victim.kill();
        victim.wait().unwrap();
        kills_done += 1;
        support::wait_for_the_dead_sessions(&mut inspect, backend).await;
        // The dead process's lease (SQLite) is freed the documented way; the server's locks died with it.
        let released = run("backfill-fixture", &url, &["lock", "release", "--yes"]);
        assert!(released.status.success(), "lock release: {}", text(&released.stderr));
        let what = format!("{backend} kill {kills_done}");
        let (last_key, rows, batches, done) = check_consistent(&mut inspect, &what).await;
        eprintln!("{what}: {rows} rows in {batches} batches, last key {last_key}, done {done}");
        if kills_done == 1 && !done {
            // Health and status show the interrupted backfill beside its dirty migration.
            let migrator = Migrator::new(Registry::new(Vec::new()).unwrap());
            let mut conn = db.connect().await;
            let health = migrator.health(&mut conn).await.unwrap();
            let status = migrator.status(&mut conn).await.unwrap();
            for backfills in [&health.backfills, &status.backfills] {
                assert_eq!(backfills.len(), 1, "{what}: {backfills:?}");
                let shown = &backfills[0];
                assert_eq!((shown.name.as_str(), shown.rows_done, shown.last_key), ("counted", rows, last_key));
                assert_eq!((shown.total_rows, shown.state.as_str()), (ROWS, "running"));
            }
            conn.close().await.unwrap();
            resolve(&url);
            let refused = run_with("up", &url, &[("FIXTURE_BODY", "changed")]);
            assert!(!refused.status.success(), "a changed statement is refused on resume");
            let stderr = text(&refused.stderr);
            assert!(stderr.contains("changed since it started"), "the refusal says why: {stderr}");
            let after = check_consistent(&mut inspect, "after the refused change").await;
            assert_eq!(after, (last_key, rows, batches, done), "the refused run changed nothing");
        }
        // A run killed after its last batch committed, before its history row, leaves it dirty too.
        let dirty = inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state <> 'applied'").await;
        if dirty > 0 {
            resolve(&url);
        }
    }
    let output = run("backfill-fixture", &url, &["up", "--lock-timeout", "60"]);
    assert!(output.status.success(), "the resumed run finished: {}", text(&output.stderr));
    let (_, rows, batches, done) = check_consistent(&mut inspect, "the resumed run").await;
    assert!(done, "the cursor says done");
    assert_eq!((rows, batches), (ROWS, ROWS / BATCH), "every row once, no batch done twice");
    assert_eq!(inspect.scalar("SELECT count(*) FROM counted WHERE n = 1").await, ROWS, "every counter is exactly 1");
    eprintln!("{backend}: {kills_done} kills, {full_runs} runs finished between them");
}

/// While `victim` runs its backfill, health shows it running beside the held
/// lock and its dirty migration, on every backend.
async fn running_backfill_in_health(db: &TestDb, victim: &mut std::process::Child, inspect: &mut Inspect) {
    let migrator = Migrator::new(Registry::new(Vec::new()).unwrap());
    let mut conn = db.connect().await;
    let health = migrator.health(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    if victim.try_wait().unwrap().is_some() {
        return;
    }
    let backend = db.backend;
    assert!(health.lock.held, "{backend}: {health:?}");
    match health.backfills.as_slice() {
        [running] => {
            assert_eq!((running.name.as_str(), running.state.as_str()), ("counted", "running"), "{backend}");
            assert!(running.rows_done > 0 && running.rows_done < ROWS, "{backend}: {running:?}");
            assert_eq!(health.dirty.len(), 1, "{backend}: {health:?}");
        }
        // Its last batch committed between the two reads.
        [] => assert!(cursor(inspect).await.is_some_and(|(_, _, _, done)| done), "{backend}: {health:?}"),
        more => panic!("{backend}: {more:?}"),
    }
}

/// Runs the fixture with `env` to its end.
fn run_with(verb: &str, url: &str, env: &[(&str, &str)]) -> std::process::Output {
    finish(start("backfill-fixture", url, &[verb, "--lock-timeout", "60"], env))
}

#[migration(version = 2024_04_01_000000, risk = [data], transaction = false)]
mod backfill_keyless {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.backfill("keyless").sql("UPDATE keyless SET v = v + 1 WHERE v > $lo AND v <= $hi").await.map(drop)
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

#[migration(version = 2024_04_02_000000, risk = [data], transaction = false)]
mod backfill_text_key {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.backfill("named")
            .key("code")
            .statement(|range| {
                Query::update()
                    .table("named")
                    .value("v", 1)
                    .and_where(Expr::col("code").gt(range.after))
                    .and_where(Expr::col("code").lte(range.through))
                    .to_owned()
            })
            .await
            .map(drop)
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

#[migration(version = 2024_04_03_000000, risk = [data])]
mod backfill_in_a_transaction {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.backfill("counted").sql("UPDATE counted SET n = n + 1 WHERE id > $lo AND id <= $hi").await.map(drop)
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

#[migration(version = 2024_04_04_000000, risk = [data], transaction = false)]
mod backfill_no_rows_per_batch {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.backfill("counted").batch(0).sql("UPDATE counted SET n = n + 1 WHERE id > $lo AND id <= $hi").await.map(drop)
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// A sea-query body on every backend: the whole table in batches of 7, with
/// progress reported and a busy check before each batch.
#[migration(version = 2024_04_05_000000, risk = [data], transaction = false)]
mod backfill_with_sea_query {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let mut reports = Vec::new();
        let report = db
            .backfill("counted")
            .batch(7)
            // Busy while some row is counted twice: never, so no batch waits.
            .pause_while("SELECT id FROM counted WHERE n > 1", std::time::Duration::from_millis(10))
            .on_progress(|progress| reports.push(progress.rows_done))
            .statement(|range| {
                Query::update()
                    .table("counted")
                    .value("n", Expr::col("n").add(1))
                    .and_where(Expr::col("id").gt(range.after))
                    .and_where(Expr::col("id").lte(range.through))
                    .to_owned()
            })
            .await?;
        if report.rows_done != 50 || report.batches != 8 || reports != [7, 14, 21, 28, 35, 42, 49, 50] {
            return Err(Error::msg(format!("unexpected report {report:?}, progress {reports:?}")));
        }
        Ok(())
    }

    /// Takes the count back, with a cursor of its own.
    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.backfill("counted")
            .batch(20)
            .sql("UPDATE counted SET n = n - 1 WHERE id > $lo AND id <= $hi")
            .await
            .map(drop)
    }
}

/// Applies only the migration `version` of this file; the error it fails with, if any.
async fn apply_alone(db: &TestDb, version: &str) -> Option<String> {
    let linked = Registry::from_linked().unwrap();
    let migration = linked.get(Version::parse(version).unwrap()).unwrap();
    let migrator = Migrator::new(Registry::new([migration]).unwrap());
    let mut conn = db.connect().await;
    migrator.up(&mut conn, Scope::All).await.err().map(|error| error.to_string())
}

async fn a_table_without_a_usable_key_is_refused(backend: Backend) {
    // Each on a database of its own: a refused migration that runs outside a transaction is left dirty.
    let db = TestDb::new(backend).await;
    db.inspect().await.execute("CREATE TABLE keyless (v INTEGER)").await;
    let refused = apply_alone(&db, "20240401000000").await.expect("a table without a key is refused");
    assert!(refused.contains("has no integer primary key"), "{refused}");
    let db = TestDb::new(backend).await;
    db.inspect().await.execute("CREATE TABLE named (code VARCHAR(20) NOT NULL PRIMARY KEY, v INTEGER)").await;
    let refused = apply_alone(&db, "20240402000000").await.expect("a text key is refused");
    assert!(refused.contains("cannot walk it by `code`"), "{refused}");
}

async fn a_backfill_in_a_transaction_or_of_no_rows_per_batch_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    fill_counted(&mut inspect).await;
    let refused = apply_alone(&db, "20240403000000").await.expect("a transactional migration is refused");
    assert!(refused.contains("transaction = false"), "{refused}");
    let refused = apply_alone(&db, "20240404000000").await.expect("a batch of 0 rows is refused");
    assert!(refused.contains("batch size of 0"), "{refused}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM counted WHERE n <> 0").await, 0, "nothing was changed");
}

async fn a_sea_query_backfill_reports_its_progress(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    inspect.execute("CREATE TABLE counted (id INTEGER NOT NULL PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)").await;
    let values: Vec<String> = (1..=50).map(|i| format!("({}, 0)", i * 2)).collect();
    inspect.execute(&format!("INSERT INTO counted (id, n) VALUES {}", values.join(", "))).await;
    assert_eq!(apply_alone(&db, "20240405000000").await, None);
    assert_eq!(inspect.scalar("SELECT count(*) FROM counted WHERE n = 1").await, 50);

    // Reverted, its cursors go; applied again, its backfill starts over.
    let linked = Registry::from_linked().unwrap();
    let migration = linked.get(Version::parse("20240405000000").unwrap()).unwrap();
    let migrator = Migrator::new(Registry::new([migration]).unwrap());
    let mut conn = db.connect().await;
    migrator.down(&mut conn, RevertScope::Steps(1)).await.unwrap();
    assert_eq!(inspect.scalar("SELECT count(*) FROM counted WHERE n = 0").await, 50, "the down ran once");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_backfills").await, 0, "the cursors are gone");
    migrator.up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(inspect.scalar("SELECT count(*) FROM counted WHERE n = 1").await, 50, "applied again, counted again");
}

on_every_backend!(
    a_killed_backfill_resumes_and_counts_every_row_once,
    a_table_without_a_usable_key_is_refused,
    a_backfill_in_a_transaction_or_of_no_rows_per_batch_is_refused,
    a_sea_query_backfill_reports_its_progress,
);
