//! Adoption from sqlx, diesel and refinery on SQLite, PostgreSQL and
//! MariaDB: each tool's history table is created with the tool's own DDL and
//! rows, adopted, and then `up` must run only the migrations that are new.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{
    Backend, Migrator, Scope,
    adopt::{AdoptReport, MatchedBy, Source},
    error::Remedy,
};
use std::path::Path;
use std::process::{Command, Output};
use support::{Inspect, TestDb, example_binary};

#[migration(version = 2024_01_15_093000, risk = [schema])]
mod create_users {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE users").await
    }
}

#[migration(version = 2024_01_16_101500, depends_on = [create_users], risk = [schema])]
mod create_posts {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE posts").await
    }
}

/// The first migration written after the move: the only one `up` may run.
#[migration(version = 2024_02_01_000000, depends_on = [create_posts], risk = [schema])]
mod add_post_titles {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("posts").add_column(ColumnDef::new("title").string_len(200).null())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("posts").drop_column("title")).await
    }
}

on_every_backend!(
    adopts_sqlx_history_then_runs_only_new_migrations,
    adopts_diesel_history_then_runs_only_new_migrations,
    adopts_refinery_history_then_runs_only_new_migrations,
    refuses_a_failed_sqlx_migration,
    finds_one_tool_or_says_why_not,
    cli_adopt_dry_run_json_and_protected_environment,
);

/// The schema the other tool's two migrations built.
async fn their_schema(inspect: &mut Inspect) {
    inspect.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL)").await;
    inspect.execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL)").await;
}

/// sqlx's own DDL for its history table (sqlx-{postgres,mysql,sqlite} `migrate.rs`).
async fn sqlx_table(inspect: &mut Inspect, backend: Backend) {
    let (installed_on, checksum) = match backend {
        Backend::Postgres => ("TIMESTAMPTZ NOT NULL DEFAULT now()", "BYTEA"),
        _ => ("TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP", "BLOB"),
    };
    inspect
        .execute(&format!(
            "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                installed_on {installed_on},
                success BOOLEAN NOT NULL,
                checksum {checksum} NOT NULL,
                execution_time BIGINT NOT NULL
            )"
        ))
        .await;
}

/// A row as sqlx writes it: the checksum is SHA-384 bytes, the time in nanoseconds.
async fn sqlx_row(inspect: &mut Inspect, backend: Backend, version: i64, description: &str, success: bool) {
    let checksum = match backend {
        Backend::Postgres => "'\\x9f86d081884c7d65'".to_owned(),
        _ => "X'9F86D081884C7D65'".to_owned(),
    };
    inspect
        .execute(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({version}, '{description}', {}, {checksum}, 1843000)",
            if success { "TRUE" } else { "FALSE" }
        ))
        .await;
}

/// diesel's own DDL (diesel_migrations `setup_migration_table.sql`).
async fn diesel_table(inspect: &mut Inspect) {
    inspect
        .execute(
            "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
                version VARCHAR(50) PRIMARY KEY NOT NULL,
                run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
            )",
        )
        .await;
}

/// refinery's own DDL (refinery_core `ASSERT_MIGRATIONS_TABLE_QUERY`).
async fn refinery_table(inspect: &mut Inspect) {
    inspect
        .execute(
            "CREATE TABLE IF NOT EXISTS refinery_schema_history (
                version INT4 PRIMARY KEY,
                name VARCHAR(255),
                applied_on VARCHAR(255),
                checksum VARCHAR(255)
            )",
        )
        .await;
}

