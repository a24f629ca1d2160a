//! The behaviour suite: the same tests, unchanged, on SQLite, PostgreSQL and
//! MariaDB, each in a database of its own. Where the backends differ (DDL is
//! not transactional on MariaDB) the test says what each must do.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{
    Backend, Error, Migrator, RevertScope, Scope, Version, error::Remedy, history::Tables, report::MigrationState,
};
use support::TestDb;

#[migration(version = 2024_01_01_000000, risk = [schema])]
mod create_accounts {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("accounts")
                .col(ColumnDef::new("id").integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new("name").string_len(100).not_null()),
        )
        .await?;
        db.exec(Table::create().table("switches").col(ColumnDef::new("name").string_len(200).not_null())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("switches")).await?;
        db.exec(Table::drop().table("accounts")).await
    }
}

#[migration(version = 2024_01_02_000000, depends_on = [create_accounts], risk = [data])]
mod seed_accounts {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Query::insert()
                .into_table("accounts")
                .columns(["name"])
                .values_panic(["ada".into()])
                .values_panic(["bob".into()]),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Query::delete().from_table("accounts").and_where(Expr::col("name").is_in(["ada", "bob"]))).await
    }
}

/// Fails half-way, after creating its table, when `switches` holds a long name.
#[migration(version = 2024_01_03_000000, depends_on = [create_accounts], risk = [schema, data])]
mod create_notes {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE notes (body VARCHAR(200) NOT NULL, CHECK (length(body) < 10))").await?;
        db.exec("INSERT INTO notes (body) SELECT name FROM switches").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("notes")).await
    }
}

#[migration(version = 2024_01_04_000000, depends_on = [seed_accounts], risk = [data], irreversible)]
mod uppercase_names {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let rows = db.fetch_all(Query::select().columns(["id", "name"]).from("accounts")).await?;
        for row in rows {
            let id: i32 = row.get("id")?;
            let name: String = row.get("name")?;
            db.exec(
                Query::update().table("accounts").value("name", name.to_uppercase()).and_where(Expr::col("id").eq(id)),
            )
            .await?;
        }
        Ok(())
    }
}

#[migration(version = 2024_01_05_000000, depends_on = [uppercase_names, create_notes], risk = [index])]
mod index_notes {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::create().name("notes_by_body").table("notes").col("body")).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::drop().name("notes_by_body").table("notes")).await
    }
}

/// Maintenance that no transaction can hold on SQLite and PostgreSQL.
#[migration(version = 2024_01_06_000000, depends_on = [index_notes], transaction = false)]
mod vacuum {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        match db.backend() {
            Backend::MySql => db.exec("ANALYZE TABLE notes").await,
            _ => db.exec("VACUUM").await,
        }
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// Outside a transaction, and failing half-way when `switches` holds a long name.
#[migration(version = 2024_01_07_000000, depends_on = [vacuum], risk = [schema, data], transaction = false)]
mod archive_switches {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("switch_archive").col(ColumnDef::new("name").string_len(9).not_null())).await?;
        db.exec("INSERT INTO notes (body) SELECT name FROM switches").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("switch_archive")).await
    }
}

const ALL: usize = 7;

fn v(n: u64) -> Version {
    Version::parse(&n.to_string()).unwrap()
}

fn migrator() -> Migrator {
    Migrator::from_linked().expect("the test migrations form a valid registry")
}

const LONG_SWITCH: &str = "INSERT INTO switches (name) VALUES ('far too long for a note')";

on_every_backend!(
    applies_everything_in_graph_order_and_records_it,
    applies_up_to_a_target_and_its_dependencies_only,
    reverts_by_steps_and_to_a_target_then_reapplies,
    a_failing_migration_is_rolled_back_or_left_dirty,
    a_failure_later_in_a_run_reports_what_was_done_before_it,
    a_failing_migration_without_transaction_is_left_dirty_until_resolved,
    a_changed_migration_stops_up_before_anything_runs,
    an_irreversible_migration_is_never_reverted,
    applied_migrations_missing_from_the_code_are_reported,
    an_older_pending_migration_is_applied_and_reported_out_of_order,
    strict_ordering_refuses_an_older_pending_migration,
    mark_applied_records_without_running,
    status_of_a_new_database_changes_nothing,
    custom_table_names_are_used_and_checked,
    a_step_whose_log_entry_is_refused_is_not_recorded_as_applied,
    a_run_that_stops_before_a_step_written_ahead_leaves_it_unrecorded,
);

