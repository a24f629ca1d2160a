//! Every verb of the command line, run as a user runs it (a separate
//! process), on SQLite, PostgreSQL and MariaDB.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::Backend;
use std::path::Path;
use std::process::{Command, Output};
use support::{TestDb, example_binary};

/// `cli::main` ends the process with the exit code itself, so no form of
/// calling it (`fn main() { cli::main(); }` included) can drop the code; the
/// exit codes of the programs below, built that way, show it at run time.
const _: fn() -> ! = migrations_rs::cli::main;
const _: fn() -> ! = migrations_rs::cli::main_for_sql_folder;

/// Runs `program` in `dir` with `args`, no DATABASE_URL and no colours.
fn cli(program: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(example_binary(program));
    command.args(args).current_dir(dir).env_remove("DATABASE_URL").env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run the program")
}

/// Runs `program` against the test database.
fn on(db: &TestDb, program: &str, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--database-url", db.url.expose()]);
    cli(program, Path::new("."), &all, &[])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(&output),
        stderr(&output)
    );
    output
}

on_every_backend!(
    up_dry_run_rehearses_the_plan_and_changes_nothing,
    up_keep_going_applies_what_does_not_depend_on_a_failure,
    down_last_batch_and_redo,
    status_json_module_quiet_and_exit_codes,
    history_filters_and_json,
    validate_and_repair,
    baseline_mark_applied_and_mark_reverted,
    plan_and_graph,
    sql_is_rendered_offline,
    lock_status_as_json,
    a_panicking_migration_fails_like_any_other,
    dotenv_is_read_from_the_working_directory_only,
    force_splits_into_allow_destructive_and_revert_modified,
);

/// A `.env` in a parent directory is ignored; one in the working directory is
/// read, and the output names it as the URL's source.
async fn dotenv_is_read_from_the_working_directory_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let parent = tempfile::tempdir().unwrap();
    let project = parent.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let wrong = parent.path().join("wrong.db");
    std::fs::write(parent.path().join(".env"), format!("DATABASE_URL=sqlite://{}?mode=rwc\n", wrong.display()))
        .unwrap();

    let output = ok(cli("migrate", &project, &["up"], &[]));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(said.contains("(from the default"), "the parent's .env is not read: {said}");
    assert!(!wrong.exists(), "the parent's database was not touched");
    assert!(project.join("migrations.db").exists());

    let dotenv = project.join(".env");
    std::fs::write(&dotenv, format!("# the team's database\nDATABASE_URL={}\n", db.url.expose())).unwrap();
    let output = ok(cli("migrate", &project, &["up"], &[]));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(said.contains(&format!("(from DATABASE_URL in {})", dotenv.display())), "names the file: {said}");
    let mut inspect = db.inspect().await;
    assert!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await > 0, "the .env's database was migrated");
}

/// A panic in a body: exit 1 naming the migration, the panic's message and
/// location in the message and in the audit log, the step rolled back where it
/// can be, and on MariaDB (whose DDL commits at once) the dirty state stated.
async fn a_panicking_migration_fails_like_any_other(backend: Backend) {
    let db = TestDb::new(backend).await;
    let args = ["up", "--database-url", db.url.expose()];
    let output = cli("test-fixture", Path::new("."), &args, &[("FIXTURE_PANIC", "1")]);
    let text = stderr(&output);
    // Where the fixture panics: `tests/fixture/main.rs:<line>:`.
    let fixture =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixture/main.rs")).unwrap();
    let line = fixture.lines().position(|l| l.contains("asked to panic inside crash_point")).expect("the panic") + 1;
    let location = format!("tests/fixture/main.rs:{line}:");
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("migration 20240104000000 crash_point ("), "names the migration: {text}");
    assert!(
        text.contains("failed while applying: panicked at ")
            && text.contains(&location)
            && text.contains("the fixture was asked to panic inside crash_point"),
        "the panic's location and message: {text}"
    );
    assert!(!text.contains("thread 'main' panicked"), "reported once, as an error: {text}");
    let mut inspect = db.inspect().await;
    let logged = inspect
        .strings("SELECT error FROM migrations_rs_log WHERE version = 20240104000000 AND action = 'apply_failed'")
        .await;
    assert_eq!(logged.len(), 1, "one failure in the audit log: {logged:?}");
    assert!(logged[0].contains(&location) && logged[0].contains("asked to panic"), "{}", logged[0]);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 3);
    let left = inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE version = 20240104000000").await;
    if backend == Backend::MySql {
        assert!(text.contains("recorded as dirty") && text.contains("mark-applied 20240104000000"), "{text}");
        assert_eq!(left, 1, "the unfinished row stays");
        assert!(inspect.table_exists("crash_probe").await, "MariaDB's DDL committed at once");
    } else {
        assert!(text.contains("nothing of it was kept"), "{text}");
        assert_eq!(left, 0);
        assert!(!inspect.table_exists("crash_probe").await, "rolled back");
    }
}

