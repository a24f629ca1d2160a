//! The HTTP API with a real client against a server on a loopback port, on
//! every backend: reads, the bearer token, history pages, conflicts, failures,
//! and no password in any answer.

#[macro_use]
mod support;

use migrations_rs::http::HttpApi;
use migrations_rs::http::axum::Router;
use migrations_rs::{
    Backend, Migrator,
    lock::{LockOptions, LockStrategy},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::TestDb;

#[path = "shared/items.rs"]
mod items;

const TOKEN: &str = "s3cret-operator-token";

/// Serves `api` under `/migrations` on a loopback port; returns its base URL.
async fn serve(api: HttpApi) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().nest("/migrations", api.router());
    tokio::spawn(async move { migrations_rs::http::axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/migrations")
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(base: String) -> Self {
        Client { base, http: reqwest::Client::new() }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }
}

on_every_backend!(
    reads_need_no_token_and_say_what_is_pending,
    changes_need_the_configured_token,
    history_is_filtered_and_paged,
    a_held_lock_or_a_dirty_database_is_a_conflict,
    a_failed_migration_is_a_server_error_naming_what_was_applied,
);

async fn reads_need_no_token_and_say_what_is_pending(backend: Backend) {
    let db = TestDb::new(backend).await;
    let client = Client::new(serve(HttpApi::new(&db.url).unwrap()).await);

    let (status, health) = client.get("/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!((health["pending"].as_u64(), health["up_to_date"].as_bool()), (Some(3), Some(false)));
    let (status, body) = client.get("/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["up_to_date"], false);
    assert_eq!(body["migrations"].as_array().unwrap().len(), 3);
    assert_eq!(body["migrations"][0]["state"]["state"], "pending", "{body}");
    let (status, lock) = client.get("/lock").await;
    assert_eq!((status, lock["held"].as_bool()), (StatusCode::OK, Some(false)), "{lock}");
    let (status, history) = client.get("/history").await;
    assert_eq!((status, history["entries"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{history}");
    let (status, missing) = client.get("/startup").await;
    assert_eq!((status, missing["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, nowhere) = client.get("/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(nowhere["error"].as_str().unwrap().contains("GET health"), "{nowhere}");
}

async fn changes_need_the_configured_token(backend: Backend) {
    let db = TestDb::new(backend).await;
    let read_only = Client::new(serve(HttpApi::new(&db.url).unwrap()).await);
    for path in ["/up", "/down", "/lock/release"] {
        let (status, body) = read_only.post(path, Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["code"], "actions_disabled");
    }

    let client = Client::new(serve(HttpApi::new(&db.url).unwrap().bearer_token(TOKEN)).await);
    for path in ["/up", "/down", "/lock/release"] {
        let (status, body) = client.post(path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
        for wrong in ["s3cret-operator-tokeN", "short", "s3cret-operator-token-and-more", ""] {
            let (status, body) = client.post(path, Some(wrong), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {wrong:?}: {body}");
        }
    }
    let response = client.http.post(format!("{}/up", client.base)).basic_auth("admin", Some(TOKEN)).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "only a bearer token counts");
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("items").await, "nothing ran without the token");

    let (status, report) = client.post("/up", Some(TOKEN), Some(json!({ "to": "2024_01_02_000000" }))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let names: Vec<&str> = report["applied"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["create_items", "fill_items"]);
    assert!(report["applied"][0]["duration_ms"].is_u64());
    let (status, report) = client.post("/down", Some(TOKEN), None).await;
    assert_eq!((status, report["reverted"][0]["name"].as_str()), (StatusCode::OK, Some("fill_items")), "{report}");
    let (status, report) = client.post("/up", Some(TOKEN), Some(json!({}))).await;
    assert_eq!((status, report["applied"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{report}");
    let (status, report) = client.post("/down", Some(TOKEN), Some(json!({ "to": 20240101000000u64 }))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["reverted"].as_array().unwrap().len(), 2, "{report}");
    let (status, report) = client.post("/down", Some(TOKEN), Some(json!({ "last_batch": true }))).await;
    assert_eq!(status, StatusCode::OK, "{report}");

    for (path, body) in [
        ("/up", json!({ "to": "yesterday" })),
        ("/up", json!({ "to": "20990101000000" })),
        ("/up", json!({ "target": "20240101000000" })),
        ("/down", json!({ "steps": 1, "to": "20240101000000" })),
        ("/down", json!({ "steps": 0 })),
    ] {
        let (status, answer) = client.post(path, Some(TOKEN), Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_eq!(answer["code"], "bad_request");
    }
    let response = client.http.post(format!("{}/up", client.base)).bearer_auth(TOKEN).body("{not json").send().await;
    assert_eq!(response.unwrap().status(), StatusCode::BAD_REQUEST);
    let (status, answer) = client.post("/down", Some(TOKEN), Some(json!({ "steps": 5 }))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn history_is_filtered_and_paged(backend: Backend) {
    let db = TestDb::new(backend).await;
    let client = Client::new(serve(HttpApi::new(&db.url).unwrap().bearer_token(TOKEN)).await);
    for _ in 0..2 {
        assert_eq!(client.post("/up", Some(TOKEN), None).await.0, StatusCode::OK);
        assert_eq!(client.post("/down", Some(TOKEN), Some(json!({ "steps": 3 }))).await.0, StatusCode::OK);
    }
    // 12 entries: 3 applies and 3 reverts, twice.
    let mut ids = Vec::new();
    let mut path = "/history?limit=5".to_owned();
    loop {
        let (status, page) = client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        ids.extend(page["entries"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/history?limit=5&before={before}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {ids:?}");

    let (_, reverts) = client.get("/history?action=revert").await;
    let reverts = reverts["entries"].as_array().unwrap();
    assert_eq!(reverts.len(), 6);
    assert!(reverts.iter().all(|e| e["action"] == "revert"));
    let (_, one) = client.get("/history?version=2024_01_02_000000&action=apply").await;
    assert_eq!(one["entries"].as_array().unwrap().len(), 2, "{one}");
    let (_, recent) = client.get("/history?since=2h").await;
    assert_eq!(recent["entries"].as_array().unwrap().len(), 12);
    let (_, future) = client.get("/history?since=2999-01-01").await;
    assert_eq!(future["entries"].as_array().unwrap().len(), 0);

    for bad in ["limit=0", "limit=5000", "limit=many", "action=explode", "version=soon", "since=whenever", "page=2"] {
        let (status, answer) = client.get(&format!("/history?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert_eq!(answer["code"], "bad_request", "{bad}");
        assert!(!answer["error"].as_str().unwrap().is_empty());
    }
    // An age before 1970 is a 400 naming the field, from a server that keeps answering.
    for age in ["60y", "100y"] {
        let (status, answer) = client.get(&format!("/history?since={age}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{age}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(&format!("since={age}: that age reaches back before 1970")),
            "{answer}"
        );
    }
    let (status, answer) = client.get("/history?limit=18446744073709551616&before=-99999999999999999999").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(client.get("/history?limit=1").await.0, StatusCode::OK, "still serving");
}

async fn a_held_lock_or_a_dirty_database_is_a_conflict(backend: Backend) {
    let db = TestDb::new(backend).await;
    let lease = Migrator::from_linked().unwrap().with_lock_options(LockOptions {
        strategy: LockStrategy::Lease,
        wait: Duration::from_millis(500),
        poll_interval: Duration::from_millis(50),
        ..LockOptions::default()
    });
    let client = Client::new(serve(HttpApi::new(&db.url).unwrap().migrator(lease).bearer_token(TOKEN)).await);
    assert_eq!(client.post("/up", Some(TOKEN), Some(json!({ "to": "20240101000000" }))).await.0, StatusCode::OK);
    let mut inspect = db.inspect().await;
    inspect
        .execute(
            "INSERT INTO migrations_rs_lock (id, lock_id, pid, host, since, heartbeat_ms) \
             VALUES (1, 'elsewhere-1', 4242, 'replica-b', '2024-06-01T00:00:00.000Z', 99999999999999)",
        )
        .await;
    let (status, lock) = client.get("/lock").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((lock["held"].as_bool(), lock["holder"]["pid"].as_i64()), (Some(true), Some(4242)), "{lock}");
    // What its steps wait on: a holder that recorded no session has none to show; SQLite shows none.
    let waits = if backend == Backend::Sqlite { "unavailable" } else { "no_session" };
    assert_eq!(lock["waits"]["kind"], waits, "{lock}");
    let (status, answer) = client.post("/up", Some(TOKEN), None).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("lock_held")), "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("pid 4242 on replica-b"), "{answer}");

    let (status, released) = client.post("/lock/release", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["released"]["host"], "replica-b");
    assert_eq!(client.get("/lock").await.1["held"], false);

    // A step left unfinished by a crash.
    inspect
        .execute(
            "INSERT INTO migrations_rs_history \
             (version, name, module, module_version, checksum, risk, applied_at, applied_by, execution_ms, batch, seq, state) \
             VALUES (20240102000000, 'fill_items', 'http_api', '0.1.0', 'ab', 'data', '2024-06-01T00:00:00.000Z', 'x@y', 0, 2, 2, 'applying')",
        )
        .await;
    let (status, answer) = client.post("/up", Some(TOKEN), None).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("dirty")), "{answer}");
    assert_eq!(answer["remedies"][0]["kind"], "resolve_dirty", "{answer}");
    assert!(answer["remedies"][0]["text"].as_str().unwrap().contains("mark_applied(20240102000000)"), "{answer}");
    let (status, health) = client.get("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["dirty"][0]["version"], 20240102000000u64);
}

async fn a_failed_migration_is_a_server_error_naming_what_was_applied(backend: Backend) {
    let db = TestDb::new(backend).await;
    let client = Client::new(serve(HttpApi::new(&db.url).unwrap().bearer_token(TOKEN)).await);
    assert_eq!(client.post("/up", Some(TOKEN), Some(json!({ "to": "20240101000000" }))).await.0, StatusCode::OK);
    db.inspect().await.execute("INSERT INTO switches (name) VALUES ('far too long for a note')").await;
    let (status, answer) = client.post("/up", Some(TOKEN), None).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("migration_failed")));
    assert!(answer["error"].as_str().unwrap().contains("20240103000000 create_notes"), "{answer}");
    assert_eq!(answer["applied_before_failure"][0]["name"], "fill_items", "{answer}");
    let (status, health) = client.get("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["last_failure"]["version"], 20240103000000u64, "{health}");
}

#[tokio::test]
async fn no_answer_shows_the_database_password() {
    for backend in [Backend::Postgres, Backend::MySql] {
        let db = TestDb::new(backend).await;
        let with_password = db.url.expose().replacen('@', ":Hunter2-Secret@", 1);
        let url = migrations_rs::DatabaseUrl::parse(&with_password).unwrap();
        let client = Client::new(serve(HttpApi::new(&url).unwrap().bearer_token(TOKEN)).await);
        let mut answers = Vec::new();
        for path in ["/health", "/status", "/lock", "/history"] {
            answers.push(client.get(path).await);
        }
        answers.push(client.post("/up", Some(TOKEN), None).await);
        for (status, answer) in &answers {
            assert!(!answer.to_string().contains("Hunter2-Secret"), "{backend}: {status} {answer}");
        }
        // PostgreSQL trusts local connections whatever the password; MariaDB refuses it and says where.
        if backend == Backend::MySql {
            let (status, answer) = &answers[0];
            assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
            assert!(answer["error"].as_str().unwrap().contains("root:****@"), "{answer}");
        } else {
            assert!(answers.iter().all(|(status, _)| status.is_success()), "{answers:?}");
        }
    }
}

/// The scheme's name is case-insensitive (RFC 7235); a failed revert lists
/// what it reverted before failing as reverted, never as applied.
#[tokio::test]
async fn any_spelling_of_bearer_and_reverts_named_as_reverts() {
    let db = TestDb::new(Backend::Postgres).await;
    let base = serve(HttpApi::new(&db.url).unwrap().bearer_token(TOKEN)).await;
    let http = reqwest::Client::new();
    for scheme in ["BEARER", "bearer", "Bearer", "bEaReR"] {
        let response =
            http.post(format!("{base}/up")).header("Authorization", format!("{scheme} {TOKEN}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let wrong = http.post(format!("{base}/up")).header("Authorization", format!("Basic {TOKEN}")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // A view on `items` makes the last revert fail after two others succeeded.
    db.inspect().await.execute("CREATE VIEW item_labels AS SELECT label FROM items").await;
    let client = Client::new(base);
    let (status, answer) = client.post("/down", Some(TOKEN), Some(json!({ "steps": 3 }))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("20240101000000 create_items"), "{answer}");
    assert!(answer.get("applied_before_failure").is_none(), "{answer}");
    let reverted: Vec<&str> =
        answer["reverted_before_failure"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(reverted, ["create_notes", "fill_items"], "{answer}");
}
