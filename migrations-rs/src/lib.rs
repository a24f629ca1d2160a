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
//!
//! The root holds what most programs name; the rest is grouped by concept:
//! [`report`] (what runs and reads return), [`startup`], [`migrator`] (hooks,
//! progress and approval), [`lock`], [`history`], [`backup`], [`adopt`]
//! (other tools' histories), [`analysis`] (the risk analysis), [`registry`]
//! (the migration records), [`db`], [`error`] and [`testing`].

#![warn(missing_docs)]

pub mod cli;
mod history_filter;
#[cfg(feature = "http")]
pub mod http;

pub use migrations_rs_macros::{migration, sql_migrations};
/// The sea-query this crate builds statements with, so migrations name the same version.
pub use migrations_rs_runtime::sea_query;
/// The sqlx this crate connects with, so programs name the same version.
pub use migrations_rs_runtime::sqlx;
pub use migrations_rs_runtime::{
    Backend, Connection, Database, DatabaseUrl, Db, Error, Migrator, Result, RevertScope, Scope, Startup, Version,
};

/// What runs and reads return: the status of every migration, the reports
/// of `up`, `down` and `repair`, the health report, previews and rehearsals.
pub mod report {
    pub use migrations_rs_runtime::{
        ApplyReport, DirtyMigration, FailedMigration, GraphNode, Health, LastApplied, MigrationState, MigrationStatus,
        Preview, PreviewStep, Rehearsal, RehearsalOutcome, RehearsedStep, RepairReport, RevertReport, Status,
        StepReport, StepSql, Validation,
    };
}

/// Migrating as a service starts: what [`Startup`] reports,
/// and what it does on failure.
pub mod startup {
    pub use migrations_rs_runtime::{OnFailure, StartupFailure, StartupOutcome, StartupReport};
}

/// What a [`Migrator`] is built with besides its options:
/// SQL hooks around runs and steps, progress events, and plan approval.
pub mod migrator {
    pub use migrations_rs_runtime::engine::{Progress, StepAction};
    pub use migrations_rs_runtime::{Hook, Hooks, PlanApproval, StatementLimits};
}

/// The migration lock: how it is taken, who holds it, and what its steps wait on.
pub mod lock {
    pub use migrations_rs_runtime::backend::{QUERY_CHARS, ServerSession, SessionWaits};
    pub use migrations_rs_runtime::{
        LockHolder, LockOptions, LockStatus, LockStrategy, LockWait, Mechanism, StepWaits,
    };
}

/// The bookkeeping tables: the history of applied migrations and the audit log.
pub mod history {
    pub use migrations_rs_runtime::{Action, AppliedMigration, LogQuery, LogRecord, RowState, TableName, Tables};
}

/// Backups before risky runs.
pub mod backup {
    pub use migrations_rs_runtime::{Backup, BackupOptions};
}

/// Moving over from sqlx, diesel or refinery: their history tables, adopting
/// what they applied, and keeping their table in step.
pub mod adopt {
    pub use migrations_rs_runtime::{
        AdoptReport, AdoptedMigration, Compat, ForeignMigration, ForeignTable, MatchedBy, OurMigration, Source, Tool,
    };
}

/// One plan, many databases: targets (database URLs, or schemas of a
/// PostgreSQL database), shards of a target list, and the [`fleet::Fleet`]
/// that runs `up`, `status`, `validate` or `drift` over them with a report per target.
pub mod fleet {
    pub use migrations_rs_runtime::error::FleetError;
    pub use migrations_rs_runtime::fleet::{
        DEFAULT_PARALLEL, Fleet, FleetReport, FleetSummary, Shard, Target, TargetError, TargetOutcome, TargetReport,
        TargetState, Targets,
    };
}

/// The risk analysis of what a migration sends: findings, rules and refusals.
pub mod analysis {
    pub use migrations_rs_runtime::{Analyzer, Finding, Level, MigrationAnalysis, Refusal, Rule, Severity};
}

/// The migration records `#[migration]` and `sql_migrations!` register, and
/// the checked registry a [`Migrator`] runs.
pub mod registry {
    pub use migrations_rs_runtime::{
        Body, BoxFuture, Checksum, Migration, MigrationFn, Registry, RegistryProblem, Risk,
    };
}

