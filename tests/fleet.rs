//! One plan, many databases, on every backend: 20 targets migrated in
//! parallel with one broken on purpose and one unreachable (both reported by
//! name, the others finished), `--shard K/N` runs that cover every target
//! exactly once, a rerun that does nothing and takes no lock, 20 schemas of
//! one PostgreSQL database with no cross-talk and a lock of their own each,
//! canaries and stopping at the first failure, a fleet killed mid-run then
//! run again with every migration applied exactly once per target, `drift`
//! over five databases with two changed by hand (found on the scratch
//! databases beside them, then against a schema file with no scratch
//! database at all; schema targets refused), and the HTTP API's
//! `GET /fleet/status`. No output shows a password.

#[macro_use]
mod support;

use migrations_rs::check::DriftOptions;
use migrations_rs::fleet::{Fleet, Target, TargetOutcome, Targets};
use migrations_rs::{Backend, DatabaseUrl, Scope};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use support::process::{finish, start, text, wait_for};
use support::{Inspect, TestDb};

#[path = "shared/items.rs"]
mod items;

/// A password put in every URL that can carry one: it must never be shown.
const PASSWORD: &str = "Secr3tFleetPw";

/// The migrations of `shared/items.rs`.
const MIGRATIONS: i64 = 3;

/// The command line in this process, off the test's runtime.
async fn cli(args: &[&str]) -> (ExitCode, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || support::cli_in_process(&args)).await.unwrap()
}

/// `url` with [`PASSWORD`] in it, where the server ignores it (PostgreSQL trusts local users).
fn with_password(url: &DatabaseUrl) -> String {
    let raw = url.expose();
    match url.backend() {
        Backend::Postgres => raw.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1),
        _ => raw.to_owned(),
    }
}

/// A target that cannot be reached, with a password in its URL where it can carry one.
fn unreachable(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/no/such/folder/missing.db?mode=rwc", dir.display()),
        Backend::Postgres => format!("postgres://postgres:{PASSWORD}@127.0.0.1:5432/mrs_fleet_no_such_database"),
        Backend::MySql => format!("mysql://root:{PASSWORD}@127.0.0.1:3306/mrs_fleet_no_such_database"),
    }
}

/// `count` databases of their own: files of one folder on SQLite, databases on a server.
struct Databases {
    dir: tempfile::TempDir,
    urls: Vec<DatabaseUrl>,
    names: Vec<String>,
    servers: Vec<TestDb>,
}

impl Drop for Databases {
    /// Drops the server databases all at once rather than one after another.
    fn drop(&mut self) {
        let servers = std::mem::take(&mut self.servers);
        std::thread::scope(|scope| {
            for db in servers {
                scope.spawn(move || drop(db));
            }
        });
    }
}

impl Databases {
    async fn new(backend: Backend, count: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (mut urls, mut names, mut servers) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..count {
            if backend == Backend::Sqlite {
                let file = format!("tenant_{i:02}.db");
                urls.push(
                    DatabaseUrl::parse(&format!("sqlite://{}?mode=rwc", dir.path().join(&file).display())).unwrap(),
                );
                names.push(file);
            } else {
                let db = TestDb::new(backend).await;
                urls.push(db.url.clone());
                names.push(db.name().to_owned());
                servers.push(db);
            }
        }
        Databases { dir, urls, names, servers }
    }

    async fn inspect(&self, backend: Backend, index: usize) -> Inspect {
        Inspect::connect_raw(backend, self.urls[index].expose()).await
    }

