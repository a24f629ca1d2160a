//! migrations-rs itself, driven through its public API: a registry of
//! generated records, `Migrator::up` and `Migrator::status`.
//!
//! The records are built at run time, so the bodies cannot carry their SQL
//! in a closure: an `up` body takes the next script from a queue filled in
//! the registry's order before the run (versions increase with the index and
//! there are no dependency edges, so that order is the version order). The
//! risk analysis runs every body once more before the run; it has a queue of
//! its own.

use super::sql::{SqlConn, insert_rows};
use crate::workload::{self, Workload};
use migrations_rs::{Backend, Connection, DatabaseUrl, Db, Migrator, Scope, Version, registry::Registry};
use migrations_rs_runtime::{Body, BoxFuture, Checksum, Migration, Risk};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Scripts for the bodies that run against the database.
static SCRIPTS: Mutex<VecDeque<Arc<str>>> = Mutex::new(VecDeque::new());
/// The same scripts for the risk analysis, which runs every body first with
/// a handle that only writes its statements down.
static ANALYSED: Mutex<VecDeque<Arc<str>>> = Mutex::new(VecDeque::new());

fn up<'a>(db: &'a mut Db<'_>) -> BoxFuture<'a> {
    Box::pin(async move {
        let queue = if db.is_live() { &SCRIPTS } else { &ANALYSED };
        let script = queue.lock().expect("script queue").pop_front();
        let script = script.ok_or_else(|| migrations_rs::Error::msg("the benchmark queued too few scripts"))?;
        db.exec(&*script).await
    })
}

/// The records `#[migration]` would have registered for the workload.
pub fn records(workload: &Workload) -> Vec<&'static Migration> {
    workload
        .migrations
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let record = Migration {
                version: Version::from_checked(spec.version),
                name: Box::leak(spec.name.to_string().into_boxed_str()),
                module: "bench",
                module_version: "0.1.0",
                file: "generated.rs",
                line: index as u32 + 1,
                depends_on: &[],
                risk: &[Risk::Schema],
                allow: &[],
                irreversible: true,
                empty_up: false,
                transaction: spec.transaction,
                lock_wait: None,
                checksum: checksum(spec.version),
                legacy_checksum: None,
                up: Body::Rust(up),
                down: None,
            };
            &*Box::leak(Box::new(record))
        })
        .collect()
}

fn checksum(version: u64) -> Checksum {
    Checksum::from_bytes(workload::checksum(version))
}

async fn connect(url: &str) -> super::Result<Connection> {
    Ok(Connection::connect(&DatabaseUrl::parse(url)?).await?)
}

/// Queues the workload's scripts for the bodies of one run of `up`.
pub fn queue(workload: &Workload) {
    let scripts: VecDeque<Arc<str>> = workload.migrations.iter().map(|m| m.script.clone()).collect();
    *ANALYSED.lock().expect("script queue") = scripts.clone();
    *SCRIPTS.lock().expect("script queue") = scripts;
}

pub async fn apply(url: &str, workload: &Workload, records: &[&'static Migration]) -> super::Result<()> {
    queue(workload);
    let mut conn = connect(url).await?;
    let migrator = Migrator::new(Registry::new(records.iter().copied())?);
    let report = migrator.up(&mut conn, Scope::All).await?;
    conn.close().await?;
    let left = SCRIPTS.lock().expect("script queue").len();
    if report.applied.len() != workload.len() || left != 0 {
        return Err(
            format!("applied {} of {} migrations, {left} scripts left", report.applied.len(), workload.len()).into()
        );
    }
    Ok(())
}

/// Records every migration of the workload as applied, as `up` would have.
pub async fn seed(backend: Backend, url: &str, workload: &Workload) -> super::Result<()> {
    let mut conn = connect(url).await?;
    Migrator::new(Registry::new([])?).up(&mut conn, Scope::All).await?;
    conn.close().await?;
    let mut conn = SqlConn::connect(backend, url).await?;
    let rows = workload.migrations.iter().enumerate().map(|(index, m)| {
        format!(
            "({}, '{}', 'bench', '0.1.0', '{}', 'schema', '2024-01-01T00:00:00.000Z', 'bench@host', 1, 1, {}, 'applied')",
            m.version,
            m.name,
            checksum(m.version).to_hex(),
            index + 1
        )
    });
    let columns = "version, name, module, module_version, checksum, risk, applied_at, applied_by, execution_ms, batch, seq, state";
    insert_rows(&mut conn, "migrations_rs_history", columns, rows).await?;
    conn.close().await?;
    Ok(())
}

/// A start-up with nothing pending: connect, check the registry, `up`. Returns how many it applied.
pub async fn startup(url: &str, records: &[&'static Migration]) -> super::Result<usize> {
    let mut conn = connect(url).await?;
    let migrator = Migrator::new(Registry::new(records.iter().copied())?);
    let report = migrator.up(&mut conn, Scope::All).await?;
    conn.close().await?;
    Ok(report.applied.len())
}

/// Whether each migration is applied, from `Migrator::status`.
pub async fn status(url: &str, records: &[&'static Migration]) -> super::Result<Vec<bool>> {
    let mut conn = connect(url).await?;
    let migrator = Migrator::new(Registry::new(records.iter().copied())?);
    let status = migrator.status(&mut conn).await?;
    conn.close().await?;
    Ok(status
        .migrations
        .iter()
        .map(|m| matches!(m.state, migrations_rs::report::MigrationState::Applied { .. }))
        .collect())
}
