//! Risk tags that mean something, on SQLite, PostgreSQL and MariaDB:
//! destructive statements refused before anything changes, acknowledged
//! ones run, statements checked as they are sent, rehearsals that roll back,
//! backups before risky migrations, and `lint`'s exit code.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{
    Backend, Error, Migrator, RevertScope, Scope, Version,
    analysis::Rule,
    backup::{Backup, BackupOptions},
    error::Remedy,
    registry::Registry,
    report::RehearsalOutcome,
};
use support::TestDb;

#[migration(version = 2024_03_01_000000, risk = [schema, data])]
mod create_ledger {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("ledger")
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .col(ColumnDef::new("note").string_len(100)),
        )
        .await?;
        db.exec("INSERT INTO ledger (id, note) VALUES (1, 'kept')").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("ledger")).await
    }
}

#[migration(version = 2024_03_02_000000, depends_on = [create_ledger], risk = [schema, data], irreversible)]
mod drop_note_unacknowledged {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("ledger").drop_column("note")).await
    }
}

#[migration(
    version = 2024_03_03_000000,
    depends_on = [create_ledger],
    risk = [schema, data],
    allow = [drop_column],
    irreversible
)]
mod drop_note_acknowledged {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("ledger").drop_column("note")).await
    }
}

/// Reads rows first, so the offline analysis cannot see the DELETE after it.
#[migration(version = 2024_03_04_000000, depends_on = [create_ledger], risk = [data], irreversible)]
mod read_then_delete_everything {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let rows = db.fetch_all(Query::select().column("id").from("ledger")).await?;
        assert_eq!(rows.len(), 1);
        db.exec("DELETE FROM ledger").await
    }
}

/// Fails on its second statement.
#[migration(version = 2024_03_05_000000, depends_on = [create_ledger], risk = [schema, data])]
mod fails_halfway {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("audit").col(ColumnDef::new("id").integer().not_null().primary_key())).await?;
        db.exec("INSERT INTO no_such_table (id) VALUES (1)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("audit")).await
    }
}

/// Acknowledges every rule, which the compiler must accept.
#[migration(
    version = 2024_03_09_000000,
    risk = [schema],
    allow = [
        drop_table, drop_column, truncate, unbounded_dml, rename_table, rename_column, change_type,
        required_column, set_not_null, drop_not_null, fk_validating, check_validating, unique_or_pk,
        index_not_concurrent, drop_index_not_concurrent, drop_fk, not_in_transaction, blocking_maintenance,
        tx_control, enum_change, mysql_copy_lock, sqlite_pragma_in_tx, opaque_sql, undeclared_risk
    ],
    empty
)]
mod acknowledges_everything {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

const LEDGER: u64 = 20240301000000;
const DROP_UNACKNOWLEDGED: u64 = 20240302000000;
const DROP_ACKNOWLEDGED: u64 = 20240303000000;
const READ_THEN_DELETE: u64 = 20240304000000;
const FAILS_HALFWAY: u64 = 20240305000000;
const ACKNOWLEDGES_EVERYTHING: u64 = 20240309000000;

/// A migrator over some of this file's migrations.
fn migrator(versions: &[u64]) -> Migrator {
    let linked = Registry::from_linked().expect("the test migrations are consistent");
    let chosen = linked.in_order().filter(|m| versions.contains(&m.version.as_u64()));
    Migrator::new(Registry::new(chosen).expect("a consistent subset"))
}

fn v(version: u64) -> Version {
    Version::from_checked(version)
}

on_every_backend!(
    a_destructive_statement_is_refused_before_anything_changes,
    an_acknowledged_drop_runs,
    force_runs_an_unacknowledged_drop,
    statements_after_a_read_are_checked_as_they_run,
    rehearsal_meets_the_real_error_and_changes_nothing,
    rehearsal_of_down_changes_nothing,
    reverting_a_data_migration_warns,
);

async fn a_destructive_statement_is_refused_before_anything_changes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let mut inspect = db.inspect().await;
    let migrator = migrator(&[LEDGER, DROP_UNACKNOWLEDGED]);