async fn applies_everything_in_graph_order_and_records_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let report = migrator().up(&mut conn, Scope::All).await.unwrap();
    let applied: Vec<&str> = report.applied.iter().map(|s| s.name).collect();
    assert_eq!(
        applied,
        [
            "create_accounts",
            "seed_accounts",
            "create_notes",
            "uppercase_names",
            "index_notes",
            "vacuum",
            "archive_switches"
        ]
    );
    assert_eq!(report.batch, Some(1));

    let mut inspect = db.inspect().await;
    assert_eq!(
        inspect.strings("SELECT name FROM accounts ORDER BY id").await,
        ["ADA", "BOB"],
        "the data migration rewrote every row"
    );
    let texts = inspect
        .strings(
            "SELECT name FROM migrations_rs_history WHERE version = 20240103000000 UNION ALL \
             SELECT module FROM migrations_rs_history WHERE version = 20240103000000 UNION ALL \
             SELECT module_version FROM migrations_rs_history WHERE version = 20240103000000 UNION ALL \
             SELECT checksum FROM migrations_rs_history WHERE version = 20240103000000 UNION ALL \
             SELECT risk FROM migrations_rs_history WHERE version = 20240103000000 UNION ALL \
             SELECT applied_by FROM migrations_rs_history WHERE version = 20240103000000 UNION ALL \
             SELECT state FROM migrations_rs_history WHERE version = 20240103000000",
        )
        .await;
    let checksum = migrator().registry().get(v(20240103000000)).unwrap().checksum.to_hex();
    assert_eq!(
        texts[..5],
        ["create_notes", "migrations-rs", env!("CARGO_PKG_VERSION"), checksum.as_str(), "schema,data"]
    );
    assert!(texts[5].contains('@'), "applied_by is user@host: {}", texts[5]);
    assert_eq!(texts[6], "applied");
    assert_eq!(inspect.scalar("SELECT seq FROM migrations_rs_history WHERE version = 20240103000000").await, 3);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, ALL as i64);
    assert_eq!(
        inspect
            .strings(
                "SELECT name FROM migrations_rs_log WHERE version = 20240103000000 AND action = 'apply' UNION ALL \
                 SELECT performed_by FROM migrations_rs_log WHERE version = 20240103000000 AND action = 'apply'"
            )
            .await,
        [texts[0].as_str(), texts[5].as_str()],
        "the log entry written with the history row names the same migration and operator"
    );

    let again = migrator().up(&mut conn, Scope::All).await.unwrap();
    assert!(again.applied.is_empty(), "a second up is a no-op");
    assert_eq!(again.batch, None);
    let status = migrator().status(&mut conn).await.unwrap();
    assert!(status.is_up_to_date());
    assert!(
        status
            .migrations
            .iter()
            .all(|m| matches!(m.state, MigrationState::Applied { batch: 1, checksum_matches: true, .. }))
    );
}

async fn applies_up_to_a_target_and_its_dependencies_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let report = migrator().up(&mut conn, Scope::UpTo(v(20240103000000))).await.unwrap();
    let applied: Vec<&str> = report.applied.iter().map(|s| s.name).collect();
    assert_eq!(applied, ["create_accounts", "create_notes"]);
    let error = migrator().up(&mut conn, Scope::UpTo(v(20991231000000))).await.unwrap_err();
    assert!(matches!(error, Error::UnknownVersion { .. }), "{error}");
}

