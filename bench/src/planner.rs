//! The planner alone, no database: checking and ordering N migrations with
//! random dependency edges (`Registry::new`), then planning `up` for an empty
//! database and for one with the older half applied. Half applied by version
//! is not a state a real run leaves when edges point to newer versions, and
//! the planner does not need it to be: it plans whatever is missing.

use crate::measure::Summary;
use crate::report::{Row, Scenario};
use crate::workload::version;
use migrations_rs::{Db, Version, registry::Registry};
use migrations_rs_runtime::{Body, BoxFuture, Migration, Risk};
use std::time::Instant;

fn noop<'a>(_: &'a mut Db<'_>) -> BoxFuture<'a> {
    Box::pin(async { Ok(()) })
}

/// SplitMix64: a small deterministic generator, so every run plans the same graph.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// How the random edges run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edges {
    /// Each migration depends on up to three random older ones: the usual shape.
    ToOlder,
    /// A random DAG over a random order that ignores versions: edges go to
    /// newer versions as often as to older ones.
    AnyDirection,
}

impl Edges {
    fn label(self) -> &'static str {
        match self {
            Edges::ToOlder => "edges to older",
            Edges::AnyDirection => "edges any direction",
        }
    }
}

/// N records, each depending on up to three random others placed before it
/// in a topological order (so the graph is acyclic), listed in a shuffled order.
pub fn records(count: usize, edges: Edges, seed: u64) -> Vec<&'static Migration> {
    let mut rng = SplitMix(seed);
    // topological[p] is the index (hence version) of the node placed p-th.
    let mut topological: Vec<usize> = (0..count).collect();
    if edges == Edges::AnyDirection {
        shuffle(&mut topological, &mut rng);
    }
    let mut records: Vec<&'static Migration> = (0..count)
        .map(|place| {
            let index = topological[place];
            let edges = if place == 0 { 0 } else { rng.below(4) };
            let mut depends_on: Vec<Version> =
                (0..edges).map(|_| Version::from_checked(version(topological[rng.below(place)]))).collect();
            depends_on.sort();
            depends_on.dedup();
            let record = Migration {
                module: "bench",
                module_version: "0.1.0",
                file: "generated.rs",
                line: index as u32 + 1,
                depends_on: Box::leak(depends_on.into_boxed_slice()),
                risk: &[Risk::Schema],
                up: Body::Rust(noop),
                down: Some(Body::Rust(noop)),
                ..Migration::placeholder(Version::from_checked(version(index)), "generated")
            };
            &*Box::leak(Box::new(record))
        })
        .collect();
    shuffle(&mut records, &mut rng);
    records
}

fn shuffle<T>(items: &mut [T], rng: &mut SplitMix) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// Times for one size and shape of graph: the registry (check and order),
/// planning `up` on an empty database, and the registry with both plans
/// (empty database, older half applied).
pub fn measure(count: usize, edges: Edges, runs: usize) -> Vec<Row> {
    let records = records(count, edges, 0x6d69_6772_6174_696f ^ count as u64);
    let half: Vec<Version> = (0..count / 2).map(|i| Version::from_checked(version(i))).collect();
    let mut build = Vec::new();
    let mut plan_empty = Vec::new();
    let mut total = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let registry = Registry::new(records.iter().copied()).expect("generated graphs are valid");
        let built = started.elapsed();
        let all = registry.graph().plan_apply(&[], None).expect("plan");
        let planned_empty = started.elapsed();
        let rest = registry.graph().plan_apply(&half, None).expect("plan");
        let planned_half = started.elapsed();
        assert_eq!(all.len(), count);
        assert!(rest.len() >= count - count / 2);
        build.push(built.as_secs_f64() * 1000.0);
        plan_empty.push((planned_empty - built).as_secs_f64() * 1000.0);
        total.push(planned_half.as_secs_f64() * 1000.0);
        drop(registry);
    }
    [("check and order", build), ("plan up, nothing applied", plan_empty), ("all, with a half-applied plan", total)]
        .into_iter()
        .map(|(what, times)| Row {
            scenario: Scenario::Planner,
            backend: None,
            size: count,
            tool: format!("{}: {what}", edges.label()),
            runs,
            ms: Summary::of(&times).expect("at least one run"),
            ratio: None,
            baseline: None,
            queries: None,
            peak_heap_kib: None,
            cpu_ms: None,
            load: None,
        })
        .collect()
}
