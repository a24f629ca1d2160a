//! Migration folders as real projects keep them, run by the standalone
//! binary on every backend: diesel's version and order rules (a loose `.sql`
//! at the top, `-0000` twins, a `YYYY-MM-DD_HHMMSS` name), versions longer
//! than 14 digits wherever a version is taken, adoption after a rename,
//! versions too large for the history, and down files that are empty or
//! hold only comments. Fresh installs are compared, schema dump against
//! schema dump, with the database's own client (`psql`, `mariadb`,
//! `sqlite3`) applying the same files in the tool's order.

#[macro_use]
mod support;

use migrations_rs::Backend;
use std::path::Path;
use std::process::{Command, Output};
use support::sql_dir::folder;
use support::{Inspect, TestDb};

on_every_backend!(
    a_diesel_folder_installs_fresh_in_diesels_order,
    an_18_digit_diesel_row_is_adopted_after_a_rename,
    down_files_of_comments_revert_and_a_revert_stops_at_an_irreversible_step,
    a_version_too_large_for_the_history_is_refused_naming_the_file,
    a_sqlx_folder_installs_like_the_databases_client,
    a_row_recorded_under_the_old_14_digit_reading_is_explained,
);

/// A diesel folder in the styles real projects mix. In the order of the
/// numbers, `2024-03-13_170000_add_email` (version `20240313`) would run
/// before the table it alters exists; diesel runs it after.
const DIESEL: &[(&str, &str)] = &[
    ("00000000000000_diesel_initial_setup/up.sql", "CREATE TABLE setup_marker (id INTEGER PRIMARY KEY);"),
    ("00000000000000_diesel_initial_setup/down.sql", "DROP TABLE setup_marker;"),
    ("2024-03-12-170000_create_users/up.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50));"),
    ("2024-03-12-170000_create_users/down.sql", "DROP TABLE users;"),
    ("2024-03-13_170000_add_email/up.sql", "ALTER TABLE users ADD COLUMN email VARCHAR(100);"),
    ("2024-03-13_170000_add_email/down.sql", "ALTER TABLE users DROP COLUMN email;"),
    ("2024-05-27-120000_create_posts/up.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER);"),
    ("2024-05-27-120000_create_posts/down.sql", "DROP TABLE posts;"),
    ("2024-05-27-120000-0000_create_tags/up.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(20));"),
    ("2024-05-27-120000-0000_create_tags/down.sql", "DROP TABLE tags;"),
    ("2024-05-27-120000-0000_create_tags/metadata.toml", "run_in_transaction = false\n"),
    ("20240601000000_create_comments/up.sql", "CREATE TABLE comments (id INTEGER PRIMARY KEY, body VARCHAR(200));"),
    ("20240601000000_create_comments/down.sql", "DROP TABLE comments;"),
    // diesel reads only folders: this data script must never run.
    ("seed.sql", "INSERT INTO nowhere VALUES (1);"),
    ("README.md", "How we migrate."),
];

/// The up files of [`DIESEL`] in diesel's order.
const DIESEL_ORDER: &[&str] = &[
    "00000000000000_diesel_initial_setup",
    "2024-03-12-170000_create_users",
    "2024-03-13_170000_add_email",
    "2024-05-27-120000_create_posts",
    "2024-05-27-120000-0000_create_tags",
    "20240601000000_create_comments",
];

fn standalone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrations-rs")
}

