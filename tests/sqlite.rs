//! Applying and reverting on a real SQLite file: history, audit log,
//! failures, checksums, and what the database holds that the code does not.

mod support;

use migrations_rs::prelude::*;
use migrations_rs::sqlx::{self, SqliteConnection};
use migrations_rs::{Error, MigrationState, Migrator, RevertTarget, Version};
use support::TempSqlite;

#[migration(version = 2024_01_01_000000, risk = [schema])]
mod create_accounts {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").await?;
        db.exec("CREATE TABLE switches (name TEXT NOT NULL)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE switches").await?;
        db.exec("DROP TABLE accounts").await
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
        db.exec("CREATE TABLE notes (body TEXT NOT NULL CHECK (length(body) < 10))").await?;
        db.exec("INSERT INTO notes (body) SELECT name FROM switches").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE notes").await
    }
}

#[migration(version = 2024_01_04_000000, depends_on = [seed_accounts], risk = [data], irreversible)]
mod uppercase_names {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let rows = db.fetch_all(Query::select().columns(["id", "name"]).from("accounts")).await?;
        for row in rows {
            let id: i64 = row.get("id")?;
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

/// SQLite refuses VACUUM inside a transaction: this only works because the
/// migration runs outside one.
#[migration(version = 2024_01_06_000000, depends_on = [index_notes], transaction = false)]
mod vacuum {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("VACUUM").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("VACUUM").await
    }
}

fn v(n: u64) -> Version {
    Version::parse(&n.to_string()).unwrap()
}

fn migrator() -> Migrator {
    Migrator::from_linked().expect("the test migrations form a valid registry")
}

async fn scalar(conn: &mut SqliteConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

async fn table_exists(conn: &mut SqliteConnection, table: &str) -> bool {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
        .bind(table)
        .fetch_one(conn)
        .await
        .unwrap();
    count == 1
}

#[tokio::test]
async fn applies_everything_in_graph_order_and_records_it() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    let report = migrator().up(&mut conn, None).await.unwrap();
    let applied: Vec<&str> = report.applied.iter().map(|s| s.name).collect();
    assert_eq!(
        applied,
        ["create_accounts", "seed_accounts", "create_notes", "uppercase_names", "index_notes", "vacuum"]
    );
    assert_eq!(report.batch, Some(1));

    let mut inspect = db.inspect().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM accounts ORDER BY id").fetch_all(&mut inspect).await.unwrap();
    assert_eq!(names, ["ADA", "BOB"], "the data migration read and rewrote every row");
    let row: (i64, String, String, String, String, String, String, i64, i64) = sqlx::query_as(
        "SELECT version, name, module, module_version, checksum, risk, applied_by, batch, seq \
         FROM migrations_rs_history WHERE name = 'create_notes'",
    )
    .fetch_one(&mut inspect)
    .await
    .unwrap();
    assert_eq!(row.0, 20240103000000);
    assert_eq!((row.1.as_str(), row.2.as_str()), ("create_notes", "migrations-rs"));
    assert_eq!(row.3, env!("CARGO_PKG_VERSION"));
    assert_eq!(row.4, migrator().registry().get(v(20240103000000)).unwrap().checksum.to_hex());
    assert_eq!(row.4.len(), 64);
    assert_eq!(row.5, "schema,data");
    assert!(row.6.contains('@'), "applied_by is user@host: {}", row.6);
    assert_eq!((row.7, row.8), (1, 3));
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE action = 'apply'").await, 6);

    let again = migrator().up(&mut conn, None).await.unwrap();
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

#[tokio::test]
async fn applies_up_to_a_target_and_its_dependencies_only() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    let report = migrator().up(&mut conn, Some(v(20240103000000))).await.unwrap();
    let applied: Vec<&str> = report.applied.iter().map(|s| s.name).collect();
    assert_eq!(applied, ["create_accounts", "create_notes"]);
    let error = migrator().up(&mut conn, Some(v(20991231000000))).await.unwrap_err();
    assert!(matches!(error, Error::UnknownVersion { .. }), "{error}");
}

#[tokio::test]
async fn reverts_by_steps_and_to_a_target_then_reapplies() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Some(v(20240103000000))).await.unwrap();
    migrator().up(&mut conn, Some(v(20240102000000))).await.unwrap();

    let reverted = migrator().down(&mut conn, RevertTarget::Steps(1)).await.unwrap();
    assert_eq!(reverted.reverted.iter().map(|s| s.name).collect::<Vec<_>>(), ["seed_accounts"]);
    let mut inspect = db.inspect().await;
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM accounts").await, 0, "down removed the seeded rows");

    let reverted = migrator().down(&mut conn, RevertTarget::To(v(20240101000000))).await.unwrap();
    assert_eq!(reverted.reverted.iter().map(|s| s.name).collect::<Vec<_>>(), ["create_notes"]);
    assert!(!table_exists(&mut inspect, "notes").await);
    assert!(table_exists(&mut inspect, "accounts").await);

    let reapplied = migrator().up(&mut conn, None).await.unwrap();
    assert_eq!(reapplied.applied.len(), 5);
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_history").await, 6);
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE action = 'revert'").await, 2);
    // Batches number runs that are still applied: after reverting batch 2, the next run is batch 2 again.
    assert_eq!(scalar(&mut inspect, "SELECT max(batch) FROM migrations_rs_history").await, 2);
}