async fn up_dry_run_rehearses_the_plan_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    let before = inspect.schema().await;
    let output = ok(on(&db, "migrate", &["up", "--dry-run"]));
    let text = stdout(&output);
    if backend == Backend::MySql {
        assert!(text.contains("not rehearsed: MySQL/MariaDB commits every DDL statement at once"), "{text}");
        assert!(text.contains("ALTER TABLE `users` DROP COLUMN `full_name`;"), "the SQL is shown: {text}");
        assert!(text.contains("dry run: nothing was run and nothing was changed"), "{text}");
    } else {
        assert!(text.contains("ok      20240301090000 create_orders: 1 statement(s)"), "{text}");
        assert!(text.contains("rehearsal: 8 step(s) would apply; everything was rolled back"), "{text}");
    }
    assert_eq!(inspect.schema().await, before, "a rehearsal leaves the schema as it was");
    assert!(!inspect.table_exists("migrations_rs_history").await);
    let down = ok(on(&db, "migrate", &["down", "--dry-run", "--json"]));
    assert_eq!(json(&down)["steps"].as_array().unwrap().len(), 0, "nothing applied, nothing to revert");
}

async fn up_keep_going_applies_what_does_not_depend_on_a_failure(backend: Backend) {
    let db = TestDb::new(backend).await;
    let args = ["up", "--keep-going", "--database-url", db.url.expose()];
    let output = cli("test-fixture", Path::new("."), &args, &[("FIXTURE_FAIL_FILL", "1")]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("1 migration(s) failed")
            && text.contains("20240102000000 fill_items: fill_items was asked to fail"),
        "{text}"
    );
    assert!(
        text.contains("skipped because they depend on a failure")
            && text.contains("20240103000000 index_items_concurrently"),
        "{text}"
    );
    assert!(text.contains("20240104000000 crash_point"), "{text}");
    assert!(
        stdout(&output).contains("applied  20240105000000 create_notes"),
        "the independent one ran: {}",
        stdout(&output)
    );
    let mut inspect = db.inspect().await;
    assert!(inspect.table_exists("notes").await);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 2);
    // fill_items failed before it sent anything a rollback cannot undo, so even
    // on MariaDB it leaves no unfinished row behind.
    assert!(!text.contains("left dirty"), "{text}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE version = 20240102000000").await, 0);
    // Without --keep-going the run stops at the failure.
    let db = TestDb::new(backend).await;
    let output =
        cli("test-fixture", Path::new("."), &["up", "--database-url", db.url.expose()], &[("FIXTURE_FAIL_FILL", "1")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!db.inspect().await.table_exists("notes").await);
}

async fn down_last_batch_and_redo(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok(on(&db, "test-fixture", &["up", "--to", "20240102000000"]));
    ok(on(&db, "test-fixture", &["up", "--to", "20240103000000"]));
    let preview = json(&ok(on(&db, "test-fixture", &["down", "--last-batch", "--dry-run", "--json"])));
    assert_eq!(preview["steps"].as_array().unwrap().len(), 1, "{preview}");
    assert_eq!(preview["steps"][0]["name"], "index_items_concurrently");
    let output = ok(on(&db, "test-fixture", &["down", "--last-batch"]));
    assert!(stdout(&output).contains("reverted 20240103000000 index_items_concurrently"), "{}", stdout(&output));
    assert!(stdout(&output).contains("1 migration(s) reverted"));

    ok(on(&db, "test-fixture", &["up"]));
    let output = ok(on(&db, "test-fixture", &["redo", "--steps", "2"]));
    let text = stdout(&output);
    assert!(
        text.contains("reverted 20240105000000 create_notes") && text.contains("reverted 20240104000000 crash_point"),
        "{text}"
    );
    assert!(text.contains("2 migration(s) reverted and applied again"), "{text}");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 5);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log WHERE version = 20240104000000").await, 3);
}

