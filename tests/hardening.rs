//! Clear errors where raw ones or silence used to be, on every backend where
//! they apply: SQL that cannot be split and empty SQL files fail `lint` and
//! `up`; damaged or duplicated bookkeeping rows are named; a failure on a dead
//! connection still reaches the audit log; a statement over MariaDB's packet
//! limit names the limit; `--sql-dir` at a file, `--no-backup`, and a backup
//! command that hangs.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{
    Backend, Connection, Error, Migrator, Scope, backup::BackupOptions, registry::Registry, report::MigrationState,
};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{TestDb, example_binary};

#[migration(version = 2024_07_01_000000, risk = [schema])]
mod create_things {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("things").col(ColumnDef::new("id").integer())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("things")).await
    }
}

/// Kills its own connection on the server, as an operator or a failover would.
#[migration(version = 2024_07_02_000000, allow = [opaque_sql])]
mod connection_dies {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        match db.backend() {
            Backend::Postgres => db.exec("SELECT pg_terminate_backend(pg_backend_pid())").await,
            Backend::MySql => db.exec("KILL CONNECTION_ID()").await,
            Backend::Sqlite => Ok(()),
        }
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// Sends one statement a little larger than the server's `max_allowed_packet` (MySQL/MariaDB).
#[migration(version = 2024_07_03_000000)]
mod oversized_statement {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        if db.backend() != Backend::MySql || !db.is_live() {
            return Ok(());
        }
        let rows = db.fetch_all("SELECT CAST(@@max_allowed_packet AS CHAR) AS l").await?;
        let limit: usize = rows[0].get::<String>("l")?.parse().map_err(Error::msg)?;
        db.exec(format!("SELECT '{}'", "x".repeat(limit + 10))).await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// Drops a table without acknowledging it: refused.
#[migration(version = 2024_07_04_000000, depends_on = [create_things], risk = [schema], irreversible)]
mod drop_things {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("things")).await
    }
}

/// SQL the risk analysis cannot read: refused before the run, whatever the tables hold.
#[migration(version = 2024_07_09_000000, depends_on = [create_things], risk = [schema], irreversible)]
mod call_unknown {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CALL refresh_everything()").await
    }
}

fn migrator(versions: &[u64]) -> Migrator {
    let linked = Registry::from_linked().expect("the test migrations are consistent");
    let chosen = linked.in_order().filter(|m| versions.contains(&m.version.as_u64()));
    Migrator::new(Registry::new(chosen).expect("a consistent subset"))
}

fn standalone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrations-rs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

on_every_backend!(
    sql_that_cannot_be_split_or_holds_nothing_fails_lint_and_up,
    a_refused_run_creates_no_bookkeeping_table,
    a_missing_column_or_a_wrong_type_names_the_table,
    status_shows_each_row_as_written_and_names_a_column_one_row_damaged,
    a_version_recorded_twice_is_corruption_naming_it,
    a_log_that_cannot_take_a_step_s_entry_fails_the_step_naming_the_log,
);

async fn sql_that_cannot_be_split_or_holds_nothing_fails_lint_and_up(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cases = [
        (
            "V20240101000000__quote.sql",
            "CREATE TABLE a (x INT);\nINSERT INTO a VALUES ('unclosed);\n",
            "quoted string is not closed",
        ),
        ("V20240101000000__comment.sql", "CREATE TABLE b (x INT); /* never closed\n", "comment is not closed"),
        ("V20240101000000__empty.sql", "", "empty migration"),
        ("V20240101000000__comments_only.sql", "-- nothing here yet\n/* later */\n", "empty migration"),
    ];
    let dollar =
        [("V20240101000000__dollar.sql", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1;\n", "dollar-quoted")];
    let mut inspect = db.inspect().await;
    let before = inspect.schema().await;
    for (file, sql, why) in cases.iter().chain(if backend == Backend::Postgres { &dollar[..] } else { &[] }) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), sql).unwrap();
        let folder = dir.path().display().to_string();
        let lint = standalone(&["--sql-dir", &folder, "lint", "--backend", backend_arg(backend)]);
        assert_eq!(lint.status.code(), Some(1), "{file}: {}", text(&lint));
        let rule = if *why == "empty migration" { "empty-migration" } else { "opaque-sql" };
        assert!(text(&lint).contains(rule) && text(&lint).contains(why), "{file}: {}", text(&lint));
        let up = standalone(&["--sql-dir", &folder, "--database-url", db.url.expose(), "up"]);
        assert_eq!(up.status.code(), Some(1), "{file}: {}", text(&up));
        let refusal = if *why == "empty migration" { "have an empty `up`" } else { why };
        assert!(text(&up).contains(refusal), "{file}: {}", text(&up));
        assert_eq!(inspect.schema().await, before, "{file}: nothing applied, no table created");
    }
}