/// What a migration body sends and reads through its [`Db`].
pub mod db {
    pub use migrations_rs_runtime::{Row, Statement};
}

/// Resumable batched backfills, started with [`Db::backfill`].
pub mod backfill {
    pub use migrations_rs_runtime::backfill::TABLE;
    pub use migrations_rs_runtime::{Backfill, BackfillCursor, BackfillProgress, BackfillReport, KeyRange};
}

/// The details an [`Error`] carries.
pub mod error {
    pub use migrations_rs_runtime::error::{AdoptError, LockError, RegistryProblem, SqlFolderError};
    pub use migrations_rs_runtime::{ChecksumMismatch, Remedy, StatementError};
}

/// Trusting migrations: `verify` checks that each `down` reverses its `up`
/// on a scratch database, `drift` compares the live schema with the one the
/// applied migrations produce, both through the schema as data.
pub mod check {
    pub use migrations_rs_runtime::engine::{DEFAULT_SCHEMA_FILE, ExpectedFrom};
    pub use migrations_rs_runtime::schema::{Change, Schema, SchemaDiff};
    pub use migrations_rs_runtime::{
        Drift, DriftCheck, DriftOptions, MigrationCheck, Verification, VerifyFinding, VerifyOptions,
    };
}

/// Test databases already migrated, cloned from a template in milliseconds,
/// and [`#[testing::test]`](macro@test), a test given one.
pub mod testing {
    pub use migrations_rs_macros::test;
    pub use migrations_rs_runtime::testing::{TestArgument, TestDatabase, TestDatabaseBuilder, TestDatabaseError};
}

/// What a migration file needs: the attribute, the `Db` handle, `Result`,
/// and the sea-query builders.
pub mod prelude {
    pub use crate::db::Row;
    pub use crate::{Backend, Db, Error, Result, migration};
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

    /// Used by code that `#[testing::test]` generates.
    pub mod testing {
        pub use migrations_rs_runtime::testing::attribute::{TestOptions, run_borrowing, run_owning, run_with};
        pub use migrations_rs_runtime::{Backend, Version};
    }
}

/// The README's code, compiled as a doctest so it stays true.
#[doc = include_str!("../../README.md")]
#[cfg(all(doctest, feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    /// The root stays small: at most 15 names besides modules. A check of
    /// this file's source: the names of its root-level (first column) `pub
    /// use` lines that are types or macros, and its root-level `pub` items
    /// other than modules and what only doctests build.
    #[test]
    fn the_root_has_at_most_15_names_besides_modules() {
        let source = include_str!("lib.rs");
        let mut names: Vec<String> = Vec::new();
        let mut statement = String::new();
        let mut previous = "";
        for line in source.lines() {
            let item = ["pub struct ", "pub enum ", "pub fn ", "pub type ", "pub trait ", "pub const ", "pub static "]
                .iter()
                .find_map(|keyword| line.strip_prefix(keyword));
            if let Some(rest) = item
                && previous != "#[cfg(doctest)]"
            {
                names.push(rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or(rest).to_owned());
            }
            previous = line;
            if statement.is_empty() && !line.starts_with("pub use ") {
                continue;
            }
            statement.push_str(line);
            if !line.trim_end().ends_with(';') {
                continue;
            }
            let list = statement.trim_start_matches("pub use ").trim_end_matches(';');
            let list = match list.find('{') {
                Some(open) => &list[open + 1..list.rfind('}').unwrap_or(list.len())],
                None => list.rsplit("::").next().unwrap_or(list),
            };
            let used = list.split(',').map(str::trim).filter(|name| !name.is_empty());
            names.extend(
                used.filter(|name| name.starts_with(char::is_uppercase) || MACROS.contains(name)).map(str::to_owned),
            );
            statement.clear();
        }
        assert!(names.len() <= 15, "{} names at the root of migrations_rs: {names:?}", names.len());
        assert!(names.iter().any(|name| name == "Migrator"), "the root's `pub use` lines were not read: {names:?}");
    }

    const MACROS: [&str; 2] = ["migration", "sql_migrations"];
}