    /// A target list file: one URL per line, with a comment and blank lines.
    fn list(&self, extra: &[String]) -> PathBuf {
        let path = self.dir.path().join("targets.txt");
        let mut text = String::from("# the tenants\n\n");
        for url in &self.urls {
            text.push_str(&with_password(url));
            text.push('\n');
        }
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Each target's JSON line by name, and the summary line.
fn reports(stdout: &str) -> (BTreeMap<String, Value>, Value) {
    let mut targets = BTreeMap::new();
    let mut summary = Value::Null;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if let Some(name) = value["name"].as_str() {
            assert!(targets.insert(name.to_owned(), value.clone()).is_none(), "{name} reported twice: {stdout}");
        } else {
            summary = value;
        }
    }
    (targets, summary)
}

fn outcome(report: &Value) -> &str {
    report["outcome"].as_str().unwrap_or_default()
}

fn no_password(outputs: &[&str]) {
    for output in outputs {
        assert!(!output.contains(PASSWORD), "a password in the output: {output}");
    }
}

/// Each migration recorded once as applied, and applied once in the audit log.
async fn applied_exactly_once(inspect: &mut Inspect, prefix: &str, expected: i64, what: &str) {
    let history = format!("{prefix}migrations_rs_history");
    let log = format!("{prefix}migrations_rs_log");
    let rows = inspect.scalar(&format!("SELECT count(*) FROM {history} WHERE state = 'applied'")).await;
    let all = inspect.scalar(&format!("SELECT count(*) FROM {history}")).await;
    assert_eq!((rows, all), (expected, expected), "{what}: history rows");
    let applies = inspect.scalar(&format!("SELECT count(*) FROM {log} WHERE action = 'apply'")).await;
    let versions = inspect.scalar(&format!("SELECT count(DISTINCT version) FROM {log} WHERE action = 'apply'")).await;
    assert_eq!((applies, versions), (expected, expected), "{what}: audit log applies");
}

on_every_backend!(
    twenty_targets_in_shards_one_broken_one_unreachable_then_a_rerun_that_does_nothing,
    a_fleet_killed_mid_run_then_run_again_applies_every_migration_once,
    drift_over_five_databases_finds_the_two_changed_by_hand
);

async fn twenty_targets_in_shards_one_broken_one_unreachable_then_a_rerun_that_does_nothing(backend: Backend) {
    let databases = Databases::new(backend, 20).await;
    // Broken on purpose: a table in the way of the first migration.
    let broken = 7;
    databases.inspect(backend, broken).await.execute("CREATE TABLE items (other INTEGER)").await;
    let unreachable = unreachable(backend, databases.dir.path());
    let list = databases.list(std::slice::from_ref(&unreachable));
    let list = list.to_str().unwrap();
    let mut outputs = Vec::new();

    // Three shards, each its own process as a job runner would start them.
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    for shard in 0..3 {
        let shard_flag = format!("{shard}/3");
        let (code, out, err) =
            cli(&["up", "--targets", list, "--shard", &shard_flag, "--parallel", "8", "--keep-going", "--json"]).await;
        let (targets, summary) = reports(&out);
        assert_eq!(summary["summary"]["targets"].as_u64(), Some(targets.len() as u64), "{out}");
        let failed = targets.values().any(|t| outcome(t) == "failed");
        assert_eq!(code, if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }, "shard {shard_flag}: {err}");
        for (name, report) in targets {
            assert!(seen.insert(name.clone(), report).is_none(), "{name} in two shards");
        }
        outputs.push(out);
        outputs.push(err);
    }
    assert_eq!(seen.len(), 21, "the shards cover every target: {:?}", seen.keys());
    for (i, name) in databases.names.iter().enumerate() {
        let report = &seen[name];
        if i == broken {
            assert_eq!(outcome(report), "failed", "{report}");
            let message = report["error"]["message"].as_str().unwrap();
            assert!(message.contains("items"), "the reason names the table in the way: {message}");
        } else {
            assert_eq!(outcome(report), "migrated", "{name}: {report}");
            assert_eq!(report["applied"].as_array().unwrap().len(), MIGRATIONS as usize, "{report}");
            assert_eq!(report["took_lock"], true);
        }
    }
    let missing =
        seen.get("missing.db").or_else(|| seen.get("mrs_fleet_no_such_database")).expect("the unreachable one");
    assert_eq!(outcome(missing), "failed");
    assert!(missing["error"]["message"].as_str().unwrap().contains("connect"), "{missing}");

    for (i, name) in databases.names.iter().enumerate() {
        if i != broken {
            applied_exactly_once(&mut databases.inspect(backend, i).await, "", MIGRATIONS, name).await;
        }
    }

