//! The `sqlx::migrate::Migrator` peer: the same scripts as sqlx migrations,
//! built in memory the way `sqlx::migrate!` embeds them.

use super::sql::{SqlConn, bytes_literal, insert_rows};
use crate::workload::Workload;
use migrations_rs::Backend;
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};
use std::collections::HashMap;

/// The migrator over the workload, checksums computed.
pub fn migrator(workload: &Workload) -> Migrator {
    Migrator::with_migrations(
        workload
            .migrations
            .iter()
            .map(|m| {
                let sql = AssertSqlSafe(m.script.to_string()).into_sql_str();
                Migration::new(m.version as i64, m.name.to_string().into(), MigrationType::Simple, sql, !m.transaction)
            })
            .collect(),
    )
}

async fn run(migrator: &Migrator, conn: &mut SqlConn) -> super::Result<()> {
    match conn {
        SqlConn::Sqlite(c) => migrator.run(c).await?,
        SqlConn::Postgres(c) => migrator.run(c).await?,
        SqlConn::MySql(c) => migrator.run(c).await?,
    }
    Ok(())
}

pub async fn apply(backend: Backend, url: &str, migrator: &Migrator) -> super::Result<()> {
    let mut conn = SqlConn::connect(backend, url).await?;
    run(migrator, &mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Records every migration as applied, in the rows sqlx writes.
pub async fn seed(backend: Backend, url: &str, migrator: &Migrator) -> super::Result<()> {
    let mut conn = SqlConn::connect(backend, url).await?;
    run(&Migrator::with_migrations(Vec::new()), &mut conn).await?;
    let rows = migrator
        .iter()
        .map(|m| format!("({}, '{}', TRUE, {}, 1000)", m.version, m.description, bytes_literal(backend, &m.checksum)));
    insert_rows(&mut conn, &migrator.table_name, "version, description, success, checksum, execution_time", rows)
        .await?;
    conn.close().await?;
    Ok(())
}

/// A start-up with nothing pending: connect and `Migrator::run`.
pub async fn startup(backend: Backend, url: &str, migrator: &Migrator) -> super::Result<()> {
    let mut conn = SqlConn::connect(backend, url).await?;
    run(migrator, &mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Whether each migration is applied, read as `sqlx migrate info` does.
pub async fn status(backend: Backend, url: &str, migrator: &Migrator) -> super::Result<Vec<bool>> {
    let mut conn = SqlConn::connect(backend, url).await?;
    let table = &*migrator.table_name;
    let applied = match &mut conn {
        SqlConn::Sqlite(c) => {
            c.ensure_migrations_table(table).await?;
            c.list_applied_migrations(table).await?
        }
        SqlConn::Postgres(c) => {
            c.ensure_migrations_table(table).await?;
            c.list_applied_migrations(table).await?
        }
        SqlConn::MySql(c) => {
            c.ensure_migrations_table(table).await?;
            c.list_applied_migrations(table).await?
        }
    };
    conn.close().await?;
    let by_version: HashMap<i64, _> = applied.into_iter().map(|a| (a.version, a)).collect();
    Ok(migrator
        .iter()
        .map(|m| by_version.get(&m.version).is_some_and(|applied| applied.checksum == m.checksum))
        .collect())
}