async fn status_json_module_quiet_and_exit_codes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let pending = on(&db, "migrate", &["status", "--json"]);
    assert_eq!(pending.status.code(), Some(3), "exit 3 while migrations are pending");
    let value = json(&pending);
    assert_eq!(value["up_to_date"], false);
    assert_eq!(value["status"]["migrations"].as_array().unwrap().len(), 8);
    assert_eq!(value["status"]["migrations"][0]["state"]["state"], "pending");

    ok(on(&db, "migrate", &["up", "--quiet"]));
    let quiet = on(&db, "migrate", &["status", "--quiet"]);
    assert_eq!(quiet.status.code(), Some(0), "exit 0 once up to date");
    assert!(
        stdout(&quiet).is_empty() && stderr(&quiet).is_empty(),
        "--quiet prints nothing: {}{}",
        stdout(&quiet),
        stderr(&quiet)
    );
    let value = json(&ok(on(&db, "migrate", &["status", "--json"])));
    let first = &value["status"]["migrations"][0];
    assert_eq!(first["state"]["state"], "applied");
    assert_eq!(first["state"]["batch"], 1);
    assert!(first["state"]["applied_at"].as_str().unwrap().ends_with('Z'));
    assert!(first["state"]["applied_by"].as_str().unwrap().contains('@'), "{first}");
    let location = first["location"].as_str().expect("the location is a string");
    let (file, line) = location.rsplit_once(':').expect("file:line");
    assert!(file.ends_with(".rs") && line.parse::<u32>().unwrap() > 0, "{location}");
    let other = json(&ok(on(&db, "migrate", &["status", "--json", "--module", "billing"])));
    assert_eq!(other["status"]["migrations"].as_array().unwrap().len(), 0);
    let mine = json(&ok(on(&db, "migrate", &["status", "--json", "--module", "migrations-rs-examples"])));
    assert_eq!(mine["status"]["migrations"].as_array().unwrap().len(), 8);
    assert_eq!(mine["lock"]["held"], false, "status shows the lock too");
    assert!(stdout(&ok(on(&db, "migrate", &["status"]))).contains("lock: free"));
}

