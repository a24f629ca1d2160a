//! The runtime of migrations-rs: everything between the records that
//! `#[migration]` registers and a database brought up to date.
//!
//! Data flows one way: [`record`]s are collected into a checked [`Registry`],
//! the [`plan`] module turns the registry, the applied history and a target
//! into ordered steps (pure code, no I/O), and the [`Migrator`] runs those
//! steps on one [`backend`], writing the [`history`] table and the audit log.
//! Nothing here prints: every call returns data for the caller to show.
//!
//! # Layers
//!
//! Each module uses only modules of its own layer and of the layers below;
//! `tests/layers.rs` fails when one does not. Lowest first:
//!
//! 0. the core crate (`migrations-rs-core`, re-exported here as [`version`],
//!    [`plan`], [`analysis`] and [`schema`]): everything that needs no database;
//! 1. errors: [`error`] (with each layer's own errors, such as the registry's
//!    [`RegistryProblem`]), [`database_error`], [`remedy`], [`step_report`];
//! 2. connections: [`url`], [`backend`] (one file per backend, and the one
//!    place that picks it), [`database`], [`table_rows`], [`db`] (the handle a
//!    migration body gets), [`backfill`] (batched data changes a body runs
//!    through that handle, with their cursors);
//! 3. records: [`record`] (a record holds its bodies' entry points, which take
//!    the `Db` handle, so records sit above connections), [`registry`], [`sql`]
//!    (SQL folders loaded as records);
//! 4. bookkeeping: [`history`], [`lock`], [`backup`], [`foreign`], [`compat`],
//!    [`scratch`] (databases beside the target for `verify` and `drift`);
//! 5. the [`engine`]: the `Migrator`, the step runner and their reports;
//! 6. [`fleet`]: one plan over many databases or schemas, each through the engine;
//! 7. [`testing`]: test databases built with the engine.

#![warn(missing_docs)]

pub mod backend;
pub mod backfill;
pub mod backup;
pub mod compat;
mod damage;
pub mod database;
pub mod database_error;
pub mod db;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod foreign;
pub mod history;
pub mod lock;
pub mod record;
pub mod registry;
pub mod remedy;
pub mod scratch;
pub mod sql;
pub mod step_report;
pub mod table_rows;
pub mod testing;
pub mod url;

pub use migrations_rs_core::{analysis, plan, schema, version, wait};

pub use analysis::{Analyzer, Finding, Level, MigrationAnalysis, Refusal, Rule, Severity};
pub use backend::{Backend, Connection};
pub use backfill::{Backfill, BackfillCursor, BackfillProgress, BackfillReport, KeyRange};
pub use backup::{Backup, BackupOptions};
pub use compat::Compat;
pub use database::Database;
pub use database_error::StatementError;
pub use db::{Db, Row, Statement};
pub use engine::{
    AdoptReport, AdoptedMigration, ApplyReport, DirtyMigration, Drift, DriftCheck, DriftOptions, FailedMigration,
    GraphNode, Health, Hook, Hooks, LastApplied, MatchedBy, MigrationCheck, MigrationState, MigrationStatus, Migrator,
    OnFailure, OurMigration, PlanApproval, Preview, PreviewStep, Rehearsal, RehearsalOutcome, RehearsedStep,
    RepairReport, RevertReport, RevertScope, Scope, Startup, StartupFailure, StartupOutcome, StartupReport,
    StatementLimits, Status, StepReport, StepSql, Validation, Verification, VerifyFinding, VerifyOptions,
};
pub use error::{ChecksumMismatch, Error, Result};
pub use foreign::{ForeignMigration, ForeignTable, Source, Tool};
pub use history::{Action, AppliedMigration, LogQuery, LogRecord, RowState, TableName, Tables};
pub use lock::{LockHolder, LockOptions, LockStatus, LockStrategy, LockWait, Mechanism, StepWaits};
pub use plan::RevertTarget;
pub use record::{Body, BoxFuture, Checksum, Migration, MigrationFn, Risk};
pub use registry::{Registry, RegistryProblem};
pub use remedy::Remedy;
pub use url::DatabaseUrl;
pub use version::Version;

/// How the reports serialize what serde has no one way for.
mod serialize {
    use std::time::Duration;

    /// A duration as whole milliseconds.
    pub(crate) fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Re-exported so generated code and users name one version of each.
pub use {inventory, sea_query, sqlx};