    // A rerun of the whole list: one read per target, no lock, nothing applied.
    let (code, out, err) = cli(&["up", "--targets", list, "--parallel", "8", "--keep-going", "--json"]).await;
    assert_eq!(code, ExitCode::FAILURE, "two targets still fail: {err}");
    let (targets, summary) = reports(&out);
    assert_eq!(summary["summary"]["up_to_date"].as_u64(), Some(19), "{out}");
    assert_eq!(summary["summary"]["failed"].as_u64(), Some(2), "{out}");
    for (i, name) in databases.names.iter().enumerate().filter(|(i, _)| *i != broken) {
        let report = &targets[name];
        assert_eq!((outcome(report), &report["took_lock"]), ("up_to_date", &Value::Bool(false)), "{i}: {report}");
    }
    for (i, name) in databases.names.iter().enumerate() {
        if i != broken {
            applied_exactly_once(&mut databases.inspect(backend, i).await, "", MIGRATIONS, name).await;
        }
    }
    outputs.push(out);
    outputs.push(err);
    // `status` and `validate` over the fleet, as a table for people.
    let (code, out, err) = cli(&["status", "--targets", list]).await;
    assert_eq!(code, ExitCode::FAILURE, "an unreachable target fails the status: {out}{err}");
    assert!(out.contains(&databases.names[0]) && out.contains("19 up to date"), "{out}");
    outputs.push(out);
    outputs.push(err);
    let (_, out, err) = cli(&["validate", "--targets", list, "--json"]).await;
    let (targets, _) = reports(&out);
    assert_eq!(targets.len(), 21);
    outputs.push(out);
    outputs.push(err);

