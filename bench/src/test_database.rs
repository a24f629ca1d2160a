//! Time to a migrated test database: a clone of the template that
//! `migrations_rs::testing` migrates once, against migrating a fresh database
//! from scratch with `Migrator::up`, in interleaved rounds on one server. On
//! PostgreSQL a test database is a spare copy renamed when one is ready (the
//! spares are made in the background while the from-scratch round runs), and
//! how many were is printed.

use crate::databases::Setup;
use crate::measure::Summary;
use crate::report::{Row, Scenario, ratios};
use crate::scratch::Scratch;
use crate::tools::{Prepared, Result, Tool};
use migrations_rs::testing::TestDatabase;
use migrations_rs::{Backend, Migrator, registry::Registry};
use std::time::Instant;

/// The names the two ways are reported under.
const CLONE: &str = "migrations-rs testing (template clone)";
const MIGRATE: &str = "migrations-rs up (from scratch)";

/// Clones and migrations of `prepared`'s workload, `setup.runs` of each,
/// alternating; the template is built (or found) first and not timed.
pub async fn measure(setup: &Setup<'_>, backend: Backend, prepared: &Prepared) -> Result<Vec<Row>> {
    let size = prepared.workload.len();
    let server = match backend {
        Backend::Sqlite => "sqlite:".to_owned(),
        Backend::Postgres => setup.servers.postgres.clone(),
        Backend::MySql => setup.servers.mysql.clone(),
    };
    let migrator = || Registry::new(prepared.records().iter().copied()).map(Migrator::new);
    // The template: built by the first clone, whose bodies take the queued scripts.
    prepared.queue_scripts();
    let started = Instant::now();
    let first = TestDatabase::builder(&server).migrator(migrator()?).create().await?;
    let template_ms = started.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "  test database {backend} N={size}: template {} in {template_ms:.0} ms",
        if first.reused_template() { "found" } else { "built" }
    );
    first.drop_now().await?;

    let (mut cloned, mut migrated, mut from_spares) = (Vec::new(), Vec::new(), 0);
    for round in 0..setup.runs {
        let clone_first = round % 2 == 0;
        for clone in [clone_first, !clone_first] {
            if clone {
                let migrator = migrator()?;
                let started = Instant::now();
                let db = TestDatabase::builder(&server).migrator(migrator).create().await?;
                cloned.push(started.elapsed().as_secs_f64() * 1000.0);
                from_spares += usize::from(db.from_spare());
                db.drop_now().await?;
            } else {
                let scratch = Scratch::create(setup.servers, backend).await?;
                let started = Instant::now();
                prepared.apply(Tool::MigrationsRs, backend, &scratch.url).await?;
                migrated.push(started.elapsed().as_secs_f64() * 1000.0);
                scratch.drop_now().await?;
            }
        }
    }
    eprintln!(
        "  test database {backend} N={size}: {} rounds done, {from_spares} of the test databases were spare copies renamed",
        setup.runs
    );
    let row = |tool: &str, times: &[f64], ratio| Row {
        scenario: Scenario::TestDatabase,
        backend: Some(backend.name().to_owned()),
        size,
        tool: tool.to_owned(),
        runs: times.len(),
        ms: Summary::of(times).expect("at least one run"),
        ratio,
        baseline: Some(MIGRATE.to_owned()),
        queries: None,
        peak_heap_kib: None,
        cpu_ms: None,
        load: None,
    };
    Ok(vec![row(CLONE, &cloned, ratios(&cloned, &migrated)), row(MIGRATE, &migrated, ratios(&migrated, &migrated))])
}
