//! What `up` applies and what `down` reverts: the scopes a caller names, and
//! the plans they give against the applied history.

use crate::engine::Migrator;
use crate::engine::plan::{self, ApplyStep, RevertPlan};
use crate::error::{Error, Result};
use crate::history::AppliedMigration;
use crate::plan::RevertTarget;
use crate::version::Version;
use std::collections::{BTreeSet, HashSet};

/// What `up` applies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every pending migration.
    #[default]
    All,
    /// This version and the pending migrations it depends on.
    UpTo(Version),
    /// The migrations of this module (a crate's name) and the pending
    /// migrations they depend on, in whatever module those are.
    Module(String),
}

impl From<Option<Version>> for Scope {
    fn from(target: Option<Version>) -> Self {
        target.map_or(Scope::All, Scope::UpTo)
    }
}

/// What `down` reverts; whatever depends on it and is applied is reverted
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertScope {
    /// The last N applied migrations.
    Steps(usize),
    /// Everything applied after this version in the migration order; the version itself stays.
    To(Version),
    /// These applied migrations.
    Versions(Vec<Version>),
    /// The migrations of the last batch (the last run that applied any),
    /// read under the lock.
    LastBatch,
}

impl Migrator {
    /// The names of the modules that define migrations, sorted.
    pub fn modules(&self) -> Vec<&'static str> {
        self.registry.in_order().map(|m| m.module).collect::<BTreeSet<_>>().into_iter().collect()
    }

    /// The pending steps of `scope`, in the migration order.
    pub(crate) fn plan_scope(&self, rows: &[AppliedMigration], scope: &Scope) -> Result<Vec<ApplyStep>> {
        let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
        let graph = self.registry.graph();
        let planned = match scope {
            Scope::All => graph.plan_apply(&applied, None),
            Scope::UpTo(target) => graph.plan_apply(&applied, Some(*target)),
            Scope::Module(module) => {
                let wanted = self.module_closure(module)?;
                graph
                    .plan_apply(&applied, None)
                    .map(|plan| plan.into_iter().filter(|s| wanted.contains(&s.version)).collect())
            }
        }
        .map_err(|e| self.plan_error(e, rows))?;
        Ok(planned
            .into_iter()
            .map(|s| ApplyStep { migration: plan::record(&self.registry, s.version), out_of_order: s.out_of_order })
            .collect())
    }

    /// Why a planned step is in the plan of `scope`.
    pub(crate) fn scope_reason(&self, scope: &Scope, step: &ApplyStep) -> String {
        let version = step.migration.version;
        match scope {
            Scope::All => "pending".to_owned(),
            Scope::UpTo(target) if *target == version => "pending; the target".to_owned(),
            Scope::UpTo(target) => format!("pending; the target {target} depends on it"),
            Scope::Module(module) if step.migration.module == module => format!("pending; in module {module}"),
            Scope::Module(module) => format!("pending; module {module} depends on it"),
        }
    }

    /// What a revert of `scope` runs against these rows, and the
    /// irreversible migration where it stops short of its target; `strict`
    /// refuses such a plan instead.
    pub(crate) fn plan_revert(
        &self,
        rows: &[AppliedMigration],
        scope: &RevertScope,
        strict: bool,
    ) -> Result<RevertPlan> {
        let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
        let graph = self.registry.graph();
        let target = revert_target(scope, rows);
        let (versions, stop) = if strict {
            graph.plan_revert(&applied, target).map(|plan| (plan, None))
        } else {
            graph.plan_revert_until_irreversible(&applied, target)
        }
        .map_err(|e| self.plan_error(e, rows))?;
        Ok(RevertPlan {
            steps: plan::records(&self.registry, &versions),
            stops_at: stop.map(|v| plan::record(&self.registry, v)),
        })
    }

    /// The migrations of `module` and everything they depend on.
    fn module_closure(&self, module: &str) -> Result<HashSet<Version>> {
        let own: Vec<Version> = self.registry.in_order().filter(|m| m.module == module).map(|m| m.version).collect();
        if own.is_empty() {
            return Err(Error::UnknownModule {
                module: module.to_owned(),
                known: self.modules().into_iter().map(str::to_owned).collect(),
            });
        }
        let graph = self.registry.graph();
        Ok(own.iter().flat_map(|&version| graph.ancestors(version).chain([version])).collect())
    }
}

/// The planner's target for `scope`, the last batch read from `rows`.
pub(crate) fn revert_target(scope: &RevertScope, rows: &[AppliedMigration]) -> RevertTarget {
    match scope {
        RevertScope::Steps(steps) => RevertTarget::Steps(*steps),
        RevertScope::To(version) => RevertTarget::To(*version),
        RevertScope::Versions(versions) => RevertTarget::Versions(versions.clone()),
        RevertScope::LastBatch => RevertTarget::Versions(last_batch(rows)),
    }
}

/// The versions of the last batch recorded in `rows`.
fn last_batch(rows: &[AppliedMigration]) -> Vec<Version> {
    let last = rows.iter().map(|r| r.batch).max();
    rows.iter().filter(|r| Some(r.batch) == last).map(|r| r.version).collect()
}