/// Adopts, checks what was recorded, then checks that `up` runs only the new
/// migration (running an adopted one again would fail: its table exists) and
/// that adopting again records nothing.
async fn adopt_then_up(db: &TestDb, source: Source, by: MatchedBy, unknown: &[&str]) -> AdoptReport {
    let migrator = Migrator::from_linked().unwrap();
    let mut conn = db.connect().await;
    let preview = migrator.plan_adoption(&mut conn, source).await.unwrap();
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("migrations_rs_history").await, "a dry run creates nothing");

    let report = migrator.adopt(&mut conn, source).await.unwrap();
    assert_eq!(preview.recorded, report.recorded, "the dry run showed what adoption did");
    let recorded: Vec<(&str, MatchedBy)> = report.recorded.iter().map(|a| (a.name, a.matched_by)).collect();
    assert_eq!(recorded, [("create_users", by), ("create_posts", by)]);
    let theirs: Vec<&str> = report.unknown.iter().map(|m| m.version.as_str()).collect();
    assert_eq!(theirs, unknown, "their migrations we do not know are reported");
    let pending: Vec<&str> = report.pending.iter().map(|m| m.name).collect();
    assert_eq!(pending, ["add_post_titles"]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    assert_eq!(
        inspect.strings("SELECT name FROM migrations_rs_history ORDER BY seq").await,
        ["create_users", "create_posts"]
    );
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'adopt'").await, 2);
    let note = inspect.strings("SELECT error FROM migrations_rs_log WHERE version = 20240115093000").await;
    assert!(note[0].starts_with(&format!("adopted from {}", report.tool)), "{note:?}");

    let applied = migrator.up(&mut conn, Scope::All).await.unwrap();
    let names: Vec<&str> = applied.applied.iter().map(|s| s.name).collect();
    assert_eq!(names, ["add_post_titles"], "only the new migration runs");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 3);

    let again = migrator.adopt(&mut conn, source).await.unwrap();
    assert!(again.recorded.is_empty() && again.already_recorded.len() == 2, "{again:?}");
    assert!(again.pending.is_empty());
    report
}

async fn adopts_sqlx_history_then_runs_only_new_migrations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    their_schema(&mut inspect).await;
    sqlx_table(&mut inspect, backend).await;
    sqlx_row(&mut inspect, backend, 20240115093000, "create users", true).await;
    sqlx_row(&mut inspect, backend, 20240116101500, "create posts", true).await;
    sqlx_row(&mut inspect, backend, 20231201000000, "seed demo data", true).await;
    let report = adopt_then_up(&db, Source::Auto, MatchedBy::Version, &["20231201000000"]).await;
    assert_eq!(report.table, "_sqlx_migrations");
    assert_eq!(report.found, 3);
    assert!(report.recorded[0].theirs.applied_at.is_some(), "their time is kept: {report:?}");
}

async fn adopts_diesel_history_then_runs_only_new_migrations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    their_schema(&mut inspect).await;
    diesel_table(&mut inspect).await;
    // diesel's setup migration, a version as diesel 2 stores it, and one as older directories name it.
    for version in ["00000000000000", "20240115093000", "2024-01-16-101500"] {
        inspect.execute(&format!("INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')")).await;
    }
    let report = adopt_then_up(&db, Source::Diesel, MatchedBy::Version, &["00000000000000"]).await;
    assert_eq!(report.recorded[1].theirs.version, "2024-01-16-101500");
}

async fn adopts_refinery_history_then_runs_only_new_migrations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    their_schema(&mut inspect).await;
    refinery_table(&mut inspect).await;
    for (version, name) in [(1, "create_users"), (2, "create_posts"), (3, "dropped_feature")] {
        inspect
            .execute(&format!(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
                 VALUES ({version}, '{name}', '2024-01-15T09:30:0{version}Z', '1338548346858730295{version}')"
            ))
            .await;
    }
    let report = adopt_then_up(&db, Source::Refinery, MatchedBy::Name, &["3"]).await;
    assert_eq!(report.recorded[0].theirs.applied_at.as_deref(), Some("2024-01-15T09:30:01Z"));
}

async fn refuses_a_failed_sqlx_migration(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    sqlx_table(&mut inspect, backend).await;
    sqlx_row(&mut inspect, backend, 20240115093000, "create users", true).await;
    sqlx_row(&mut inspect, backend, 20240116101500, "create posts", false).await;
    let migrator = Migrator::from_linked().unwrap();
    let mut conn = db.connect().await;
    let error = migrator.adopt(&mut conn, Source::Sqlx).await.unwrap_err().to_string();
    assert!(error.contains("sqlx recorded migrations in _sqlx_migrations as failed"), "{error}");
    assert!(error.contains("20240116101500 create posts") && error.contains("nothing was adopted"), "{error}");
    assert!(migrator.plan_adoption(&mut conn, Source::Sqlx).await.is_err(), "a dry run refuses too");
    assert!(!inspect.table_exists("migrations_rs_history").await, "nothing was recorded");
}

