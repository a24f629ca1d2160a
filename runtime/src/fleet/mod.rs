//! One plan, many databases: the same migrations brought to a fleet of
//! targets (a database or a PostgreSQL schema per tenant, shards, regional
//! copies), a few at a time, with a report per target.
//!
//! - [`target`]: a [`Target`] (a database URL, or a schema of a PostgreSQL
//!   database) with a name for reports, and [`Targets`], a list without
//!   duplicates from URLs, lines of a file or a query on a control database;
//! - [`shard`]: `K/N`, a deterministic share of a list, so that `N` jobs
//!   cover every target exactly once;
//! - [`run`]: the [`Fleet`] that runs `up`, `status`, `validate` or `drift` over the
//!   list, each target through the [`Migrator`](crate::Migrator);
//! - [`report`]: what it reports, per target and in all.

pub mod report;
pub mod run;
pub mod shard;
pub mod target;

pub use report::{FleetReport, FleetSummary, TargetError, TargetOutcome, TargetReport, TargetState};
pub use run::{DEFAULT_PARALLEL, Fleet};
pub use shard::Shard;
pub use target::{Target, Targets};