    // From an empty database the table does not exist yet, so the drop is
    // checked when it is sent: by then the first migration has written a row.
    let error = migrator.up(&mut conn, Scope::All).await.expect_err("refused");
    let Error::MigrationFailed { cause, .. } = &error else { panic!("{error:?}") };
    assert!(matches!(**cause, Error::Refused { before_run: false, .. }), "{cause:?}");
    let text = error.to_string();
    assert!(text.contains("20240302000000 drop_note_unacknowledged"), "{text}");
    assert!(text.contains("drop-column: drops column `ledger`.`note` and its data"), "{text}");
    assert!(text.contains("DROP COLUMN"), "the statement is named: {text}");
    assert!(text.contains("add `allow = [drop_column]` to its #[migration]"), "{text}");
    assert!(text.contains("the statement was not run") && !text.contains("--force"), "{text}");
    assert!(error.remedies().contains(&Remedy::OverrideRefusal), "{error}");
    assert_eq!(inspect.strings("SELECT note FROM ledger").await, vec!["kept"]);

    // With the table holding a row, the refusal comes before the run and leaves
    // schema, rows and history as they were.
    let schema = inspect.schema().await;
    let history = inspect.scalar("SELECT count(*) FROM migrations_rs_history").await;
    let log = inspect.scalar("SELECT count(*) FROM migrations_rs_log").await;
    let error = migrator.up(&mut conn, Scope::All).await.expect_err("refused");
    assert!(matches!(error, Error::Refused { before_run: true, .. }), "{error:?}");
    assert!(error.to_string().contains("nothing was changed"), "{error}");
    assert_eq!(inspect.schema().await, schema);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, history);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log").await, log);
    assert_eq!(inspect.strings("SELECT note FROM ledger").await, vec!["kept"]);
}

async fn an_acknowledged_drop_runs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let report = migrator(&[LEDGER, DROP_ACKNOWLEDGED]).up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), 2);
    let schema = db.inspect().await.schema().await;
    assert!(!schema.iter().any(|line| line.contains("note")), "{schema:?}");
}

async fn force_runs_an_unacknowledged_drop(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator(&[LEDGER, DROP_UNACKNOWLEDGED]).force(true).up(&mut conn, Scope::All).await.unwrap();
    let schema = db.inspect().await.schema().await;
    assert!(!schema.iter().any(|line| line.contains("note")), "{schema:?}");
}

async fn statements_after_a_read_are_checked_as_they_run(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[LEDGER, READ_THEN_DELETE]);
    let analysis = migrator.analyze(backend, &[v(READ_THEN_DELETE)]).await.unwrap();
    assert!(analysis[0].incomplete.is_some(), "the read stops the offline analysis");
    let error = migrator.up(&mut conn, Scope::All).await.expect_err("refused as it runs");
    let Error::MigrationFailed { cause, dirty, .. } = &error else { panic!("{error:?}") };
    assert!(matches!(**cause, Error::Refused { before_run: false, .. }), "{cause:?}");
    assert!(cause.to_string().contains("unbounded-dml: DELETE without WHERE touches every row"), "{cause}");
    // The DELETE never reached the server, and the rollback undid the rest, even on MariaDB.
    assert!(!dirty, "nothing committed, so nothing is left dirty");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM ledger").await, 1);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 1, "only the ledger is applied");
    migrator.up(&mut conn, Scope::All).await.expect_err("still refused, not blocked by a dirty row");
}

async fn rehearsal_meets_the_real_error_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let mut inspect = db.inspect().await;
    let before = inspect.schema().await;
    let rehearsal = migrator(&[LEDGER, FAILS_HALFWAY]).rehearse_up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(rehearsal.steps.len(), 2);
    if backend == Backend::MySql {
        assert!(!rehearsal.rehearsed);
        assert!(rehearsal.not_rehearsed_because.as_deref().unwrap().contains("commits every DDL statement"));
        let RehearsalOutcome::NotRun { statements } = &rehearsal.steps[1].outcome else { panic!("{rehearsal:?}") };
        assert!(statements.iter().any(|s| s.contains("no_such_table")), "{statements:?}");
    } else {
        assert!(rehearsal.rehearsed && rehearsal.failed());
        assert!(matches!(rehearsal.steps[0].outcome, RehearsalOutcome::Succeeded { statements: 2, .. }));
        let RehearsalOutcome::Failed { error, .. } = &rehearsal.steps[1].outcome else { panic!("{rehearsal:?}") };
        assert!(error.contains("no_such_table"), "the server's own error: {error}");
    }
    assert_eq!(inspect.schema().await, before, "nothing was kept");
}

