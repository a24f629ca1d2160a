//! Runs every benchmark scenario, prints the tables and writes the figures
//! as JSON (and the tables as Markdown) beside each other.
//!
//! ```text
//! cargo run --release -p migrations-rs-bench --features sea-orm
//! ```

use clap::Parser;
use migrations_rs::Backend;
use migrations_rs_bench::compile;
use migrations_rs_bench::databases::{self, Setup};
use migrations_rs_bench::introspect;
use migrations_rs_bench::machine::Machine;
use migrations_rs_bench::measure::{Load, PeakHeap, QueryCounter};
use migrations_rs_bench::planner;
use migrations_rs_bench::report::{self, Row, Scenario};
use migrations_rs_bench::scratch::Servers;
use migrations_rs_bench::test_database;
use migrations_rs_bench::tools::{Prepared, Tool};
use migrations_rs_bench::workload::Workload;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[global_allocator]
static HEAP: PeakHeap = PeakHeap::new();

/// Benchmarks migrations-rs against raw SQL, sqlx::migrate and sea-orm-migration.
#[derive(Debug, Clone, Parser, Serialize)]
#[command(version)]
struct Args {
    /// Backends to measure: sqlite, postgres, mysql.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres,mysql")]
    backends: Vec<String>,
    /// Tools to measure besides raw SQL, which every ratio is taken to and is
    /// always measured: raw-recorded (raw SQL + history row), migrations-rs,
    /// sqlx, sea-orm. All that this build has by default.
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Rounds of every measurement: each round runs every tool once, and the
    /// ratios to raw SQL are taken round by round.
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Numbers of generated migrations applied to an empty database; 0 skips that scenario.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    apply: Vec<usize>,
    /// Migrations of the mixed folder applied to an empty database (tables,
    /// columns, indexes, a quarter outside transactions, data steps); 0 skips it.
    #[arg(long, default_value_t = 300)]
    mixed: usize,
    /// Migrations applied already for the start-up and status scenarios; 0 skips them.
    #[arg(long, default_value_t = 10_000)]
    applied: usize,
    /// Numbers of migrations given to the planner alone; 0 skips that scenario.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    planner: Vec<usize>,
    /// Migrations in the crates whose compile time is measured; 0 skips that scenario.
    #[arg(long, default_value_t = 500)]
    compile: usize,
    /// Numbers of migrations behind the test databases cloned from a template; 0 skips that scenario.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    test_databases: Vec<usize>,
    /// Numbers of tables in the databases whose schema is read; 0 skips that scenario.
    #[arg(long, value_delimiter = ',', default_value = "500")]
    introspect: Vec<usize>,
    /// PostgreSQL schemas and databases of the fleet scenario, as SCHEMAS,DATABASES
    /// (such as 1000,200): applied to with the example migrations, then checked with
    /// nothing pending; written to fleet.json and fleet.md beside --out. Skipped by default.
    #[arg(long, value_delimiter = ',', num_args = 1..=2, default_value = "0,0", value_name = "SCHEMAS,DATABASES")]
    fleet: Vec<usize>,
    /// Rows of the table a batched backfill walks, against one UPDATE of it
    /// (PostgreSQL and MySQL/MariaDB; figures in backfill.json beside --out); 0 skips it.
    #[arg(long, default_value_t = 0)]
    backfill: i64,
    /// Where the figures go as JSON; the tables go beside it as Markdown.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results.json"))]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Results<'a> {
    /// The commit of the tree measured, `+dirty` when it had changes.
    commit: &'a str,
    machine: &'a Machine,
    settings: &'a Args,
    tools: Vec<&'static str>,
    rows: &'a [Row],
}

