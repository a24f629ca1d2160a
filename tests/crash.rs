//! Crash trials: `up` of the fixture program is killed with SIGKILL at a
//! random moment, a few times per backend (`MIGRATIONS_RS_CRASH_TRIALS`, 5 by
//! default; `MIGRATIONS_RS_CRASH_SEED` repeats a run). After each kill every
//! migration is either applied and recorded, or not applied and not recorded;
//! a migration that could not run atomically may be left dirty, and then `up`
//! refuses and names the way out. Once resolved, a rerun finishes.

#[macro_use]
mod support;

use migrations_rs::Backend;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::process::{finish, run, start, text};
use support::{Inspect, TestDb};

/// The fixture's migrations in order (tests/fixture/main.rs).
const VERSIONS: [u64; 5] = [20240101000000, 20240102000000, 20240103000000, 20240104000000, 20240105000000];

/// A small generator of kill points, so a failing run can be repeated from its seed.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// How much of a migration's change the database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    None,
    Partial,
    Complete,
}

async fn effect(inspect: &mut Inspect, backend: Backend, version: u64) -> Effect {
    let whole = |present: bool| if present { Effect::Complete } else { Effect::None };
    match version {
        20240101000000 => whole(inspect.table_exists("items").await),
        20240102000000 => {
            if !inspect.table_exists("items").await {
                return Effect::None;
            }
            match inspect.scalar("SELECT count(*) FROM items").await {
                0 => Effect::None,
                10_000 => Effect::Complete,
                _ => Effect::Partial,
            }
        }
        20240103000000 => {
            let (any, valid) = match backend {
                Backend::Postgres => (
                    "SELECT count(*) FROM pg_class WHERE relname = 'items_by_label'",
                    "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE c.relname = 'items_by_label' AND i.indisvalid",
                ),
                Backend::Sqlite => {
                    let sql = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'items_by_label'";
                    (sql, sql)
                }
                Backend::MySql => {
                    let sql = "SELECT count(*) FROM information_schema.statistics \
                               WHERE table_schema = DATABASE() AND index_name = 'items_by_label'";
                    (sql, sql)
                }
            };
            match (inspect.scalar(any).await > 0, inspect.scalar(valid).await > 0) {
                (false, _) => Effect::None,
                (true, true) => Effect::Complete,
                (true, false) => Effect::Partial,
            }
        }
        20240104000000 => whole(inspect.table_exists("crash_probe").await),
        20240105000000 => whole(inspect.table_exists("notes").await),
        other => unreachable!("not a fixture migration: {other}"),
    }
}

/// The recorded state of each fixture migration, `None` when it has no history row.
async fn states(inspect: &mut Inspect) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let recorded = inspect.table_exists("migrations_rs_history").await;
    for version in VERSIONS {
        let state = if recorded {
            let rows =
                inspect.strings(&format!("SELECT state FROM migrations_rs_history WHERE version = {version}")).await;
            assert!(rows.len() <= 1, "{version} recorded {} times", rows.len());
            rows.into_iter().next()
        } else {
            None
        };
        out.push(state);
    }
    out
}

/// Checks one killed run's database and puts it right the documented way;
/// returns what it found, for the report of a failing trial.
async fn check_and_resolve(db: &TestDb, url: &str) -> String {
    let backend = db.backend;
    let mut inspect = db.inspect().await;
    support::wait_for_the_dead_sessions(&mut inspect, backend).await;
    let states = states(&mut inspect).await;
    let mut found = Vec::new();
    let mut dirty = Vec::new();
    for (version, state) in VERSIONS.into_iter().zip(&states) {
        let effect = effect(&mut inspect, backend, version).await;
        found.push(format!("{version}: {state:?} {effect:?}"));
        match state.as_deref() {
            Some("applied") => assert_eq!(effect, Effect::Complete, "{version} recorded as applied: {found:?}"),
            None => assert_eq!(effect, Effect::None, "{version} not recorded but changed the database: {found:?}"),
            Some("applying") => {
                // Only a step that cannot be atomic may be left unfinished.
                assert!(
                    backend == Backend::MySql || version == 20240103000000,
                    "{version} left dirty on {backend}: {found:?}"
                );
                dirty.push((version, effect));
            }
            Some(other) => panic!("{version} in state {other}: {found:?}"),
        }
    }
    if !dirty.is_empty() {
        let refused = run("test-fixture", url, &["up", "--lock-timeout", "60"]);
        assert_eq!(refused.status.code(), Some(1), "a dirty database is refused: {}", text(&refused.stdout));
        let stderr = text(&refused.stderr);
        let (version, _) = dirty[0];
        assert!(
            stderr.contains(&format!("mark-applied {version}")) && stderr.contains(&format!("mark-reverted {version}")),
            "the refusal names the way out: {stderr}"
        );
    }
    for (version, effect) in dirty {
        let verb = match effect {
            Effect::Complete => "mark-applied",
            Effect::Partial => {
                // CREATE INDEX CONCURRENTLY killed halfway leaves an invalid index: undo it by hand.
                inspect.execute("DROP INDEX items_by_label").await;
                "mark-reverted"
            }
            Effect::None => "mark-reverted",
        };
        let resolved = run("test-fixture", url, &[verb, &version.to_string(), "--lock-timeout", "60"]);
        assert!(resolved.status.success(), "{verb} {version}: {}", text(&resolved.stderr));
    }
    found.join(", ")
}

async fn killed_at_random_points_stays_consistent(backend: Backend) {
    let trials: usize = std::env::var("MIGRATIONS_RS_CRASH_TRIALS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let seed = std::env::var("MIGRATIONS_RS_CRASH_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("{backend}: {trials} crash trial(s), MIGRATIONS_RS_CRASH_SEED={seed}");
    let mut random = Xorshift(seed);
    // How long a whole run takes here, so the kills land all along it.
    let whole = {
        let db = TestDb::new(backend).await;
        let started = Instant::now();
        let output = run("test-fixture", db.url.expose(), &["up"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        started.elapsed()
    };
    let span = u64::try_from(whole.as_millis()).unwrap().max(50) * 11 / 10;
    for trial in 0..trials {
        let db = TestDb::new(backend).await;
        let url = db.url.expose().to_owned();
        let delay = Duration::from_millis(random.next() % span);
        let mut victim = start("test-fixture", &url, &["up"], &[]);
        std::thread::sleep(delay);
        let _ = victim.kill();
        let output = victim.wait_with_output().unwrap();
        let found = check_and_resolve(&db, &url).await;
        eprintln!("{backend} trial {trial}: killed after {delay:?} of ~{whole:?}: {found}");
        // The dead process's lease (SQLite) is freed the documented way; the server's locks died with it.
        let released = run("test-fixture", &url, &["lock", "release", "--yes"]);
        assert!(released.status.success(), "{}", text(&released.stderr));
        let rerun = finish(start("test-fixture", &url, &["up", "--lock-timeout", "60"], &[]));
        assert!(
            rerun.status.success(),
            "trial {trial} (seed {seed}, killed after {delay:?}; its output: {}): the rerun failed: {}",
            text(&output.stderr),
            text(&rerun.stderr)
        );
        let mut inspect = db.inspect().await;
        let states = states(&mut inspect).await;
        assert!(states.iter().all(|s| s.as_deref() == Some("applied")), "trial {trial}: {states:?}");
        for version in VERSIONS {
            assert_eq!(effect(&mut inspect, backend, version).await, Effect::Complete, "trial {trial}: {version}");
        }
    }
}

on_every_backend!(killed_at_random_points_stays_consistent);