async fn rehearsal_of_down_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[LEDGER]);
    migrator.up(&mut conn, Scope::All).await.unwrap();
    let mut inspect = db.inspect().await;
    let before = inspect.schema().await;
    let rehearsal = migrator.rehearse_down(&mut conn, RevertScope::Steps(1)).await.unwrap();
    assert_eq!(rehearsal.steps.len(), 1);
    assert_eq!(rehearsal.rehearsed, backend != Backend::MySql);
    assert!(!rehearsal.failed(), "{rehearsal:?}");
    assert_eq!(inspect.schema().await, before);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 1);
}

async fn reverting_a_data_migration_warns(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = migrator(&[LEDGER]).with_backup(BackupOptions { enabled: false, ..BackupOptions::default() });
    migrator.up(&mut conn, Scope::All).await.unwrap();
    let report = migrator.down(&mut conn, RevertScope::Steps(1)).await.unwrap();
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].contains("20240301000000 create_ledger is tagged `data`"), "{:?}", report.warnings);
}

#[tokio::test]
async fn sqlite_snapshot_is_taken_before_a_risky_migration() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut conn = db.connect().await;
    migrator(&[LEDGER])
        .with_backup(BackupOptions { enabled: false, ..Default::default() })
        .up(&mut conn, Scope::All)
        .await
        .unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    let options = BackupOptions { directory: Some(snapshots.path().to_owned()), ..Default::default() };
    let report = migrator(&[LEDGER, DROP_ACKNOWLEDGED]).with_backup(options).up(&mut conn, Scope::All).await.unwrap();
    let Some(Backup::Snapshot { path, reason }) = &report.backup else { panic!("{:?}", report.backup) };
    assert_eq!(reason, "20240303000000 drop_note_acknowledged");
    assert!(path.starts_with(snapshots.path()));
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(name.starts_with("test.backup-") && name.ends_with(".db"), "`*.backup-*.db` covers it: {name}");
    // The snapshot holds the column the migration then dropped.
    let copy = migrations_rs::DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let mut copy = migrations_rs::Connection::connect(&copy).await.unwrap();
    let status = migrator(&[LEDGER]).status(&mut copy).await.unwrap();
    assert!(status.is_up_to_date());
    let mut raw = support::Inspect::Sqlite(
        <migrations_rs::sqlx::SqliteConnection as migrations_rs::sqlx::Connection>::connect(&format!(
            "sqlite://{}",
            path.display()
        ))
        .await
        .unwrap(),
    );
    assert_eq!(raw.strings("SELECT note FROM ledger").await, vec!["kept"]);
    assert!(!db.inspect().await.schema().await.iter().any(|l| l.contains("note")));
}

#[tokio::test]
async fn sqlite_keeps_only_the_newest_snapshots() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut conn = db.connect().await;
    migrator(&[LEDGER])
        .with_backup(BackupOptions { enabled: false, ..Default::default() })
        .up(&mut conn, Scope::All)
        .await
        .unwrap();
    let snapshots = tempfile::tempdir().unwrap();
    // Earlier snapshots of this database, and files that are not its snapshots.
    for name in
        ["test.backup-1000.db", "test.backup-1001.db", "test.backup-1001-2.db", "other.backup-5.db", "test.backup-x.db"]
    {
        std::fs::write(snapshots.path().join(name), b"").unwrap();
    }
    let options = BackupOptions { directory: Some(snapshots.path().to_owned()), keep: 2, ..Default::default() };
    let report = migrator(&[LEDGER, DROP_ACKNOWLEDGED]).with_backup(options).up(&mut conn, Scope::All).await.unwrap();
    let Some(Backup::Snapshot { path, .. }) = &report.backup else { panic!("{:?}", report.backup) };
    let mut left: Vec<String> = std::fs::read_dir(snapshots.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let newest = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut expected =
        vec!["other.backup-5.db".to_owned(), "test.backup-1001-2.db".to_owned(), "test.backup-x.db".to_owned(), newest];
    expected.sort();
    assert_eq!(left, expected, "the new snapshot and the newest earlier one are kept; other files are left alone");
}

