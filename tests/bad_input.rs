//! The bad-input table: command-line arguments, environment values, URLs,
//! versions, garbage SQL files and HTTP requests, each run for real against
//! the programs (or the HTTP API) on SQLite, PostgreSQL and MariaDB. Every
//! case must fail cleanly: a non-zero exit (or a 4xx answer), no panic, no
//! password in any output, and the schema and bookkeeping tables exactly as
//! they were before.

#[macro_use]
mod support;

use migrations_rs::Backend;
use migrations_rs::Scope;
use migrations_rs::http::HttpApi;
use migrations_rs::http::axum::Router;
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Inspect, TestDb, example_binary};

const SECRET: &str = "Hunter2-Secret";
const TOKEN: &str = "bad-input-token";

/// One bad input: the arguments (with `{url}` standing for the database URL,
/// which carries a password where the backend allows one), the environment,
/// and SQL files for the standalone binary's `--sql-dir`.
struct Case {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    sql: &'static [(&'static str, &'static [u8])],
}

const fn args(args: &'static [&'static str]) -> Case {
    Case { args, env: &[], sql: &[] }
}

const fn env(args: &'static [&'static str], env: &'static [(&'static str, &'static str)]) -> Case {
    Case { args, env, sql: &[] }
}

const fn sql(args: &'static [&'static str], sql: &'static [(&'static str, &'static [u8])]) -> Case {
    Case { args, env: &[], sql }
}

const U: &str = "--database-url";