async fn finds_one_tool_or_says_why_not(backend: Backend) {
    let db = TestDb::new(backend).await;
    let migrator = Migrator::from_linked().unwrap();
    let mut conn = db.connect().await;
    let none = migrator.adopt(&mut conn, Source::Auto).await.unwrap_err().to_string();
    assert!(none.contains("no history table of another tool") && none.contains("__diesel_schema_migrations"), "{none}");
    let missing = migrator.adopt(&mut conn, Source::Refinery).await.unwrap_err().to_string();
    assert!(missing.contains("no refinery_schema_history table"), "{missing}");
    let mut inspect = db.inspect().await;
    diesel_table(&mut inspect).await;
    refinery_table(&mut inspect).await;
    let several = migrator.adopt(&mut conn, Source::Auto).await.unwrap_err();
    assert!(several.to_string().contains("several tools"), "{several}");
    assert!(matches!(several.remedies()[..], [Remedy::ChooseTool { .. }]), "{several}");
    let chosen = migrator.adopt(&mut conn, Source::Diesel).await.unwrap();
    assert_eq!((chosen.found, chosen.recorded.len(), chosen.pending.len()), (0, 0, 3));
}

/// Runs the example program, whose first two migrations are 20240115093000 and 20240116101500.
fn migrate(dir: &Path, args: &[&str]) -> Output {
    Command::new(example_binary("migrate"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the example")
}

async fn cli_adopt_dry_run_json_and_protected_environment(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    sqlx_table(&mut inspect, backend).await;
    sqlx_row(&mut inspect, backend, 20240115093000, "create users", true).await;
    sqlx_row(&mut inspect, backend, 20240116101500, "create products", true).await;
    sqlx_row(&mut inspect, backend, 7, "legacy cleanup", true).await;
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.expose();

    let dry = migrate(dir.path(), &["adopt", "--dry-run", "--database-url", url]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{text}{}", String::from_utf8_lossy(&dry.stderr));
    assert!(text.contains("3 migration(s) found in _sqlx_migrations (sqlx)"), "{text}");
    assert!(text.contains(
        "20240115093000 create_users (migrations-rs-examples) <- their 20240115093000 create users (by version)"
    ));
    assert!(text.contains("theirs only, matching none of ours, not recorded:\n  7 legacy cleanup"), "{text}");
    assert!(text.contains("dry run: 2 migration(s) would be recorded; nothing was changed"), "{text}");
    assert!(!inspect.table_exists("migrations_rs_history").await);

    std::fs::write(
        dir.path().join("migrations.toml"),
        format!("[environments.production]\ndatabase_url = \"{url}\"\nprotected = true\n"),
    )
    .unwrap();
    let refused = migrate(dir.path(), &["adopt", "--env", "production"]);
    assert_eq!(refused.status.code(), Some(1));
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("Recording 2 migration(s) as applied") && error.contains("pass --yes"), "{error}");
    assert!(!inspect.table_exists("migrations_rs_history").await, "refused before anything changed");

    let adopted = migrate(dir.path(), &["adopt", "--from", "sqlx", "--env", "production", "--yes", "--json"]);
    assert!(adopted.status.success(), "{}", String::from_utf8_lossy(&adopted.stderr));
    let report: serde_json::Value = serde_json::from_slice(&adopted.stdout).unwrap();
    assert_eq!(report["tool"], "sqlx");
    assert_eq!(report["recorded"].as_array().unwrap().len(), 2);
    assert_eq!(report["unknown"][0]["version"], "7");
    assert_eq!(report["pending"].as_array().unwrap().len(), 6);

    let status = migrate(dir.path(), &["status", "--json", "--database-url", url]);
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let applied: Vec<&str> = value["status"]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"]["state"] == "applied")
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(applied, ["create_users", "create_products"]);
    let log = migrate(dir.path(), &["history", "--action", "adopt", "--json", "--database-url", url]);
    let entries: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");
}