#[tokio::test]
async fn sqlite_takes_no_snapshot_of_an_empty_database() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut conn = db.connect().await;
    let report = migrator(&[LEDGER, DROP_ACKNOWLEDGED]).up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), 2);
    assert_eq!(report.backup, None, "the database held nothing but our own tables");
    let file = sqlite_file(&db);
    let beside: Vec<String> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("backup"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}

/// The file of a SQLite test database.
fn sqlite_file(db: &TestDb) -> std::path::PathBuf {
    let url = db.url.expose();
    let path = url.strip_prefix("sqlite://").unwrap().split('?').next().unwrap();
    std::path::PathBuf::from(path)
}

#[tokio::test]
async fn sqlite_takes_no_snapshot_when_nothing_is_risky() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut conn = db.connect().await;
    let report = migrator(&[ACKNOWLEDGES_EVERYTHING]).up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.backup, None);
}

mod backup_command {
    use super::*;

    async fn runs_first_and_its_failure_changes_nothing(backend: Backend) {
        let db = TestDb::new(backend).await;
        let mut conn = db.connect().await;
        let mut inspect = db.inspect().await;
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("backup.txt");

        let failing = BackupOptions {
            command: Some("echo 'pg_dump: connection refused' >&2; exit 3".to_owned()),
            ..Default::default()
        };
        let error = migrator(&[LEDGER]).with_backup(failing).up(&mut conn, Scope::All).await.expect_err("backup fails");
        let text = error.to_string();
        assert!(matches!(error, Error::Backup { .. }), "{error:?}");
        assert!(text.contains("no migration was run") && text.contains("exit status: 3"), "{text}");
        assert!(text.contains("pg_dump: connection refused"), "{text}");
        assert!(!inspect.table_exists("ledger").await);

        let command = format!(
            "test -n \"$MIGRATIONS_RS_DATABASE_URL\" && echo \"$MIGRATIONS_RS_BACKEND $MIGRATIONS_RS_BACKUP_REASON\" > {}",
            marker.display()
        );
        let working = BackupOptions { command: Some(command), ..Default::default() };
        let report = migrator(&[LEDGER]).with_backup(working).up(&mut conn, Scope::All).await.unwrap();
        assert_eq!(report.backup, Some(Backup::Command { reason: "20240301000000 create_ledger".to_owned() }));
        let written = std::fs::read_to_string(&marker).unwrap();
        assert_eq!(written.trim(), format!("{} 20240301000000 create_ledger", backend.name()));
    }

    #[tokio::test]
    async fn postgres() {
        runs_first_and_its_failure_changes_nothing(Backend::Postgres).await
    }

    /// PostgreSQL trusts local connections whatever the password, so the URL
    /// can carry one: the failing command echoes it on both streams, whole,
    /// percent-decoded and alone, and the error repeats none of it.
    #[tokio::test]
    async fn the_output_of_a_failing_command_never_shows_the_password() {
        let db = TestDb::new(Backend::Postgres).await;
        let url = db.url.expose().replacen("@", ":Hunter%232-Secret@", 1) + "?password=Other%21Secret";
        let mut conn =
            migrations_rs::Connection::connect(&migrations_rs::DatabaseUrl::parse(&url).unwrap()).await.unwrap();
        let command = "echo \"dumping $MIGRATIONS_RS_DATABASE_URL\"; echo 'password Hunter#2-Secret Other!Secret' >&2; \
                       echo \"pg_dump: error: $MIGRATIONS_RS_DATABASE_URL refused\" >&2; exit 4";
        let failing = BackupOptions { command: Some(command.to_owned()), ..Default::default() };
        let error = migrator(&[LEDGER]).with_backup(failing).up(&mut conn, Scope::All).await.expect_err("backup fails");
        let text = error.to_string();
        for secret in ["Hunter%232-Secret", "Hunter#2-Secret", "Other%21Secret", "Other!Secret"] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        assert!(
            text.contains("exit status: 4") && text.contains("pg_dump: error: postgres://postgres:****@"),
            "{text}"
        );
        assert!(text.contains("its output: dumping postgres://postgres:****@"), "stdout is shown too: {text}");
        assert!(!db.inspect().await.table_exists("ledger").await);
    }