async fn reverts_by_steps_and_to_a_target_then_reapplies(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240103000000))).await.unwrap();
    migrator().up(&mut conn, Scope::UpTo(v(20240102000000))).await.unwrap();

    let reverted = migrator().down(&mut conn, RevertScope::Steps(1)).await.unwrap();
    assert_eq!(reverted.reverted.iter().map(|s| s.name).collect::<Vec<_>>(), ["seed_accounts"]);
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM accounts").await, 0, "down removed the seeded rows");

    let reverted = migrator().down(&mut conn, RevertScope::To(v(20240101000000))).await.unwrap();
    assert_eq!(reverted.reverted.iter().map(|s| s.name).collect::<Vec<_>>(), ["create_notes"]);
    assert!(!inspect.table_exists("notes").await);
    assert!(inspect.table_exists("accounts").await);

    let reapplied = migrator().up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(reapplied.applied.len(), ALL - 1);
    // Batches 1 and 2 applied, 3 and 4 reverted: a number is never given twice.
    assert_eq!(reapplied.batch, Some(5), "batch numbers are not reused after a revert");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE batch = 2").await, 1);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, ALL as i64);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'revert'").await, 2);
}

async fn a_failing_migration_is_rolled_back_or_left_dirty(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240102000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect.execute(LONG_SWITCH).await;

    let error = migrator().up(&mut conn, Scope::All).await.unwrap_err();
    let Error::MigrationFailed { label, completed, cause, dirty, .. } = &error else { panic!("unexpected {error}") };
    assert_eq!(label, "20240103000000 create_notes");
    assert!(completed.is_empty(), "create_notes is the first step of this run");
    assert!(cause.to_string().to_lowercase().contains("constraint"), "{cause}");
    let (action, logged_error) = {
        let rows = inspect.strings("SELECT action FROM migrations_rs_log WHERE version = 20240103000000").await;
        let errors = inspect.strings("SELECT error FROM migrations_rs_log WHERE version = 20240103000000").await;
        (rows, errors)
    };
    assert_eq!(action, ["apply_failed"]);
    assert!(logged_error[0].to_lowercase().contains("constraint"), "{}", logged_error[0]);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 2);

    if backend.transactional_ddl() {
        assert!(!dirty);
        assert!(error.to_string().contains("nothing of it was kept"), "{error}");
        assert!(!inspect.table_exists("notes").await, "the table created before the failure was rolled back");
        assert_eq!(
            inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE version = 20240103000000").await,
            0
        );
        inspect.execute("DELETE FROM switches").await;
    } else {
        // MariaDB committed the CREATE TABLE: the migration is recorded as dirty and blocks every run.
        assert!(dirty, "{error}");
        let resolve = Remedy::ResolveDirty { version: Version::parse("20240103000000").unwrap() };
        assert!(error.remedies().contains(&resolve), "{error}");
        assert!(resolve.to_string().contains("Migrator::mark_reverted(20240103000000)"), "{resolve}");
        assert!(inspect.table_exists("notes").await);
        let blocked = migrator().up(&mut conn, Scope::All).await.unwrap_err();
        assert!(matches!(blocked, Error::Dirty { .. }), "{blocked}");
        assert_eq!(blocked.remedies(), [resolve], "{blocked}");
        assert!(!blocked.to_string().contains("mark-applied"), "no command-line words: {blocked}");
        let status = migrator().status(&mut conn).await.unwrap();
        let notes = status.migrations.iter().find(|m| m.migration.name == "create_notes").unwrap();
        assert!(matches!(notes.state, MigrationState::Dirty { reverting: false, .. }), "{:?}", notes.state);
        // The operator undoes the half-done change and says so.
        inspect.execute("DROP TABLE notes").await;
        inspect.execute("DELETE FROM switches").await;
        migrator().mark_reverted(&mut conn, v(20240103000000)).await.unwrap();
    }
    let report = migrator().up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), ALL - 2, "after the fix the rest applies");
}

