//! A failing statement is reported whole: the database's code, message,
//! DETAIL and HINT, the file and line of the statement in the user's SQL
//! file (the down file when reverting), and the statement; the same as
//! fields with `--json`. For a Rust migration: its location and the statement.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::prelude::*;
use migrations_rs::{Backend, Migrator, Scope, error::StatementError};
use standalone::Folder;
use support::TestDb;

/// No number of three or more digits after "at line": PostgreSQL's C source lines are that long.
fn no_server_source_line(text: &str) {
    for (at, _) in text.match_indices("at line ") {
        let digits: String = text[at + 8..].chars().take_while(char::is_ascii_digit).collect();
        assert!(digits.len() < 3, "a line of the server's source leaked: {text}");
    }
}

#[tokio::test]
async fn postgres_errors_carry_sqlstate_detail_hint_and_the_file_line() {
    let db = TestDb::new(Backend::Postgres).await;
    let folder = Folder::new(&[
        ("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, email text);\n"),
        ("1_users.down.sql", "-- the table goes last\n\nDROP TABLE users;\n"),
        ("2_view.up.sql", "CREATE VIEW user_ids AS SELECT id FROM users;\n"),
        ("2_view.down.sql", "-- the view stays: a later release drops it\nSELECT 1;\n"),
        (
            "3_bad.up.sql",
            "-- migrations-rs: risk = [data]\nINSERT INTO users (id, email) VALUES (1, 'a');\n\nSELECT id,\n       emial\n  FROM users;\n",
        ),
    ]);
    let failed = folder.run(&db, &["up"]);
    assert_eq!(failed.code, Some(1), "{}", failed.all());
    let text = &failed.stderr;
    assert!(text.contains("column \"emial\" does not exist (SQLSTATE 42703)"), "{text}");
    assert!(text.contains("3_bad.up.sql:5:8 (the statement starts at line 4)"), "{text}");
    assert!(text.contains("HINT: Perhaps you meant to reference the column \"users.email\""), "{text}");
    assert!(text.contains("statement: SELECT id,"), "{text}");
    assert_eq!(text.matches("SQLSTATE 42703").count(), 1, "said once: {text}");
    no_server_source_line(text);

    let json = folder.run(&db, &["up", "--json"]);
    assert_eq!(json.code, Some(1));
    let error = json.json_error();
    assert_eq!(error["code"], "migration_failed", "{error}");
    let database = &error["details"]["database"];
    assert_eq!(database["code"], "42703", "{error}");
    assert_eq!(database["line"], 4, "{error}");
    assert_eq!(database["error_line"], 5, "{error}");
    assert_eq!(database["error_column"], 8, "{error}");
    assert!(database["file"].as_str().unwrap().ends_with("3_bad.up.sql"), "{error}");
    assert!(database["hint"].as_str().unwrap().contains("users.email"), "{error}");
    assert!(database["statement"].as_str().unwrap().contains("emial"), "{error}");
    assert!(error["remedy"].as_str().is_some_and(|r| !r.is_empty()), "{error}");

    // A failing down names its down file, the line of the statement, DETAIL and HINT.
    folder.remove("3_bad.up.sql");
    folder.run(&db, &["up"]).ok();
    let down = folder.run(&db, &["down", "--steps", "2"]);
    assert_eq!(down.code, Some(1), "{}", down.all());
    let text = &down.stderr;
    assert!(text.contains("1_users.down.sql"), "{text}");
    assert!(!text.contains("1_users.up.sql"), "the down file is named, not the up file: {text}");
    assert!(text.contains("1_users.down.sql:3"), "{text}");
    assert!(text.contains("(SQLSTATE 2BP01)"), "{text}");
    assert!(text.contains("DETAIL: view user_ids depends on table users"), "{text}");
    assert!(text.contains("HINT: Use DROP ... CASCADE"), "{text}");
    no_server_source_line(text);
    let json = folder.run(&db, &["down", "--json"]).json_error();
    // The view's no-op down ran; the table's down is the next step and fails the same way.
    let database = &json["details"]["database"];
    assert_eq!(database["code"], "2BP01", "{json}");
    assert!(database["detail"].as_str().unwrap().contains("user_ids"), "{json}");
    assert!(json["details"]["location"].as_str().unwrap().ends_with("1_users.down.sql"), "{json}");
}