const CASES: &[Case] = &[
    // Ages, limits, versions, actions.
    args(&["history", "--since", "60y", U, "{url}"]),
    args(&["history", "--since", "99999999999999999999y", U, "{url}"]),
    args(&["history", "--since", "1969-12-31", U, "{url}"]),
    args(&["history", "--since", "-2h", U, "{url}"]),
    args(&["history", "--limit=18446744073709551616", U, "{url}"]),
    args(&["history", "--limit=9223372036854775808", U, "{url}"]),
    args(&["history", "--limit=-5", U, "{url}"]),
    args(&["history", "--version", "99999999999999999999", U, "{url}"]),
    args(&["history", "--version=-1", U, "{url}"]),
    args(&["history", "--action", "explode", U, "{url}"]),
    args(&["up", "--to", "20241301000000", U, "{url}"]),
    args(&["up", "--to", "20240230120000", U, "{url}"]),
    args(&["up", "--to", "99999999999999999999", U, "{url}"]),
    args(&["up", "--to", "1", U, "{url}"]),
    args(&["up", "--to", "20240101000000x", U, "{url}"]),
    args(&["up", "--module", "no_such_module", U, "{url}"]),
    args(&["down", "--steps=-1", U, "{url}"]),
    args(&["down", "--steps", "99999999999999999999999", U, "{url}"]),
    args(&["down", "--to", "abc", U, "{url}"]),
    args(&["down", "--to", "20991231235959", U, "{url}"]),
    args(&["redo", "--steps=-3", U, "{url}"]),
    args(&["mark-applied", "20991231235959", U, "{url}"]),
    args(&["mark-reverted", "0", U, "{url}"]),
    args(&["baseline", "--to", "not-a-version", U, "{url}"]),
    args(&["plan", "--module", "", U, "{url}"]),
    args(&["sql", "--backend", "oracle", U, "{url}"]),
    args(&["graph", "--format", "png", U, "{url}"]),
    args(&["lock", "explode", U, "{url}"]),
    args(&["--lock-timeout=-1", "up", U, "{url}"]),
    args(&["--lock-timeout", "99999999999999999999999", "up", U, "{url}"]),
    args(&["--lock-timeout", "18446744073709551616", "up", U, "{url}"]),
    args(&["--stale-lock-after", "abc", "up", U, "{url}"]),
    args(&["--backup-timeout", "0", "up", U, "{url}"]),
    args(&["--lock", "chaos", "status", U, "{url}"]),
    args(&["--no-such-flag", "status", U, "{url}"]),
    args(&["status", "{url}"]),
    args(&["up", "--dry-run", "{url}", U, "{url}"]),
    args(&["--env", "nope", "status"]),
    args(&["--config", "/nonexistent/migrations.toml", "--env", "x", "status"]),
    args(&["create", "../evil", "--dir", "m"]),
    args(&["create", "", "--dir", "m"]),
    args(&["create", "has space", "--dir", "m"]),
    // URLs and environment values.
    args(&["status", U, ""]),
    args(&["status", U, "admin:Hunter2-Secret@127.0.0.1/db"]),
    args(&["status", U, "oracle://admin:Hunter2-Secret@127.0.0.1/db"]),
    args(&["status", U, "postgres://postgres:Hunter2-Secret@127.0.0.1:99999/db"]),
    args(&["status", U, "postgres://postgres:Hunter2-Secret@127.0.0.1:1/db"]),
    args(&["status", U, "postgres://postgres@127.0.0.1:1/db?p%61ssword=Hunter2-Secret"]),
    args(&["status", U, "mysql://root:Hunter2-Secret@127.0.0.1:1/db?ssl-mode=bogus"]),
    args(&["status", U, "mysql://root:Hunter2-Secret@[::1/db"]),
    args(&["status", U, "sqlite:///nonexistent-dir/deeper/x.db?mode=ro"]),
    env(&["status"], &[("DATABASE_URL", "admin:Hunter2-Secret@127.0.0.1/db")]),
    env(&["status"], &[("DATABASE_URL", "postgresql://u:Hunter2-Secret@127.0.0.1:1/db")]),
    env(&["up", U, "{url}"], &[("MIGRATIONS_RS_LOCK", "chaos")]),
    env(&["up", U, "{url}"], &[("MIGRATIONS_RS_BACKUP_TIMEOUT", "never")]),
    env(&["status", U, "{url}"], &[("MIGRATIONS_RS_SQL_DIR", "/nonexistent/sql")]),
    // Garbage SQL files, run by the standalone binary.
    sql(
        &["up", U, "{url}"],
        &[("V20250101000000__quote.sql", b"CREATE TABLE bad (x INT);\nINSERT INTO bad VALUES ('open);\n")],
    ),
    sql(&["up", U, "{url}"], &[("V20250101000000__comment.sql", b"CREATE TABLE bad (x INT); /* open\n")]),
    sql(&["up", U, "{url}"], &[("V20250101000000__empty.sql", b"")]),
    sql(&["up", U, "{url}"], &[("V20250101000000__binary.sql", b"\xff\xfe\x00CREATE\x00TABLE")]),
    sql(&["up", U, "{url}"], &[("V20250101000000__commit.sql", b"CREATE TABLE bad (x INT);\nCOMMIT;\n")]),
    sql(&["up", U, "{url}"], &[("V20250101000000__drop.sql", b"DROP TABLE items;\n")]),
    sql(
        &["up", U, "{url}"],
        &[("V20250101000000__tags.sql", b"-- migrations-rs: risk = [explode]\nCREATE TABLE bad (x INT);\n")],
    ),
    sql(
        &["up", U, "{url}"],
        &[("V20250101000000__deps.sql", b"-- migrations-rs: depends_on = [1]\nCREATE TABLE bad (x INT);\n")],
    ),
    sql(
        &["up", "--to", "20250101000001", U, "{url}"],
        &[("V20250101000000__other.sql", b"CREATE TABLE bad (x INT);\n")],
    ),
    sql(&["up", U, "{url}"], &[("V20250101000000__garbage.sql", b"FROBNICATE everything;\n")]),
    sql(
        &["up", "--dry-run", U, "{url}"],
        &[("V20250101000000__commit.sql", b"CREATE TABLE bad (x INT);\nROLLBACK;\n")],
    ),
    sql(
        &["up", U, "{url}"],
        &[("V20250101000000__twice.sql", b"CREATE TABLE bad (x INT);\n"), ("20250101000000_twice.sql", b"SELECT 1;\n")],
    ),
];