async fn history_filters_and_json(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok(on(&db, "migrate", &["up"]));
    ok(on(&db, "migrate", &["down"]));
    let all = json(&ok(on(&db, "migrate", &["history", "--json"])));
    assert_eq!(all.as_array().unwrap().len(), 9);
    assert_eq!(all[0]["action"], "revert", "newest first");
    assert!(all[0]["performed_by"].as_str().unwrap().contains('@'));
    let limited = json(&ok(on(&db, "migrate", &["history", "--json", "--limit", "2", "--action", "apply"])));
    assert_eq!(limited.as_array().unwrap().len(), 2);
    assert!(limited.as_array().unwrap().iter().all(|r| r["action"] == "apply"));
    let one = json(&ok(on(&db, "migrate", &["history", "--json", "--version", "20240315170000"])));
    assert_eq!(one.as_array().unwrap().len(), 2);
    let recent = json(&ok(on(&db, "migrate", &["history", "--json", "--since", "1h"])));
    assert_eq!(recent.as_array().unwrap().len(), 9);
    let future = json(&ok(on(&db, "migrate", &["history", "--json", "--since", "2999-01-01"])));
    assert_eq!(future.as_array().unwrap().len(), 0);
    let table = stdout(&ok(on(&db, "migrate", &["history", "--limit", "1"])));
    assert!(table.contains("revert") && table.contains("index_orders_by_time"), "{table}");
    let bad = on(&db, "migrate", &["history", "--since", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("give a time"), "{}", stderr(&bad));
    // An age before 1970 and a limit the database cannot take are errors naming the flag, not panics.
    for age in ["60y", "100y", "500000y"] {
        let before_1970 = on(&db, "migrate", &["history", "--since", age]);
        assert_eq!(before_1970.status.code(), Some(1), "{age}: {}", stderr(&before_1970));
        assert!(
            stderr(&before_1970).contains(&format!("--since {age}: that age reaches back before 1970")),
            "{}",
            stderr(&before_1970)
        );
    }
    for limit in ["9223372036854775808", "18446744073709551615", "0", "-1"] {
        let too_many = on(&db, "migrate", &["history", &format!("--limit={limit}")]);
        assert_eq!(too_many.status.code(), Some(2), "{limit}: {}", stderr(&too_many));
        assert!(stderr(&too_many).contains("--limit"), "{}", stderr(&too_many));
        assert!(!stderr(&too_many).contains("panicked"), "{}", stderr(&too_many));
    }
    let largest = json(&ok(on(&db, "migrate", &["history", "--json", "--limit", "9223372036854775807"])));
    assert_eq!(largest.as_array().unwrap().len(), 9);
}

async fn validate_and_repair(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok(on(&db, "migrate", &["up"]));
    assert!(stdout(&ok(on(&db, "migrate", &["validate"]))).contains("valid"));
    let mut inspect = db.inspect().await;
    inspect.execute("UPDATE migrations_rs_history SET checksum = 'feedface' WHERE version = 20240116101500").await;
    let invalid = on(&db, "migrate", &["validate"]);
    assert_eq!(invalid.status.code(), Some(3));
    assert!(stdout(&invalid).contains("20240116101500 create_products"), "{}", stdout(&invalid));
    let refused = on(&db, "migrate", &["up"]);
    assert_eq!(refused.status.code(), Some(1), "the changed migration blocks runs");
    assert!(stderr(&refused).contains("restore the applied code"), "{}", stderr(&refused));

    let repaired = ok(on(&db, "migrate", &["repair"]));
    assert!(stdout(&repaired).contains("20240116101500: current checksum accepted"), "{}", stdout(&repaired));
    ok(on(&db, "migrate", &["validate"]));
    let log = inspect.strings("SELECT action FROM migrations_rs_log WHERE version = 20240116101500 ORDER BY id").await;
    assert_eq!(log, ["apply", "repair"]);
    assert!(
        inspect.strings("SELECT performed_by FROM migrations_rs_log WHERE action = 'repair'").await[0].contains('@')
    );
    let json_report = json(&ok(on(&db, "migrate", &["repair", "--json"])));
    assert_eq!(json_report["checksums_accepted"].as_array().unwrap().len(), 0, "nothing left to repair");
}

async fn baseline_mark_applied_and_mark_reverted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let output = ok(on(&db, "migrate", &["baseline", "--to", "20240116101500"]));
    assert!(stdout(&output).contains("2 migration(s) recorded as applied"), "{}", stdout(&output));
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("users").await, "nothing ran");
    assert_eq!(inspect.strings("SELECT action FROM migrations_rs_log ORDER BY id").await, ["baseline", "baseline"]);
    ok(on(&db, "migrate", &["mark-reverted", "20240116101500"]));
    ok(on(&db, "migrate", &["mark-applied", "20240116101500"]));
    let twice = on(&db, "migrate", &["mark-applied", "20240116101500"]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(stderr(&twice).contains("already recorded as applied"));
    let unknown = on(&db, "migrate", &["mark-applied", "20991231000000"]);
    assert!(stderr(&unknown).contains("no migration has version 20991231000000"));
}

async fn plan_and_graph(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok(on(&db, "migrate", &["up", "--to", "20240116101500"]));
    let plan = stdout(&ok(on(&db, "migrate", &["plan", "--to", "20240301090000"])));
    assert!(plan.contains("the target 20240301090000 depends on it"), "{plan}");
    assert!(plan.contains("pending; the target"), "{plan}");
    assert!(!plan.contains("create_products"), "applied ones are not planned: {plan}");
    let steps = json(&ok(on(&db, "migrate", &["plan", "--json"])));
    assert_eq!(steps["steps"].as_array().unwrap().len(), 7);
    assert_eq!(steps["steps"][0]["name"], "create_users");

    let graph = stdout(&ok(on(&db, "migrate", &["graph"])));
    assert!(graph.contains("[x] 20240116101500 create_products"), "{graph}");
    assert!(graph.contains("[ ] 20240301090000 create_orders (migrations-rs-examples)  <- 20240201120000 split_full_names, 20240205080000 index_products_by_sku"), "{graph}");
    let dot = stdout(&ok(on(&db, "migrate", &["graph", "--format", "dot"])));
    assert!(dot.starts_with("digraph migrations {"), "{dot}");
    assert!(dot.contains("\"20240115093000\" -> \"20240120110000\";"), "{dot}");
    assert!(dot.contains("palegreen") && dot.contains("dashed"), "applied and pending are marked: {dot}");
}

