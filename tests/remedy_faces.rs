//! What to do about an error, as each face words it, on a real database of
//! every backend: a lock another process holds past the wait, and a
//! migration left dirty. The command line names its commands and flags
//! (`lock release`, `--lock-timeout`, `mark-applied`), in its text and in its
//! `--json` object; the HTTP API names its routes and fields and never a
//! command-line flag; the library names `Migrator` methods.

#[macro_use]
mod support;

use migrations_rs::error::LockError;
use migrations_rs::error::Remedy;
use migrations_rs::http::HttpApi;
use migrations_rs::http::axum::Router;
use migrations_rs::lock::{LockOptions, LockStrategy};
use migrations_rs::{Backend, Error, Migrator, Scope, Version};
use reqwest::StatusCode;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;
use support::{Inspect, TestDb};

#[path = "shared/items.rs"]
mod items;

const TOKEN: &str = "remedy-faces-token";

on_every_backend!(a_held_lock_is_worded_by_each_face, a_dirty_migration_is_worded_by_each_face);

async fn a_held_lock_is_worded_by_each_face(backend: Backend) {
    let db = TestDb::new(backend).await;
    let http = serve(&db).await;
    let (status, report) = http.post("/up", Some(serde_json::json!({ "to": "20240101000000" }))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let mut inspect = db.inspect().await;
    hold_lock_elsewhere(&mut inspect).await;

    // The library: what happened in the message, what to do as data.
    let mut conn = db.connect().await;
    let error = lease_migrator().up(&mut conn, Scope::All).await.unwrap_err();
    assert!(matches!(error, Error::Lock(LockError::Timeout { .. })), "{error}");
    let message = error.to_string();
    assert!(message.contains("it is held by pid 4242 on replica-b"), "{message}");
    assert!(!message.contains("lock release") && !message.contains("--"), "no command line in {message}");
    assert!(matches!(error.remedies()[..], [Remedy::ReleaseLock, Remedy::WaitLonger { .. }]), "{error}");
    assert!(Remedy::ReleaseLock.to_string().contains("`Migrator::release_lock`"));

    // The command line: the command and the flag.
    let url = db.url.expose().to_owned();
    let args = ["up", "--lock", "lease", "--lock-timeout", "1", "--database-url", &url];
    let (code, _, err) = cli(&args).await;
    assert_eq!(code, ExitCode::FAILURE, "{err}");
    assert!(err.contains("error: gave up waiting for the migration lock after 1 s: it is held by pid 4242"), "{err}");
    assert!(err.contains("help: if that process is gone, run `lock release`"), "{err}");
    assert!(err.contains("help: otherwise wait for it, or allow a longer wait with --lock-timeout"), "{err}");
    let json = cli_json(&[&args[..], &["--json"]].concat()).await;
    assert_eq!(json["code"], "lock_held", "{json}");
    assert_eq!(kinds(&json), ["release_lock", "wait_longer"], "{json}");
    assert_eq!(json["remedies"][1]["waited_secs"], 1, "{json}");
    assert!(json["remedies"][0]["text"].as_str().unwrap().contains("`lock release`"), "{json}");
    assert!(json["remedy"].as_str().unwrap().contains("--lock-timeout"), "{json}");

    // The HTTP API: the route, and no command-line flag.
    let (status, answer) = http.post("/up", None).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("lock_held")), "{answer}");
    assert_eq!(kinds(&answer), ["release_lock", "wait_longer"], "{answer}");
    assert!(answer["remedies"][0]["text"].as_str().unwrap().contains("POST /lock/release"), "{answer}");
    assert!(answer["remedies"][1]["text"].as_str().unwrap().contains("GET /lock"), "{answer}");
    assert_names_no_flag(&answer);

    // Acting on it as the HTTP API says frees the lock.
    let (status, released) = http.post("/lock/release", None).await;
    assert_eq!((status, released["released"]["pid"].as_i64()), (StatusCode::OK, Some(4242)), "{released}");
    let (status, report) = http.post("/up", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
}

