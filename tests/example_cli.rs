//! The example program end to end, as a user runs it: a fresh directory,
//! no configuration, the embedded SQLite default.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn migrate(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::example_binary("migrate"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the example")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn up_status_down_and_up_again_on_the_default_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let up = migrate(dir.path(), &["up"]);
    assert!(up.status.success(), "{}", text(&up.stderr));
    let stderr = text(&up.stderr);
    assert!(stderr.contains("database: sqlite://migrations.db"), "says which database it uses: {stderr}");
    assert!(dir.path().join("migrations.db").exists(), "created the SQLite file in the working directory");
    let stdout = text(&up.stdout);
    assert!(stdout.contains("8 migration(s) applied in batch 1"), "{stdout}");
    let order: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("applied  ")).collect();
    assert_eq!(order.len(), 8, "{stdout}");
    assert!(order[0].starts_with("20240115093000 create_users"));
    assert!(order[6].starts_with("20240301090000 create_orders"), "the merge comes after both branches: {order:?}");

    let status = migrate(dir.path(), &["status"]);
    assert!(status.status.success());
    let table = text(&status.stdout);
    let applied_rows = table.lines().filter(|l| l.contains(" applied ") && !l.contains("applied at")).count();
    assert_eq!(applied_rows, 8, "{table}");
    assert!(table.contains("8 applied, 0 pending: up to date"), "{table}");
    assert!(
        table.lines().any(|l| l.contains("create_users") && l.contains(" 20") && l.contains(":")),
        "shows times: {table}"
    );

    let down = migrate(dir.path(), &["down", "--steps", "2"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    let stdout = text(&down.stdout);
    assert!(stdout.contains("reverted 20240315170000 index_orders_by_time"), "{stdout}");
    assert!(stdout.contains("reverted 20240301090000 create_orders"), "{stdout}");

    let status = text(&migrate(dir.path(), &["status"]).stdout);
    assert!(status.contains("6 applied, 2 pending: not up to date"), "{status}");

    let up = migrate(dir.path(), &["up"]);
    assert!(up.status.success());
    // Batch 1 applied, batch 2 reverted: the numbers are not given again.
    assert!(text(&up.stdout).contains("2 migration(s) applied in batch 3"), "{}", text(&up.stdout));

    let noop = migrate(dir.path(), &["up"]);
    assert!(noop.status.success());
    assert!(text(&noop.stdout).contains("nothing to apply"), "{}", text(&noop.stdout));
}

#[test]
fn failures_exit_non_zero_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    migrate(dir.path(), &["up"]);

    let strict = migrate(dir.path(), &["down", "--steps", "3", "--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    let stderr = text(&strict.stderr);
    assert!(stderr.contains("error: migration 20240210090000 drop_full_name"), "{stderr}");
    assert!(stderr.contains("is irreversible"), "{stderr}");
    assert!(!stderr.contains("reverted "), "refused before reverting anything: {stderr}");

    let irreversible = migrate(dir.path(), &["down", "--steps", "3"]);
    assert_eq!(irreversible.status.code(), Some(1));
    let stderr = text(&irreversible.stderr);
    assert!(stderr.contains("then stopped at 20240210090000 drop_full_name"), "{stderr}");
    assert!(stderr.contains("it is irreversible"), "{stderr}");
    migrate(dir.path(), &["up"]);

    let unknown = migrate(dir.path(), &["up", "--to", "20991231000000"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no migration has version 20991231000000"));

    let bad_argument = migrate(dir.path(), &["down", "--to", "yesterday"]);
    assert_eq!(bad_argument.status.code(), Some(2), "wrong arguments exit 2");
    assert!(text(&bad_argument.stderr).contains("is not a migration version"));

    let bad_url = migrate(dir.path(), &["status", "--database-url", "oracle://scott:tiger@db/orcl"]);
    assert_eq!(bad_url.status.code(), Some(1));
    let stderr = text(&bad_url.stderr);
    assert!(stderr.contains("oracle://scott:****@db/orcl") && !stderr.contains("tiger"), "{stderr}");
}

#[test]
fn a_password_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback refuses the connection at once.
    let output = migrate(dir.path(), &["status", "--database-url", "postgres://app:hunter2@127.0.0.1:9/prod"]);
    assert_eq!(output.status.code(), Some(1));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(all.contains("postgres://app:****@127.0.0.1:9/prod"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn every_verb_has_help_with_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let verbs = [
        "up",
        "down",
        "redo",
        "status",
        "history",
        "validate",
        "repair",
        "baseline",
        "mark-applied",
        "mark-reverted",
        "plan",
        "graph",
        "sql",
        "create",
        "lock status",
        "lock release",
    ];
    for verb in verbs {
        let mut args: Vec<&str> = verb.split(' ').collect();
        args.push("--help");
        let help = migrate(dir.path(), &args);
        assert!(help.status.success());
        let text = text(&help.stdout);
        assert!(text.contains("Example") && text.contains(&format!("migrate {verb}")), "{verb}: {text}");
    }
}

#[test]
fn lint_passes_over_the_examples_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["sqlite", "postgres", "mysql"] {
        let lint = migrate(dir.path(), &["lint", "--backend", backend]);
        let stdout = text(&lint.stdout);
        assert!(lint.status.success(), "{backend}: {stdout}{}", text(&lint.stderr));
        assert!(stdout.contains("8 migration(s) analysed") && stdout.contains(": 0 error(s)"), "{stdout}");
        assert!(stdout.contains("allowed  drop-column"), "the acknowledged drop is listed: {stdout}");
    }
    assert!(!dir.path().join("migrations.db").exists(), "lint without --pending opens no database");
}
