//! `verify` on every backend: a folder of deliberately wrong downs, each
//! reported with what it got wrong, beside correct downs that report
//! nothing; the example migrations pass; a seed's rows lost by a down and up
//! are reported; a scratch database that cannot be created names the
//! privilege, and `--scratch-url` works instead; a killed run's leftover
//! scratch database is dropped by the next run. The target database is
//! never changed.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::Backend;
use serde_json::Value;
use standalone::Folder;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Inspect, TestDb, example_binary, server_url};

on_every_backend!(
    every_wrong_down_is_reported_and_correct_downs_are_not,
    the_example_migrations_verify,
    a_seeds_rows_lost_by_down_and_up_are_reported,
    a_killed_runs_scratch_database_is_dropped_by_the_next_run,
    an_existing_empty_database_serves_as_the_scratch_database,
);

/// One migration of the folder: its name, the backends it applies to, its
/// files, and the word its finding must hold (`None` for a correct down).
struct Case {
    name: &'static str,
    up: String,
    down: String,
    expect: Option<&'static str>,
}

fn case(name: &'static str, up: &str, down: &str, expect: Option<&'static str>) -> Case {
    Case { name, up: up.to_owned(), down: down.to_owned(), expect }
}

/// The tables the cases start from, in one correct migration.
fn base(backend: Backend) -> (String, String) {
    let mut up = String::from(
        "CREATE TABLE w_parent (id INTEGER PRIMARY KEY);
         CREATE TABLE w_index (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE w_column (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE w_type (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE w_null (id INTEGER PRIMARY KEY, a INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE w_default (id INTEGER PRIMARY KEY, a INTEGER DEFAULT 7);
         CREATE TABLE w_view (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE w_trigger (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE w_check (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE w_unique (id INTEGER PRIMARY KEY, a INTEGER, UNIQUE (a));
         CREATE TABLE w_fk (id INTEGER PRIMARY KEY, parent_id INTEGER, FOREIGN KEY (parent_id) REFERENCES w_parent (id));
         CREATE TABLE w_pk (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE ok_end (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);
         CREATE TABLE ok_index (id INTEGER PRIMARY KEY, a INTEGER);
         CREATE TABLE ok_check (id INTEGER PRIMARY KEY, a INTEGER);
        ",
    );
    let mut down = String::from(
        "DROP TABLE w_fk; DROP TABLE w_parent; DROP TABLE w_index; DROP TABLE w_column; DROP TABLE w_type;
         DROP TABLE w_null; DROP TABLE w_default; DROP TABLE w_view; DROP TABLE w_trigger; DROP TABLE w_check;
         DROP TABLE w_unique; DROP TABLE w_pk; DROP TABLE ok_end; DROP TABLE ok_index; DROP TABLE ok_check;",
    );
    if backend == Backend::Postgres {
        up.push_str(
            "CREATE TYPE w_mood AS ENUM ('sad', 'ok', 'happy');
             CREATE FUNCTION w_trigger_fn() RETURNS trigger AS $$ BEGIN NEW.a := 1; RETURN NEW; END $$ LANGUAGE plpgsql;",
        );
        down.push_str("DROP TYPE w_mood; DROP FUNCTION w_trigger_fn();");
    }
    (up, down)
}

fn cases(backend: Backend) -> Vec<Case> {
    let forgot = "-- nothing: the down forgets it";
    let trigger = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER w_trg AFTER INSERT ON w_trigger BEGIN UPDATE w_trigger SET a = 1 WHERE id = NEW.id; END;"
        }
        Backend::MySql => "CREATE TRIGGER w_trg BEFORE INSERT ON w_trigger FOR EACH ROW SET NEW.a = 1;",
        Backend::Postgres => {
            "CREATE TRIGGER w_trg BEFORE INSERT ON w_trigger FOR EACH ROW EXECUTE FUNCTION w_trigger_fn();"
        }
    };
    let drop_ok_index = match backend {
        Backend::MySql => "DROP INDEX ok_index_a ON ok_index;",
        _ => "DROP INDEX ok_index_a;",
    };
    let rebuild = |table: &str, columns: &str| format!("DROP TABLE {table}; CREATE TABLE {table} ({columns});");
    let mut cases = vec![
        case("forgets_an_index", "CREATE INDEX w_index_a ON w_index (a);", forgot, Some("index w_index_a")),
        case(
            "drops_the_wrong_column",
            "ALTER TABLE w_column ADD COLUMN b INTEGER;",
            "ALTER TABLE w_column DROP COLUMN a;",
            Some("column w_column.a is missing"),
        ),
        case(
            "restores_a_column_with_another_type",
            "ALTER TABLE w_type DROP COLUMN a;",
            "ALTER TABLE w_type ADD COLUMN a VARCHAR(20);",
            Some("column w_type.a: type"),
        ),
        case(
            "restores_a_column_with_another_nullability",
            "ALTER TABLE w_null DROP COLUMN a;",
            "ALTER TABLE w_null ADD COLUMN a INTEGER DEFAULT 0;",
            Some("column w_null.a"),
        ),
        case(
            "forgets_a_default",
            "ALTER TABLE w_default DROP COLUMN a;",
            "ALTER TABLE w_default ADD COLUMN a INTEGER;",
            Some("column w_default.a: default"),
        ),
        case("forgets_a_view", "CREATE VIEW w_v AS SELECT id FROM w_view;", forgot, Some("view w_v")),
        case("forgets_a_trigger", trigger, forgot, Some("trigger w_trg")),
        case(
            "leaves_a_check_constraint",
            &rebuild("w_check", "id INTEGER PRIMARY KEY, a INTEGER, CONSTRAINT w_check_positive CHECK (a > 0)"),
            &rebuild("w_check", "id INTEGER PRIMARY KEY, a INTEGER, CONSTRAINT w_check_positive CHECK (a > 0)"),
            Some("check constraint"),
        ),
        case(
            "forgets_a_unique_constraint",
            &rebuild("w_unique", "id INTEGER PRIMARY KEY, a INTEGER"),
            &rebuild("w_unique", "id INTEGER PRIMARY KEY, a INTEGER"),
            Some("unique"),
        ),
        case(
            "forgets_a_foreign_key",
            &rebuild("w_fk", "id INTEGER PRIMARY KEY, parent_id INTEGER"),
            &rebuild("w_fk", "id INTEGER PRIMARY KEY, parent_id INTEGER"),
            Some("foreign key"),
        ),
        case(
            "forgets_a_primary_key",
            &rebuild("w_pk", "id INTEGER NOT NULL, a INTEGER"),
            &rebuild("w_pk", "id INTEGER NOT NULL, a INTEGER"),
            Some("primary key"),
        ),
        case(
            "forgets_to_drop_a_table",
            "CREATE TABLE w_extra (id INTEGER PRIMARY KEY);",
            forgot,
            Some("table w_extra"),
        ),
        // Correct downs: nothing to report.
        case(
            "re_adds_a_column_at_the_end",
            "ALTER TABLE ok_end DROP COLUMN a;",
            "ALTER TABLE ok_end ADD COLUMN a INTEGER;",
            None,
        ),
        case("drops_its_index", "CREATE INDEX ok_index_a ON ok_index (a);", drop_ok_index, None),
        case(
            "rebuilds_a_table_as_it_was",
            &rebuild("ok_check", "id INTEGER PRIMARY KEY, a INTEGER, CONSTRAINT ok_check_positive CHECK (a > 0)"),
            &rebuild("ok_check", "id INTEGER PRIMARY KEY, a INTEGER"),
            None,
        ),
        case(
            "drops_its_table",
            "CREATE TABLE ok_table (id INTEGER PRIMARY KEY, a VARCHAR(10));",
            "DROP TABLE ok_table;",
            None,
        ),
    ];
    if backend == Backend::Postgres {
        cases.push(case(
            "forgets_an_enum_value",
            "DROP TYPE w_mood; CREATE TYPE w_mood AS ENUM ('sad', 'ok');",
            "DROP TYPE w_mood; CREATE TYPE w_mood AS ENUM ('sad', 'ok');",
            Some("enum type w_mood"),
        ));
        cases.push(case("forgets_a_sequence", "CREATE SEQUENCE w_seq;", forgot, Some("sequence w_seq")));
    }
    cases
}

/// The folder: the base, then each case, with an irreversible migration last.
fn folder(backend: Backend) -> (Folder, Vec<Case>) {
    let (base_up, base_down) = base(backend);
    let cases = cases(backend);
    let folder = Folder::new(&[
        ("V20240101000000__base.sql", &base_up),
        ("V20240101000000__base.down.sql", &base_down),
        ("V20250101000000__irreversible.sql", "CREATE TABLE no_way_back (id INTEGER PRIMARY KEY);"),
    ]);
    for (n, case) in cases.iter().enumerate() {
        let version = 20240102000000u64 + n as u64;
        folder.write(&format!("V{version}__{}.sql", case.name), &case.up);
        folder.write(&format!("V{version}__{}.down.sql", case.name), &case.down);
    }
    (folder, cases)
}

fn json(text: &str, all: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{all}"))
}

async fn every_wrong_down_is_reported_and_correct_downs_are_not(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (folder, cases) = folder(backend);
    let ran = folder.run(&db, &["verify", "--json"]);
    assert_eq!(ran.code, Some(3), "{}", ran.all());
    let report = json(&ran.stdout, &ran.all());
    assert_eq!(report["passed"], false);
    let checks = report["migrations"].as_array().expect("migrations");
    let by_name = |name: &str| {
        checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name} not in the report:\n{report:#}"))
    };
    let wrong = cases.iter().filter(|c| c.expect.is_some()).count();
    assert!(wrong >= 12, "{wrong} wrong downs on {backend}");
    for case in &cases {
        let check = by_name(case.name);
        let findings = check["findings"].as_array().expect("findings");
        match case.expect {
            Some(word) => {
                let reversal: Vec<&Value> = findings.iter().filter(|f| f["kind"] == "down_does_not_reverse").collect();
                assert!(
                    reversal.iter().any(|f| f["differences"].to_string().contains(word)),
                    "{}: expected a difference naming `{word}` on {backend}:\n{check:#}",
                    case.name
                );
            }
            None => assert!(findings.is_empty(), "{}: a correct down reported on {backend}:\n{check:#}", case.name),
        }
    }
    let base = by_name("base");
    assert!(base["findings"].as_array().unwrap().is_empty(), "{base:#}");
    let irreversible = by_name("irreversible");
    assert!(irreversible["skipped"].as_str().unwrap().contains("irreversible"), "{irreversible:#}");
    // The text form names each wrong migration and what it got wrong.
    let text = folder.run(&db, &["verify"]);
    assert_eq!(text.code, Some(3), "{}", text.all());
    assert!(text.stdout.contains("WRONG") && text.stdout.contains("forgets_an_index"), "{}", text.all());
    assert!(text.stdout.contains("down does not reverse up"), "{}", text.all());
    // The target was never touched.
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("w_parent").await && !inspect.table_exists("migrations_rs_history").await);
    // `--from` checks only the migrations from that version on.
    let from = folder.run(&db, &["verify", "--json", "--from", "20240102000012"]);
    let report = json(&from.stdout, &from.all());
    assert_eq!(report["unchecked"].as_array().unwrap().len(), 13, "{report:#}");
    assert!(report["migrations"].as_array().unwrap().iter().all(|c| c["name"] != "forgets_an_index"), "{report:#}");
}

async fn the_example_migrations_verify(backend: Backend) {
    let db = TestDb::new(backend).await;
    let output = Command::new(example_binary("migrate"))
        .args(["verify", "--json", "--database-url", db.url.expose()])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the example");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let report = json(&stdout, &stderr);
    assert_eq!(report["passed"], true, "{report:#}");
    let skipped: Vec<&Value> =
        report["migrations"].as_array().unwrap().iter().filter(|c| !c["skipped"].is_null()).collect();
    assert_eq!(skipped.len(), 1, "only drop_full_name is irreversible: {report:#}");
    assert_eq!(skipped[0]["name"], "drop_full_name");
}

async fn a_seeds_rows_lost_by_down_and_up_are_reported(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = Folder::new(&[
        ("V20240101000000__notes.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(50));"),
        ("V20240101000000__notes.down.sql", "DROP TABLE notes;"),
        // Its down drops and re-creates the table: the rows are gone.
        ("V20240102000000__retype.sql", "ALTER TABLE notes ADD COLUMN tag VARCHAR(10);"),
        (
            "V20240102000000__retype.down.sql",
            "DROP TABLE notes; CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(50));",
        ),
        // A correct down keeps them.
        ("V20240103000000__keeps.sql", "CREATE INDEX notes_body ON notes (body);"),
        (
            "V20240103000000__keeps.down.sql",
            if backend == Backend::MySql { "DROP INDEX notes_body ON notes;" } else { "DROP INDEX notes_body;" },
        ),
    ]);
    folder.write(
        "../seed.sql",
        "INSERT INTO notes (id, body) VALUES (1, 'a'), (2, 'b');\nDELETE FROM notes WHERE id > 100;",
    );
    let seed = folder.root().join("seed.sql").display().to_string();
    let ran = folder.run(&db, &["verify", "--json", "--seed-sql", &seed]);
    assert_eq!(ran.code, Some(3), "{}", ran.all());
    let report = json(&ran.stdout, &ran.all());
    let checks = report["migrations"].as_array().unwrap();
    let findings = |name: &str| checks.iter().find(|c| c["name"] == name).unwrap()["findings"].clone();
    let lost = findings("retype");
    assert!(
        lost.as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "row_count_changed" && f["table"] == "notes" && f["after_down_and_up"] == 0),
        "{report:#}"
    );
    assert_eq!(findings("keeps"), serde_json::json!([]), "{report:#}");
    assert_eq!(findings("notes"), serde_json::json!([]), "{report:#}");
}

/// The names of the scratch databases (files on SQLite) that process `pid` created.
async fn scratch_of(backend: Backend, pid: u32) -> Vec<String> {
    let pattern = format!("_{pid}_");
    match backend {
        Backend::Sqlite => std::fs::read_dir(std::env::temp_dir().join("migrations-rs-scratch"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| {
                        name.starts_with("migrations_rs_scratch_") && name.contains(&pattern) && name.ends_with(".db")
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => {
            let sql = match backend {
                Backend::Postgres => {
                    "SELECT datname FROM pg_database WHERE datname LIKE 'migrations\\_rs\\_scratch\\_%'"
                }
                _ => {
                    "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'migrations\\_rs\\_scratch\\_%'"
                }
            };
            let mut admin = Inspect::connect_raw(backend, &server_url(backend)).await;
            admin.strings(sql).await.into_iter().filter(|name| name.contains(&pattern)).collect()
        }
    }
}

async fn a_killed_runs_scratch_database_is_dropped_by_the_next_run(backend: Backend) {
    let db = TestDb::new(backend).await;
    let slow = match backend {
        Backend::Postgres => "SELECT pg_sleep(20);",
        Backend::MySql => "SELECT SLEEP(6);",
        Backend::Sqlite => {
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000000) SELECT count(*) FROM n;"
        }
    };
    let folder =
        Folder::new(&[("V20240101000000__slow.sql", slow), ("V20240101000000__slow.down.sql", "-- nothing to undo")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(["verify", "--sql-dir", &folder.path().display().to_string(), "--database-url", db.url.expose()])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start verify");
    let pid = child.id();
    let started = Instant::now();
    while scratch_of(backend, pid).await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no scratch database appeared");
        assert!(child.try_wait().unwrap().is_none(), "verify ended before it was killed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed mid-run: nothing drops its scratch database.
    child.kill().unwrap();
    child.wait().unwrap();
    let left = scratch_of(backend, pid).await;
    assert_eq!(left.len(), 1, "{left:?}");
    // The next run, of any folder, drops it.
    let quick = Folder::new(&[
        ("V20240101000000__t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY);"),
        ("V20240101000000__t.down.sql", "DROP TABLE t;"),
    ]);
    quick.run(&db, &["verify"]).ok();
    assert_eq!(scratch_of(backend, pid).await, Vec::<String>::new(), "the leftover {left:?} is still there");
}

async fn an_existing_empty_database_serves_as_the_scratch_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let scratch = TestDb::new(backend).await;
    let folder = Folder::new(&[
        ("V20240101000000__t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY); CREATE VIEW tv AS SELECT id FROM t;"),
        ("V20240101000000__t.down.sql", "DROP VIEW tv; DROP TABLE t;"),
    ]);
    let ran = folder.run(&db, &["verify", "--scratch-url", scratch.url.expose()]);
    let text = ran.ok();
    assert!(text.contains("every down reverses its up"), "{text}");
    // Emptied again, not dropped.
    let mut inspect = scratch.inspect().await;
    assert!(!inspect.table_exists("t").await && !inspect.table_exists("migrations_rs_history").await);
    // The target itself is refused, and so is a database that is not empty.
    let ran = folder.run(&db, &["up"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let refused = folder.run(&scratch, &["verify", "--scratch-url", db.url.expose()]);
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    assert!(refused.stderr.contains("not empty"), "{}", refused.all());
}

/// A user that may not create databases gets the privilege named and
/// `--scratch-url` offered.
#[tokio::test]
async fn a_user_without_the_privilege_is_told_which_and_the_way_around_it() {
    for backend in [Backend::Postgres, Backend::MySql] {
        let db = TestDb::new(backend).await;
        let mut admin = Inspect::connect_raw(backend, &server_url(backend)).await;
        let user = format!("mrs_nocreate_{}", std::process::id());
        let url = match backend {
            Backend::Postgres => {
                admin.execute(&format!("CREATE ROLE {user} LOGIN NOCREATEDB")).await;
                db.url.expose().replacen("postgres@", &format!("{user}@"), 1)
            }
            _ => {
                admin.execute(&format!("CREATE USER '{user}'@'%'")).await;
                admin.execute(&format!("GRANT ALL ON `{}`.* TO '{user}'@'%'", db.name())).await;
                db.url.expose().replacen("root@", &format!("{user}@"), 1)
            }
        };
        let folder = Folder::new(&[
            ("V20240101000000__t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY);"),
            ("V20240101000000__t.down.sql", "DROP TABLE t;"),
        ]);
        let mut args: Vec<String> = ["verify", "--sql-dir"].map(str::to_owned).to_vec();
        args.extend([folder.path().display().to_string(), "--database-url".to_owned(), url.clone()]);
        let ran = standalone::run_in(folder.root(), &args);
        let drop_user = match backend {
            Backend::Postgres => format!("DROP ROLE {user}"),
            _ => format!("DROP USER '{user}'@'%'"),
        };
        admin.execute(&drop_user).await;
        assert_eq!(ran.code, Some(1), "{}", ran.all());
        let expected = if backend == Backend::Postgres { "CREATEDB" } else { "CREATE and DROP" };
        assert!(ran.stderr.contains(expected) && ran.stderr.contains("--scratch-url"), "{}", ran.all());
    }
}

/// A target database that does not exist yet: the scratch database is still
/// created on its server, and the target is not created.
#[tokio::test]
async fn a_target_that_does_not_exist_yet_is_verified_on_its_server() {
    for backend in [Backend::Postgres, Backend::MySql] {
        let server = server_url(backend);
        let missing = format!("mrs_missing_{}", std::process::id());
        let url = format!("{}/{missing}", server.rsplit_once('/').unwrap().0);
        let folder = Folder::new(&[
            ("V20240101000000__t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY);"),
            ("V20240101000000__t.down.sql", "DROP TABLE t;"),
        ]);
        let mut args: Vec<String> = ["verify", "--sql-dir"].map(str::to_owned).to_vec();
        args.extend([folder.path().display().to_string(), "--database-url".to_owned(), url]);
        let ran = standalone::run_in(folder.root(), &args);
        assert_eq!(ran.code, Some(0), "{backend}: {}", ran.all());
        let sql = match backend {
            Backend::Postgres => format!("SELECT datname FROM pg_database WHERE datname = '{missing}'"),
            _ => format!(
                "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{missing}'"
            ),
        };
        let mut admin = Inspect::connect_raw(backend, &server).await;
        assert!(admin.strings(&sql).await.is_empty(), "{backend}: the target was created");
    }
}
