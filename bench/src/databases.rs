//! The scenarios that run against a database: applying N migrations to an
//! empty database, a start-up with everything applied, and `status`.
//!
//! Each round runs every tool once, in an order that rotates from round to
//! round (A B C D, B C D A, …), and each tool's time is also divided by the
//! raw-SQL time of the same round: the machine is shared, and neighbouring
//! runs see the same load. Beside each run's wall time, the CPU time this
//! process spent in it is kept (the tool's own work; the servers' is not in it).

use crate::measure::{PeakHeap, QUERIES, Stopwatch, Summary};
use crate::report::{Row, Scenario, ratios};
use crate::scratch::{Scratch, Servers};
use crate::tools::{Prepared, Result, Tool};
use migrations_rs::Backend;

/// What every scenario needs to know.
#[derive(Debug)]
pub struct Setup<'a> {
    pub servers: &'a Servers,
    pub tools: &'a [Tool],
    pub runs: usize,
    pub heap: &'a PeakHeap,
}

/// Times per tool (in `tools` order), one value per round.
type Times = Vec<Vec<f64>>;

fn rotated(tools: &[Tool], round: usize) -> Vec<(usize, Tool)> {
    let mut order: Vec<(usize, Tool)> = tools.iter().copied().enumerate().collect();
    order.rotate_left(round % tools.len().max(1));
    order
}

/// Applying every migration of `prepared` to a fresh database, with each
/// tool; with `count`, one more run of each tool counts the statements sent.
/// `scenario` says which workload `prepared` holds.
pub async fn apply(
    setup: &Setup<'_>,
    scenario: Scenario,
    backend: Backend,
    prepared: &Prepared,
    count: bool,
) -> Result<Vec<Row>> {
    let mut times: Times = vec![Vec::new(); setup.tools.len()];
    let mut cpu: Times = vec![Vec::new(); setup.tools.len()];
    for round in 0..setup.runs {
        for (slot, tool) in rotated(setup.tools, round) {
            let scratch = Scratch::create(setup.servers, backend).await?;
            let watch = Stopwatch::start();
            prepared.apply(tool, backend, &scratch.url).await.map_err(|e| context(tool, backend, "apply", e))?;
            let (wall, used) = watch.stop();
            times[slot].push(wall);
            cpu[slot].push(used);
            scratch.drop_now().await?;
        }
        eprintln!("  apply {backend} N={} round {}/{} done", prepared.workload.len(), round + 1, setup.runs);
    }
    let mut queries = Vec::new();
    if count {
        for &tool in setup.tools {
            let scratch = Scratch::create(setup.servers, backend).await?;
            QUERIES.start();
            let outcome = prepared.apply(tool, backend, &scratch.url).await;
            queries.push(QUERIES.stop());
            outcome.map_err(|e| context(tool, backend, "counted apply", e))?;
            scratch.drop_now().await?;
        }
    }
    let queries = count.then_some(queries.as_slice());
    Ok(rows(setup, scenario, backend, prepared.workload.len(), &times, &cpu, queries, None))
}

/// A start-up and `status` with every migration applied: each tool gets a
/// database seeded with its own bookkeeping once, then every round times both.
pub async fn startup_and_status(setup: &Setup<'_>, backend: Backend, prepared: &Prepared) -> Result<Vec<Row>> {
    let tools: Vec<Tool> = setup.tools.iter().copied().filter(|tool| tool.reads_state()).collect();
    let setup = &Setup { tools: &tools, ..*setup };
    let mut databases = Vec::new();
    for &tool in setup.tools {
        let scratch = Scratch::create(setup.servers, backend).await?;
        prepared.seed(tool, backend, &scratch.url).await.map_err(|e| context(tool, backend, "seed", e))?;
        databases.push(scratch);
    }
    let mut startup: Times = vec![Vec::new(); setup.tools.len()];
    let mut startup_cpu: Times = vec![Vec::new(); setup.tools.len()];
    let mut status: Times = vec![Vec::new(); setup.tools.len()];
    let mut status_cpu: Times = vec![Vec::new(); setup.tools.len()];
    let mut heap: Times = vec![Vec::new(); setup.tools.len()];
    for round in 0..setup.runs {
        for (slot, tool) in rotated(setup.tools, round) {
            let url = &databases[slot].url;
            let watch = Stopwatch::start();
            prepared.startup(tool, backend, url).await.map_err(|e| context(tool, backend, "start-up", e))?;
            let (wall, used) = watch.stop();
            startup[slot].push(wall);
            startup_cpu[slot].push(used);
        }
        for (slot, tool) in rotated(setup.tools, round) {
            let url = &databases[slot].url;
            let before = setup.heap.start();
            let watch = Stopwatch::start();
            prepared.status(tool, backend, url).await.map_err(|e| context(tool, backend, "status", e))?;
            let (wall, used) = watch.stop();
            status[slot].push(wall);
            status_cpu[slot].push(used);
            heap[slot].push(setup.heap.peak_since(before) as f64 / 1024.0);
        }
        eprintln!(
            "  start-up and status {backend} N={} round {}/{} done",
            prepared.workload.len(),
            round + 1,
            setup.runs
        );
    }
    let mut queries = Vec::new();
    for (slot, &tool) in setup.tools.iter().enumerate() {
        QUERIES.start();
        let outcome = prepared.startup(tool, backend, &databases[slot].url).await;
        queries.push(QUERIES.stop());
        outcome.map_err(|e| context(tool, backend, "counted start-up", e))?;
    }
    for scratch in databases {
        scratch.drop_now().await?;
    }
    let size = prepared.workload.len();
    let mut rows = rows(setup, Scenario::NoopStartup, backend, size, &startup, &startup_cpu, Some(&queries), None);
    rows.extend(self::rows(setup, Scenario::Status, backend, size, &status, &status_cpu, None, Some(&heap)));
    Ok(rows)
}

#[allow(clippy::too_many_arguments)]
fn rows(
    setup: &Setup<'_>,
    scenario: Scenario,
    backend: Backend,
    size: usize,
    times: &Times,
    cpu: &Times,
    queries: Option<&[usize]>,
    heap: Option<&Times>,
) -> Vec<Row> {
    let baseline = setup.tools.iter().position(|t| *t == Tool::Raw);
    setup
        .tools
        .iter()
        .enumerate()
        .map(|(slot, tool)| Row {
            scenario,
            backend: Some(backend.name().to_owned()),
            size,
            tool: tool.name().to_owned(),
            runs: times[slot].len(),
            ms: Summary::of(&times[slot]).expect("at least one run"),
            ratio: baseline.and_then(|b| ratios(&times[slot], &times[b])),
            baseline: baseline.map(|_| Tool::Raw.name().to_owned()),
            queries: queries.map(|q| q[slot]),
            peak_heap_kib: heap.and_then(|h| Summary::of(&h[slot])),
            cpu_ms: Summary::of(&cpu[slot]),
            load: None,
        })
        .collect()
}

fn context(tool: Tool, backend: Backend, what: &str, error: Box<dyn std::error::Error + Send + Sync>) -> String {
    format!("{} on {backend}, {what}: {error}", tool.name())
}