#[tokio::test]
async fn a_failing_migration_leaves_no_trace_but_its_log_entry() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Some(v(20240102000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    sqlx::query("INSERT INTO switches (name) VALUES ('far too long for a note')").execute(&mut inspect).await.unwrap();

    let error = migrator().up(&mut conn, None).await.unwrap_err();
    let Error::MigrationFailed { label, completed, cause, .. } = &error else { panic!("unexpected {error}") };
    assert_eq!(label, "20240103000000 create_notes");
    assert!(completed.is_empty(), "create_notes is the first step of this run");
    assert!(cause.to_string().contains("CHECK constraint failed"), "{cause}");
    assert!(error.to_string().contains("nothing of it was kept"), "{error}");

    assert!(!table_exists(&mut inspect, "notes").await, "the table created before the failure was rolled back");
    assert_eq!(
        scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_history WHERE version = 20240103000000").await,
        0
    );
    let (action, logged_error): (String, String) =
        sqlx::query_as("SELECT action, error FROM migrations_rs_log WHERE version = 20240103000000")
            .fetch_one(&mut inspect)
            .await
            .unwrap();
    assert_eq!(action, "apply_failed");
    assert!(logged_error.contains("CHECK constraint failed"), "{logged_error}");
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_history").await, 2, "earlier migrations stay");

    sqlx::query("DELETE FROM switches").execute(&mut inspect).await.unwrap();
    let report = migrator().up(&mut conn, None).await.unwrap();
    assert_eq!(report.applied.len(), 4, "after the fix the rest applies");
}

#[tokio::test]
async fn a_failure_later_in_a_run_reports_what_was_done_before_it() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Some(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    sqlx::query("INSERT INTO switches (name) VALUES ('far too long for a note')").execute(&mut inspect).await.unwrap();
    let error = migrator().up(&mut conn, None).await.unwrap_err();
    let Error::MigrationFailed { completed, .. } = &error else { panic!("unexpected {error}") };
    assert_eq!(completed, &[v(20240102000000)]);
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_history").await, 2);
}

#[tokio::test]
async fn a_changed_migration_stops_up_before_anything_runs() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Some(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    sqlx::query("UPDATE migrations_rs_history SET checksum = 'aaaaaaaaaaaaaaaa' WHERE version = 20240101000000")
        .execute(&mut inspect)
        .await
        .unwrap();

    let error = migrator().up(&mut conn, None).await.unwrap_err();
    let Error::ChecksumMismatch { mismatches } = &error else { panic!("unexpected {error}") };
    assert_eq!(mismatches.len(), 1);
    let text = error.to_string();
    assert!(text.contains("20240101000000 create_accounts"), "{text}");
    assert!(text.contains("tests/sqlite.rs:"), "names where the migration is: {text}");
    assert!(text.contains("put the change in a new migration"), "says what to do: {text}");
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_history").await, 1, "nothing else ran");
    let status = migrator().status(&mut conn).await.unwrap();
    assert!(!status.is_up_to_date());
    assert!(matches!(status.migrations[0].state, MigrationState::Applied { checksum_matches: false, .. }));
}

#[tokio::test]
async fn a_migration_without_transaction_runs_outside_one() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    let report = migrator().up(&mut conn, None).await.unwrap();
    assert_eq!(report.applied.last().unwrap().name, "vacuum");
    let reverted = migrator().down(&mut conn, RevertTarget::Steps(1)).await.unwrap();
    assert_eq!(reverted.reverted[0].name, "vacuum");
    let mut inspect = db.inspect().await;
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_log WHERE version = 20240106000000").await, 2);
}

#[tokio::test]
async fn an_irreversible_migration_is_never_reverted() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, None).await.unwrap();
    let error = migrator().down(&mut conn, RevertTarget::Steps(4)).await.unwrap_err();
    assert!(error.to_string().contains("20240104000000 uppercase_names"), "{error}");
    assert!(matches!(error, Error::Irreversible { .. }));
    let mut inspect = db.inspect().await;
    assert_eq!(scalar(&mut inspect, "SELECT count(*) FROM migrations_rs_history").await, 6, "nothing was reverted");
}

#[tokio::test]
async fn applied_migrations_missing_from_the_code_are_reported() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Some(v(20240101000000))).await.unwrap();
    let mut inspect = db.inspect().await;
    sqlx::query(
        "INSERT INTO migrations_rs_history VALUES \
         (20230101000000, 'removed_long_ago', 'old_crate', '0.1.0', 'ab', '', '2023-01-01T00:00:00.000Z', 'x@y', 1, 1, 0)",
    )
    .execute(&mut inspect)
    .await
    .unwrap();

    let status = migrator().status(&mut conn).await.unwrap();
    assert_eq!(status.missing_from_code.len(), 1);
    assert_eq!(status.missing_from_code[0].name, "removed_long_ago");
    assert!(!status.is_up_to_date());
    let report = migrator().up(&mut conn, None).await.unwrap();
    assert_eq!(report.missing_from_code.len(), 1, "up reports it too");
}

#[tokio::test]
async fn an_older_pending_migration_is_applied_and_reported_out_of_order() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    migrator().up(&mut conn, Some(v(20240103000000))).await.unwrap();
    let status = migrator().status(&mut conn).await.unwrap();
    let seed = status.migrations.iter().find(|m| m.name == "seed_accounts").unwrap();
    assert_eq!(seed.state, MigrationState::Pending { out_of_order: true });
    let report = migrator().up(&mut conn, None).await.unwrap();
    let seed = report.applied.iter().find(|s| s.name == "seed_accounts").unwrap();
    assert!(seed.out_of_order);
    assert!(!report.applied.iter().find(|s| s.name == "index_notes").unwrap().out_of_order);
}

#[tokio::test]
async fn status_of_a_new_database_changes_nothing() {
    let db = TempSqlite::new();
    let mut conn = db.connect().await;
    let status = migrator().status(&mut conn).await.unwrap();
    assert_eq!(status.pending().count(), 6);
    let mut inspect = db.inspect().await;
    assert!(!table_exists(&mut inspect, "migrations_rs_history").await, "status creates no table");
}