fn backend_arg(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        Backend::MySql => "mysql",
    }
}

async fn a_refused_run_creates_no_bookkeeping_table(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let error = migrator(&[20240701000000, 20240709000000]).up(&mut conn, Scope::All).await.expect_err("refused");
    assert!(matches!(error, Error::Refused { before_run: true, .. }), "{error:?}");
    assert!(error.to_string().contains("nothing was changed"), "{error}");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.schema().await, Vec::<String>::new(), "not even the history table was created");
}

/// `status` and `up` both fail with the history table named as damaged, and `column` in the message.
async fn status_and_up_find_the_history_damaged(migrator: &Migrator, conn: &mut Connection, column: &str) {
    for error in
        [migrator.status(conn).await.expect_err("damaged"), migrator.up(conn, Scope::All).await.expect_err("damaged")]
    {
        let text = error.to_string();
        assert!(matches!(error, Error::DamagedTable { .. }), "{error:?}");
        assert!(text.contains("bookkeeping table migrations_rs_history is damaged") && text.contains(column), "{text}");
    }
}

async fn a_missing_column_or_a_wrong_type_names_the_table(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[20240701000000]);
    migrator.up(&mut conn, Scope::All).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect.execute("ALTER TABLE migrations_rs_history DROP COLUMN checksum").await;
    status_and_up_find_the_history_damaged(&migrator, &mut conn, "checksum").await;
    // The column back, with the wrong type: found on the first row, as every row shares the column's type.
    inspect.execute("ALTER TABLE migrations_rs_history ADD COLUMN checksum BIGINT").await;
    inspect.execute("UPDATE migrations_rs_history SET checksum = 7").await;
    status_and_up_find_the_history_damaged(&migrator, &mut conn, "checksum").await;
    // The log with a column of the wrong type.
    inspect.execute("DROP TABLE migrations_rs_log").await;
    inspect
        .execute(
            "CREATE TABLE migrations_rs_log (id INTEGER, version VARCHAR(20), name VARCHAR(20), action VARCHAR(20), \
             at VARCHAR(40), performed_by VARCHAR(40), duration_ms BIGINT, batch BIGINT, error TEXT)",
        )
        .await;
    inspect
        .execute(
            "INSERT INTO migrations_rs_log VALUES (1, 'soon', 'x', 'apply', '2024-01-01T00:00:00Z', 'a@b', 1, 1, NULL)",
        )
        .await;
    let error = migrator.history(&mut conn, &Default::default()).await.expect_err("damaged");
    let text = error.to_string();
    assert!(text.contains("bookkeeping table migrations_rs_log is damaged") && text.contains("version"), "{text}");
}

/// Texts holding what a framing could trip on come back from `status` as
/// written; on SQLite, where a value may have another type than its column,
/// one row's wrong value is named even when the rows before it are sound.
async fn status_shows_each_row_as_written_and_names_a_column_one_row_damaged(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let versions = [20240701000000, 20240702000000];
    let migrator = migrator(if backend == Backend::Sqlite { &versions } else { &versions[..1] });
    migrator.up(&mut conn, Scope::All).await.unwrap();
    let mut inspect = db.inspect().await;
    let operator = "Zo\u{eb} 12 3 applied! 64 ";
    inspect.execute(&format!("UPDATE migrations_rs_history SET applied_by = '{operator}', execution_ms = 77")).await;
    let status = migrator.status(&mut conn).await.unwrap();
    for entry in &status.migrations {
        let MigrationState::Applied { applied_by, execution_ms, checksum_matches, .. } = &entry.state else {
            panic!("{backend}: not applied: {:?}", entry.state)
        };
        assert_eq!((applied_by.as_str(), *execution_ms, *checksum_matches), (operator, 77, true), "{backend}");
    }
    if backend == Backend::Sqlite {
        inspect.execute("UPDATE migrations_rs_history SET execution_ms = 'slow' WHERE version = 20240702000000").await;
        let error = migrator.status(&mut conn).await.expect_err("damaged");
        let text = error.to_string();
        assert!(matches!(error, Error::DamagedTable { .. }), "{error:?}");
        assert!(text.contains("migrations_rs_history is damaged") && text.contains("execution_ms"), "{text}");
    }
}

