//! Helpers shared by the integration tests: a fresh database on each backend,
//! a way to look inside it, and a counter of the statements sqlx sends.
#![allow(dead_code)]

pub mod process;
pub mod sql_dir;

use migrations_rs::sqlx::{self, Connection as _, MySqlConnection, PgConnection, SqliteConnection};
use migrations_rs::{Backend, Connection, DatabaseUrl};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Runs each named `async fn(Backend)` as a test on SQLite, PostgreSQL and MariaDB.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(migrations_rs::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(migrations_rs::Backend::Postgres).await })*
        }
        mod mysql {
            $(#[tokio::test] async fn $name() { super::$name(migrations_rs::Backend::MySql).await })*
        }
    };
}

/// The server URL for a backend: from the environment, else the local default.
pub fn server_url(backend: Backend) -> String {
    match backend {
        Backend::Postgres => std::env::var("MIGRATIONS_RS_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
        Backend::MySql => {
            std::env::var("MIGRATIONS_RS_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
        }
        Backend::Sqlite => unreachable!("SQLite needs no server"),
    }
}

/// A database of its own for one test, dropped at the end.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub backend: Backend,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("mrs_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos);
        if backend == Backend::Sqlite {
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("test.db");
            // An empty database, as a new one on a server is: verbs that only read refuse a missing file.
            std::fs::File::create(&path).expect("create the SQLite file");
            let url = DatabaseUrl::parse(&format!("sqlite://{}?mode=rwc", path.display())).unwrap();
            return TestDb { url, backend, name, _dir: Some(dir) };
        }
        let server = server_url(backend);
        let mut admin = Inspect::connect_raw(backend, &server).await;
        admin.execute(&format!("CREATE DATABASE {name}")).await;
        let base = server.split('?').next().unwrap();
        let (prefix, _) = base.rsplit_once('/').expect("server URL names a database");
        let url = DatabaseUrl::parse(&format!("{prefix}/{name}")).unwrap();
        TestDb { url, backend, name, _dir: None }
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.url).await.expect("connect to the test database")
    }

    /// A plain sqlx connection for looking at the database from outside.
    pub async fn inspect(&self) -> Inspect {
        Inspect::connect_raw(self.backend, self.url.expose()).await
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.backend == Backend::Sqlite {
            return;
        }
        let (backend, name) = (self.backend, self.name.clone());
        // A runtime of its own: the test's may be gone or busy.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut admin = Inspect::connect_raw(backend, &server_url(backend)).await;
                let sql = match backend {
                    Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {name}"),
                };
                admin.execute(&sql).await;
            });
        });
        let _ = dropper.join();
    }
}

/// A direct connection, outside migrations-rs, to check what a test did.
pub enum Inspect {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl Inspect {
    pub async fn connect_raw(backend: Backend, url: &str) -> Self {
        let unreachable = |error: sqlx::Error| -> ! {
            panic!(
                "{backend} is not reachable at {}: {error}. Start it (README.md's Tests section has the commands), \
                 or point MIGRATIONS_RS_POSTGRES_URL / MIGRATIONS_RS_MYSQL_URL at a server",
                migrations_rs::DatabaseUrl::parse(url).map(|u| u.redacted()).unwrap_or_default()
            )
        };
        match backend {
            Backend::Sqlite => Inspect::Sqlite(SqliteConnection::connect(url).await.unwrap_or_else(|e| unreachable(e))),
            Backend::Postgres => Inspect::Postgres(PgConnection::connect(url).await.unwrap_or_else(|e| unreachable(e))),
            Backend::MySql => Inspect::MySql(MySqlConnection::connect(url).await.unwrap_or_else(|e| unreachable(e))),
        }
    }

    pub async fn execute(&mut self, sql: &str) {
        self.try_execute(sql).await.unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `sql`, returning the database's error instead of failing the test.
    pub async fn try_execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Inspect::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
            Inspect::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
            Inspect::MySql(c) => sqlx::raw_sql(sql).execute(c).await.map(drop),
        }
    }

    /// One integer, such as a count.
    pub async fn scalar(&mut self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Inspect::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Inspect::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Inspect::MySql(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Inspect::scalar`], but `None` when the statement fails (a table not created yet).
    pub async fn try_scalar(&mut self, sql: &str) -> Option<i64> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Inspect::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Inspect::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Inspect::MySql(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .ok()
    }

    /// The first column of every row, as text.
    pub async fn strings(&mut self, sql: &str) -> Vec<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Inspect::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            Inspect::Postgres(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            Inspect::MySql(c) => sqlx::query_scalar(sql).fetch_all(c).await,
        }
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every table, column and index of the database, one line each, sorted:
    /// two equal schemas give equal lists.
    pub async fn schema(&mut self) -> Vec<String> {
        let sql = match self {
            Inspect::Sqlite(_) => "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master \
                                   WHERE name NOT LIKE 'sqlite_%' ORDER BY 1"
                .to_owned(),
            Inspect::Postgres(_) => "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
                                     FROM information_schema.columns WHERE table_schema = current_schema() \
                                     UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes \
                                     WHERE schemaname = current_schema() ORDER BY 1"
                .to_owned(),
            Inspect::MySql(_) => "SELECT CAST(CONCAT('column ', table_name, '.', column_name, ' ', column_type, ' ', is_nullable) AS CHAR) \
                                  FROM information_schema.columns WHERE table_schema = DATABASE() \
                                  UNION ALL SELECT CAST(CONCAT('index ', table_name, '.', index_name, ' ', column_name) AS CHAR) \
                                  FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY 1"
                .to_owned(),
        };
        self.strings(&sql).await
    }

    pub async fn table_exists(&mut self, table: &str) -> bool {
        let sql = match self {
            Inspect::Sqlite(_) => {
                format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
            }
            Inspect::Postgres(_) => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
            Inspect::MySql(_) => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
        };
        self.scalar(&sql).await == 1
    }
}

/// Counts the statements sqlx sends while it is the tracing subscriber.
#[derive(Clone, Default)]
pub struct QueryCounter(Arc<AtomicUsize>);

impl QueryCounter {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Subscriber for QueryCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// `target/<profile>/examples/<name>`, built by `cargo test` with the other targets.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary.parent().and_then(std::path::Path::parent).expect("target/<profile>");
    let binary = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build --examples`) first",
        binary.display()
    );
    binary
}

