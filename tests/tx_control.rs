//! Transaction control inside a transactional migration (`BEGIN`, `COMMIT`,
//! `ROLLBACK`, a savepoint the runner owns) is refused before anything runs,
//! in `up`, `down` and every dry run, for Rust and SQL migrations, on SQLite,
//! PostgreSQL and MariaDB; the database is unchanged after each refusal.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{Backend, Error, Migrator, RevertScope, Scope, registry::Registry, report::RehearsalOutcome};
use std::path::Path;
use std::process::{Command, Output};
use support::TestDb;

/// The ROLLBACK undoes the table, and the runner used to record it as applied.
#[migration(version = 2024_05_01_000000, risk = [schema])]
mod create_then_roll_back {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE tx_rolled_back (id INT); ROLLBACK").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE tx_rolled_back").await
    }
}

#[migration(version = 2024_05_02_000000, risk = [schema])]
mod create_then_commit {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("tx_committed").col(ColumnDef::new("id").integer())).await?;
        db.exec("COMMIT").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("tx_committed")).await
    }
}

/// Reads first, so the offline analysis cannot see the COMMIT: it is refused as it is sent.
#[migration(version = 2024_05_03_000000)]
mod read_then_commit {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.fetch_all(Query::select().expr(Expr::val(1))).await?;
        db.exec("COMMIT").await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// Its own savepoint, released and rolled back to: allowed.
#[migration(version = 2024_05_04_000000)]
mod own_savepoint {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("SAVEPOINT mine; ROLLBACK TO SAVEPOINT mine; RELEASE SAVEPOINT mine").await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// The savepoint sqlx would open for a nested transaction is not the migration's to end.
#[migration(version = 2024_05_05_000000)]
mod release_the_runners_savepoint {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("RELEASE SAVEPOINT _sqlx_savepoint_1").await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// Its `down` commits halfway.
#[migration(version = 2024_05_06_000000, risk = [schema])]
mod down_commits {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("tx_kept").col(ColumnDef::new("id").integer())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE tx_kept").await?;
        db.exec("COMMIT").await
    }
}

/// The same statements outside a transaction are the migration's own business.
#[migration(version = 2024_05_07_000000, transaction = false)]
mod outside_a_transaction {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("BEGIN").await?;
        db.exec("COMMIT").await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

fn migrator(versions: &[u64]) -> Migrator {
    let linked = Registry::from_linked().expect("the test migrations are consistent");
    let chosen = linked.in_order().filter(|m| versions.contains(&m.version.as_u64()));
    Migrator::new(Registry::new(chosen).expect("a consistent subset"))
}

/// The schema, the bookkeeping tables and their rows, to compare before and after.
async fn snapshot(db: &TestDb) -> Vec<String> {
    let mut inspect = db.inspect().await;
    let mut all = inspect.schema().await;
    if inspect.table_exists("migrations_rs_history").await {
        all.push(format!("{} rows", inspect.scalar("SELECT count(*) FROM migrations_rs_history").await));
        all.extend(inspect.strings("SELECT state FROM migrations_rs_history ORDER BY version").await);
    }
    all
}

fn assert_refused(error: &Error, statement: &str) {
    let text = error.to_string();
    let refusal = match error {
        Error::TransactionControl { .. } => error,
        Error::MigrationFailed { cause, .. } => cause,
        other => panic!("not a transaction-control refusal: {other:?}"),
    };
    assert!(matches!(refusal, Error::TransactionControl { .. }), "{refusal:?}");
    assert!(text.contains(statement) && text.contains("transaction = false"), "{text}");
}

on_every_backend!(
    up_and_its_rehearsal_refuse_before_anything_runs,
    a_statement_after_a_read_is_refused_as_it_is_sent,
    force_does_not_let_it_through,
    own_savepoints_and_non_transactional_migrations_run,
    down_and_its_rehearsal_refuse_a_committing_down,
    sql_files_are_refused_by_the_standalone_binary,
);

async fn up_and_its_rehearsal_refuse_before_anything_runs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let before = snapshot(&db).await;
    for (version, statement) in [
        (20240501000000, "ROLLBACK"),
        (20240502000000, "COMMIT"),
        (20240505000000, "RELEASE SAVEPOINT _sqlx_savepoint_1"),
    ] {
        let migrator = migrator(&[version]);
        let error = migrator.up(&mut conn, Scope::All).await.expect_err("refused");
        assert_refused(&error, statement);
        assert!(error.to_string().contains("nothing was run"), "{error}");
        let error = migrator.rehearse_up(&mut conn, Scope::All).await.expect_err("the rehearsal is refused too");
        assert_refused(&error, statement);
        assert_eq!(snapshot(&db).await, before, "{version}: nothing changed");
    }
}

async fn a_statement_after_a_read_is_refused_as_it_is_sent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[20240503000000]);
    if backend != Backend::MySql {
        let before = snapshot(&db).await;
        let rehearsal = migrator.rehearse_up(&mut conn, Scope::All).await.unwrap();
        let RehearsalOutcome::Failed { error, .. } = &rehearsal.steps[0].outcome else {
            panic!("the step that would commit fails: {:?}", rehearsal.steps[0].outcome)
        };
        assert!(error.contains("COMMIT would commit") && error.contains("transaction = false"), "{error}");
        assert!(rehearsal.failed(), "never reported as rolled back");
        assert_eq!(snapshot(&db).await, before);
    }
    let error = migrator.up(&mut conn, Scope::All).await.expect_err("refused as it is sent");
    assert_refused(&error, "COMMIT");
    assert!(error.to_string().contains("the statement was not sent"), "{error}");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 0, "not recorded, not dirty");
    let logged = inspect.strings("SELECT action FROM migrations_rs_log").await;
    assert_eq!(logged, ["apply_failed"]);
}

