//! A fleet on one PostgreSQL server: `S` schemas of one database and `D`
//! databases, each brought up to date with the example schema's eight
//! migrations (`examples/migrate.rs`, linked into this crate), then checked
//! again with nothing pending (one read per target, no lock) with
//! `--parallel` 1, 4 and 16, as `up --targets` / `--schemas-query` run them.

use migrations_rs::fleet::{Fleet, FleetReport, Targets};
use migrations_rs::{DatabaseUrl, Scope};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use std::time::Instant;

/// The example schema's migrations, registered by `#[migration]` as in the example program.
#[allow(dead_code)]
#[path = "../../examples/migrate.rs"]
mod example_migrations;

/// How many targets are worked on at once in the checks.
pub const PARALLEL: [usize; 3] = [1, 4, 16];

/// How many targets are worked on at once while the migrations are applied.
pub const APPLY_PARALLEL: usize = 16;

/// One measured fleet run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetFigure {
    /// `schemas` (of one database) or `databases`.
    pub targets: &'static str,
    /// How many targets.
    pub count: usize,
    /// `apply` (every migration pending) or `check` (nothing pending).
    pub run: &'static str,
    /// Targets worked on at once.
    pub parallel: usize,
    /// Wall time of each round, in milliseconds.
    pub ms: Vec<f64>,
    /// Targets that took the lock in the last round.
    pub took_lock: usize,
    /// Targets up to date after the last round.
    pub up_to_date: usize,
}

/// Creates `schemas` schemas in a database of their own and `databases`
/// databases on the server of `server` (a PostgreSQL URL), applies the
/// example migrations to each kind, checks them `runs` times with each
/// [`PARALLEL`], and drops everything it created.
pub async fn measure(
    server: &str,
    schemas: usize,
    databases: usize,
    runs: usize,
) -> Result<Vec<FleetFigure>, Box<dyn std::error::Error + Send + Sync>> {
    let mut figures = Vec::new();
    let mut admin = PgConnection::connect(server).await?;
    let (prefix, _) =
        server.split('?').next().unwrap_or(server).rsplit_once('/').ok_or("the server URL names no database")?;
    let prefix = prefix.to_owned();
    let tag = std::process::id();
    if schemas > 0 {
        let name = format!("mrs_bench_fleet_{tag}_schemas");
        recreate(&mut admin, &name).await?;
        let url = DatabaseUrl::parse(&format!("{prefix}/{name}"))?;
        let mut conn = PgConnection::connect(url.expose()).await?;
        let names: Vec<String> = (0..schemas).map(|i| format!("tenant_{i:05}")).collect();
        for chunk in names.chunks(200) {
            let sql: String = chunk.iter().map(|s| format!("CREATE SCHEMA {s};")).collect();
            conn.execute(AssertSqlSafe(sql)).await?;
        }
        conn.close().await?;
        let targets = || Targets::schemas(&url, &names);
        figures.extend(apply_then_check("schemas", schemas, targets, runs).await?);
        drop_database(&mut admin, &name).await?;
    }
    if databases > 0 {
        let names: Vec<String> = (0..databases).map(|i| format!("mrs_bench_fleet_{tag}_db_{i:04}")).collect();
        for name in &names {
            recreate(&mut admin, name).await?;
        }
        let urls: Vec<String> = names.iter().map(|name| format!("{prefix}/{name}")).collect();
        let targets = || Targets::from_urls(&urls);
        figures.extend(apply_then_check("databases", databases, targets, runs).await?);
        for name in &names {
            drop_database(&mut admin, name).await?;
        }
    }
    Ok(figures)
}

async fn apply_then_check(
    kind: &'static str,
    count: usize,
    targets: impl Fn() -> migrations_rs::Result<Targets>,
    runs: usize,
) -> Result<Vec<FleetFigure>, Box<dyn std::error::Error + Send + Sync>> {
    let mut figures = Vec::new();
    eprintln!("  fleet: {count} {kind}, apply with parallel {APPLY_PARALLEL}");
    let started = Instant::now();
    let report = Fleet::new(targets()?).parallel(APPLY_PARALLEL).keep_going(true).up(Scope::All).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    check_all_up(&report)?;
    figures.push(figure(kind, count, "apply", APPLY_PARALLEL, vec![ms], &report));
    for parallel in PARALLEL {
        eprintln!("  fleet: {count} {kind}, check with parallel {parallel}");
        let mut rounds = Vec::new();
        let mut last = None;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            let report = Fleet::new(targets()?).parallel(parallel).up(Scope::All).await;
            rounds.push(started.elapsed().as_secs_f64() * 1000.0);
            check_all_up(&report)?;
            last = Some(report);
        }
        let report = last.expect("at least one round");
        figures.push(figure(kind, count, "check", parallel, rounds, &report));
    }
    Ok(figures)
}

fn figure(
    targets: &'static str,
    count: usize,
    run: &'static str,
    parallel: usize,
    ms: Vec<f64>,
    report: &FleetReport,
) -> FleetFigure {
    FleetFigure {
        targets,
        count,
        run,
        parallel,
        ms,
        took_lock: report.targets.iter().filter(|t| t.took_lock).count(),
        up_to_date: report.targets.iter().filter(|t| t.is_up_to_date()).count(),
    }
}

fn check_all_up(report: &FleetReport) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match report.targets.iter().find(|t| !t.is_up_to_date()) {
        None => Ok(()),
        Some(target) => Err(format!(
            "{} did not end up to date: {:?}",
            target.name,
            target.error.as_ref().map(|e| e.message.clone())
        )
        .into()),
    }
}

async fn recreate(admin: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    drop_database(admin, name).await?;
    admin.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.map(drop)
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await.map(drop)
}

/// The figures as a Markdown table: the median and fastest round of each run.
pub fn markdown(figures: &[FleetFigure]) -> String {
    let mut out = String::from(
        "| targets | run | parallel | median ms | fastest ms | per target ms (median) | took the lock | up to date |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for figure in figures {
        let mut sorted = figure.ms.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        out.push_str(&format!(
            "| {} {} | {} | {} | {:.0} | {:.0} | {:.2} | {} | {} |\n",
            figure.count,
            figure.targets,
            figure.run,
            figure.parallel,
            median,
            sorted[0],
            median / figure.count as f64,
            figure.took_lock,
            figure.up_to_date
        ));
    }
    out
}
