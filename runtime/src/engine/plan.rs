//! Plans as the engine runs them: the planner's versions turned into the
//! migration records they name, once, so every step holds the record it runs.

use crate::record::Migration;
use crate::registry::Registry;
use crate::version::Version;

/// One migration to apply, and whether it is older than an applied one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApplyStep {
    pub migration: &'static Migration,
    pub out_of_order: bool,
}

/// The migrations a revert runs, dependents first, and the irreversible
/// migration where it stops short of its target, if it does.
#[derive(Debug, Clone, Default)]
pub(crate) struct RevertPlan {
    pub steps: Vec<&'static Migration>,
    pub stops_at: Option<&'static Migration>,
}

impl RevertPlan {
    pub(crate) fn versions(&self) -> Vec<Version> {
        self.steps.iter().map(|m| m.version).collect()
    }
}

/// The record of a version the planner named: the planner plans only the
/// registry's own migrations, so it is there.
pub(crate) fn record(registry: &Registry, version: Version) -> &'static Migration {
    registry.get(version).expect("the planner names only registered migrations")
}

/// The records of versions the planner named, in its order.
pub(crate) fn records(registry: &Registry, versions: &[Version]) -> Vec<&'static Migration> {
    versions.iter().map(|v| record(registry, *v)).collect()
}