/// Runs a verb of the standalone binary on `dir` and `db`: exit code and all output.
fn run(dir: &Path, db: &TestDb, verb: &[&str]) -> (Option<i32>, String) {
    let dir = dir.display().to_string();
    let mut args: Vec<&str> = verb.to_vec();
    args.extend(["--sql-dir", &dir, "--database-url", db.url.expose()]);
    let output = standalone(&args);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

fn ok(dir: &Path, db: &TestDb, verb: &[&str]) -> String {
    let (code, text) = run(dir, db, verb);
    assert_eq!(code, Some(0), "{verb:?}: {text}");
    text
}

/// The schema without migrations-rs's own tables.
async fn user_schema(inspect: &mut Inspect) -> Vec<String> {
    inspect.schema().await.into_iter().filter(|line| !line.contains("migrations_rs_")).collect()
}

/// Applies the up files of the diesel folders `order` in a database of its
/// own with the database's own command-line client, one file after the other.
async fn raw_install(backend: Backend, dir: &Path, order: &[&str]) -> (TestDb, Vec<String>) {
    let files: Vec<std::path::PathBuf> = order.iter().map(|m| dir.join(m).join("up.sql")).collect();
    client_install(backend, &files).await
}

/// Applies `files` in order with `psql`, `mariadb` or `sqlite3`, as a project
/// without a migration tool would; returns the database and its schema.
async fn client_install(backend: Backend, files: &[std::path::PathBuf]) -> (TestDb, Vec<String>) {
    let db = TestDb::new(backend).await;
    let url = db.url.expose().to_owned();
    for file in files {
        let output = match backend {
            Backend::Postgres => {
                Command::new("psql").args([url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]).arg(file).output()
            }
            Backend::MySql => {
                // mysql://user@host:port/name
                let rest = url.strip_prefix("mysql://").unwrap();
                let (user, rest) = rest.split_once('@').unwrap();
                let (host_port, name) = rest.split_once('/').unwrap();
                let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
                Command::new("mariadb")
                    .args([
                        format!("--host={host}"),
                        format!("--port={port}"),
                        format!("--user={user}"),
                        name.to_owned(),
                    ])
                    .stdin(std::fs::File::open(file).unwrap())
                    .output()
            }
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").unwrap().split('?').next().unwrap().to_owned();
                Command::new("sqlite3").args(["-bail", &path]).stdin(std::fs::File::open(file).unwrap()).output()
            }
        }
        .expect("the database's command-line client runs");
        assert!(
            output.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let schema = user_schema(&mut db.inspect().await).await;
    (db, schema)
}

/// The up files of a folder in its tool's order, by each tool's rule written
/// the simplest way: diesel's folders by version string, sqlx's files by number.
fn tool_order(dir: &Path) -> Vec<std::path::PathBuf> {
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut diesel: Vec<&String> = names.iter().filter(|n| dir.join(n).join("up.sql").is_file()).collect();
    if !diesel.is_empty() {
        diesel.sort_by_key(|n| n.split('_').next().unwrap().replace('-', ""));
        return diesel.into_iter().map(|n| dir.join(n).join("up.sql")).collect();
    }
    let mut sqlx: Vec<(i64, &String)> = names
        .iter()
        .filter(|n| n.ends_with(".sql") && !n.ends_with(".down.sql"))
        .map(|n| (n.split('_').next().unwrap().parse().unwrap(), n))
        .collect();
    sqlx.sort();
    sqlx.into_iter().map(|(_, n)| dir.join(n)).collect()
}

/// The repository's sqlx and diesel folders of real-world PostgreSQL
/// (extensions, enums, triggers, dollar quotes, a concurrent index): the
/// binary's fresh install and psql applying the same files in the tool's
/// order end with the same schema.
#[tokio::test]
async fn real_world_folders_install_like_psql() {
    for layout in ["sqlx-postgres", "diesel-postgres"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sql").join(layout);
        let db = TestDb::new(Backend::Postgres).await;
        let up = ok(&dir, &db, &["up"]);
        assert!(up.contains("migration(s) applied"), "{up}");
        let (_raw, raw_schema) = client_install(Backend::Postgres, &tool_order(&dir)).await;
        assert!(raw_schema.len() > 20, "{raw_schema:?}");
        assert_eq!(user_schema(&mut db.inspect().await).await, raw_schema, "{layout}");
    }
}

/// A small sqlx folder on every backend: the binary and the database's own
/// client end with the same schema.
async fn a_sqlx_folder_installs_like_the_databases_client(backend: Backend) {
    let dir = folder(&[
        ("1_create_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL);"),
        ("2_index_email.up.sql", "CREATE UNIQUE INDEX users_email ON users (email);"),
        ("2_index_email.down.sql", "DROP INDEX users_email;"),
        ("10_create_posts.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL);"),
        ("9_add_name.sql", "ALTER TABLE users ADD COLUMN name VARCHAR(50);"),
    ]);
    let db = TestDb::new(backend).await;
    ok(dir.path(), &db, &["up"]);
    let (_raw, raw_schema) = client_install(backend, &tool_order(dir.path())).await;
    assert_eq!(user_schema(&mut db.inspect().await).await, raw_schema);
}

async fn a_diesel_folder_installs_fresh_in_diesels_order(backend: Backend) {
    let dir = folder(DIESEL);
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;

    // A version of 18 digits works in `--to`: it and everything before it in diesel's order.
    let up = ok(dir.path(), &db, &["up", "--to", "202405271200000000"]);
    assert!(up.contains("5 migration(s) applied"), "{up}");
    assert!(up.contains("not a migration, left alone") && up.contains("seed.sql"), "{up}");
    assert_eq!(up.matches("seed.sql").count(), 1, "listed once: {up}");
    let text = if backend == Backend::MySql { "CHAR" } else { "TEXT" };
    let order =
        inspect.strings(&format!("SELECT CAST(version AS {text}) FROM migrations_rs_history ORDER BY seq")).await;
    assert_eq!(
        order,
        ["0", "20240312170000", "20240313", "20240527120000", "202405271200000000"],
        "the -0000 twin is a version of its own, after the 14-digit one"
    );
    assert!(!inspect.table_exists("nowhere").await);

    // An 18-digit version in `down --to` and `mark-applied`.
    let down = ok(dir.path(), &db, &["down", "--to", "20240527120000"]);
    assert!(down.contains("1 migration(s) reverted"), "{down}");
    assert!(!inspect.table_exists("tags").await);
    inspect.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(20))").await;
    ok(dir.path(), &db, &["mark-applied", "202405271200000000", "--yes"]);
    let up = ok(dir.path(), &db, &["up"]);
    assert!(up.contains("1 migration(s) applied"), "{up}");
    let status = ok(dir.path(), &db, &["status"]);
    assert!(status.contains("6 applied, 0 pending"), "{status}");

    // The same schema as the database's own client applying the files in diesel's order.
    let (_raw, raw_schema) = raw_install(backend, dir.path(), DIESEL_ORDER).await;
    assert_eq!(user_schema(&mut inspect).await, raw_schema);
}

async fn an_18_digit_diesel_row_is_adopted_after_a_rename(backend: Backend) {
    let dir = folder(DIESEL);
    // diesel applied the first five; its table holds the versions as diesel wrote them.
    let (db, _) = raw_install(backend, dir.path(), &DIESEL_ORDER[..5]).await;
    let mut inspect = db.inspect().await;
    inspect
        .execute(
            "CREATE TABLE __diesel_schema_migrations (
                version VARCHAR(50) PRIMARY KEY NOT NULL,
                run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
            )",
        )
        .await;
    for version in ["00000000000000", "20240312170000", "20240313", "20240527120000", "202405271200000000"] {
        inspect.execute(&format!("INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')")).await;
    }
    let adopt = ok(dir.path(), &db, &["adopt", "--from", "diesel", "--yes"]);
    assert!(adopt.contains("202405271200000000"), "{adopt}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 5, "{adopt}");
    let up = ok(dir.path(), &db, &["up"]);
    assert!(up.contains("1 migration(s) applied") && up.contains("create_comments"), "only the new one runs: {up}");
}

async fn down_files_of_comments_revert_and_a_revert_stops_at_an_irreversible_step(backend: Backend) {
    let dir = folder(&[
        ("1_create_a.up.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("1_create_a.down.sql", "DROP TABLE a;"),
        ("2_seed_a.up.sql", "INSERT INTO a (id) VALUES (1);"),
        ("2_seed_a.down.sql", "-- The row stays: there is nothing to undo.\n"),
        ("3_create_b.up.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"),
        ("3_create_b.down.sql", ""),
        ("4_create_c.up.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY);"),
        ("4_create_c.down.sql", "DROP TABLE c;"),
        ("5_seed_more.up.sql", "INSERT INTO a (id) VALUES (5);"),
        ("5_seed_more.down.sql", "-- kept on purpose\n\n-- (rows are cheap)\n"),
    ]);
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    let up = ok(dir.path(), &db, &["up"]);
    assert!(up.contains("5 migration(s) applied"), "{up}");
    assert!(
        up.contains("1 down file is empty") && up.contains("3_create_b.down.sql"),
        "the 0-byte down is named: {up}"
    );
    assert!(!up.contains("2_seed_a.down.sql") && !up.contains("5_seed_more.down.sql"), "{up}");

    let (code, strict) = run(dir.path(), &db, &["down", "--steps", "5", "--strict"]);
    assert_eq!(code, Some(1), "{strict}");
    assert!(strict.contains("3 create_b") && strict.contains("is irreversible"), "{strict}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 5, "refused before starting");

    let (code, down) = run(dir.path(), &db, &["down", "--steps", "5"]);
    assert_eq!(code, Some(1), "{down}");
    assert!(down.contains("reverted 2 newer migration(s), then stopped at 3 create_b"), "{down}");
    assert_eq!(
        inspect.strings("SELECT name FROM migrations_rs_history ORDER BY seq").await,
        ["create_a", "seed_a", "create_b"]
    );
    assert!(!inspect.table_exists("c").await, "4 was reverted");
    assert_eq!(inspect.scalar("SELECT count(*) FROM a").await, 2, "5's down of comments ran nothing");
    assert_eq!(
        inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE action = 'revert' AND version = 5").await,
        1,
        "and counts as reverted"
    );
    let (code, again) = run(dir.path(), &db, &["down"]);
    assert_eq!(code, Some(1), "{again}");
    assert!(again.contains("nothing was reverted: stopped at 3 create_b"), "{again}");
    let (code, status) = run(dir.path(), &db, &["status"]);
    assert_eq!(code, Some(3), "{status}");
    assert!(status.contains("3 applied, 2 pending"), "{status}");
}

async fn a_version_too_large_for_the_history_is_refused_naming_the_file(backend: Backend) {
    let dir = folder(&[
        ("1_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);"),
        ("9999999999999999999_x.sql", "SELECT 1;"),
    ]);
    let db = TestDb::new(backend).await;
    for verb in [&["up"][..], &["status"], &["lint"]] {
        let (code, text) = run(dir.path(), &db, verb);
        assert_ne!(code, Some(0), "{verb:?}: {text}");
        assert!(text.contains("9999999999999999999_x.sql"), "{verb:?}: {text}");
        assert!(text.contains("version 9999999999999999999 is larger than 9223372036854775807"), "{text}");
    }
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("a").await && !inspect.table_exists("migrations_rs_history").await);
    let (code, text) = run(dir.path(), &db, &["up", "--to", "9999999999999999999"]);
    assert_eq!(code, Some(2), "a version argument that does not fit is refused: {text}");
}

/// An earlier release read `2024-05-27-120000-0000_x` as `20240527120000`:
/// `validate` says how to move its row to the 18-digit version.
async fn a_row_recorded_under_the_old_14_digit_reading_is_explained(backend: Backend) {
    let dir = folder(&[
        ("2024-05-27-120000-0000_create_tags/up.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);"),
        ("2024-05-27-120000-0000_create_tags/down.sql", "DROP TABLE tags;"),
    ]);
    let db = TestDb::new(backend).await;
    ok(dir.path(), &db, &["up"]);
    let mut inspect = db.inspect().await;
    inspect.execute("UPDATE migrations_rs_history SET version = 20240527120000").await;
    let (code, validate) = run(dir.path(), &db, &["validate"]);
    assert_eq!(code, Some(3), "{validate}");
    assert!(
        validate.contains("20240527120000 create_tags (module")
            && validate.contains("`mark-applied 202405271200000000`, then `mark-reverted 20240527120000`"),
        "{validate}"
    );
    ok(dir.path(), &db, &["mark-applied", "202405271200000000", "--yes"]);
    ok(dir.path(), &db, &["mark-reverted", "20240527120000", "--yes"]);
    let valid = ok(dir.path(), &db, &["validate"]);
    assert!(valid.contains("valid"), "{valid}");
    let up = ok(dir.path(), &db, &["up"]);
    assert!(up.contains("nothing to apply"), "nothing runs twice: {up}");
}