async fn sql_is_rendered_offline(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sql = stdout(&ok(on(&db, "migrate", &["sql", "--backend", "postgres", "--to", "20240201120000"])));
    assert!(sql.contains("-- 20240115093000 create_users (PostgreSQL)"), "{sql}");
    assert!(sql.contains("CREATE TABLE \"users\""), "{sql}");
    assert!(
        sql.contains("INSERT INTO \"users\" (\"email\", \"full_name\") VALUES ('ada@example.com', 'Ada Lovelace')"),
        "{sql}"
    );
    assert!(sql.contains("needs rows read from the database"), "a body that reads rows says so: {sql}");
    let mysql = stdout(&ok(on(&db, "migrate", &["sql", "--backend", "mysql", "--to", "20240115093000"])));
    assert!(mysql.contains("CREATE TABLE `users`"), "{mysql}");
    let native = json(&ok(on(&db, "migrate", &["sql", "--json"])));
    assert_eq!(native.as_array().unwrap().len(), 8);
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("users").await, "nothing ran");
}

async fn lock_status_as_json(backend: Backend) {
    let db = TestDb::new(backend).await;
    let status = json(&ok(on(&db, "migrate", &["lock", "status", "--json"])));
    assert_eq!(status["held"], false);
    let expected = match backend {
        Backend::Postgres => "postgres_advisory",
        Backend::MySql => "my_sql_named_lock",
        Backend::Sqlite => "lease_row",
    };
    assert_eq!(status["mechanism"], expected);
    let release = ok(on(&db, "migrate", &["lock", "release"]));
    assert!(stdout(&release).contains("nothing to release"));
}

#[test]
fn named_environments_dotenv_and_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("migrations.toml"),
        "[environments.production]\ndatabase_url = \"sqlite://prod.db?mode=rwc\"\nprotected = true\n\n\
         [environments.staging]\ndatabase_url_env = \"STAGING_URL\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env"), "DATABASE_URL=sqlite://from_dotenv.db?mode=rwc\n").unwrap();

    let from_dotenv = ok(cli("migrate", dir.path(), &["up"], &[]));
    assert!(
        stderr(&from_dotenv).contains(&format!(
            "database: sqlite://from_dotenv.db?mode=rwc (from DATABASE_URL in {})",
            dir.path().join(".env").display()
        )),
        "{}",
        stderr(&from_dotenv)
    );
    assert!(dir.path().join("from_dotenv.db").exists());

    let production = ok(cli("migrate", dir.path(), &["up", "--env", "production", "--to", "20240116101500"], &[]));
    assert!(stderr(&production).contains("environment `production` in migrations.toml"), "{}", stderr(&production));
    let refused = cli("migrate", dir.path(), &["down", "--env", "production"], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("Revert 1 migration(s) on sqlite://prod.db?mode=rwc (protected environment):\n  20240116101500 create_products\nGo ahead?")
            && stderr(&refused).contains("pass --yes"),
        "the question names what it reverts: {}",
        stderr(&refused)
    );
    let risky = cli("migrate", dir.path(), &["up", "--env", "production"], &[]);
    assert_eq!(risky.status.code(), Some(1), "data migrations need confirmation in production");
    assert!(
        stderr(&risky).contains("Apply 7 migration(s) on sqlite://prod.db?mode=rwc (protected environment):")
            && stderr(&risky).contains("\n  20240115093000 create_users\n")
            && stderr(&risky).contains("\n  20240120110000 seed_users: risk: data\n")
            && stderr(&risky).contains("drop_full_name: risk: data; irreversible; drop-column"),
        "one question names every step and why each risky one is: {}",
        stderr(&risky)
    );
    ok(cli("migrate", dir.path(), &["down", "--env", "production", "--yes"], &[]));

    let staging = cli(
        "migrate",
        dir.path(),
        &["status", "--env", "staging"],
        &[("STAGING_URL", "postgres://app:s3cret@127.0.0.1:9/x")],
    );
    assert_eq!(staging.status.code(), Some(1));
    assert!(
        stderr(&staging).contains("postgres://app:****@127.0.0.1:9/x") && !stderr(&staging).contains("s3cret"),
        "{}",
        stderr(&staging)
    );
    let unset = cli("migrate", dir.path(), &["status", "--env", "staging"], &[]);
    assert!(stderr(&unset).contains("STAGING_URL, which is not set"), "{}", stderr(&unset));
    let unknown = cli("migrate", dir.path(), &["status", "--env", "qa"], &[]);
    assert!(stderr(&unknown).contains("has no environment `qa`"), "{}", stderr(&unknown));
    let flag_wins = cli(
        "migrate",
        dir.path(),
        &["status", "--env", "production", "--database-url", "sqlite://flag.db?mode=rwc"],
        &[],
    );
    assert_eq!(flag_wins.status.code(), Some(1), "status creates no database");
    assert!(stderr(&flag_wins).contains("flag.db does not exist (from --database-url)"), "{}", stderr(&flag_wins));
    let json_error = cli("migrate", dir.path(), &["status", "--json", "--env", "qa"], &[]);
    let value: serde_json::Value = serde_json::from_slice(&json_error.stderr).expect("errors are JSON with --json");
    assert!(value["message"].as_str().unwrap().contains("qa"));
}