#[tokio::test]
async fn mariadb_errors_carry_the_error_number_and_the_file_line() {
    let db = TestDb::new(Backend::MySql).await;
    let folder = Folder::new(&[
        ("1_t.up.sql", "CREATE TABLE t (id int PRIMARY KEY);\n"),
        ("2_again.up.sql", "-- a second table\nCREATE TABLE u (id int);\n\nCREATE TABLE t (id int);\n"),
    ]);
    let failed = folder.run(&db, &["up"]);
    assert_eq!(failed.code, Some(1), "{}", failed.all());
    let text = &failed.stderr;
    assert!(text.contains("Table 't' already exists (error 1050, SQLSTATE 42S01)"), "{text}");
    assert!(text.contains("2_again.up.sql:4"), "{text}");
    assert!(text.contains("statement: CREATE TABLE t (id int)"), "{text}");
    folder.run(&db, &["mark-applied", "2"]).ok();
    folder
        .write("3_syntax.up.sql", "-- bad syntax on the third line of the statement\nSELECT 1,\n  2\n  FROM FROM t;\n");
    let json = folder.run(&db, &["up", "--json"]).json_error();
    let database = &json["details"]["database"];
    assert_eq!(database["code"], "1064", "{json}");
    assert_eq!(database["sqlstate"], "42000", "{json}");
    assert_eq!(database["line"], 2, "{json}");
    assert_eq!(database["error_line"], 4, "MariaDB's `at line 3` of the statement is line 4 of the file: {json}");
}

#[tokio::test]
async fn sqlite_errors_carry_the_message_and_the_file_line() {
    let db = TestDb::new(Backend::Sqlite).await;
    let folder = Folder::new(&[
        ("V1__t.sql", "CREATE TABLE t (id integer PRIMARY KEY);\n"),
        ("V2__again.sql", "-- migrations-rs: risk = [schema]\n\nCREATE TABLE t (id integer);\n"),
    ]);
    let failed = folder.run(&db, &["up"]);
    assert_eq!(failed.code, Some(1), "{}", failed.all());
    assert!(failed.stderr.contains("table t already exists"), "{}", failed.all());
    assert!(failed.stderr.contains("V2__again.sql:3"), "{}", failed.all());
    let json = folder.run(&db, &["up", "--json"]).json_error();
    assert_eq!(json["details"]["database"]["message"], "table t already exists", "{json}");
    assert_eq!(json["details"]["database"]["line"], 3, "{json}");
}

#[migration(version = 2024_09_01_000000, risk = [data])]
mod inserts_into_a_missing_table {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("INSERT INTO no_such_table (id) VALUES (1)").await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

on_every_backend!(a_rust_migration_names_its_location_and_the_statement);

async fn a_rust_migration_names_its_location_and_the_statement(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let error = Migrator::from_linked().unwrap().up(&mut conn, Scope::All).await.unwrap_err();
    let migrations_rs::Error::MigrationFailed { cause, .. } = &error else { panic!("{error}") };
    let migrations_rs::Error::Statement(refused) = cause.as_ref() else { panic!("{cause:?}") };
    let refused: &StatementError = refused;
    assert!(refused.file.as_deref().unwrap().ends_with("database_errors.rs"), "{refused:?}");
    assert!(refused.line.is_some_and(|line| line > 1), "{refused:?}");
    assert_eq!(refused.statement, "INSERT INTO no_such_table (id) VALUES (1)");
    assert!(refused.message.contains("no_such_table"), "{refused:?}");
    let text = error.to_string();
    assert!(text.contains("database_errors.rs:") && text.contains("statement: INSERT INTO no_such_table"), "{text}");
    no_server_source_line(&text);
}