fn main() -> ExitCode {
    if cfg!(debug_assertions) {
        eprintln!(
            "error: this is a debug build, whose timings say nothing about a release: build the benchmark in release \
             mode: cargo run --release -p migrations-rs-bench --features sea-orm"
        );
        return ExitCode::FAILURE;
    }
    let args = Args::parse();
    QueryCounter::install();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let backends = args.backends.iter().map(|name| parse_backend(name)).collect::<Result<Vec<_>, _>>()?;
    let sqlite_dir = std::env::temp_dir().join(format!("migrations-rs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&sqlite_dir)?;
    let servers = Servers::from_env(sqlite_dir.clone());
    let server_urls: Vec<(Backend, String)> = backends
        .iter()
        .map(|&backend| {
            let url = match backend {
                Backend::Sqlite => format!("sqlite://{}?mode=rwc", sqlite_dir.join("version.db").display()),
                Backend::Postgres => servers.postgres.clone(),
                Backend::MySql => servers.mysql.clone(),
            };
            (backend, url)
        })
        .collect();
    let machine = Machine::describe(&server_urls).await;
    let tools = chosen_tools(&args.tools)?;
    if !tools.contains(&Tool::SeaOrm) {
        eprintln!("note: sea-orm-migration is left out; build with `--features sea-orm` to include it");
    }
    let setup = Setup { servers: &servers, tools: &tools, runs: args.runs, heap: &HEAP };
    let mut rows: Vec<Row> = Vec::new();

    let cores = machine.cores;
    let commit = commit();
    let started = std::time::Instant::now();
    for &backend in &backends {
        let smallest = args.apply.iter().copied().filter(|&size| size > 0).min();
        for &size in args.apply.iter().filter(|&&size| size > 0) {
            let prepared = Prepared::new(Workload::new(size));
            let load = Load::now();
            let measured =
                databases::apply(&setup, Scenario::Apply, backend, &prepared, Some(size) == smallest).await?;
            rows.extend(with_load(measured, load, cores));
        }
        if args.mixed > 0 {
            let prepared = Prepared::new(Workload::mixed(args.mixed));
            let load = Load::now();
            let measured = databases::apply(&setup, Scenario::ApplyMixed, backend, &prepared, true).await?;
            rows.extend(with_load(measured, load, cores));
        }
        for &size in args.test_databases.iter().filter(|&&size| size > 0) {
            let prepared = Prepared::new(Workload::new(size));
            let load = Load::now();
            rows.extend(with_load(test_database::measure(&setup, backend, &prepared).await?, load, cores));
        }
        for &tables in args.introspect.iter().filter(|&&tables| tables > 0) {
            let load = Load::now();
            rows.extend(with_load(introspect::measure(&setup, backend, tables).await?, load, cores));
        }
        if args.applied > 0 {
            let prepared = Prepared::new(Workload::new(args.applied));
            let load = Load::now();
            rows.extend(with_load(databases::startup_and_status(&setup, backend, &prepared).await?, load, cores));
        }
    }
    for &size in args.planner.iter().filter(|&&size| size > 0) {
        eprintln!("  planner N={size}");
        for edges in [planner::Edges::ToOlder, planner::Edges::AnyDirection] {
            let load = Load::now();
            rows.extend(with_load(planner::measure(size, edges, args.runs), load, cores));
        }
    }
    if args.compile > 0 {
        let target = target_dir().join("compile-bench");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf();
        let load = Load::now();
        rows.extend(with_load(compile::Bench::new(target, workspace, args.compile).measure(args.runs)?, load, cores));
    }
    if args.backfill > 0 {
        migrations_rs_bench::backfill::measure(&servers, &backends, args.backfill, &args.out).await?;
    }
    let _ = std::fs::remove_dir_all(&sqlite_dir);
    fleet(args, &servers).await?;
    let minutes = started.elapsed().as_secs_f64() / 60.0;

    let busy = rows.iter().filter_map(|row| row.load).filter(|load| load.busy(cores)).count();
    let mut header = format!("- commit measured: {commit}\n- measured in {minutes:.1} minutes, {} rounds\n", args.runs);
    if busy > 0 {
        header.push_str(&format!(
            "- **the machine was busy** (load average above {:.1} on {cores} cores) around some scenarios: see \
             each table's load lines\n",
            cores as f64 / 2.0
        ));
    }
    let tables = report::markdown(&rows, cores);
    let text = format!("## Machine\n\n{}{header}\n## Results\n\n{tables}", machine.markdown());
    println!("{text}");
    let results = Results {
        commit: &commit,
        machine: &machine,
        settings: args,
        tools: tools.iter().map(|t| t.name()).collect(),
        rows: &rows,
    };
    std::fs::write(&args.out, serde_json::to_string_pretty(&results)?)?;
    std::fs::write(args.out.with_extension("md"), text)?;
    eprintln!("wrote {} and {}", args.out.display(), args.out.with_extension("md").display());
    Ok(())
}

/// The fleet scenario, when `--fleet` asks for it: its own table and files.
async fn fleet(args: &Args, servers: &Servers) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (schemas, databases) = (args.fleet.first().copied().unwrap_or(0), args.fleet.get(1).copied().unwrap_or(0));
    if schemas == 0 && databases == 0 {
        return Ok(());
    }
    let figures = migrations_rs_bench::fleet::measure(&servers.postgres, schemas, databases, args.runs).await?;
    let table = migrations_rs_bench::fleet::markdown(&figures);
    println!("## Fleet (PostgreSQL)\n\n{table}");
    let json = args.out.with_file_name("fleet.json");
    std::fs::write(&json, serde_json::to_string_pretty(&figures)?)?;
    std::fs::write(json.with_extension("md"), format!("## Fleet (PostgreSQL)\n\n{table}"))?;
    eprintln!("wrote {} and {}", json.display(), json.with_extension("md").display());
    Ok(())
}

/// The rows of one scenario with the load average before it (`before`) and now,
/// warning when the machine was busy.
fn with_load(mut rows: Vec<Row>, before: f64, cores: usize) -> Vec<Row> {
    let load = Load { before, after: Load::now() };
    if load.busy(cores) {
        let what = rows.first().map_or_else(String::new, |row| {
            format!("{:?} {} N={}", row.scenario, row.backend.as_deref().unwrap_or(""), row.size)
        });
        eprintln!(
            "warning: the machine was busy during {what}: load average {:.2} before, {:.2} after, on {cores} cores",
            load.before, load.after
        );
    }
    for row in &mut rows {
        row.load = Some(load);
    }
    rows
}

/// The commit of the tree this binary measures, with `+dirty` when the tree has changes.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else { return "unknown".to_owned() };
    // The figures of an earlier run are not a change to what is measured.
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|out| out.lines().any(|line| !line.ends_with("results.json") && !line.ends_with("results.md")));
    if dirty { format!("{head}+dirty") } else { head }
}