#[test]
fn create_writes_a_migration_that_compiles_and_registers() {
    let crate_dir = tempfile::tempdir().unwrap();
    let root = crate_dir.path();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"created-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n\
             migrations-rs = {{ path = {:?} }}\n\
             # Only so that this build reuses the test suite's compiled dependencies.\n\
             suite-features = {{ path = {:?} }}\n\n[workspace]\n",
            workspace.join("migrations-rs"),
            workspace.join("tests/workspace/suite-features")
        ),
    )
    .unwrap();
    std::fs::write(root.join("src/main.rs"), "mod migrations;\n\nfn main() {\n    migrations_rs::cli::main()\n}\n")
        .unwrap();

    let first =
        ok(cli("migrate", root, &["create", "add_avatars", "--dir", "src/migrations", "--risk", "schema"], &[]));
    assert!(stdout(&first).contains("src/migrations is new: add `mod migrations;`"), "{}", stdout(&first));
    let taken = cli("migrate", root, &["create", "add_avatars", "--dir", "src/migrations"], &[]);
    assert_eq!(taken.status.code(), Some(1));
    assert!(stderr(&taken).contains("the name `add_avatars` is taken"), "{}", stderr(&taken));
    let bad = cli("migrate", root, &["create", "Add-Avatars", "--dir", "src/migrations"], &[]);
    assert!(stderr(&bad).contains("cannot name a migration"), "{}", stderr(&bad));
    let used = cli("migrate", root, &["create", "create_users", "--dir", "src/migrations"], &[]);
    assert!(
        stderr(&used).contains("taken by migration 20240115093000"),
        "names linked in are taken too: {}",
        stderr(&used)
    );
    ok(cli(
        "migrate",
        root,
        &["create", "backfill_avatars", "--dir", "src/migrations", "--depends-on", "20240115093000", "--risk", "data"],
        &[],
    ));
    let files: Vec<String> = std::fs::read_dir(root.join("src/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let module = std::fs::read_to_string(root.join("src/migrations/mod.rs")).unwrap();
    assert!(
        module.contains("pub use m") && module.contains("::add_avatars;") && module.contains("::backfill_avatars;"),
        "{module}"
    );

    // The second migration names a version that this new crate does not have: make it depend on the first instead.
    let backfill = files.iter().find(|f| f.ends_with("_backfill_avatars.rs")).unwrap();
    let path = root.join("src/migrations").join(backfill);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("depends_on = [2024_01_15_093000], risk = [data]"), "{text}");
    std::fs::write(&path, text.replace("depends_on = [2024_01_15_093000]", "depends_on = [super::add_avatars]"))
        .unwrap();

    let built = support::nested_build(&mut support::nested_cargo(root, "build"));
    assert_eq!(built.recompiled, Vec::<String>::new(), "reuses the suite's dependencies");
    assert_eq!(built.warnings, Vec::<String>::new(), "the template compiles without warnings");
    let build = support::nested_cargo(root, "run")
        .args(["--quiet", "--", "status", "--json", "--database-url", "sqlite::memory:"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run cargo");
    assert_eq!(build.status.code(), Some(3), "builds, runs, and has two pending migrations: {}", stderr(&build));
    assert!(!stderr(&build).contains("warning"), "the template compiles without warnings: {}", stderr(&build));
    let value: serde_json::Value = serde_json::from_slice(&build.stdout).unwrap();
    let names: Vec<&str> =
        value["status"]["migrations"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add_avatars", "backfill_avatars"]);

    // Their `up` is still empty: `up` refuses them rather than record them as done.
    let database = format!("sqlite://{}?mode=rwc", root.join("created.db").display());
    let up = support::nested_cargo(root, "run")
        .args(["--quiet", "--", "up", "--database-url", &database])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run cargo");
    assert_eq!(up.status.code(), Some(1), "{}", stderr(&up));
    assert!(
        stderr(&up).contains("2 pending migration(s) have an empty `up`") && stderr(&up).contains("add_avatars ("),
        "{}",
        stderr(&up)
    );
}

/// Verbs that only read open no database they would create: a missing SQLite
/// file is an error naming it and `up`; offline verbs touch no database at all.
#[test]
fn read_only_and_offline_verbs_create_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migrations.db");
    let read_only: [&[&str]; 8] = [
        &["status"],
        &["history"],
        &["validate"],
        &["plan"],
        &["graph"],
        &["lock", "status"],
        &["lint", "--pending"],
        &["sql"],
    ];
    for verb in read_only {
        let output = cli("migrate", dir.path(), verb, &[]);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{verb:?}: {text}");
        assert!(
            text.contains(&format!("the SQLite database {} does not exist", file.display()))
                && text.contains(&format!("`{}` only reads and creates nothing: `up` creates it", verb.join(" "))),
            "{verb:?}: {text}"
        );
        assert!(!file.exists(), "{verb:?} created the database");
    }
    let lint = ok(cli("migrate", dir.path(), &["lint", "--backend", "sqlite"], &[]));
    assert!(stdout(&lint).contains("migration(s) analysed"), "{}", stdout(&lint));
    let sql = ok(cli("migrate", dir.path(), &["sql", "--backend", "postgres"], &[]));
    assert!(stdout(&sql).contains("CREATE TABLE \"users\""), "every migration is rendered: {}", stdout(&sql));
    assert!(!stderr(&sql).contains("database:"), "no database is opened: {}", stderr(&sql));
    assert!(!file.exists(), "offline verbs created the database");

    // Once `up` created it, the same verbs read it.
    ok(cli("migrate", dir.path(), &["up"], &[]));
    ok(cli("migrate", dir.path(), &["validate"], &[]));
}

/// The operator in the history: USER, else LOGNAME, else the user id, with the host.
#[test]
fn the_operator_falls_back_to_logname_then_the_user_id() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(example_binary("migrate"));
        command.args(["up"]).current_dir(dir.path()).env_remove("DATABASE_URL").env_remove("USER");
        command.env_remove("LOGNAME").env_remove("USERNAME").env("NO_COLOR", "1");
        for (key, value) in env {
            command.env(key, value);
        }
        ok(command.output().unwrap());
        let history = ok(cli("migrate", dir.path(), &["history", "--json"], &[]));
        json(&history)
    };
    let by_logname = run(&[("LOGNAME", "ada")]);
    let first = by_logname.to_string();
    assert!(first.contains("\"ada@"), "{first}");
    std::fs::remove_file(dir.path().join("migrations.db")).unwrap();
    let by_id = run(&[]).to_string();
    assert!(by_id.contains("\"uid ") && !by_id.contains("unknown@"), "{by_id}");
}

