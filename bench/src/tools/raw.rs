//! The physical limit: the same scripts through one sqlx connection, one
//! transaction per migration (none for those marked to run outside one), no
//! bookkeeping at all.
//!
//! For the start-up and status scenarios, which need to know what is
//! applied, the baseline keeps the least possible state: one table of
//! applied versions, read in one query.

use super::sql::{SqlConn, insert_rows};
use crate::workload::Workload;
use migrations_rs::Backend;
use std::collections::HashSet;

const APPLIED_TABLE: &str = "raw_applied";

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