async fn a_failure_later_in_a_run_reports_what_was_done_before_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect.execute(LONG_SWITCH).await;
    let error = migrator().up(&mut conn, Scope::All).await.unwrap_err();
    let Error::MigrationFailed { completed, .. } = &error else { panic!("unexpected {error}") };
    assert_eq!(
        completed.iter().map(|s| (s.version, s.name)).collect::<Vec<_>>(),
        [(v(20240102000000), "seed_accounts")]
    );
    assert!(error.to_string().contains("the 1 migration completed before it, 20240102000000, stays done"), "{error}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 2);
}

async fn a_failing_migration_without_transaction_is_left_dirty_until_resolved(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::All).await.unwrap();
    migrator().down(&mut conn, RevertScope::Steps(1)).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect.execute(LONG_SWITCH).await;

    let error = migrator().up(&mut conn, Scope::All).await.unwrap_err();
    assert!(matches!(error, Error::MigrationFailed { dirty: true, .. }), "{error}");
    assert!(inspect.table_exists("switch_archive").await, "what ran before the failure stays: no transaction held it");
    assert_eq!(
        inspect.strings("SELECT state FROM migrations_rs_history WHERE version = 20240107000000").await,
        ["applying"]
    );

    let blocked = migrator().down(&mut conn, RevertScope::Steps(1)).await.unwrap_err();
    assert!(matches!(blocked, Error::Dirty { .. }), "down is blocked too: {blocked}");

    inspect.execute("DELETE FROM switches").await;
    inspect.execute("INSERT INTO notes (body) SELECT name FROM switches").await;
    migrator().mark_applied(&mut conn, v(20240107000000)).await.unwrap();
    assert_eq!(
        inspect.strings("SELECT state FROM migrations_rs_history WHERE version = 20240107000000").await,
        ["applied"]
    );
    assert!(migrator().status(&mut conn).await.unwrap().is_up_to_date());
    let actions =
        inspect.strings("SELECT action FROM migrations_rs_log WHERE version = 20240107000000 ORDER BY id").await;
    assert_eq!(actions, ["apply", "revert", "apply_failed", "mark_applied"]);
}

async fn a_changed_migration_stops_up_before_anything_runs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect
        .execute("UPDATE migrations_rs_history SET checksum = 'aaaaaaaaaaaaaaaa' WHERE version = 20240101000000")
        .await;

    let error = migrator().up(&mut conn, Scope::All).await.unwrap_err();
    let Error::ChecksumMismatch { mismatches } = &error else { panic!("unexpected {error}") };
    assert_eq!(mismatches.len(), 1);
    let text = error.to_string();
    assert!(text.contains("20240101000000 create_accounts"), "{text}");
    assert!(text.contains("tests/behaviour.rs:"), "names where the migration is: {text}");
    let remedies: Vec<String> = error.remedies().iter().map(ToString::to_string).collect();
    assert!(remedies[0].contains("put the change in a new migration"), "says what to do: {remedies:?}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 1, "nothing else ran");
    let status = migrator().status(&mut conn).await.unwrap();
    assert!(!status.is_up_to_date());
    assert!(matches!(status.migrations[0].state, MigrationState::Applied { checksum_matches: false, .. }));
}

async fn an_irreversible_migration_is_never_reverted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::All).await.unwrap();
    let mut inspect = db.inspect().await;

    // Strict: the plan is refused before anything is reverted.
    let error = migrator().strict_revert(true).down(&mut conn, RevertScope::Steps(5)).await.unwrap_err();
    assert!(error.to_string().contains("20240104000000 uppercase_names"), "{error}");
    assert!(matches!(error, Error::Irreversible { .. }));
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, ALL as i64, "nothing was reverted");

    // By default everything newer is reverted, and the run stops there.
    let error = migrator().down(&mut conn, RevertScope::Steps(5)).await.unwrap_err();
    let Error::RevertStopped { label, reverted, .. } = &error else { panic!("{error:?}") };
    assert_eq!(label, "20240104000000 uppercase_names");
    let reverted: Vec<u64> = reverted.iter().map(|s| s.version.as_u64()).collect();
    assert_eq!(reverted, [20240107000000, 20240106000000, 20240105000000]);
    assert!(error.to_string().contains("stopped at 20240104000000 uppercase_names"), "{error}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 4, "the four oldest stay applied");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE version = 20240104000000").await,
        1,
        "the irreversible one is still applied"
    );
}