/// On a terminal (a pseudo-terminal from `script`) the backup line is printed
/// on a line of its own, not glued to the progress bar's.
#[test]
fn on_a_terminal_the_backup_line_is_not_glued_to_the_progress_bar() {
    let dir = tempfile::tempdir().unwrap();
    // A database that holds data, so the run that includes seed_users takes a snapshot.
    ok(cli("migrate", dir.path(), &["up", "--to", "20240115093000"], &[]));
    let command = format!("{} up", example_binary("migrate").display());
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .env_remove("DATABASE_URL")
        .env("TERM", "xterm-256color")
        .output()
        .expect("run script (util-linux)");
    let raw = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{raw}");
    let at = raw.find("backup: ").unwrap_or_else(|| panic!("a backup line: {raw:?}"));
    // What precedes it, colour codes aside, ends a line or clears the bar's.
    let mut before = raw[..at].to_owned();
    while let Some(start) = before.rfind("\x1b[")
        && before[start..].ends_with('m')
    {
        before.truncate(start);
    }
    assert!(
        before.ends_with('\n') || before.ends_with('\r') || before.ends_with("\x1b[2K") || before.ends_with("\x1b[K"),
        "the backup line starts a line: {:?}",
        &raw[at.saturating_sub(80)..(at + 40).min(raw.len())]
    );
}