    #[tokio::test]
    async fn mysql() {
        runs_first_and_its_failure_changes_nothing(Backend::MySql).await
    }

    #[tokio::test]
    async fn without_a_command_the_run_goes_on_and_says_why() {
        let db = TestDb::new(Backend::Postgres).await;
        let mut conn = db.connect().await;
        let report = migrator(&[LEDGER]).up(&mut conn, Scope::All).await.unwrap();
        let Some(Backup::Skipped { reason, .. }) = &report.backup else { panic!("{:?}", report.backup) };
        assert!(reason.contains("no backup command is configured for PostgreSQL"), "{reason}");
    }
}

#[test]
fn every_rule_can_be_acknowledged_by_name() {
    let registry = Registry::from_linked().unwrap();
    let migration = registry.get(v(ACKNOWLEDGES_EVERYTHING)).unwrap();
    for rule in Rule::ALL {
        assert!(migration.allow.contains(&rule.allow_name().as_str()), "`allow = [{}]` is accepted", rule.allow_name());
    }
    assert_eq!(migration.allow.len(), Rule::ALL.len());
}

/// The command line in this process: `lint` and `up` over every migration of this file.
mod command_line {
    use super::*;

    fn run(args: &[&str]) -> (std::process::ExitCode, String, String) {
        support::cli_in_process(args)
    }

    #[test]
    fn lint_fails_on_an_unacknowledged_drop_and_says_how_to_acknowledge_it() {
        for backend in ["sqlite", "postgres", "mysql"] {
            let (code, out, _) = run(&["lint", "--backend", backend]);
            assert_eq!(code, std::process::ExitCode::FAILURE, "{out}");
            assert!(out.contains("20240302000000 drop_note_unacknowledged"), "{out}");
            assert!(out.contains("error    drop-column"), "{out}");
            assert!(out.contains("if intended: add `allow = [drop_column]` to its #[migration]"), "{out}");
            assert!(out.contains("allowed  drop-column"), "the acknowledged one is listed too: {out}");
        }
        let (_, out, _) = run(&["lint", "--backend", "postgres", "--json"]);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["errors"], 1, "only the unacknowledged drop: {value}");
        let migrations = value["migrations"].as_array().unwrap();
        let delete = migrations.iter().find(|m| m["name"] == "read_then_delete_everything").unwrap();
        assert!(delete["incomplete"].as_str().unwrap().contains("checked as they run"), "{delete}");
    }

    #[test]
    fn the_backup_line_says_the_snapshot_was_taken_before_the_run() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let db = runtime.block_on(TestDb::new(Backend::Sqlite));
        let (code, _, err) = run(&["up", "--to", "20240301000000", "--database-url", db.url.expose()]);
        assert_eq!(code, std::process::ExitCode::SUCCESS, "{err}");
        assert!(!err.contains("backup"), "no snapshot of an empty database: {err}");
        let (code, _, err) = run(&["up", "--to", "20240303000000", "--database-url", db.url.expose()]);
        assert_eq!(code, std::process::ExitCode::SUCCESS, "{err}");
        let line = err.lines().find(|l| l.contains("snapshot")).unwrap_or_else(|| panic!("{err}"));
        let dir = super::sqlite_file(&db).parent().unwrap().display().to_string();
        assert!(line.starts_with(&format!("backup: {dir}/test.backup-")), "on a line of its own: {line}");
        assert!(
            line.ends_with(
                ".db, a snapshot taken before this run changed anything; the run includes 20240303000000 drop_note_acknowledged"
            ),
            "{line}"
        );
    }

    #[test]
    fn up_is_refused_with_exit_1_and_nothing_changed_on_every_backend() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            let db = runtime.block_on(TestDb::new(backend));
            let (code, _, err) = run(&["up", "--database-url", db.url.expose()]);
            assert_eq!(code, std::process::ExitCode::FAILURE, "{err}");
            assert!(err.contains("can destroy data, and their migration does not acknowledge it"), "{err}");
            assert!(err.contains("drop_note_unacknowledged"), "{err}");
            // The drop was refused as it was sent: the column and its row are still there.
            let notes = runtime.block_on(async { db.inspect().await.strings("SELECT note FROM ledger").await });
            assert_eq!(notes, ["kept"], "{backend}");
        }
    }
}