async fn a_dirty_migration_is_worded_by_each_face(backend: Backend) {
    let db = TestDb::new(backend).await;
    let http = serve(&db).await;
    let (status, report) = http.post("/up", Some(serde_json::json!({ "to": "20240101000000" }))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let mut inspect = db.inspect().await;
    leave_dirty(&mut inspect).await;
    let version = Version::parse("20240102000000").unwrap();

    // The library.
    let mut conn = db.connect().await;
    let error = lease_migrator().up(&mut conn, Scope::All).await.unwrap_err();
    assert!(matches!(error, Error::Dirty { .. }), "{error}");
    assert!(!error.to_string().contains("mark-applied"), "no command line in {error}");
    assert_eq!(error.remedies(), [Remedy::ResolveDirty { version }]);
    let library = error.remedies()[0].to_string();
    assert!(
        library.contains("`Migrator::mark_applied(20240102000000)`")
            && library.contains("`Migrator::mark_reverted(20240102000000)`"),
        "{library}"
    );

    // The command line.
    let url = db.url.expose().to_owned();
    let (code, _, err) = cli(&["up", "--database-url", &url]).await;
    assert_eq!(code, ExitCode::FAILURE, "{err}");
    assert!(err.contains("error: migration 20240102000000 fill_items was left partly applied"), "{err}");
    assert!(err.contains("help: either finish its change by hand and run `mark-applied 20240102000000`"), "{err}");
    assert!(err.contains("run `mark-reverted 20240102000000`"), "{err}");
    let json = cli_json(&["up", "--database-url", &url, "--json"]).await;
    assert_eq!((json["code"].as_str(), kinds(&json)), (Some("dirty"), vec!["resolve_dirty"]), "{json}");
    assert_eq!(json["remedies"][0]["version"], 20240102000000u64, "{json}");
    assert!(json["remedies"][0]["text"].as_str().unwrap().contains("`mark-applied 20240102000000`"), "{json}");

    // The HTTP API.
    let (status, answer) = http.post("/up", None).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("dirty")), "{answer}");
    assert_eq!(kinds(&answer), ["resolve_dirty"], "{answer}");
    assert_eq!(answer["remedies"][0]["version"], 20240102000000u64, "{answer}");
    let text = answer["remedies"][0]["text"].as_str().unwrap();
    assert!(text.contains("mark_applied(20240102000000)") && text.contains("POST /up"), "{answer}");
    assert!(text.contains("GET /health"), "{answer}");
    assert_names_no_flag(&answer);

    // Acting on it as the command line says lets the run go on: the crash
    // left nothing of the step, so it is recorded as reverted and runs again.
    let (code, _, err) = cli(&["mark-reverted", "20240102000000", "--database-url", &url]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let (status, report) = http.post("/up", None).await;
    assert_eq!((status, report["applied"][0]["name"].as_str()), (StatusCode::OK, Some("fill_items")), "{report}");
}

/// A migrator whose lock is a lease row, waiting briefly for it.
fn lease_migrator() -> Migrator {
    Migrator::from_linked().unwrap().with_lock_options(LockOptions {
        strategy: LockStrategy::Lease,
        wait: Duration::from_millis(300),
        poll_interval: Duration::from_millis(50),
        ..LockOptions::default()
    })
}

/// Another process's lease on the lock, with a heartbeat that stays fresh.
async fn hold_lock_elsewhere(inspect: &mut Inspect) {
    inspect
        .execute(
            "INSERT INTO migrations_rs_lock (id, lock_id, pid, host, since, heartbeat_ms) \
             VALUES (1, 'elsewhere-1', 4242, 'replica-b', '2024-06-01T00:00:00.000Z', 99999999999999)",
        )
        .await;
}

/// A step of `fill_items` that a crash left unfinished.
async fn leave_dirty(inspect: &mut Inspect) {
    inspect
        .execute(
            "INSERT INTO migrations_rs_history \
             (version, name, module, module_version, checksum, risk, applied_at, applied_by, execution_ms, batch, seq, state) \
             VALUES (20240102000000, 'fill_items', 'remedy_faces', '0.1.0', 'ab', 'data', \
             '2024-06-01T00:00:00.000Z', 'x@y', 0, 2, 2, 'applying')",
        )
        .await;
}

/// The `kind` of each remedy of an error object.
fn kinds(error: &Value) -> Vec<&str> {
    error["remedies"].as_array().expect("remedies").iter().map(|r| r["kind"].as_str().unwrap()).collect()
}

/// No text of an HTTP error body names a command-line flag.
fn assert_names_no_flag(answer: &Value) {
    let mut texts = vec![answer["error"].as_str().unwrap()];
    texts.extend(answer["remedies"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap()));
    for text in texts {
        assert!(!text.contains("--"), "a command-line flag in the HTTP answer: {text}");
        for command in ["`lock release`", "`mark-applied", "`mark-reverted", "`up --"] {
            assert!(!text.contains(command), "a command in the HTTP answer: {text}");
        }
    }
}

/// The HTTP API of `db` on a loopback port, its lock a lease row.
async fn serve(db: &TestDb) -> Http {
    let api = HttpApi::new(&db.url).unwrap().migrator(lease_migrator()).bearer_token(TOKEN);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().nest("/migrations", api.router());
    tokio::spawn(async move { migrations_rs::http::axum::serve(listener, app).await.unwrap() });
    Http { base: format!("http://{address}/migrations"), client: reqwest::Client::new() }
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

/// Runs the command line over the migrations linked into this test, on a
/// thread of its own (it starts its own async runtime): exit code, standard
/// output and standard error.
async fn cli(args: &[&str]) -> (ExitCode, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || support::cli_in_process(&args)).await.unwrap()
}

/// The `--json` error object the command line prints on standard error.
async fn cli_json(args: &[&str]) -> Value {
    let (code, _, err) = cli(args).await;
    assert_eq!(code, ExitCode::FAILURE, "{err}");
    serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("{e}: {err}"))
}
