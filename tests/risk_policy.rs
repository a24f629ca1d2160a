//! The risk policy on real folders: destructive statements on tables that
//! hold no rows run on a fresh install without --allow-destructive (and say so), the
//! same statements on tables with rows are refused, comments in the SQL
//! acknowledge statements, and `lint` reports migrations before the cut-off
//! as history.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::Backend;
use standalone::Folder;
use support::TestDb;

/// A history in sqlx's layout that drops a column, a table and every row
/// on its way; `upto` of its five migrations.
fn destructive_history(backend: Backend, upto: usize) -> Folder {
    let wipe = match backend {
        Backend::Sqlite => "DELETE FROM audit;",
        _ => "TRUNCATE TABLE audit;",
    };
    let files = [
        ("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, email varchar(100), legacy int);\n"),
        ("2_audit.up.sql", "CREATE TABLE audit (id int);\nCREATE TABLE scratch (id int);\n"),
        ("3_drop_legacy.up.sql", "ALTER TABLE users DROP COLUMN legacy;\n"),
        ("4_drop_scratch.up.sql", "DROP TABLE scratch;\n"),
        ("5_wipe_audit.up.sql", wipe),
    ];
    Folder::new(&files[..upto])
}

on_every_backend!(
    destructive_steps_apply_on_a_fresh_database_without_allow_destructive,
    a_diesel_folder_with_destructive_steps_applies_without_allow_destructive,
    the_same_drop_on_a_table_with_rows_is_refused,
    rows_written_earlier_in_the_same_run_are_seen
);

async fn destructive_steps_apply_on_a_fresh_database_without_allow_destructive(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = destructive_history(backend, 5);
    let up = folder.run(&db, &["up"]);
    assert_eq!(up.code, Some(0), "{}", up.all());
    assert!(up.stdout.contains("5 migration(s) applied"), "{}", up.all());
    for (step, rule) in [("3 drop_legacy", "drop-column"), ("4 drop_scratch", "drop-table")] {
        assert!(
            up.stderr.contains(&format!("note: {step}: {rule}:")) && up.stderr.contains("held no rows"),
            "each destructive step is reported as having lost nothing: {}",
            up.all()
        );
    }
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("scratch").await);
    let json = folder.run(&db, &["status", "--json"]);
    assert_eq!(json.code, Some(0), "{}", json.all());
}

async fn a_diesel_folder_with_destructive_steps_applies_without_allow_destructive(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sqlx_layout = destructive_history(backend, 5);
    let folder = Folder::new(&[]);
    for (n, name) in ["users", "audit", "drop_legacy", "drop_scratch", "wipe_audit"].iter().enumerate() {
        let text = std::fs::read_to_string(sqlx_layout.path().join(format!("{}_{name}.up.sql", n + 1))).unwrap();
        folder.write(&format!("2024-01-0{}-000000_{name}/up.sql", n + 1), &text);
        folder.write(&format!("2024-01-0{}-000000_{name}/down.sql", n + 1), "-- nothing to undo\nSELECT 1;\n");
    }
    let up = folder.run(&db, &["up"]);
    assert_eq!(up.code, Some(0), "{}", up.all());
    assert!(up.stdout.contains("5 migration(s) applied"), "{}", up.all());
    assert_eq!(up.stderr.matches("held no rows").count(), 3, "{}", up.all());
}

async fn the_same_drop_on_a_table_with_rows_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = destructive_history(backend, 2);
    folder.run(&db, &["up"]).ok();
    let mut inspect = db.inspect().await;
    inspect.execute("INSERT INTO users (id, email, legacy) VALUES (1, 'a@example.com', 7)").await;
    let full = destructive_history(backend, 5);
    for name in ["3_drop_legacy.up.sql", "4_drop_scratch.up.sql", "5_wipe_audit.up.sql"] {
        folder.write(name, &std::fs::read_to_string(full.path().join(name)).unwrap());
    }
    let before = inspect.schema().await;
    let refused = folder.run(&db, &["up"]);
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    let text = &refused.stderr;
    assert!(text.contains("drop-column: drops column `users`.`legacy`"), "{text}");
    assert!(text.contains("nothing was changed"), "refused before the run: {text}");
    assert!(
        text.contains("`-- migrations-rs:` header comment of its file")
            && text.contains("`-- migrations-rs: allow drop_column` on the line before the statement")
            && !text.contains("#[migration]"),
        "the advice for a SQL file names its comments: {text}"
    );
    assert!(!text.contains("drop-table"), "the empty table's drop is not refused: {text}");
    assert_eq!(inspect.schema().await, before, "nothing changed");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 2);
    // --allow-destructive still runs it.
    folder.run(&db, &["up", "--allow-destructive"]).ok();
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 5);
}

async fn rows_written_earlier_in_the_same_run_are_seen(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = Folder::new(&[
        ("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, legacy int);\n"),
        ("2_seed.up.sql", "-- migrations-rs: risk = [data]\nINSERT INTO users (id, legacy) VALUES (1, 2);\n"),
        ("3_drop_legacy.up.sql", "ALTER TABLE users DROP COLUMN legacy;\n"),
    ]);
    let refused = folder.run(&db, &["up"]);
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    assert!(
        refused.stderr.contains("drop-column") && refused.stderr.contains("the statement was not run"),
        "{}",
        refused.all()
    );
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 2, "1 and 2 stay applied");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM users WHERE legacy = 2").await,
        1,
        "the column and its data are still there"
    );
}