/// The step's history row and its log entry are written together: when the
/// entry cannot be written, the step fails naming the log, and an atomic step
/// leaves nothing behind.
async fn a_log_that_cannot_take_a_step_s_entry_fails_the_step_naming_the_log(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator(&[]).up(&mut conn, Scope::All).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect.execute("ALTER TABLE migrations_rs_log DROP COLUMN performed_by").await;
    let error = migrator(&[20240701000000]).up(&mut conn, Scope::All).await.expect_err("the log is damaged");
    let Error::MigrationFailed { cause, dirty, .. } = &error else { panic!("not MigrationFailed: {error:?}") };
    assert!(matches!(**cause, Error::DamagedTable { .. }), "{cause:?}");
    assert!(cause.to_string().contains("migrations_rs_log"), "{cause}");
    if backend != Backend::MySql {
        assert!(!dirty, "{error}");
        assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 0);
        assert!(!inspect.table_exists("things").await, "the step was rolled back");
    }
}

async fn a_version_recorded_twice_is_corruption_naming_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[20240701000000]);
    migrator.up(&mut conn, Scope::All).await.unwrap();
    let mut inspect = db.inspect().await;
    // A copy without the primary key, as a hand-made restore would leave it, with the row twice.
    inspect.execute("CREATE TABLE history_copy AS SELECT * FROM migrations_rs_history").await;
    inspect.execute("INSERT INTO history_copy SELECT * FROM migrations_rs_history").await;
    inspect.execute("DROP TABLE migrations_rs_history").await;
    inspect.execute("ALTER TABLE history_copy RENAME TO migrations_rs_history").await;
    for error in [
        migrator.status(&mut conn).await.expect_err("corrupt"),
        migrator.up(&mut conn, Scope::All).await.expect_err("corrupt"),
    ] {
        let text = error.to_string();
        assert!(matches!(error, Error::CorruptHistory { .. }), "{error:?}");
        assert!(text.contains("version 20240701000000 is recorded more than once"), "{text}");
    }
}

/// The step's connection dies on the server; its failure is logged on a new one.
async fn a_failure_on_a_dead_connection_reaches_the_audit_log(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let error = migrator(&[20240702000000]).up(&mut conn, Scope::All).await.expect_err("the connection died");
    assert!(matches!(error, Error::MigrationFailed { .. }), "{error:?}");
    assert!(!error.to_string().contains("could not be written to the audit log"), "{error}");
    let mut inspect = db.inspect().await;
    let logged = inspect.strings("SELECT action FROM migrations_rs_log WHERE version = 20240702000000").await;
    assert_eq!(logged, ["apply_failed"]);
}

#[tokio::test]
async fn postgres_failure_on_a_dead_connection_reaches_the_audit_log() {
    a_failure_on_a_dead_connection_reaches_the_audit_log(Backend::Postgres).await
}

#[tokio::test]
async fn mysql_failure_on_a_dead_connection_reaches_the_audit_log() {
    a_failure_on_a_dead_connection_reaches_the_audit_log(Backend::MySql).await
}

#[tokio::test]
async fn mysql_statement_over_the_packet_limit_names_the_limit() {
    let db = TestDb::new(Backend::MySql).await;
    let mut conn = db.connect().await;
    let limit = db.inspect().await.strings("SELECT CAST(@@max_allowed_packet AS CHAR)").await.remove(0);
    let error = migrator(&[20240703000000]).up(&mut conn, Scope::All).await.expect_err("too large");
    let Error::MigrationFailed { cause, .. } = &error else { panic!("{error:?}") };
    assert!(matches!(**cause, Error::StatementTooLarge { .. }), "{cause:?}");
    let text = error.to_string();
    assert!(text.contains(&format!("max_allowed_packet of {limit} bytes")), "{text}");
    assert!(!text.contains("Connection reset"), "{text}");
}

