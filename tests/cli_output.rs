//! What the command line prints: each message once (the log only with -v),
//! nothing on standard error with --json or --quiet but a JSON error object,
//! a folder's warnings once and summarised, --version, the audit log's notes
//! apart from its errors, and a compact status that fits 100 columns.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::Backend;
use standalone::{Folder, run_in};
use support::TestDb;

fn failing_folder() -> Folder {
    Folder::new(&[
        ("1_users.up.sql", "-- migrations-rs: risk = [schema, data]\nCREATE TABLE users (id int);\n"),
        ("2_broken.up.sql", "INSERT INTO no_such_table VALUES (1);\n"),
    ])
}

#[tokio::test]
async fn each_message_is_printed_once_and_the_log_only_with_verbose() {
    let db = TestDb::new(Backend::Postgres).await;
    let folder = failing_folder();
    let failed = folder.run(&db, &["up"]);
    assert_eq!(failed.code, Some(1), "{}", failed.all());
    assert_eq!(failed.stderr.matches("no_such_table\" does not exist").count(), 1, "{}", failed.all());
    assert_eq!(failed.stderr.matches("no backup taken").count(), 1, "{}", failed.all());
    assert!(!failed.stderr.contains(" ERROR ") && !failed.stderr.contains(" WARN "), "no log lines: {}", failed.all());

    let verbose = folder.run(&db, &["up", "-v"]);
    assert!(verbose.stderr.contains("migration failed"), "the log with -v: {}", verbose.all());
}

#[tokio::test]
async fn json_and_quiet_print_nothing_on_standard_error_but_a_json_error() {
    let db = TestDb::new(Backend::Sqlite).await;
    let folder = failing_folder();
    for flag in ["--json", "--quiet"] {
        let failed = folder.run(&db, &["up", flag]);
        assert_eq!(failed.code, Some(1), "{}", failed.all());
        let error = failed.json_error();
        assert_eq!(error["code"], "migration_failed", "{flag}: {error}");
        assert!(error["message"].as_str().unwrap().contains("no such table: no_such_table"), "{flag}: {error}");
        assert!(!error["remedy"].as_str().unwrap().is_empty(), "{flag}: {error}");
        assert_eq!(error["details"]["version"], 2, "{flag}: {error}");
    }
    folder.remove("2_broken.up.sql");
    for flag in ["--json", "--quiet"] {
        let ok = folder.run(&db, &["status", flag]);
        assert_eq!(ok.code, Some(0), "{}", ok.all());
        assert_eq!(ok.stderr, "", "{flag}: nothing on standard error");
    }
    // A mistake before any database is opened is a JSON error too.
    let bad_config = folder.run(&db, &["status", "--json", "--env", "nowhere"]);
    assert_eq!(bad_config.code, Some(1));
    assert!(bad_config.json_error()["message"].as_str().unwrap().contains("nowhere"));
}

#[tokio::test]
async fn a_folders_warnings_are_printed_once_and_summarised() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut files = vec![("README.md".to_owned(), "notes".to_owned()), ("seeds.txt".to_owned(), "data".to_owned())];
    for n in 1..=5 {
        files.push((format!("{n}_m{n}.up.sql"), format!("CREATE TABLE t{n} (id int);")));
        files.push((format!("{n}_m{n}.down.sql"), String::new()));
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let folder = Folder::new(&files);
    let status = folder.run(&db, &["status"]);
    let warnings: Vec<&str> = status.stderr.lines().filter(|l| l.contains("empty")).collect();
    assert_eq!(warnings.len(), 1, "{}", status.all());
    assert!(warnings[0].contains("5 down files are empty") && warnings[0].contains("and 2 more"), "{}", status.all());
    let ignored: Vec<&str> = status.stderr.lines().filter(|l| l.contains("not a migration")).collect();
    assert_eq!(ignored.len(), 1, "{}", status.all());
    assert!(ignored[0].contains("2 files are") && ignored[0].contains("README.md"), "{}", status.all());
}

#[test]
fn version_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let ran = run_in(dir.path(), &["--version".to_owned()]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(ran.stdout.trim(), format!("migrations-rs {}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn history_keeps_notes_apart_from_errors() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut inspect = db.inspect().await;
    inspect
        .execute(
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
             run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP); \
             INSERT INTO __diesel_schema_migrations (version) VALUES ('20240101000000')",
        )
        .await;
    let folder = Folder::new(&[
        ("2024-01-01-000000_users/up.sql", "CREATE TABLE users (id int);\n"),
        ("2024-01-01-000000_users/down.sql", "DROP TABLE users;\n"),
        ("2024-01-02-000000_broken/up.sql", "INSERT INTO no_such_table VALUES (1);\n"),
        ("2024-01-02-000000_broken/down.sql", "SELECT 1;\n"),
    ]);
    folder.run(&db, &["adopt"]).ok();
    assert_eq!(folder.run(&db, &["up"]).code, Some(1));
    let history: serde_json::Value = serde_json::from_str(&folder.run(&db, &["history", "--json"]).stdout).unwrap();
    let entries = history.as_array().unwrap();
    let adopted = entries.iter().find(|e| e["action"] == "adopt").expect("an adopt entry");
    assert!(adopted["error"].is_null() && adopted["note"].as_str().is_some_and(|n| !n.is_empty()), "{adopted}");
    let failed = entries.iter().find(|e| e["action"] == "apply_failed").expect("a failure");
    assert!(failed["note"].is_null() && failed["error"].as_str().unwrap().contains("no_such_table"), "{failed}");
    let text = folder.run(&db, &["history"]).stdout;
    assert!(text.contains("\n    error: no such table: no_such_table"), "{text}");
    assert!(text.contains("\n    note: adopted from diesel"), "{text}");
    assert!(text.lines().all(|line| line.chars().count() <= 100), "fits 100 columns: {text}");
}

#[tokio::test]
async fn status_is_compact_and_can_show_only_what_is_pending() {
    let db = TestDb::new(Backend::Sqlite).await;
    let folder = Folder::new(&[]);
    for n in 1..=6 {
        folder.write(
            &format!("2024010{n}000000_create_a_table_with_a_rather_long_descriptive_name_{n}.sql"),
            &format!("CREATE TABLE t{n} (id int);"),
        );
    }
    folder.run(&db, &["up", "--to", "20240102000000"]).ok();
    let status = folder.run(&db, &["status"]);
    assert_eq!(status.code, Some(3), "{}", status.all());
    for line in status.stdout.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    let header = status.stdout.lines().find(|l| l.contains("version")).unwrap();
    assert!(!header.contains("module") && !header.contains("risk"), "columns that say nothing are left out: {header}");
    assert!(status.stdout.contains("1 applied, 5 pending: not up to date"), "{}", status.all());

    let pending = folder.run(&db, &["status", "--pending", "--limit", "2"]);
    let rows: Vec<&str> = pending.stdout.lines().filter(|l| l.contains("pending") && l.contains("2024")).collect();
    assert_eq!(rows.len(), 2, "{}", pending.all());
    assert!(rows[0].contains("20240101000000") && rows[1].contains("20240103000000"), "the next to apply: {rows:?}");
    assert!(pending.stdout.contains("(4 not shown)"), "{}", pending.all());
    let json: serde_json::Value =
        serde_json::from_str(&folder.run(&db, &["status", "--limit", "1", "--json"]).stdout).unwrap();
    assert_eq!(json["status"]["migrations"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["status"]["migrations"][0]["version"], 20240106000000u64, "the newest: {json}");
    assert_eq!(json["up_to_date"], false);
}
