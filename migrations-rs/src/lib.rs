//! Database schema migrations written as typed Rust.
//!
//! A migration is an inline module with `async fn up` and `async fn down`,
//! marked with [`#[migration]`](macro@migration). The attribute checks its
//! metadata at compile time (a real UTC timestamp as version, known risk tags,
//! dependencies that exist, the right signatures) and registers the migration
//! at link time: there is no list of migrations to keep.
//!
//! ```no_run
//! use migrations_rs::prelude::*;
//!
//! /// Accounts that can sign in.
//! #[migration(version = 2024_01_15_093000, risk = [schema])]
//! mod create_users {
//!     use super::*;
//!
//!     pub async fn up(db: &mut Db<'_>) -> Result<()> {
//!         db.exec(
//!             Table::create()
//!                 .table("users")
//!                 .col(ColumnDef::new("id").big_integer().not_null().primary_key().auto_increment())
//!                 .col(ColumnDef::new("email").string().not_null().unique_key()),
//!         )
//!         .await
//!     }
//!
//!     pub async fn down(db: &mut Db<'_>) -> Result<()> {
//!         db.exec(Table::drop().table("users")).await
//!     }
//! }
//!
//! fn main() {
//!     migrations_rs::cli::main()
//! }
//! ```
//!
//! Migrations are ordered by their dependency graph (`depends_on`), with the
//! version breaking ties, and applied on SQLite, PostgreSQL or MySQL/MariaDB
//! with a history table and an audit log. The [`cli`] runs them from the
//! program that links them; [`Migrator`] does the same from code, and
//! [`Startup`] migrates a service as it starts. With the `http` feature,
//! `http::HttpApi` serves the state and operator actions as an axum router.

#![warn(missing_docs)]

pub mod cli;
mod history_filter;
#[cfg(feature = "http")]
pub mod http;

pub use migrations_rs_macros::{migration, sql_migrations};
/// Test databases already migrated, cloned from a template in milliseconds.
pub use migrations_rs_runtime::testing;
pub use migrations_rs_runtime::{
    Action, AdoptReport, AdoptedMigration, Analyzer, AppliedMigration, ApplyReport, Backend, Backup, BackupOptions,
    Checksum, ChecksumMismatch, Connection, Database, DatabaseUrl, Db, DirtyMigration, Error, FailedMigration, Finding,
    Health, LastApplied, Level, LockHolder, LockOptions, LockStatus, LockStrategy, LogQuery, LogRecord, MatchedBy,
    Migration, MigrationAnalysis, MigrationState, MigrationStatus, Migrator, OnFailure, OurMigration, Refusal,
    Registry, RegistryProblem, Rehearsal, RehearsalOutcome, RehearsedStep, Remedy, Result, RevertReport, RevertTarget,
    Risk, Row, Rule, Scope, Severity, Source, Startup, StartupFailure, StartupOutcome, StartupReport, Statement,
    StatementError, Status, StepReport, Tables, Tool, Version, analysis, engine, foreign, sea_query, sql, sqlx,
};

/// What a migration file needs: the attribute, the `Db` handle, `Result`,
/// and the sea-query builders.
pub mod prelude {
    pub use crate::{Backend, Db, Error, Result, Row, migration};
    pub use migrations_rs_runtime::sea_query::{
        self, Alias, ColumnDef, Expr, ExprTrait, ForeignKey, ForeignKeyAction, Index, Order, Query, Table,
    };
    pub use migrations_rs_runtime::sqlx;
}

/// Not public API: used by code that `#[migration]` generates.
#[doc(hidden)]
pub mod __private {
    pub use migrations_rs_runtime::inventory;
    pub use migrations_rs_runtime::{Body, BoxFuture, Checksum, Db, Migration, Risk, Version};
}

/// The README's code, compiled as a doctest so it stays true.
#[doc = include_str!("../../README.md")]
#[cfg(all(doctest, feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub struct ReadmeDoctests;