/// The tools `--tools` names, raw SQL first, or every tool this build has.
fn chosen_tools(names: &[String]) -> Result<Vec<Tool>, String> {
    let available = Tool::available();
    if names.is_empty() {
        return Ok(available);
    }
    let mut tools = vec![Tool::Raw];
    for name in names {
        let tool = match name.trim() {
            "raw" => Tool::Raw,
            "raw-recorded" => Tool::RawRecorded,
            "migrations-rs" | "ours" => Tool::MigrationsRs,
            "sqlx" => Tool::SqlxMigrate,
            "sea-orm" => Tool::SeaOrm,
            other => {
                return Err(format!(
                    "unknown tool `{other}` in --tools: use raw-recorded, migrations-rs, sqlx or sea-orm"
                ));
            }
        };
        if !available.contains(&tool) {
            return Err(format!(
                "--tools names {}, which this build lacks: build with `--features sea-orm`",
                tool.name()
            ));
        }
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    Ok(tools)
}

fn parse_backend(name: &str) -> Result<Backend, String> {
    match name.trim() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "mysql" | "mariadb" => Ok(Backend::MySql),
        other => Err(format!("unknown backend `{other}`: use sqlite, postgres or mysql")),
    }
}

/// The target directory this binary was built into (`<target>/release/<binary>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    exe.parent().and_then(Path::parent).expect("<target>/<profile>/<binary>").to_path_buf()
}
