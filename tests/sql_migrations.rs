//! SQL migrations: a folder embedded at compile time in the same graph as
//! Rust migrations, on every backend; and the standalone `migrations-rs`
//! binary running folders in sqlx's and diesel's layouts on PostgreSQL.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{Backend, Migrator, Scope, Version, registry::Registry};
use std::path::Path;
use std::process::{Command, Output};
use support::TestDb;

#[migration(version = 2024_06_01_000000, risk = [schema])]
mod create_embedded_notes {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("embedded_notes")
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .col(ColumnDef::new("body").string_len(100).not_null()),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("embedded_notes")).await
    }
}

migrations_rs::sql_migrations!("../tests/sql/embedded");

const EMBEDDED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sql/embedded");

on_every_backend!(embedded_sql_runs_in_one_graph_with_rust_migrations);

async fn embedded_sql_runs_in_one_graph_with_rust_migrations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let migrator = Migrator::from_linked().unwrap();
    let report = migrator.up(&mut conn, Scope::All).await.unwrap();
    let order: Vec<&str> = report.applied.iter().map(|s| s.name).collect();
    assert_eq!(order, ["create_embedded_notes", "embedded_fill", "sqlx_style_index"]);
    let mut inspect = db.inspect().await;
    assert_eq!(
        inspect.strings("SELECT body FROM embedded_notes ORDER BY id").await,
        ["from SQL; with a semicolon", "and a second statement"]
    );
    // The index migration has no down file: reverting through it is refused, naming it.
    let error = migrator.down(&mut conn, migrations_rs::RevertScope::Steps(1)).await.unwrap_err();
    assert!(error.to_string().contains("20240601000200 sqlx_style_index"), "{error}");
}

#[test]
fn embedded_records_match_the_files() {
    let registry = Registry::from_linked().unwrap();
    let fill = registry.get(Version::from_checked(20240601000100)).unwrap();
    assert_eq!(fill.module, "migrations-rs");
    assert_eq!(fill.depends_on, &[Version::from_checked(20240601000000)]);
    assert!(fill.down.is_some() && fill.transaction && !fill.irreversible);
    let loaded = migrations_rs_runtime::sql::folder::load(Path::new(EMBEDDED)).unwrap();
    assert_eq!(loaded.migrations.len(), 2);
    for at_runtime in &loaded.migrations {
        let compiled = registry.get(at_runtime.version).unwrap();
        assert_eq!(compiled.checksum, at_runtime.checksum, "the macro and the loader compute the same checksum");
    }
    assert!(loaded.ignored.iter().any(|p| p.ends_with("README.md")));
}

fn standalone(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrations-rs")
}

fn ok(output: Output) -> String {
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "exit {:?}\n{stdout}\n{stderr}", output.status.code());
    format!("{stdout}{stderr}")
}

/// Applies, reverts and re-applies a whole folder with the standalone binary.
async fn apply_revert_reapply(layout: &str, count: usize) {
    let db = TestDb::new(Backend::Postgres).await;
    let folder = format!("{}/../tests/sql/{layout}", env!("CARGO_MANIFEST_DIR"));
    let args = |verb: &[&'static str]| -> Vec<String> {
        let mut all: Vec<String> = verb.iter().map(|s| (*s).to_owned()).collect();
        all.extend(["--sql-dir".to_owned(), folder.clone(), "--database-url".to_owned(), db.url.expose().to_owned()]);
        all
    };
    let run = |verb: &[&'static str]| {
        let args = args(verb);
        standalone(Path::new("."), &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let lint = ok(run(&["lint"]));
    assert!(lint.contains(&format!("{count} migration(s) analysed for PostgreSQL: 0 error(s)")), "{lint}");
    let up = ok(run(&["up"]));
    assert!(up.contains(&format!("{count} migration(s) applied in batch 1")), "{up}");

    // The bodies arrived whole: triggers, functions and dollar quotes work.
    let mut inspect = db.inspect().await;
    inspect.execute("INSERT INTO users (email, display_name) VALUES ('Ada@Example.com', 'Ada')").await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM audit_log WHERE table_name = 'users'").await, 2);
    assert_eq!(inspect.strings("SELECT slugify('Hello, World!')").await, ["hello-world"]);
    inspect.execute("SELECT make_greeter('Hi')").await;
    assert_eq!(inspect.strings("SELECT greet('you')").await, ["Hi, you;"]);
    assert_eq!(inspect.scalar("SELECT count(*) FROM tags WHERE name = 'sql $$ quoting'").await, 1);
    assert_eq!(inspect.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'comments_by_post'").await, 1);

    let down = ok(run(&["down", "--steps", "100"]));
    assert!(down.contains(&format!("{count} migration(s) reverted")), "{down}");
    let left = inspect
        .strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
        .await;
    assert_eq!(left, ["migrations_rs_backfills", "migrations_rs_history", "migrations_rs_lock", "migrations_rs_log"]);
    let again = ok(run(&["up"]));
    assert!(again.contains(&format!("{count} migration(s) applied")), "{again}");
    let status = ok(run(&["status"]));
    assert!(status.contains(&format!("{count} applied, 0 pending: up to date")), "{status}");
}

#[tokio::test]
async fn standalone_binary_runs_a_sqlx_folder_on_postgres() {
    apply_revert_reapply("sqlx-postgres", 22).await;
}

#[tokio::test]
async fn standalone_binary_runs_a_diesel_folder_on_postgres() {
    apply_revert_reapply("diesel-postgres", 23).await;
}

#[test]
fn standalone_binary_scaffolds_sql_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let created = ok(standalone(dir.path(), &["create", "add_avatars", "--risk", "schema"]));
    assert!(created.contains("created migrations/V") && created.contains("__add_avatars.sql"), "{created}");
    let files: Vec<String> = std::fs::read_dir(dir.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let up = files.iter().find(|f| !f.ends_with(".down.sql")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("migrations").join(up)).unwrap();
    assert!(text.starts_with("-- migrations-rs: risk = [schema]"), "{text}");
    let taken = standalone(dir.path(), &["create", "add_avatars"]);
    assert_eq!(taken.status.code(), Some(1), "a taken name is refused");
    let status = standalone(dir.path(), &["status"]);
    let said = String::from_utf8_lossy(&status.stderr).into_owned();
    assert_eq!(status.status.code(), Some(1), "status creates no database: {said}");
    assert!(said.contains("migrations.db does not exist") && said.contains("`up` creates it"), "{said}");
    // The new migration holds no statement yet: `up` refuses it rather than record it as done.
    let up = standalone(dir.path(), &["up"]);
    let said = String::from_utf8_lossy(&up.stderr).into_owned();
    assert_eq!(up.status.code(), Some(1), "{said}");
    assert!(said.contains("1 pending migration(s) have an empty `up`") && said.contains("add_avatars"), "{said}");
    assert!(said.contains("`-- migrations-rs: empty` in a SQL file"), "{said}");
}
