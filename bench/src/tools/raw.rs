//! The physical limit: the same scripts through one sqlx connection, one
//! transaction per migration (none for those marked to run outside one), no
//! bookkeeping at all.
//!
//! For the start-up and status scenarios, which need to know what is
//! applied, the baseline keeps the least possible state: one table of
//! applied versions, read in one query.
//!
//! [`apply_recorded`] is the limit for a tool that records what it applied:
//! the same scripts, each followed in the same call (and, where the step runs
//! in one, the same transaction) by the insert of its version and checksum
//! into a history table. What it costs over [`apply`] is what writing any
//! history at all costs on that backend, whoever writes it.

use super::sql::{SqlConn, bytes_literal, insert_rows};
use crate::workload::{Workload, checksum};
use migrations_rs::Backend;
use std::collections::HashSet;

const APPLIED_TABLE: &str = "raw_applied";
const HISTORY_TABLE: &str = "raw_history";

pub async fn apply(backend: Backend, url: &str, workload: &Workload) -> super::Result<()> {
    let mut conn = SqlConn::connect(backend, url).await?;
    for migration in &workload.migrations {
        if migration.transaction {
            conn.execute_in_transaction(&migration.script).await?;
        } else {
            conn.execute(&migration.script).await?;
        }
    }
    conn.close().await?;
    Ok(())
}

/// [`apply`], each script followed by the insert of its history row.
pub async fn apply_recorded(backend: Backend, url: &str, workload: &Workload) -> super::Result<()> {
    let mut conn = SqlConn::connect(backend, url).await?;
    let checksum_type = match backend {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
        Backend::MySql => "VARBINARY(32)",
    };
    conn.execute(&format!(
        "CREATE TABLE {HISTORY_TABLE} (version BIGINT NOT NULL PRIMARY KEY, checksum {checksum_type} NOT NULL, \
         applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ))
    .await?;
    for migration in &workload.migrations {
        let script = format!(
            "{};\nINSERT INTO {HISTORY_TABLE} (version, checksum) VALUES ({}, {})",
            migration.script,
            migration.version,
            bytes_literal(backend, &checksum(migration.version))
        );
        if migration.transaction {
            conn.execute_in_transaction(&script).await?;
        } else {
            conn.execute(&script).await?;
        }
    }
    let recorded = conn.integers(&format!("SELECT COUNT(*) FROM {HISTORY_TABLE}")).await?;
    conn.close().await?;
    if recorded.first().copied() != Some(workload.len() as i64) {
        return Err(format!("recorded {recorded:?} of {} migrations", workload.len()).into());
    }
    Ok(())
}

pub async fn seed(backend: Backend, url: &str, workload: &Workload) -> super::Result<()> {
    let mut conn = SqlConn::connect(backend, url).await?;
    conn.execute(&format!("CREATE TABLE {APPLIED_TABLE} (version BIGINT NOT NULL PRIMARY KEY)")).await?;
    let rows = workload.migrations.iter().map(|m| format!("({})", m.version));
    insert_rows(&mut conn, APPLIED_TABLE, "version", rows).await?;
    conn.close().await?;
    Ok(())
}

/// Connects, reads the applied versions and returns how many migrations are pending.
pub async fn startup(backend: Backend, url: &str, workload: &Workload) -> super::Result<usize> {
    let states = status(backend, url, workload).await?;
    Ok(states.iter().filter(|applied| !**applied).count())
}

/// Whether each migration is applied.
pub async fn status(backend: Backend, url: &str, workload: &Workload) -> super::Result<Vec<bool>> {
    let mut conn = SqlConn::connect(backend, url).await?;
    let applied: HashSet<i64> =
        conn.integers(&format!("SELECT version FROM {APPLIED_TABLE}")).await?.into_iter().collect();
    conn.close().await?;
    Ok(workload.migrations.iter().map(|m| applied.contains(&(m.version as i64))).collect())
}