async fn force_does_not_let_it_through(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let before = snapshot(&db).await;
    let error = migrator(&[20240501000000]).force(true).up(&mut conn, Scope::All).await.expect_err("still refused");
    assert_refused(&error, "ROLLBACK");
    assert_eq!(snapshot(&db).await, before);
    assert!(!db.inspect().await.table_exists("tx_rolled_back").await);
}

async fn own_savepoints_and_non_transactional_migrations_run(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let report = migrator(&[20240504000000, 20240507000000]).up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), 2);
}

async fn down_and_its_rehearsal_refuse_a_committing_down(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[20240506000000]);
    migrator.up(&mut conn, Scope::All).await.unwrap();
    let before = snapshot(&db).await;
    let error = migrator.down(&mut conn, RevertScope::Steps(1)).await.expect_err("refused");
    assert_refused(&error, "COMMIT");
    let error = migrator.rehearse_down(&mut conn, RevertScope::Steps(1)).await.expect_err("refused");
    assert_refused(&error, "COMMIT");
    assert_eq!(snapshot(&db).await, before, "the table and its record stay");
    assert!(db.inspect().await.table_exists("tx_kept").await);
}

fn standalone(dir: &Path, db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(args)
        .args(["--sql-dir", &dir.display().to_string(), "--database-url", db.url.expose()])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrations-rs")
}

async fn sql_files_are_refused_by_the_standalone_binary(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V20240601000000__commit_inside.sql");
    let body = "-- migrations-rs: risk = [schema]\nCREATE TABLE tx_sql (id INT);\nCOMMIT;\n";
    std::fs::write(&file, body).unwrap();
    let before = snapshot(&db).await;
    for args in [&["up", "--dry-run"][..], &["up"], &["up", "--dry-run", "--json"]] {
        let output = standalone(dir.path(), &db, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("20240601000000 commit_inside") && stderr.contains("COMMIT would commit"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("transaction = false") && !stderr.contains("rolled back"), "{args:?}: {stderr}");
        assert_eq!(snapshot(&db).await, before, "{args:?} changed nothing");
    }
    // The way out named in the refusal works: the file runs its own transaction.
    let begin = if backend == Backend::MySql { "START TRANSACTION" } else { "BEGIN" };
    let own = format!(
        "-- migrations-rs: transaction = false, risk = [schema]\n{begin};\nCREATE TABLE tx_sql (id INT);\nCOMMIT;\n"
    );
    std::fs::write(&file, own).unwrap();
    let output = standalone(dir.path(), &db, &["up"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(db.inspect().await.table_exists("tx_sql").await);
}