/// Every form of password sqlx accepts, a URL without a scheme, and a URL given
/// where no URL goes: the password appears in no output.
#[tokio::test]
async fn no_output_shows_a_password_in_any_url_form() {
    let db = TestDb::new(Backend::Postgres).await;
    let plain = db.url.expose();
    let (prefix, rest) = plain.split_once("://").unwrap();
    let secret = "Hunter2-Secret";
    let forms = [
        // PostgreSQL trusts local connections, so these connect and run.
        format!("{prefix}://postgres:{secret}@{}", rest.split_once('@').unwrap().1),
        format!("{plain}?password={secret}"),
        format!("{plain}?p%61ssword={secret}"),
        format!("{plain}?PASSWORD={secret}&sslmode=disable"),
        // These cannot be used, and the error says so without the password.
        format!("admin:{secret}@127.0.0.1/db"),
        format!("oracle://admin:{secret}@127.0.0.1/db"),
        format!("mysql://root:{secret}@127.0.0.1:1/db"),
    ];
    for url in &forms {
        for args in [&["status"][..], &["history", "--json"], &["up", "--dry-run"]] {
            let mut all = args.to_vec();
            all.extend(["--database-url", url]);
            let output = cli("migrate", Path::new("."), &all, &[]);
            let text = format!("{}{}", stdout(&output), stderr(&output));
            assert!(!text.contains(secret), "{url} {args:?}: {text}");
            assert_ne!(output.status.code(), Some(101), "{text}");
        }
        let env = cli("migrate", Path::new("."), &["status"], &[("DATABASE_URL", url)]);
        let text = format!("{}{}", stdout(&env), stderr(&env));
        assert!(!text.contains(secret), "DATABASE_URL={url}: {text}");
        // A URL where no argument goes is repeated by the usage error, redacted.
        let misplaced = cli("migrate", Path::new("."), &["status", url], &[]);
        assert_eq!(misplaced.status.code(), Some(2));
        assert!(!stderr(&misplaced).contains(secret), "{}", stderr(&misplaced));
    }
}

/// The two meanings `--force` had, each a flag of its own: `up
/// --allow-destructive` runs destructive statements no migration
/// acknowledges, `down --revert-modified` reverts a migration whose code
/// changed since it was applied. `--force` still means each on its verb.
async fn force_splits_into_allow_destructive_and_revert_modified(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = standalone::Folder::new(&[
        ("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY, legacy int);\n"),
        ("1_users.down.sql", "DROP TABLE users;\n"),
    ]);
    let up = folder.run(&db, &["up"]);
    assert_eq!(up.code, Some(0), "{}", up.all());
    let mut inspect = db.inspect().await;
    inspect.execute("INSERT INTO users (id, legacy) VALUES (1, 7)").await;
    folder.write("2_drop_legacy.up.sql", "ALTER TABLE users DROP COLUMN legacy;\n");
    folder.write("2_drop_legacy.down.sql", "ALTER TABLE users ADD COLUMN legacy int;\n");
    for allow in ["--allow-destructive", "--force"] {
        let refused = folder.run(&db, &["up"]);
        assert_eq!(refused.code, Some(1), "a drop on a table with rows: {}", refused.all());
        let up = folder.run(&db, &["up", allow]);
        assert_eq!(up.code, Some(0), "{allow}: {}", up.all());
        assert!(up.stdout.contains("1 migration(s) applied"), "{allow}: {}", up.all());
        assert_eq!(folder.run(&db, &["down"]).code, Some(0));
    }
    for (n, revert) in ["--revert-modified", "--force"].into_iter().enumerate() {
        folder.write("2_drop_legacy.down.sql", &format!("-- changed {n}\nALTER TABLE users ADD COLUMN legacy int;\n"));
        let up = folder.run(&db, &["up", "--allow-destructive"]);
        assert_eq!(up.code, Some(0), "{}", up.all());
        folder.write("2_drop_legacy.up.sql", &format!("-- edited {n}\nALTER TABLE users DROP COLUMN legacy;\n"));
        let refused = folder.run(&db, &["down"]);
        assert_eq!(refused.code, Some(1), "a changed migration is not reverted: {}", refused.all());
        assert!(refused.stderr.contains("was applied with checksum"), "{}", refused.all());
        let down = folder.run(&db, &["down", revert]);
        assert_eq!(down.code, Some(0), "{revert}: {}", down.all());
        assert!(down.stdout.contains("1 migration(s) reverted"), "{revert}: {}", down.all());
    }
    let meanings = [("up", "--revert-modified"), ("down", "--allow-destructive")];
    for (verb, other) in meanings {
        let wrong = folder.run(&db, &[verb, other]);
        assert_eq!(wrong.code, Some(2), "{verb} has no {other}: {}", wrong.all());
    }
}