#[tokio::test]
async fn comments_in_the_sql_acknowledge_statements() {
    let db = TestDb::new(Backend::Postgres).await;
    let folder = Folder::new(&[
        ("1_t.up.sql", "CREATE TABLE t (id int, a int, b int, c int);\nINSERT INTO t VALUES (1, 2, 3, 4);\n"),
        (
            "2_drops.up.sql",
            "SELECT 1;\n-- migrations-rs: allow drop_column\nALTER TABLE t DROP COLUMN a;\n\
             -- safety-assured:start\nALTER TABLE t DROP COLUMN b;\nUPDATE t SET c = 0;\n-- safety-assured:end\n",
        ),
    ]);
    let lint = folder.run(&db, &["lint"]);
    assert_eq!(lint.code, Some(0), "{}", lint.all());
    assert!(lint.stdout.contains("0 error(s)") && lint.stdout.contains("3 acknowledged"), "{}", lint.all());
    folder.run(&db, &["up"]).ok();
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM t WHERE c = 0").await, 1);

    // On the first line of a file, before any statement, too.
    folder.write("3_first.up.sql", "-- migrations-rs: allow drop_column\nALTER TABLE t DROP COLUMN c;\n");
    folder.run(&db, &["up"]).ok();
    let columns = "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c'";
    assert_eq!(inspect.scalar(columns).await, 0, "the acknowledged drop ran");

    // An unknown rule in such a comment is named with its line.
    folder.write("4_typo.up.sql", "SELECT 1;\n-- migrations-rs: allow drop_colum\nALTER TABLE t DROP COLUMN id;\n");
    let typo = folder.run(&db, &["up"]);
    assert_eq!(typo.code, Some(1), "{}", typo.all());
    assert!(typo.stderr.contains("line 2: `-- migrations-rs: allow drop_colum` names no rule"), "{}", typo.all());
}

#[tokio::test]
async fn a_sqlite_table_rebuild_with_rows_is_not_data_loss() {
    let db = TestDb::new(Backend::Sqlite).await;
    let folder = Folder::new(&[
        ("1_users.up.sql", "CREATE TABLE users (id integer PRIMARY KEY, email text);\n"),
        (
            "2_rebuild.up.sql",
            "CREATE TABLE new_users (id integer PRIMARY KEY, email text NOT NULL DEFAULT '');\n\
             INSERT INTO new_users (id, email) SELECT id, coalesce(email, '') FROM users;\n\
             DROP TABLE users;\nALTER TABLE new_users RENAME TO users;\n",
        ),
    ]);
    folder.run(&db, &["up", "--to", "1"]).ok();
    let mut inspect = db.inspect().await;
    inspect.execute("INSERT INTO users (id, email) VALUES (1, NULL), (2, 'b')").await;
    let up = folder.run(&db, &["up"]);
    assert_eq!(up.code, Some(0), "{}", up.all());
    assert_eq!(inspect.scalar("SELECT count(*) FROM users WHERE email IS NOT NULL").await, 2);
}

#[tokio::test]
async fn lint_reports_migrations_before_the_cut_off_as_history() {
    let db = TestDb::new(Backend::Sqlite).await;
    let folder = destructive_history(Backend::Sqlite, 5);
    let all_errors = folder.run(&db, &["lint"]);
    assert_eq!(all_errors.code, Some(1), "{}", all_errors.all());
    assert!(
        all_errors
            .stdout
            .contains("which its header comment does not declare: write `-- migrations-rs: risk = [schema]`"),
        "a SQL file is told about its header, not an attribute: {}",
        all_errors.all()
    );

    std::fs::write(folder.root().join("migrations.toml"), "checks_from = 6\n").unwrap();
    let history = folder.run(&db, &["lint"]);
    assert_eq!(history.code, Some(0), "{}", history.all());
    assert!(history.stdout.contains("5 migration(s) before 6 (checks_from) are history"), "{}", history.all());
    assert!(history.stdout.contains("drop-column ×1") && !history.stdout.contains("error  "), "{}", history.all());
    let json: serde_json::Value = serde_json::from_str(&folder.run(&db, &["lint", "--json"]).stdout).unwrap();
    assert_eq!(json["errors"], 0);
    assert_eq!(json["migrations"][0]["history"], true);

    // A migration after the cut-off is checked.
    folder.write("6_drop_email.up.sql", "ALTER TABLE users DROP COLUMN email;\n");
    let new_error = folder.run(&db, &["lint"]);
    assert_eq!(new_error.code, Some(1), "{}", new_error.all());
    assert!(
        new_error.stdout.contains("6 drop_email") && new_error.stdout.contains("1 error(s)"),
        "{}",
        new_error.all()
    );

    // `baseline` moves the cut-off in an existing config file.
    std::fs::write(folder.root().join("migrations.toml"), "[environments.dev]\ndatabase_url = \"sqlite://x.db\"\n")
        .unwrap();
    let baseline = folder.run(&db, &["baseline", "--to", "6"]);
    assert_eq!(baseline.code, Some(0), "{}", baseline.all());
    let config = std::fs::read_to_string(folder.root().join("migrations.toml")).unwrap();
    assert!(config.contains("checks_from = 7") && config.contains("[environments.dev]"), "{config}");
    assert_eq!(folder.run(&db, &["lint"]).code, Some(0));
}