/// `cargo <command>` for a crate that the tests build themselves (the fixture
/// workspace, the crate that `create` is tried on), run in `dir`. They depend
/// on migrations-rs alike and build into the suite's own target folder with
/// the suite's profile and settings (this repository's `.cargo/config.toml`,
/// which a crate outside it would not read) and, where they have no lock file
/// of their own, with the fixture workspace's (a subset of the workspace's,
/// same versions). Each also depends on `tests/workspace/suite-features`,
/// which asks for the features the suite's build asks for: with the same
/// versions, features and settings, a dependency the suite already compiled
/// is not compiled again ([`nested_build`] checks it).
pub fn nested_cargo(dir: &std::path::Path, command: &str) -> std::process::Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        std::fs::copy(root.join("tests/workspace/Cargo.lock"), lock).expect("copy the fixture workspace's Cargo.lock");
    }
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", nested_target())
        .arg("--config")
        .arg(root.join(".cargo/config.toml"))
        .args([command, "--profile", "test"]);
    cargo
}

/// What a build made by [`nested_cargo`] did.
#[derive(Debug)]
pub struct NestedBuild {
    /// The dependencies from a registry it compiled, as `name version`: empty
    /// when it reused every one the test suite had compiled. (This
    /// repository's own crates are compiled again: cargo tells a path
    /// package's builds apart by where it sits relative to the workspace
    /// that builds it. The fixture workspace and the crate `create` is tried
    /// on share those builds with each other.)
    pub recompiled: Vec<String>,
    /// The compiler's warnings, as rendered.
    pub warnings: Vec<String>,
}

/// Runs a build made by [`nested_cargo`] after making sure the test suite's
/// own build is complete (a no-op within `cargo test --workspace`; a single
/// test file run on its own builds the rest of the suite first), so that what
/// the nested build compiles is what it could not reuse. Fails the test with
/// cargo's errors if either build fails.
pub fn nested_build(cargo: &mut std::process::Command) -> NestedBuild {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let suite = std::process::Command::new(env!("CARGO"))
        .current_dir(root)
        .env("CARGO_TARGET_DIR", nested_target())
        .args(["build", "--workspace", "--tests", "--bins", "--profile", "test", "--quiet"])
        .output()
        .expect("run cargo");
    assert!(suite.status.success(), "the test suite builds: {}", String::from_utf8_lossy(&suite.stderr));
    let output = cargo.arg("--message-format=json").output().expect("run cargo");
    let messages: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let rendered = |level: &str| -> Vec<String> {
        messages
            .iter()
            .filter(|m| m["reason"] == "compiler-message" && m["message"]["level"] == level)
            .filter_map(|m| m["message"]["rendered"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        output.status.success(),
        "the nested build succeeds: {}{}",
        String::from_utf8_lossy(&output.stderr),
        rendered("error").concat()
    );
    let recompiled = messages
        .iter()
        .filter(|m| m["reason"] == "compiler-artifact" && m["fresh"] == false)
        .filter_map(|m| m["package_id"].as_str())
        .filter(|id| id.starts_with("registry+"))
        .map(package_name)
        .collect();
    NestedBuild { recompiled, warnings: rendered("warning") }
}

/// `name version` of a registry package's id, `registry+https://…#name@version`.
fn package_name(id: &str) -> String {
    id.rsplit_once('#').map_or(id, |(_, fragment)| fragment).replace('@', " ")
}

/// The target folder of [`nested_cargo`]: the suite's own `<target>`.
pub fn nested_target() -> std::path::PathBuf {
    // <target>/<profile>/deps/<this test>
    let test_binary = std::env::current_exe().expect("test binary path");
    test_binary.ancestors().nth(3).expect("the target folder").to_path_buf()
}

/// Runs the command line in this process, over the migrations linked into
/// the test binary, as a program named `migrate`: exit code, standard output
/// and standard error.
pub fn cli_in_process(args: &[impl AsRef<str>]) -> (std::process::ExitCode, String, String) {
    let (out, err) = (Captured::default(), Captured::default());
    let args = std::iter::once("migrate".to_owned()).chain(args.iter().map(|a| a.as_ref().to_owned()));
    let code = migrations_rs::cli::run(args, out.clone(), err.clone());
    (code, out.text(), err.text())
}

/// Output written to a shared buffer, read back as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Waits until the server has ended the sessions of a killed process: a
/// statement it had sent runs to its end or its rollback on the server before
/// the server notices the client is gone, and holds its locks until then.
pub async fn wait_for_the_dead_sessions(inspect: &mut Inspect, backend: Backend) {
    let others = match backend {
        Backend::Postgres => {
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        }
        Backend::MySql => {
            "SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        }
        Backend::Sqlite => return,
    };
    let started = std::time::Instant::now();
    while inspect.scalar(others).await > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the killed process's sessions did not end");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