    // The same URL twice is refused before anything runs, naming it and the flag.
    let twice = with_password(&databases.urls[0]);
    let (code, _, err) = cli(&["status", "--targets", list, "--target", &twice]).await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(err.contains("--target, --targets") && err.contains("more than once"), "{err}");
    outputs.push(err);
    no_password(&outputs.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The fixture's migrations (tests/fixture/main.rs).
const FIXTURE_MIGRATIONS: i64 = 5;

async fn a_fleet_killed_mid_run_then_run_again_applies_every_migration_once(backend: Backend) {
    let databases = Databases::new(backend, 6).await;
    let list = databases.list(&[]);
    let list = list.to_str().unwrap();
    let first = databases.urls[0].expose().to_owned();
    // The first two are up to date before the fleet starts.
    for url in &databases.urls[..2] {
        let output = finish(start("test-fixture", url.expose(), &["up"], &[]));
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    // One target at a time: the third stops inside `crash_point` and is killed there.
    let marker = databases.dir.path().join("inside_crash_point");
    let marker_text = marker.to_str().unwrap().to_owned();
    let mut fleet = start(
        "test-fixture",
        &first,
        &["up", "--targets", list, "--parallel", "1", "--stale-lock-after", "2", "--json"],
        &[("FIXTURE_CRASH_MARKER", &marker_text)],
    );
    wait_for(&marker, Duration::from_secs(60));
    fleet.kill().unwrap();
    let killed = fleet.wait_with_output().unwrap();
    let (killed_out, killed_err) = (text(&killed.stdout), text(&killed.stderr));
    let (done, _) = reports(&killed_out);
    assert!(done.values().all(|t| outcome(t) == "up_to_date"), "only the first two finished: {killed_out}");
    for i in 0..databases.urls.len() {
        support::wait_for_the_dead_sessions(&mut databases.inspect(backend, i).await, backend).await;
    }
    let crashed = &databases.names[2];
    if backend == Backend::MySql {
        // MySQL cannot roll DDL back: the killed step is left dirty, the rerun says so and names the way out.
        // One at a time and stopping at the failure: the targets after it are left for the rerun.
        let output =
            finish(start("test-fixture", &first, &["up", "--targets", list, "--parallel", "1", "--json"], &[]));
        let (targets, _) = reports(&text(&output.stdout));
        let report = &targets[crashed];
        assert_eq!((outcome(report), report["after"].as_str()), ("failed", Some("dirty")), "{report}");
        assert!(report["error"]["remedies"].to_string().contains("resolve_dirty"), "{report}");
        let mut inspect = databases.inspect(backend, 2).await;
        inspect.execute("DROP TABLE crash_probe").await;
        let url = databases.urls[2].expose();
        let resolved = finish(start("test-fixture", url, &["mark-reverted", "20240104000000"], &[]));
        assert!(resolved.status.success(), "{}", text(&resolved.stderr));
    }
    let rerun = finish(start("test-fixture", &first, &["up", "--targets", list, "--parallel", "3", "--json"], &[]));
    let rerun_out = text(&rerun.stdout);
    assert!(rerun.status.success(), "the rerun finishes the fleet: {rerun_out}{}", text(&rerun.stderr));
    let (targets, summary) = reports(&rerun_out);
    assert_eq!(summary["summary"]["up_to_date"].as_u64(), Some(2), "{rerun_out}");
    assert_eq!(summary["summary"]["migrated"].as_u64(), Some(4), "{rerun_out}");
    assert_eq!(outcome(&targets[&databases.names[0]]), "up_to_date");
    for (i, name) in databases.names.iter().enumerate() {
        applied_exactly_once(&mut databases.inspect(backend, i).await, "", FIXTURE_MIGRATIONS, name).await;
    }
    no_password(&[&killed_out, &killed_err, &rerun_out, &text(&rerun.stderr)]);
}

/// Five databases brought up with the shared migrations and an index from a
/// folder of SQL; one gets a column by hand and another loses the index.
/// `drift` over them reports exactly those two, each difference in words,
/// first against schemas built on scratch databases, then against a schema
/// file written once from a clean database: every target then reads it and
/// no scratch database is created.
async fn drift_over_five_databases_finds_the_two_changed_by_hand(backend: Backend) {
    let databases = Databases::new(backend, 5).await;
    let sql = databases.dir.path().join("sql");
    std::fs::create_dir_all(&sql).unwrap();
    std::fs::write(sql.join("V20240201000000__items_by_label.sql"), "CREATE INDEX items_by_label ON items (label);")
        .unwrap();
    let drop_index = match backend {
        Backend::MySql => "DROP INDEX items_by_label ON items",
        _ => "DROP INDEX items_by_label",
    };
    std::fs::write(sql.join("V20240201000000__items_by_label.down.sql"), format!("{drop_index};")).unwrap();
    let sql = sql.to_str().unwrap();
    let list = databases.list(&[]);
    let list = list.to_str().unwrap();
    let schema_file = databases.dir.path().join("fleet.schema.json");
    let schema_file = schema_file.to_str().unwrap();
    let (code, out, err) = cli(&["up", "--sql-dir", sql, "--targets", list, "--json"]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    let (added, dropped) = (1, 3);
    databases.inspect(backend, added).await.execute("ALTER TABLE items ADD COLUMN extra INTEGER").await;
    databases.inspect(backend, dropped).await.execute(drop_index).await;
    let mut outputs = vec![out, err];

    // No schema file yet: each target's expected schema is built on a scratch database beside it.
    let drift = ["drift", "--sql-dir", sql, "--targets", list, "--schema-file", schema_file, "--parallel", "5"];
    let check = |out: &str, from: &str| {
        let (targets, summary) = reports(out);
        assert_eq!(targets.len(), 5, "{out}");
        assert_eq!(summary["operation"], "drift", "{out}");
        assert_eq!(summary["up_to_date"], false, "{out}");
        assert_eq!(
            (summary["summary"]["drifted"].as_u64(), summary["summary"]["up_to_date"].as_u64()),
            (Some(2), Some(3))
        );
        for (i, name) in databases.names.iter().enumerate() {
            let report = &targets[name];
            assert_eq!(report["expected_from"], from, "{name}: {report}");
            let differences = report["differences"].as_array().unwrap();
            if i == added {
                assert_eq!(outcome(report), "drifted", "{report}");
                assert_eq!(differences.len(), 1, "{report}");
                assert!(differences[0].as_str().unwrap().contains("column items.extra is new"), "{report}");
            } else if i == dropped {
                assert_eq!(outcome(report), "drifted", "{report}");
                assert_eq!(differences.len(), 1, "{report}");
                assert!(differences[0].as_str().unwrap().contains("index items_by_label"), "{report}");
            } else {
                assert_eq!((outcome(report), differences.len()), ("up_to_date", 0), "{name}: {report}");
            }
        }
    };
    let (code, out, err) = cli(&[&drift[..], &["--json"]].concat()).await;
    assert_eq!(code, ExitCode::from(3), "drift exits 3: {out}{err}");
    check(&out, "scratch");
    outputs.extend([out, err]);
    assert!(!Path::new(schema_file).exists(), "a fleet run writes no schema file");

    // The schema file, written once from a clean database.
    let clean = with_password(&databases.urls[0]);
    let (code, out, err) =
        cli(&["drift", "--sql-dir", sql, "--database-url", &clean, "--schema-file", schema_file, "--write"]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    outputs.extend([out, err]);
    // Now every target reads it: no scratch database is created (none would be reported as the source).
    let (code, out, err) = cli(&[&drift[..], &["--json"]].concat()).await;
    assert_eq!(code, ExitCode::from(3), "{out}{err}");
    check(&out, "file");
    outputs.extend([out, err]);
    // The same for people: a line per target, the differences by target, the counts.
    let (code, out, err) = cli(&drift).await;
    assert_eq!(code, ExitCode::from(3), "{out}{err}");
    let added_line = format!("{}: column items.extra is new", databases.names[added]);
    assert!(out.contains(&added_line), "{out}");
    assert!(out.contains(&format!("{}: index items_by_label", databases.names[dropped])), "{out}");
    assert!(out.contains("drift 5 target(s): 3 up to date, 2 drifted"), "{out}");
    assert!(err.contains("expected schema from the schema file"), "{err}");
    outputs.extend([out, err]);

    // Put right by hand: nothing drifted, exit 0.
    databases.inspect(backend, added).await.execute("ALTER TABLE items DROP COLUMN extra").await;
    databases.inspect(backend, dropped).await.execute("CREATE INDEX items_by_label ON items (label)").await;
    let (code, out, err) = cli(&[&drift[..], &["--json"]].concat()).await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    assert_eq!(reports(&out).1["summary"]["up_to_date"].as_u64(), Some(5), "{out}");
    outputs.extend([out, err]);

    // One target a migration ahead: the file does not record its state, so
    // its schema alone is built on a scratch database, and its report says why.
    std::fs::write(Path::new(sql).join("V20240301000000__later.sql"), "CREATE TABLE later (id INTEGER PRIMARY KEY);")
        .unwrap();
    std::fs::write(Path::new(sql).join("V20240301000000__later.down.sql"), "DROP TABLE later;").unwrap();
    let ahead = with_password(&databases.urls[4]);
    let (code, out, err) = cli(&["up", "--sql-dir", sql, "--database-url", &ahead]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    let (code, out, err) = cli(&[&drift[..], &["--json"]].concat()).await;
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    let (targets, _) = reports(&out);
    for (i, name) in databases.names.iter().enumerate() {
        let report = &targets[name];
        let note = report["expected_note"].as_str();
        if i == 4 {
            assert_eq!(report["expected_from"], "scratch", "{report}");
            assert!(note.is_some_and(|n| n.contains("another applied state")), "{report}");
        } else {
            assert_eq!((report["expected_from"].as_str(), note), (Some("file"), None), "{report}");
        }
    }
    outputs.extend([out, err]);
    no_password(&outputs.iter().map(String::as_str).collect::<Vec<_>>());
}

mod drift_refusals {
    use super::*;

    /// Drift over schema targets is refused: by the command line when the
    /// arguments are read, naming the flags, and by [`Fleet::drift`] before
    /// anything connects. So are `--write` and `--scratch-url` over targets.
    #[tokio::test]
    async fn drift_over_schemas_or_writing_over_targets_is_refused() {
        let url = "postgres://postgres@127.0.0.1:1/x";
        for args in [
            &["drift", "--database-url", url, "--schema", "tenant_01"][..],
            &["drift", "--database-url", url, "--schemas-query", "SELECT 'tenant_01'"][..],
        ] {
            let (code, _, err) = support::cli_in_process(args);
            assert_eq!(code, ExitCode::from(2), "{args:?}: {err}");
            assert!(err.contains("--schema, --schemas-query") && err.contains("every schema"), "{err}");
        }
        for flag in [&["--write"][..], &["--scratch-url", "sqlite://scratch.db"][..]] {
            let args = [&["drift", "--target", "sqlite://a.db"][..], flag].concat();
            let (code, _, err) = support::cli_in_process(&args);
            assert_eq!(code, ExitCode::from(2), "{args:?}: {err}");
            assert!(err.contains(flag[0]) && err.contains("--target"), "{err}");
        }

        let control = DatabaseUrl::parse(url).unwrap();
        let schemas = Targets::new(vec![
            Target::schema(control.clone(), "tenant_01").unwrap(),
            Target::schema(control, "tenant_02").unwrap(),
        ])
        .unwrap();
        let refused = Fleet::new(schemas).drift(&DriftOptions::default()).await.unwrap_err().to_string();
        assert!(refused.contains("tenant_01, tenant_02") && refused.contains("every schema"), "{refused}");
        let databases = Targets::from_urls(["sqlite://a.db", "sqlite://b.db"]).unwrap();
        let write = Fleet::new(databases).drift(&DriftOptions::default().write(true)).await.unwrap_err();
        assert!(write.to_string().contains("write the schema file"), "{write}");
    }
}

mod schemas {
    use super::*;

    /// 20 tenants as schemas of one PostgreSQL database: each gets its own
    /// history, log and tables, nothing lands in `public`, one broken
    /// schema is reported while the others finish, and a rerun does nothing.
    #[tokio::test]
    async fn twenty_schemas_of_one_database_each_keep_their_own_history() {
        let db = TestDb::new(Backend::Postgres).await;
        let mut inspect = db.inspect().await;
        for i in 0..20 {
            inspect.execute(&format!("CREATE SCHEMA tenant_{i:02}")).await;
        }
        inspect.execute("CREATE TABLE tenant_07.items (other INTEGER)").await;
        let url = with_password(&db.url);
        let query = r"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%' ORDER BY 1";
        let args =
            ["up", "--database-url", &url, "--schemas-query", query, "--parallel", "8", "--keep-going", "--json"];
        let (code, out, err) = cli(&args).await;
        assert_eq!(code, ExitCode::FAILURE, "{err}");
        let (targets, summary) = reports(&out);
        assert_eq!(summary["summary"]["migrated"].as_u64(), Some(19), "{out}");
        let broken = &targets["tenant_07"];
        assert_eq!(outcome(broken), "failed");
        assert!(broken["error"]["message"].as_str().unwrap().contains("items"), "{broken}");
        for i in (0..20).filter(|i| *i != 7) {
            let schema = format!("tenant_{i:02}");
            applied_exactly_once(&mut inspect, &format!("{schema}."), MIGRATIONS, &schema).await;
            assert_eq!(inspect.scalar(&format!("SELECT count(*) FROM {schema}.items")).await, 1, "{schema}");
        }
        let in_public = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'";
        assert_eq!(inspect.scalar(in_public).await, 0, "nothing lands in public");

        // The rerun: one read each, no lock.
        let (_, again, again_err) = cli(&args).await;
        let (targets, summary) = reports(&again);
        assert_eq!(summary["summary"]["up_to_date"].as_u64(), Some(19), "{again}");
        assert!(targets.iter().filter(|(n, _)| *n != "tenant_07").all(|(_, t)| t["took_lock"] == false), "{again}");

        // A schema name that is not a plain identifier is refused, naming the flag.
        let (code, _, refused) = cli(&["status", "--database-url", &url, "--schema", "tenant-1"]).await;
        assert_eq!(code, ExitCode::FAILURE);
        assert!(refused.contains("--schema") && refused.contains("plain schema name"), "{refused}");
        no_password(&[&out, &err, &again, &again_err, &refused]);
    }
}

/// The advisory lock key PostgreSQL's migration lock of a history table uses:
/// FNV-1a of `migrations-rs:<history table>`, as the runtime computes it.
fn advisory_key(history: &str) -> i64 {
    format!("migrations-rs:{history}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
        as i64
}

mod schema_locks {
    use super::*;

    /// Each schema's lock is its own: with one tenant's lock held by another
    /// session, the other tenants of the database are migrated at once and
    /// only that tenant waits (and gives up after the lock timeout).
    #[tokio::test]
    async fn a_tenants_lock_held_elsewhere_blocks_only_that_tenant() {
        let db = TestDb::new(Backend::Postgres).await;
        let mut inspect = db.inspect().await;
        for i in 0..4 {
            inspect.execute(&format!("CREATE SCHEMA tenant_{i:02}")).await;
        }
        let mut holder = db.inspect().await;
        holder.execute(&format!("SELECT pg_advisory_lock({})", advisory_key("tenant_02.migrations_rs_history"))).await;
        let url = db.url.expose().to_owned();
        let mut args = vec!["up", "--database-url", &url, "--parallel", "4", "--keep-going", "--json"];
        args.extend(["--lock-timeout", "2", "--schema", "tenant_00", "--schema", "tenant_01"]);
        args.extend(["--schema", "tenant_02", "--schema", "tenant_03"]);
        let (code, out, err) = cli(&args).await;
        assert_eq!(code, ExitCode::FAILURE, "{err}");
        let (targets, _) = reports(&out);
        for name in ["tenant_00", "tenant_01", "tenant_03"] {
            assert_eq!(outcome(&targets[name]), "migrated", "{out}");
        }
        let blocked = &targets["tenant_02"];
        assert_eq!(outcome(blocked), "failed", "{out}");
        assert!(blocked["error"]["message"].as_str().unwrap().contains("lock"), "{blocked}");
        holder
            .execute(&format!("SELECT pg_advisory_unlock({})", advisory_key("tenant_02.migrations_rs_history")))
            .await;
        let (code, out, _) = cli(&args).await;
        assert_eq!(code, ExitCode::SUCCESS, "{out}");
        assert_eq!(outcome(&reports(&out).0["tenant_02"]), "migrated", "{out}");
    }
}

mod waves {
    use super::*;

    /// Through the library: a failed canary starts nothing else, and without
    /// `keep_going` a failure starts no more targets.
    #[tokio::test]
    async fn a_failed_canary_or_target_stops_the_rollout() {
        let databases = Databases::new(Backend::Sqlite, 5).await;
        databases.inspect(Backend::Sqlite, 0).await.execute("CREATE TABLE items (other INTEGER)").await;
        let targets = || Targets::from_urls(databases.urls.iter().map(|u| u.expose().to_owned())).unwrap();

        let report = Fleet::new(targets()).canary(1).keep_going(true).up(Scope::All).await;
        let outcomes: Vec<TargetOutcome> = report.targets.iter().map(|t| t.outcome).collect();
        assert_eq!(outcomes[0], TargetOutcome::Failed);
        assert!(outcomes[1..].iter().all(|o| *o == TargetOutcome::Skipped), "{outcomes:?}");
        assert!(report.targets[0].canary && report.has_failures() && !report.is_up_to_date());
        for i in 1..5 {
            let mut inspect = databases.inspect(Backend::Sqlite, i).await;
            assert!(!inspect.table_exists("migrations_rs_history").await, "target {i} was not touched");
        }

        // Broken one moved to the middle: one at a time, the run stops there.
        databases.inspect(Backend::Sqlite, 0).await.execute("DROP TABLE items").await;
        databases.inspect(Backend::Sqlite, 2).await.execute("CREATE TABLE items (other INTEGER)").await;
        let report = Fleet::new(targets()).parallel(1).up(Scope::All).await;
        let outcomes: Vec<TargetOutcome> = report.targets.iter().map(|t| t.outcome).collect();
        use TargetOutcome::*;
        assert_eq!(outcomes, [Migrated, Migrated, Failed, Skipped, Skipped]);
        assert_eq!((report.summary.migrated, report.summary.failed, report.summary.skipped), (2, 1, 2));

        // Going on past it: everything else is brought up.
        let report = Fleet::new(targets()).parallel(3).keep_going(true).up(Scope::All).await;
        let outcomes: Vec<TargetOutcome> = report.targets.iter().map(|t| t.outcome).collect();
        assert_eq!(outcomes, [UpToDate, UpToDate, Failed, Migrated, Migrated]);
        let status = Fleet::new(targets()).status().await;
        assert_eq!(status.summary.up_to_date, 4);
        assert_eq!(status.targets[2].outcome, Pending);

        // Reading a SQLite target that is not there creates nothing.
        let absent = databases.dir.path().join("absent.db");
        let url = format!("sqlite://{}?mode=rwc", absent.display());
        let status = Fleet::new(Targets::from_urls([url]).unwrap()).status().await;
        assert_eq!(status.targets[0].outcome, Failed);
        assert!(status.targets[0].error.as_ref().unwrap().message.contains("does not exist"), "{status:?}");
        assert!(!absent.exists());
    }
}

mod http {
    use super::*;
    use migrations_rs::http::HttpApi;

    /// `GET /fleet/status` reports every target of the fleet the service was given.
    #[tokio::test]
    async fn the_http_api_reports_the_fleet() {
        let databases = Databases::new(Backend::Sqlite, 3).await;
        databases.inspect(Backend::Sqlite, 1).await.execute("CREATE TABLE items (other INTEGER)").await;
        let targets = || Targets::from_urls(databases.urls.iter().map(|u| u.expose().to_owned())).unwrap();
        Fleet::new(targets()).keep_going(true).up(Scope::All).await;

        let serve = async |api: HttpApi| {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let app = migrations_rs::http::axum::Router::new().nest("/migrations", api.router());
            tokio::spawn(async move { migrations_rs::http::axum::serve(listener, app).await.unwrap() });
            format!("http://{address}/migrations/fleet/status")
        };
        let url = serve(HttpApi::new(&databases.urls[0]).unwrap().fleet(targets(), 2)).await;
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["up_to_date"], false, "{body}");
        assert_eq!(body["summary"]["up_to_date"], 2, "{body}");
        assert_eq!(body["targets"][1]["name"], "tenant_01.db", "{body}");
        assert_eq!(body["targets"][1]["outcome"], "pending", "{body}");

        let without = serve(HttpApi::new(&databases.urls[0]).unwrap()).await;
        assert_eq!(reqwest::get(&without).await.unwrap().status(), reqwest::StatusCode::NOT_FOUND);
    }
}

mod lint {
    use super::*;

    /// `lint --pending` over targets analyses what is pending on any of them, once.
    #[tokio::test]
    async fn lint_pending_over_targets_analyses_what_any_target_lacks() {
        let databases = Databases::new(Backend::Sqlite, 3).await;
        let all = Targets::from_urls(databases.urls.iter().map(|u| u.expose().to_owned())).unwrap();
        let first_two = Targets::from_urls(databases.urls[..2].iter().map(|u| u.expose().to_owned())).unwrap();
        Fleet::new(first_two).up(Scope::All).await;
        std::fs::File::create(databases.dir.path().join("tenant_02.db")).unwrap();
        assert_eq!(all.len(), 3);
        let list = databases.list(&[]);
        let list = list.to_str().unwrap();
        let (code, out, err) = cli(&["lint", "--pending", "--targets", list]).await;
        assert_eq!(code, ExitCode::SUCCESS, "{err}");
        assert!(out.contains("3 migration(s) analysed for SQLite"), "{out}");
        let (_, json, _) = cli(&["lint", "--pending", "--targets", list, "--json"]).await;
        for version in ["20240101000000", "20240102000000", "20240103000000"] {
            assert_eq!(json.matches(version).count(), 1, "{version} analysed once: {json}");
        }
        let (code, _, err) = cli(&["lint", "--targets", list]).await;
        assert_eq!(code, ExitCode::FAILURE);
        assert!(err.contains("--pending"), "{err}");
    }
}

/// Bad values are refused when the arguments are read, naming the flag, before anything connects.
#[test]
fn bad_fleet_values_are_refused_naming_the_flag() {
    for (args, flag) in [
        (&["up", "--target", "sqlite://a.db", "--parallel", "0"][..], "--parallel"),
        (&["up", "--target", "sqlite://a.db", "--shard", "3/2"][..], "--shard"),
        (&["status", "--target", "sqlite://a.db", "--shard", "x"][..], "--shard"),
        (&["up", "--parallel", "4"][..], "--target"),
    ] {
        let (code, _, err) = support::cli_in_process(args);
        assert_eq!(code, ExitCode::from(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    let password = format!("postgres://u:{PASSWORD}@127.0.0.1:1/x");
    let (code, _, err) = support::cli_in_process(&["status", "--target", &password, "--target", &password]);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(err.contains("--target") && err.contains("more than once") && !err.contains(PASSWORD), "{err}");
}

mod targets_query {
    use super::*;

    /// `--targets-query` reads the target URLs from a control database, on SQLite and PostgreSQL.
    #[tokio::test]
    async fn the_targets_come_from_a_query_on_the_control_database() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let databases = Databases::new(backend, 3).await;
            let control = TestDb::new(backend).await;
            let mut inspect = control.inspect().await;
            inspect.execute("CREATE TABLE tenants (id INTEGER, url VARCHAR(500))").await;
            for (i, url) in databases.urls.iter().enumerate() {
                let url = with_password(url);
                inspect.execute(&format!("INSERT INTO tenants VALUES ({i}, '{url}')")).await;
            }
            let control_url = with_password(&control.url);
            let query = "SELECT url FROM tenants ORDER BY id";
            let (code, out, err) =
                cli(&["up", "--database-url", &control_url, "--targets-query", query, "--json"]).await;
            assert_eq!(code, ExitCode::SUCCESS, "{backend}: {err}");
            let (targets, _) = reports(&out);
            let mut names = databases.names.clone();
            names.sort();
            assert_eq!(targets.keys().cloned().collect::<Vec<_>>(), names, "{backend}: {out}");
            assert!(targets.values().all(|t| outcome(t) == "migrated"), "{out}");
            let (code, out, err) = cli(&["status", "--database-url", &control_url, "--targets-query", query]).await;
            assert_eq!(code, ExitCode::SUCCESS, "{backend}: {err}");
            let (_, bad, refused) =
                cli(&["status", "--database-url", &control_url, "--targets-query", "SELECT nothing FROM nowhere"])
                    .await;
            assert!(refused.contains("--targets-query") && refused.contains("the target query"), "{refused}");
            no_password(&[&out, &err, &bad, &refused]);
        }
    }
}
