//! The sea-orm-migration peer: the same scripts as sea-orm migrations, each
//! run in a transaction unless marked to run outside one (sea-orm's default
//! runs one only on PostgreSQL; a transaction everywhere gives it the same
//! work as the other tools).

use super::sql::{SqlConn, insert_rows};
use crate::workload::Workload;
use migrations_rs::Backend;
use sea_orm_migration::MigrationStatus;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use std::sync::{Arc, RwLock};

/// The migrations `Bench::migrations()` returns: sea-orm asks a type, not a value, for its list.
static MIGRATIONS: RwLock<Vec<Script>> = RwLock::new(Vec::new());

#[derive(Clone)]
struct Script {
    name: Arc<str>,
    sql: Arc<str>,
    transaction: bool,
}

impl MigrationName for Script {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Script {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(&self.sql).await.map(drop)
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(self.transaction)
    }
}

struct Bench;

impl MigratorTrait for Bench {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let list = MIGRATIONS.read().expect("migration list");
        list.iter().map(|script| Box::new(script.clone()) as Box<dyn MigrationTrait>).collect()
    }
}

/// Makes the workload the list `Bench::migrations()` returns.
pub fn prepare(workload: &Workload) {
    let scripts = workload.migrations.iter().map(|m| Script {
        name: m.name.clone(),
        sql: m.script.clone(),
        transaction: m.transaction,
    });
    *MIGRATIONS.write().expect("migration list") = scripts.collect();
}

async fn connect(url: &str) -> super::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url);
    options.max_connections(1);
    Ok(Database::connect(options).await?)
}

pub async fn apply(url: &str) -> super::Result<()> {
    let db = connect(url).await?;
    Bench::up(&db, None).await?;
    db.close().await?;
    Ok(())
}

/// Records every migration as applied, in the rows sea-orm writes.
pub async fn seed(backend: Backend, url: &str, workload: &Workload) -> super::Result<()> {
    let db = connect(url).await?;
    Bench::install(&db).await?;
    db.close().await?;
    let mut conn = SqlConn::connect(backend, url).await?;
    let rows = workload.migrations.iter().map(|m| format!("('{}', 1704067200)", m.name));
    insert_rows(&mut conn, "seaql_migrations", "version, applied_at", rows).await?;
    conn.close().await?;
    Ok(())
}

/// A start-up with nothing pending: connect and `up`.
pub async fn startup(url: &str) -> super::Result<()> {
    let db = connect(url).await?;
    Bench::up(&db, None).await?;
    db.close().await?;
    Ok(())
}

/// Whether each migration is applied, from `get_migration_with_status`.
pub async fn status(url: &str) -> super::Result<Vec<bool>> {
    let db = connect(url).await?;
    let migrations = Bench::get_migration_with_status(&db).await?;
    db.close().await?;
    Ok(migrations.iter().map(|m| m.status() == MigrationStatus::Applied).collect())
}
