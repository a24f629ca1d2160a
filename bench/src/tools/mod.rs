//! The tools compared, behind one enum: migrations-rs, the raw-SQL limit,
//! and (with the `peers` feature, which `sea-orm` turns on) `sqlx::migrate`
//! and sea-orm-migration.

mod ours;
pub mod raw;
#[cfg(feature = "peers")]
mod sea_orm;
pub mod sql;
#[cfg(feature = "peers")]
mod sqlx_migrate;

use crate::workload::Workload;
use migrations_rs::Backend;
use migrations_rs_runtime::Migration;
use serde::Serialize;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Tool {
    #[serde(rename = "raw SQL")]
    Raw,
    /// Raw SQL with each script's history row inserted in its own call and
    /// transaction: the limit for any tool that records what it applied.
    #[serde(rename = "raw SQL + history row")]
    RawRecorded,
    #[serde(rename = "migrations-rs")]
    MigrationsRs,
    #[serde(rename = "sqlx::migrate")]
    SqlxMigrate,
    #[serde(rename = "sea-orm-migration")]
    SeaOrm,
}

impl Tool {
    /// Every tool this build can run, the raw-SQL baseline first.
    pub fn available() -> Vec<Tool> {
        let mut tools = vec![Tool::Raw, Tool::RawRecorded, Tool::MigrationsRs];
        if cfg!(feature = "peers") {
            tools.extend([Tool::SqlxMigrate, Tool::SeaOrm]);
        }
        tools
    }

    /// Whether the tool has a start-up and a `status` of its own: the
    /// recorded raw SQL only applies (its reads would be raw SQL's).
    pub fn reads_state(self) -> bool {
        self != Tool::RawRecorded
    }

    pub fn name(self) -> &'static str {
        match self {
            Tool::Raw => "raw SQL",
            Tool::RawRecorded => "raw SQL + history row",
            Tool::MigrationsRs => "migrations-rs",
            Tool::SqlxMigrate => "sqlx::migrate",
            Tool::SeaOrm => "sea-orm-migration",
        }
    }
}

/// A workload with each tool's own form of it, built once, before any timing
/// (as `#[migration]` and `sqlx::migrate!` build theirs at compile time).
pub struct Prepared {
    pub workload: Workload,
    records: Vec<&'static Migration>,
    #[cfg(feature = "peers")]
    sqlx: sqlx::migrate::Migrator,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("migrations", &self.workload.len()).finish_non_exhaustive()
    }
}

impl Prepared {
    pub fn new(workload: Workload) -> Self {
        let records = ours::records(&workload);
        #[cfg(feature = "peers")]
        let sqlx = sqlx_migrate::migrator(&workload);
        Prepared {
            workload,
            records,
            #[cfg(feature = "peers")]
            sqlx,
        }
    }

    /// migrations-rs's records of the workload.
    pub fn records(&self) -> &[&'static Migration] {
        &self.records
    }

    /// Queues the workload's scripts for one run of migrations-rs's bodies
    /// outside [`Prepared::apply`], such as the build of a test-database template.
    pub fn queue_scripts(&self) {
        ours::queue(&self.workload);
    }

    /// Makes this workload the one sea-orm's migrator lists.
    fn select(&self, tool: Tool) {
        #[cfg(feature = "peers")]
        if tool == Tool::SeaOrm {
            sea_orm::prepare(&self.workload);
        }
        let _ = tool;
    }

    /// Applies every migration to an empty database.
    pub async fn apply(&self, tool: Tool, backend: Backend, url: &str) -> Result<()> {
        self.select(tool);
        match tool {
            Tool::Raw => raw::apply(backend, url, &self.workload).await,
            Tool::RawRecorded => raw::apply_recorded(backend, url, &self.workload).await,
            Tool::MigrationsRs => ours::apply(url, &self.workload, &self.records).await,
            #[cfg(feature = "peers")]
            Tool::SqlxMigrate => sqlx_migrate::apply(backend, url, &self.sqlx).await,
            #[cfg(feature = "peers")]
            Tool::SeaOrm => sea_orm::apply(url).await,
            #[cfg(not(feature = "peers"))]
            Tool::SqlxMigrate | Tool::SeaOrm => Err(NOT_BUILT.into()),
        }
    }

    /// Records every migration as applied in the tool's own bookkeeping, without running any.
    pub async fn seed(&self, tool: Tool, backend: Backend, url: &str) -> Result<()> {
        self.select(tool);
        match tool {
            Tool::Raw | Tool::RawRecorded => raw::seed(backend, url, &self.workload).await,
            Tool::MigrationsRs => ours::seed(backend, url, &self.workload).await,
            #[cfg(feature = "peers")]
            Tool::SqlxMigrate => sqlx_migrate::seed(backend, url, &self.sqlx).await,
            #[cfg(feature = "peers")]
            Tool::SeaOrm => sea_orm::seed(backend, url, &self.workload).await,
            #[cfg(not(feature = "peers"))]
            Tool::SqlxMigrate | Tool::SeaOrm => Err(NOT_BUILT.into()),
        }
    }

    /// What a process does at start-up when everything is applied: connect and bring the database up to date.
    pub async fn startup(&self, tool: Tool, backend: Backend, url: &str) -> Result<()> {
        self.select(tool);
        let applied = match tool {
            Tool::Raw | Tool::RawRecorded => raw::startup(backend, url, &self.workload).await?,
            Tool::MigrationsRs => ours::startup(url, &self.records).await?,
            #[cfg(feature = "peers")]
            Tool::SqlxMigrate => sqlx_migrate::startup(backend, url, &self.sqlx).await.map(|()| 0)?,
            #[cfg(feature = "peers")]
            Tool::SeaOrm => sea_orm::startup(url).await.map(|()| 0)?,
            #[cfg(not(feature = "peers"))]
            Tool::SqlxMigrate | Tool::SeaOrm => return Err(NOT_BUILT.into()),
        };
        if applied != 0 {
            return Err(format!("{}: {applied} migrations were pending at start-up", tool.name()).into());
        }
        Ok(())
    }

    /// The state of every migration; fails unless all are applied.
    pub async fn status(&self, tool: Tool, backend: Backend, url: &str) -> Result<()> {
        self.select(tool);
        let applied = match tool {
            Tool::Raw | Tool::RawRecorded => raw::status(backend, url, &self.workload).await?,
            Tool::MigrationsRs => ours::status(url, &self.records).await?,
            #[cfg(feature = "peers")]
            Tool::SqlxMigrate => sqlx_migrate::status(backend, url, &self.sqlx).await?,
            #[cfg(feature = "peers")]
            Tool::SeaOrm => sea_orm::status(url).await?,
            #[cfg(not(feature = "peers"))]
            Tool::SqlxMigrate | Tool::SeaOrm => return Err(NOT_BUILT.into()),
        };
        let count = applied.iter().filter(|a| **a).count();
        if applied.len() != self.workload.len() || count != self.workload.len() {
            return Err(format!("{}: status shows {count} of {} applied", tool.name(), self.workload.len()).into());
        }
        Ok(())
    }
}

#[cfg(not(feature = "peers"))]
const NOT_BUILT: &str =
    "the peers (sqlx::migrate, sea-orm-migration) are not built: enable the `peers` (or `sea-orm`) feature";