#[test]
fn sql_dir_pointing_at_a_file_says_it_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("V20240101000000__one.sql");
    std::fs::write(&file, "CREATE TABLE a (x INT);").unwrap();
    let output = standalone(&["--sql-dir", &file.display().to_string(), "lint"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("is a file, not a directory"), "{}", text(&output));
}

#[tokio::test]
async fn no_backup_does_not_warn() {
    let db = TestDb::new(Backend::Postgres).await;
    let run = |args: &[&str]| {
        Command::new(example_binary("test-fixture"))
            .args(args)
            .args(["--database-url", db.url.expose()])
            .env_remove("DATABASE_URL")
            .env_remove("MIGRATIONS_RS_BACKUP_COMMAND")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let quiet = run(&["up", "--to", "20240102000000", "--no-backup"]);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(!text(&quiet).contains("no backup taken"), "{}", text(&quiet));
    assert!(text(&quiet).contains("backup: none, as --no-backup asks"), "{}", text(&quiet));
    let db = TestDb::new(Backend::Postgres).await;
    let warned = Command::new(example_binary("test-fixture"))
        .args(["up", "--to", "20240102000000", "--database-url", db.url.expose()])
        .env_remove("MIGRATIONS_RS_BACKUP_COMMAND")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(text(&warned).contains("warning: no backup taken"), "{}", text(&warned));
}

/// A backup command that hangs is killed after the timeout, with what it
/// started, the run stops before anything changes, and the lock is free.
async fn a_hanging_backup_command_times_out_and_frees_the_lock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let survivor = dir.path().join("survivor");
    let hanging = BackupOptions {
        command: Some(format!("(sleep 3; touch {}) & sleep 60", survivor.display())),
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let run = migrator(&[20240705000000]).with_backup(hanging);
    let started = Instant::now();
    let error = run.up(&mut conn, Scope::All).await.expect_err("the backup timed out");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    assert!(matches!(error, Error::Backup { .. }), "{error:?}");
    assert!(error.to_string().contains("still running after 1 s") && error.to_string().contains("--backup-timeout"));
    assert!(!run.lock_status(&mut conn).await.unwrap().held, "the lock is free");
    assert!(!db.inspect().await.table_exists("risky_things").await);
    std::thread::sleep(Duration::from_secs(4));
    assert!(!survivor.exists(), "what the command started was killed too");
    let working = BackupOptions { command: Some("true".to_owned()), ..Default::default() };
    migrator(&[20240705000000]).with_backup(working).up(&mut conn, Scope::All).await.unwrap();
}

#[migration(version = 2024_07_05_000000, risk = [schema, data])]
mod create_risky_things {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("risky_things").col(ColumnDef::new("id").integer())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("risky_things")).await
    }
}

#[tokio::test]
async fn postgres_hanging_backup_command_times_out_and_frees_the_lock() {
    a_hanging_backup_command_times_out_and_frees_the_lock(Backend::Postgres).await
}

#[tokio::test]
async fn mysql_hanging_backup_command_times_out_and_frees_the_lock() {
    a_hanging_backup_command_times_out_and_frees_the_lock(Backend::MySql).await
}

/// `lint` on a file of 1,000,000 short statements, in under 5 s when built
/// with `--release` (opt-in: `MIGRATIONS_RS_LONG_TESTS=1 cargo test --release
/// -p migrations-rs --test hardening lint_of_a_million`).
#[test]
fn lint_of_a_million_statements_is_fast() {
    if std::env::var_os("MIGRATIONS_RS_LONG_TESTS").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut sql = String::from("-- migrations-rs: risk = [data]\n");
    for i in 0..1_000_000 {
        sql.push_str(&format!("INSERT INTO t (x) VALUES ({i});\n"));
    }
    std::fs::write(dir.path().join("V20240101000000__million.sql"), sql).unwrap();
    let started = Instant::now();
    let output = standalone(&["--sql-dir", &dir.path().display().to_string(), "lint", "--backend", "postgres"]);
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("1000000 statement(s)") || text(&output).contains("0 error(s)"),
        "{}",
        text(&output)
    );
    let bound = if cfg!(debug_assertions) { Duration::from_secs(60) } else { Duration::from_secs(5) };
    eprintln!("lint of 1,000,000 statements: {elapsed:?}");
    assert!(elapsed < bound, "{elapsed:?}");
}
