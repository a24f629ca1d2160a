//! The benchmark's tools do what they claim on a small SQLite workload:
//! apply everything, start up with nothing pending, report every migration
//! applied. Nothing here is timed.

use migrations_rs::Backend;
use migrations_rs_bench::compile;
use migrations_rs_bench::planner::{self, Edges};
use migrations_rs_bench::scratch::{Scratch, Servers};
use migrations_rs_bench::tools::sql::SqlConn;
use migrations_rs_bench::tools::{Prepared, Tool};
use migrations_rs_bench::workload::Workload;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn every_tool_applies_the_workload_and_then_finds_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::from_env(dir.path().to_path_buf());
    let prepared = Prepared::new(Workload::new(12));
    runtime().block_on(async {
        for tool in Tool::available() {
            let scratch = Scratch::create(&servers, Backend::Sqlite).await.unwrap();
            prepared.apply(tool, Backend::Sqlite, &scratch.url).await.unwrap();
            let mut conn = SqlConn::connect(Backend::Sqlite, &scratch.url).await.unwrap();
            for table in prepared.workload.tables() {
                let rows = conn.integers(&format!("SELECT count(*) FROM {table}")).await.unwrap();
                let expected = if table.ends_with("09") { 100 } else { 0 };
                assert_eq!(rows, [expected], "{}: {table}", tool.name());
            }
            conn.close().await.unwrap();
            scratch.drop_now().await.unwrap();
        }
    });
}

#[test]
fn every_tool_starts_up_and_reports_status_over_its_seeded_history() {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::from_env(dir.path().to_path_buf());
    let prepared = Prepared::new(Workload::new(50));
    runtime().block_on(async {
        for tool in Tool::available() {
            let scratch = Scratch::create(&servers, Backend::Sqlite).await.unwrap();
            prepared.seed(tool, Backend::Sqlite, &scratch.url).await.unwrap();
            prepared.startup(tool, Backend::Sqlite, &scratch.url).await.unwrap();
            prepared.status(tool, Backend::Sqlite, &scratch.url).await.unwrap();
            scratch.drop_now().await.unwrap();
        }
    });
}

#[test]
fn planner_graphs_are_valid_in_both_shapes() {
    for edges in [Edges::ToOlder, Edges::AnyDirection] {
        let rows = planner::measure(500, edges, 1);
        assert_eq!(rows.len(), 3);
    }
}

#[test]
fn generated_crates_have_every_migration() {
    let dir = tempfile::tempdir().unwrap();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    compile::Bench::new(dir.path().to_path_buf(), workspace, 25).generate().unwrap();
    let read = |variant: &str| -> String {
        (0..10)
            .map(|file| std::fs::read_to_string(dir.path().join(variant).join(format!("src/m{file}.rs"))).unwrap())
            .collect()
    };
    let attribute = read("compile-bench-attribute");
    let plain = read("compile-bench-plain");
    assert_eq!(attribute.matches("#[migration(").count(), 25);
    assert_eq!(plain.matches("#[migration(").count(), 0);
    assert_eq!(plain.matches("up_entry as Entry").count(), 25);
    assert_eq!(attribute.matches("pub async fn up(").count(), plain.matches("pub async fn up(").count());
    assert_eq!(read("compile-bench-attribute-optimised"), attribute, "the same code, built with other settings");
    let manifest = |variant: &str| std::fs::read_to_string(dir.path().join(variant).join("Cargo.toml")).unwrap();
    assert!(manifest("compile-bench-attribute-optimised").contains("[profile.dev.build-override]\nopt-level = 3"));
    assert!(!manifest("compile-bench-attribute").contains("[profile"));
}
