//! Which pending migrations `up` applies: all of them, one version with
//! what it depends on, or one module's with what they depend on in other modules.

use crate::engine::Migrator;
use crate::error::{Error, Result};
use crate::history::AppliedMigration;
use crate::plan::PlannedStep;
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

impl Migrator {
    /// The names of the modules that define migrations, sorted.
    pub fn modules(&self) -> Vec<&'static str> {
        self.registry.in_order().map(|m| m.module).collect::<BTreeSet<_>>().into_iter().collect()
    }

    /// The pending steps of `scope`, in the migration order.
    pub(crate) fn plan_scope(&self, rows: &[AppliedMigration], scope: &Scope) -> Result<Vec<PlannedStep>> {
        let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
        let graph = self.registry.graph();
        match scope {
            Scope::All => graph.plan_apply(&applied, None),
            Scope::UpTo(target) => graph.plan_apply(&applied, Some(*target)),
            Scope::Module(module) => {
                let wanted = self.module_closure(module)?;
                graph
                    .plan_apply(&applied, None)
                    .map(|plan| plan.into_iter().filter(|s| wanted.contains(&s.version)).collect())
            }
        }
        .map_err(|e| self.plan_error(e, rows))
    }

    /// Why a planned step is in the plan of `scope`.
    pub(crate) fn scope_reason(&self, scope: &Scope, version: Version) -> String {
        match scope {
            Scope::All => "pending".to_owned(),
            Scope::UpTo(target) if *target == version => "pending; the target".to_owned(),
            Scope::UpTo(target) => format!("pending; the target {target} depends on it"),
            Scope::Module(module) if self.registry.get(version).is_some_and(|m| m.module == module) => {
                format!("pending; in module {module}")
            }
            Scope::Module(module) => format!("pending; module {module} depends on it"),
        }
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
