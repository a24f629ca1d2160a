//! Rehearsals say "cannot rehearse" instead of reporting a failure the real
//! run does not have: a PostgreSQL enum value used in the rehearsal's one
//! transaction after an earlier step added it, and steps after a skipped
//! `transaction = false` step that meet what it would have done. Their exit
//! code says a failure was found only when one was.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::Backend;
use standalone::Folder;
use support::TestDb;

#[tokio::test]
async fn an_enum_value_added_and_used_in_one_rehearsal_is_not_a_failure() {
    let db = TestDb::new(Backend::Postgres).await;
    let folder = Folder::new(&[(
        "1_mood.up.sql",
        "CREATE TYPE mood AS ENUM ('happy');\nCREATE TABLE people (name text, m mood);\n",
    )]);
    folder.run(&db, &["up"]).ok();
    folder.write("2_add_sad.up.sql", "ALTER TYPE mood ADD VALUE 'sad';\n");
    folder.write("3_use_sad.up.sql", "-- migrations-rs: risk = [data]\nINSERT INTO people VALUES ('x', 'sad');\n");
    folder.write("4_more.up.sql", "CREATE TABLE later (id int);\n");

    let rehearsal = folder.run(&db, &["up", "--dry-run"]);
    assert_eq!(rehearsal.code, Some(0), "no real failure: {}", rehearsal.all());
    let text = &rehearsal.stdout;
    assert!(text.contains("3 use_sad: cannot rehearse") && text.contains("enum value"), "{text}");
    assert!(text.contains("55P04"), "the database's reason: {text}");
    assert!(text.contains("ok      4 more"), "later steps are still rehearsed: {text}");
    assert!(!text.contains("FAILS"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&folder.run(&db, &["up", "--dry-run", "--json"]).stdout).unwrap();
    assert_eq!(json["steps"][1]["outcome"], "not_rehearsed", "{json}");
    assert!(json["steps"][1]["reason"].as_str().unwrap().contains("enum"), "{json}");

    // The real run has no such problem, and nothing of the rehearsal was kept.
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("later").await);
    folder.run(&db, &["up"]).ok();
    assert_eq!(inspect.scalar("SELECT count(*) FROM people WHERE m = 'sad'").await, 1);

    // A real failure is still one.
    folder.write("5_broken.up.sql", "SELEC 1;\n");
    let broken = folder.run(&db, &["up", "--dry-run"]);
    assert_eq!(broken.code, Some(1), "{}", broken.all());
    assert!(broken.stdout.contains("FAILS   5 broken"), "{}", broken.all());
}

macro_rules! on_every_transactional_backend {
    ($name:ident) => {
        mod sqlite {
            #[tokio::test]
            async fn $name() {
                super::$name(migrations_rs::Backend::Sqlite).await
            }
        }
        mod postgres {
            #[tokio::test]
            async fn $name() {
                super::$name(migrations_rs::Backend::Postgres).await
            }
        }
    };
}

on_every_transactional_backend!(steps_after_a_skipped_step_are_not_rehearsed_when_they_meet_its_absence);

/// MySQL/MariaDB do not run rehearsals (DDL commits implicitly): they show the SQL.
async fn steps_after_a_skipped_step_are_not_rehearsed_when_they_meet_its_absence(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = Folder::new(&[
        ("1_people.up.sql", "CREATE TABLE people (id int, tag int);\n"),
        ("1_people.down.sql", "DROP TABLE people;\n"),
        ("2_view.up.sql", "-- no-transaction\nCREATE VIEW tagged AS SELECT tag FROM people;\n"),
        ("2_view.down.sql", "DROP VIEW tagged;\n"),
        ("3_snapshot.up.sql", "CREATE TABLE snapshot AS SELECT tag FROM tagged;\n"),
        ("3_snapshot.down.sql", "DROP TABLE snapshot;\n"),
    ]);
    let up = folder.run(&db, &["up", "--dry-run"]);
    assert_eq!(up.code, Some(0), "{}", up.all());
    assert!(up.stdout.contains("skipped 2 view"), "{}", up.all());
    assert!(up.stdout.contains("3 snapshot: cannot rehearse: it may depend on 2 view (skipped)"), "{}", up.all());
    assert!(up.stdout.contains("2 of them not rehearsed"), "{}", up.all());
    folder.run(&db, &["up"]).ok();

    // Reverting: the view's down is skipped, so dropping the table it reads
    // fails only in the rehearsal (on PostgreSQL; SQLite drops a table under a view).
    let rehearsal = folder.run(&db, &["down", "--steps", "3", "--dry-run"]);
    assert_eq!(rehearsal.code, Some(0), "{}", rehearsal.all());
    assert!(rehearsal.stdout.contains("ok      3 snapshot"), "{}", rehearsal.all());
    if backend == Backend::Postgres {
        assert!(
            rehearsal.stdout.contains("1 people: cannot rehearse: it may depend on 2 view (skipped)")
                && rehearsal.stdout.contains("2BP01"),
            "{}",
            rehearsal.all()
        );
    }
    folder.run(&db, &["down", "--steps", "3"]).ok();
    assert!(!db.inspect().await.table_exists("people").await);
}