/// The schema, and every row of the bookkeeping tables that a failed command could have touched.
async fn snapshot(inspect: &mut Inspect) -> Vec<String> {
    let mut all = inspect.schema().await;
    all.push(format!("history rows: {}", inspect.scalar("SELECT count(*) FROM migrations_rs_history").await));
    all.extend(inspect.strings("SELECT state FROM migrations_rs_history ORDER BY version").await);
    all.extend(inspect.strings("SELECT checksum FROM migrations_rs_history ORDER BY version").await);
    all.push(format!("log rows: {}", inspect.scalar("SELECT count(*) FROM migrations_rs_log").await));
    all.extend(inspect.strings("SELECT action FROM migrations_rs_log ORDER BY id").await);
    all
}

/// A URL with a password where the server accepts one: PostgreSQL trusts
/// local connections, and MariaDB gets a user of its own for the test.
async fn url_with_password(db: &TestDb) -> (String, Option<String>) {
    let plain = db.url.expose().to_owned();
    match db.backend {
        Backend::Sqlite => (plain, None),
        Backend::Postgres => (plain.replacen('@', &format!(":{SECRET}@"), 1), None),
        Backend::MySql => {
            let user = format!("u{}", &db.name()[3..]);
            let mut inspect = db.inspect().await;
            for host in ["%", "localhost", "127.0.0.1"] {
                inspect.execute(&format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{SECRET}'")).await;
                inspect.execute(&format!("GRANT ALL PRIVILEGES ON `{}`.* TO '{user}'@'{host}'", db.name())).await;
            }
            (plain.replacen("root@", &format!("{user}:{SECRET}@"), 1), Some(user))
        }
    }
}

fn program(case: &Case) -> PathBuf {
    if case.sql.is_empty() {
        example_binary("test-fixture")
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_migrations-rs"))
    }
}

fn run(case: &Case, url: &str, workdir: &Path) -> (Option<i32>, String) {
    let mut command = Command::new(program(case));
    command.args(case.args.iter().map(|a| a.replace("{url}", url)));
    if !case.sql.is_empty() {
        let folder = workdir.join(format!("sql-{}", case.sql[0].0));
        std::fs::create_dir_all(&folder).unwrap();
        for (name, content) in case.sql {
            std::fs::write(folder.join(name), content).unwrap();
        }
        command.arg("--sql-dir").arg(&folder);
    }
    command
        .current_dir(workdir)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATIONS_RS_BACKUP_COMMAND")
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1");
    for (key, value) in case.env {
        command.env(key, value);
    }
    let output = command.output().expect("run the program");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

on_every_backend!(every_bad_input_fails_cleanly_and_changes_nothing);

async fn every_bad_input_fails_cleanly_and_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (url, mysql_user) = url_with_password(&db).await;
    let workdir = tempfile::tempdir().unwrap();
    // Something to protect: one migration applied, its history and log rows.
    let setup = run(&args(&["up", "--to", "20240101000000", U, "{url}"]), &url, workdir.path());
    assert_eq!(setup.0, Some(0), "{}", setup.1);
    let mut inspect = db.inspect().await;
    // A row, so that dropping the table loses data and is refused.
    inspect.execute("INSERT INTO items (label) VALUES ('kept')").await;
    let before = snapshot(&mut inspect).await;
    let mut failures = Vec::new();
    for case in CASES {
        let (code, text) = run(case, &url, workdir.path());
        let shown = format!("{:?} {:?}", case.args, case.env);
        if matches!(code, Some(0) | Some(101) | None) || text.contains("panicked") {
            failures.push(format!("{shown}: exit {code:?}\n{text}"));
        }
        if text.contains(SECRET) || text.contains("Hunter2%2DSecret") {
            failures.push(format!("{shown}: the password is shown\n{text}"));
        }
        if snapshot(&mut inspect).await != before {
            failures.push(format!("{shown}: the database changed\n{text}"));
            break;
        }
    }
    let created = workdir.path().join("m");
    assert!(
        !created.exists() || created.read_dir().unwrap().next().is_none(),
        "`create` with a bad name wrote nothing"
    );
    if let Some(user) = mysql_user {
        for host in ["%", "localhost", "127.0.0.1"] {
            inspect.execute(&format!("DROP USER '{user}'@'{host}'")).await;
        }
    }
    assert!(failures.is_empty(), "{} bad input(s) not handled cleanly:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Bad queries and bodies to the HTTP API: each a 4xx JSON answer, the server
/// keeps answering, and nothing changes.
async fn every_bad_request_is_a_client_error(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (url, mysql_user) = url_with_password(&db).await;
    let url = migrations_rs::DatabaseUrl::parse(&url).unwrap();
    let mut conn = migrations_rs::Connection::connect(&url).await.unwrap();
    migrations_rs::Migrator::from_linked().unwrap().up(&mut conn, Scope::All).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().nest("/m", HttpApi::new(&url).unwrap().bearer_token(TOKEN).router());
    tokio::spawn(async move { migrations_rs::http::axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{address}/m");
    let http = reqwest::Client::new();
    let mut inspect = db.inspect().await;
    let before = snapshot(&mut inspect).await;
    let queries = [
        "since=60y",
        "since=99999999999999999999y",
        "since=-1h",
        "since=%00",
        "limit=18446744073709551616",
        "limit=-1",
        "limit=0",
        "limit=1001",
        "before=99999999999999999999",
        "before=abc",
        "version=99999999999999999999",
        "version=2024-13-01",
        "version=abc",
        "version=-5",
        "action=%F0%9F%92%A5",
        "since=2h&since=3h",
        "unknown=1",
        "limit=1&limit=2",
        "since=1969-12-31",
    ];
    let bodies = [
        ("/up", "{\"to\": \"abc\"}"),
        ("/up", "{\"to\": -1}"),
        ("/up", "{\"to\": 1e400}"),
        ("/up", "{\"to\": 99999999999999999999}"),
        ("/up", "{\"to\": \"20241301000000\"}"),
        ("/up", "{\"to\": \"20991231235959\"}"),
        ("/up", "[]"),
        ("/up", "{"),
        ("/up", "{\"unknown\": 1}"),
        ("/down", "{\"steps\": -1}"),
        ("/down", "{\"steps\": 0}"),
        ("/down", "{\"steps\": 99999999999999999999}"),
        ("/down", "{\"to\": \"yesterday\"}"),
        ("/down", "{\"last_batch\": \"yes\"}"),
        ("/down", "{\"steps\": 1, \"to\": \"20240101000000\"}"),
        ("/down", "{\"to\": \"20991231235959\"}"),
    ];
    let mut failures = Vec::new();
    for query in queries {
        let response = http.get(format!("{base}/history?{query}")).send().await;
        check_answer(&mut failures, format!("GET /history?{query}"), response).await;
    }
    for (path, body) in bodies {
        let response = http.post(format!("{base}{path}")).bearer_auth(TOKEN).body(body).send().await;
        check_answer(&mut failures, format!("POST {path} {body}"), response).await;
    }
    for header in ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer wrong", "Bearer  wrong", "bearer"] {
        let response = http.post(format!("{base}/down")).header("Authorization", header).send().await;
        check_answer(&mut failures, format!("POST /down with {header:?}"), response).await;
    }
    assert_eq!(http.get(format!("{base}/status")).send().await.unwrap().status(), StatusCode::OK, "still serving");
    assert_eq!(snapshot(&mut inspect).await, before, "nothing changed");
    if let Some(user) = mysql_user {
        for host in ["%", "localhost", "127.0.0.1"] {
            inspect.execute(&format!("DROP USER '{user}'@'{host}'")).await;
        }
    }
    assert!(failures.is_empty(), "{} bad request(s) not handled cleanly:\n{}", failures.len(), failures.join("\n"));
}

/// A 4xx JSON answer without the password, or a failure saying what came instead.
async fn check_answer(failures: &mut Vec<String>, what: String, response: reqwest::Result<reqwest::Response>) {
    let response = match response {
        Ok(response) => response,
        Err(error) => return failures.push(format!("{what}: no answer: {error}")),
    };
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_client_error() {
        failures.push(format!("{what}: {status} {body}"));
    }
    if body.contains(SECRET) {
        failures.push(format!("{what}: the password is shown: {body}"));
    }
    if serde_json::from_str::<serde_json::Value>(&body).is_err() {
        failures.push(format!("{what}: not JSON: {body}"));
    }
}

mod http {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        every_bad_request_is_a_client_error(Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres() {
        every_bad_request_is_a_client_error(Backend::Postgres).await
    }

    #[tokio::test]
    async fn mysql() {
        every_bad_request_is_a_client_error(Backend::MySql).await
    }
}

#[path = "shared/items.rs"]
mod items;

/// The fuzz target's properties (fuzz/fuzz_targets/inputs.rs), a bounded
/// number of cases in the default suite: argument lists mixing real flags,
/// hostile values and a URL with a password at any position never panic and
/// never show the password; history queries are accepted or a 400.
mod parsing {
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "up",
        "down",
        "history",
        "status",
        "lock",
        "release",
        "create",
        "redo",
        "sql",
        "plan",
        "--to",
        "--steps",
        "--since",
        "--limit",
        "--version",
        "--action",
        "--env",
        "--config",
        "--database-url",
        "--sql-dir",
        "--json",
        "--lock-timeout",
        "--stale-lock-after",
        "--backup-timeout",
        "--backup-command",
        "--lock",
        "-vv",
        "--help",
        "60y",
        "2h",
        "-1",
        "0",
        "18446744073709551616",
        "99999999999999999999",
        "20241301000000",
        "1969-12-31",
        "apply",
        "lease",
        "",
        "=",
        "--",
        "admin:pw@h/db",
        "%00",
        "\u{202e}",
        "\\",
        "'",
        "\"",
    ];

    fn argument() -> impl Strategy<Value = String> {
        prop_oneof![prop::sample::select(WORDS).prop_map(str::to_owned), "[ -~]{0,12}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn arguments_never_panic_or_show_the_password(mut args in prop::collection::vec(argument(), 0..8), at in 0usize..9) {
            let secret = "Prop-Secret-9";
            args.insert(at.min(args.len()), format!("postgres://app:{secret}@127.0.0.1:1/db?password={secret}"));
            args.insert(0, "migrate".to_owned());
            let (_, shown) = migrations_rs::cli::check_arguments(&args);
            prop_assert!(!shown.contains(secret), "{args:?}: {shown}");
        }

        #[test]
        fn history_queries_are_accepted_or_a_400(query in "[a-z=&%0-9.:+-]{0,40}") {
            if let Err((status, body)) = migrations_rs::http::check_history_query(&query) {
                prop_assert_eq!(status, 400, "{}: {}", query, body);
                prop_assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok() || body.is_empty());
            }
        }
    }

    #[test]
    fn known_hostile_queries_are_400s_naming_the_field() {
        for (query, field) in
            [("since=60y", "since=60y"), ("limit=18446744073709551616", "limit"), ("before=x", "before")]
        {
            let (status, body) = migrations_rs::http::check_history_query(query).expect_err(query);
            assert_eq!(status, 400);
            assert!(body.contains(field), "{query}: {body}");
        }
    }
}