async fn applied_migrations_missing_from_the_code_are_reported(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    inspect
        .execute(
            "INSERT INTO migrations_rs_history \
             (version, name, module, module_version, checksum, risk, applied_at, applied_by, execution_ms, batch, seq, state) \
             VALUES (20230101000000, 'removed_long_ago', 'old_crate', '0.1.0', 'ab', '', '2023-01-01T00:00:00.000Z', 'x@y', 1, 1, 0, 'applied')",
        )
        .await;

    let status = migrator().status(&mut conn).await.unwrap();
    assert_eq!(status.missing_from_code.len(), 1);
    assert_eq!(status.missing_from_code[0].name, "removed_long_ago");
    assert!(!status.is_up_to_date());
    let report = migrator().up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.missing_from_code.len(), 1, "up reports it too");
    assert_eq!(report.applied.len(), ALL - 1, "and still applies what is pending");
}

async fn an_older_pending_migration_is_applied_and_reported_out_of_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240103000000))).await.unwrap();
    let status = migrator().status(&mut conn).await.unwrap();
    let seed = status.migrations.iter().find(|m| m.migration.name == "seed_accounts").unwrap();
    assert_eq!(seed.state, MigrationState::Pending { out_of_order: true });
    let report = migrator().up(&mut conn, Scope::All).await.unwrap();
    let seed = report.applied.iter().find(|s| s.name == "seed_accounts").unwrap();
    assert!(seed.out_of_order);
    assert!(!report.applied.iter().find(|s| s.name == "index_notes").unwrap().out_of_order);
}

async fn strict_ordering_refuses_an_older_pending_migration(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240103000000))).await.unwrap();
    let error = migrator().strict_order(true).up(&mut conn, Scope::All).await.unwrap_err();
    assert!(matches!(error, Error::OutOfOrder { .. }), "{error}");
    assert!(error.to_string().contains("20240102000000 seed_accounts"), "{error}");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 2, "nothing was applied");
}

async fn mark_applied_records_without_running(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().mark_applied(&mut conn, v(20240101000000)).await.unwrap();
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("accounts").await, "the body did not run");
    let error = migrator().mark_applied(&mut conn, v(20240101000000)).await.unwrap_err();
    assert!(matches!(error, Error::AlreadyApplied { .. }), "{error}");
    migrator().mark_reverted(&mut conn, v(20240101000000)).await.unwrap();
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 0);
    let actions = inspect.strings("SELECT action FROM migrations_rs_log ORDER BY id").await;
    assert_eq!(actions, ["mark_applied", "mark_reverted"]);
}

async fn status_of_a_new_database_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let status = migrator().status(&mut conn).await.unwrap();
    assert_eq!(status.pending().count(), ALL);
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("migrations_rs_history").await, "status creates no table");
    assert!(!inspect.table_exists("migrations_rs_lock").await, "status takes no lock");
}

