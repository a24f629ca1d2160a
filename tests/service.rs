//! The example service end to end: it starts, migrates, and answers the HTTP
//! API on SQLite by default and on PostgreSQL; 8 replicas started at once
//! against one PostgreSQL database all come up with every migration applied once.

#[macro_use]
mod support;

use migrations_rs::Backend;
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::{TestDb, example_binary};

const MIGRATIONS: usize = 3;
const TOKEN: &str = "service-test-token";

/// A running service process, killed when dropped.
struct Service {
    child: Child,
    base: String,
    startup: Value,
}

impl Service {
    /// Starts the service in `dir` with `database_url` (none: its SQLite default) and waits until it listens.
    fn start(dir: &Path, database_url: Option<&str>) -> Self {
        let mut command = Command::new(example_binary("service"));
        command
            .current_dir(dir)
            .env("BIND", "127.0.0.1:0")
            .env("MIGRATIONS_TOKEN", TOKEN)
            .env("APP_ENV", "test")
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.env("DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("start the example service");
        let (lines, received) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut startup = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match received.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let output = child.wait_with_output().unwrap();
                    panic!("the service did not start listening: {}", String::from_utf8_lossy(&output.stderr));
                }
            };
            if let Some(report) = line.strip_prefix("startup: ") {
                startup = Some(serde_json::from_str(report).expect("the start-up report is JSON"));
            } else if let Some(address) = line.strip_prefix("listening on ") {
                let startup = startup.expect("the start-up report comes before listening");
                return Service { child, base: format!("{address}/migrations"), startup };
            }
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn post(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new().post(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    fn applied(&self) -> usize {
        self.startup["applied"].as_array().map_or(0, Vec::len)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts, migrates, answers; started again, finds nothing to do.
async fn starts_migrates_and_answers(dir: &Path, database_url: Option<&str>) {
    let first = Service::start(dir, database_url);
    assert_eq!(first.startup["outcome"], "migrated", "{}", first.startup);
    assert_eq!(first.applied(), MIGRATIONS);
    assert_eq!(first.startup["environment"], "test");
    let (status, health) = first.get("/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!((health["up_to_date"].as_bool(), health["applied"].as_u64()), (Some(true), Some(3)), "{health}");
    let (status, startup) = first.get("/startup").await;
    assert_eq!((status, &startup), (StatusCode::OK, &first.startup));
    let (status, body) = first.get("/status").await;
    assert_eq!((status, body["up_to_date"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    let (status, history) = first.get("/history?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["entries"].as_array().unwrap().len(), 2);
    assert!(history["next_before"].is_i64(), "{history}");
    assert_eq!(first.get("/lock").await.1["held"], false);

    assert_eq!(first.post("/down", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(first.post("/down", Some("not-the-token")).await.0, StatusCode::UNAUTHORIZED);
    let (status, reverted) = first.post("/down", Some(TOKEN)).await;
    assert_eq!((status, reverted["reverted"][0]["name"].as_str()), (StatusCode::OK, Some("seed_authors")));
    assert_eq!(first.get("/health").await.1["pending"], 1);
    drop(first);

    let second = Service::start(dir, database_url);
    assert_eq!(second.startup["outcome"], "migrated", "the reverted migration is applied again at start-up");
    assert_eq!(second.applied(), 1);
    drop(second);
    let third = Service::start(dir, database_url);
    assert_eq!(third.startup["outcome"], "up_to_date");
    assert_eq!(third.startup["took_lock"], false, "nothing pending: the lock is not taken");
    let reply = reqwest::get(third.base.trim_end_matches("/migrations").to_owned() + "/").await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "notes service\n");
}

#[tokio::test]
async fn the_service_runs_on_a_sqlite_file_by_default() {
    let dir = tempfile::tempdir().unwrap();
    starts_migrates_and_answers(dir.path(), None).await;
    assert!(dir.path().join("service.db").exists(), "the default SQLite file is in the working directory");
}

#[tokio::test]
async fn the_service_runs_on_postgres() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    starts_migrates_and_answers(dir.path(), Some(db.url.expose())).await;
    assert!(!dir.path().join("service.db").exists());
}

#[tokio::test]
async fn eight_replicas_of_the_service_start_at_once_on_postgres() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.expose().to_owned();
    let started = Instant::now();
    let replicas: Vec<std::thread::JoinHandle<Service>> = (0..8)
        .map(|_| {
            let (dir, url) = (dir.path().to_owned(), url.clone());
            std::thread::spawn(move || Service::start(&dir, Some(&url)))
        })
        .collect();
    let replicas: Vec<Service> = replicas.into_iter().map(|r| r.join().expect("every replica comes up")).collect();
    let all_up = started.elapsed();

    let applied: usize = replicas.iter().map(Service::applied).sum();
    assert_eq!(applied, MIGRATIONS, "each migration applied by exactly one replica");
    for replica in &replicas {
        assert_ne!(replica.startup["outcome"], "failed", "{}", replica.startup);
        let (status, health) = replica.get("/health").await;
        assert_eq!(status, StatusCode::OK, "{health}");
        assert_eq!(health["up_to_date"], true, "{health}");
    }
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history WHERE state = 'applied'").await, 3);
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_log").await, 3, "three applies, nothing else");
    assert_eq!(
        inspect
            .scalar("SELECT count(*) FROM (SELECT DISTINCT version FROM migrations_rs_log WHERE action = 'apply') v")
            .await,
        3
    );
    eprintln!(
        "8 service replicas on PostgreSQL were all listening after {} ms; {} of them took the lock",
        all_up.as_millis(),
        replicas.iter().filter(|r| r.startup["took_lock"] == true).count()
    );
}