async fn custom_table_names_are_used_and_checked(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let tables = Tables::new("ops_history", "ops_log", "ops_lock").unwrap();
    migrator().with_tables(tables).up(&mut conn, Scope::UpTo(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM ops_history").await, 1);
    assert_eq!(inspect.scalar("SELECT count(*) FROM ops_log").await, 1);
    assert!(!inspect.table_exists("migrations_rs_history").await);

    let qualified = Tables::new("audit.history", "audit.log", "audit.lock").unwrap();
    if backend == Backend::Postgres {
        let fresh = TestDb::new(backend).await;
        let mut inspect = fresh.inspect().await;
        inspect.execute("CREATE SCHEMA audit").await;
        migrator().with_tables(qualified).up(&mut fresh.connect().await, Scope::UpTo(v(20240102000000))).await.unwrap();
        assert_eq!(inspect.scalar("SELECT count(*) FROM audit.history").await, 2);
        assert_eq!(inspect.scalar("SELECT count(*) FROM audit.log").await, 2);
        assert!(!inspect.table_exists("migrations_rs_history").await);
    } else {
        let error = migrator().with_tables(qualified).up(&mut conn, Scope::All).await.unwrap_err();
        assert!(error.to_string().contains("schema-qualified names work on PostgreSQL only"), "{error}");
    }
    for bad in ["history; DROP TABLE x", "1history", "a.b.c", "", "naïve"] {
        let error = Tables::new(bad, "log", "lock").unwrap_err();
        assert!(matches!(error, Error::InvalidTableName { .. }), "{bad:?}: {error}");
    }
}

/// The history change and the audit-log entry of a step commit together: on
/// MariaDB too, where the step's DDL ended the transaction it began in.
async fn a_step_whose_log_entry_is_refused_is_not_recorded_as_applied(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    // From now on the audit log refuses every entry.
    match backend {
        Backend::Sqlite => {
            inspect
                .execute(
                    "CREATE TRIGGER refuse_entries BEFORE INSERT ON migrations_rs_log \
                     BEGIN SELECT RAISE(ABORT, 'the log refuses entries'); END",
                )
                .await
        }
        _ => {
            inspect.execute("ALTER TABLE migrations_rs_log ADD COLUMN must_fill INT NOT NULL DEFAULT 0").await;
            inspect.execute("ALTER TABLE migrations_rs_log ALTER COLUMN must_fill DROP DEFAULT").await;
        }
    }
    let error = migrator().up(&mut conn, Scope::UpTo(v(20240103000000))).await.unwrap_err();
    let Error::MigrationFailed { label, dirty, .. } = &error else { panic!("unexpected {error}") };
    assert_eq!(label, "20240103000000 create_notes");
    let states = inspect.strings("SELECT state FROM migrations_rs_history WHERE version = 20240103000000").await;
    if backend.transactional_ddl() {
        assert!(!dirty, "{error}");
        assert!(states.is_empty(), "{states:?}");
        assert!(!inspect.table_exists("notes").await);
    } else {
        // The CREATE TABLE committed the step's row as it began; the step is dirty, not applied.
        assert!(dirty, "{error}");
        assert_eq!(states, ["applying"], "{error}");
        assert!(inspect.table_exists("notes").await);
    }
}

/// The unfinished row of a step that cannot be atomic goes in with the record
/// of the step before it; a run that stops between the two (here a hook after
/// each step fails) takes it back, so nothing is left dirty.
async fn a_run_that_stops_before_a_step_written_ahead_leaves_it_unrecorded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Scope::UpTo(v(20240104000000))).await.unwrap();
    migrator().up(&mut conn, Scope::UpTo(v(20240103000000))).await.unwrap();
    let failing = migrations_rs::migrator::Hook {
        name: "afterEachMigrate.sql".into(),
        sql: "SELECT * FROM no_such_table".into(),
    };
    let hooked =
        migrator().with_hooks(migrations_rs::migrator::Hooks { after_each: Some(failing), ..Default::default() });
    // index_notes applies; its record also commits the unfinished row of vacuum, which runs outside a transaction.
    let error = hooked.up(&mut conn, Scope::UpTo(v(20240106000000))).await.unwrap_err();
    assert!(error.to_string().contains("afterEachMigrate.sql"), "{error}");
    let mut inspect = db.inspect().await;
    let states = inspect.strings("SELECT state FROM migrations_rs_history WHERE version >= 20240105000000").await;
    assert_eq!(states, ["applied"], "index_notes applied, vacuum not recorded");
    let status = migrator().status(&mut conn).await.unwrap();
    assert!(status.migrations.iter().all(|m| !matches!(m.state, MigrationState::Dirty { .. })), "{status:?}");
    let report = migrator().up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(report.applied.len(), 2, "vacuum and archive_switches apply on the next run");
}
