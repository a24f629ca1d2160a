//! Looking before leaping: what `up` or `down` would do and why, the
//! dependency graph, and the SQL of each migration, without changing anything.

use crate::backend::{Backend, Connection};
use crate::db::Db;
use crate::engine::bound::Bound;
use crate::engine::scope::revert_target;
use crate::engine::{Migrator, RevertScope, Scope};
use crate::error::{Error, Result};
use crate::history::{AppliedMigration, RowState};
use crate::plan::RevertTarget;
use crate::record::{Migration, Risk};
use crate::version::Version;
use std::collections::HashSet;

/// One step of a plan, and why it is in the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PreviewStep {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: &'static str,
    /// The module (crate) that defines it.
    pub module: &'static str,
    /// Why it is in the plan.
    pub reason: String,
    /// It is older than a migration already applied.
    pub out_of_order: bool,
    /// Its body runs in a transaction with its history row.
    pub transaction: bool,
    /// It has no `down`.
    pub irreversible: bool,
    /// The kinds of change it declares.
    pub risk: &'static [Risk],
}

/// What a command would do, in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// `apply` or `revert`.
    pub action: &'static str,
    /// The steps, in the order they would run.
    pub steps: Vec<PreviewStep>,
}

/// A migration in the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphNode {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: &'static str,
    /// The module (crate) that defines it.
    pub module: &'static str,
    /// The migrations it depends on.
    pub depends_on: Vec<Version>,
    /// Whether it is applied.
    pub applied: bool,
}

/// The SQL one migration runs, or why it cannot be shown offline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepSql {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: &'static str,
    /// The statements its `up` sends, in order.
    pub statements: Vec<String>,
    /// Set when the body needs a live database (it reads rows or uses the
    /// sqlx connection); `statements` then holds what it wrote before that.
    pub needs_database: Option<String>,
}

impl Migrator {
    /// What [`Migrator::up`] would apply for `scope`, in order, and why;
    /// takes no lock and changes nothing.
    pub async fn preview_up(&self, conn: &mut Connection, scope: Scope) -> Result<Preview> {
        let conn = &mut self.bind(conn)?;
        let rows = self.applied_rows(conn).await?;
        self.up_preview(&rows, &scope)
    }

    /// What an `up` of `scope` would apply to a database with these history rows.
    pub(crate) fn up_preview(&self, rows: &[AppliedMigration], scope: &Scope) -> Result<Preview> {
        let plan = self.plan_scope(rows, scope)?;
        let steps = plan
            .iter()
            .map(|step| {
                let reason = self.scope_reason(scope, step);
                let reason =
                    if step.out_of_order { format!("{reason}; older than an applied migration") } else { reason };
                planned_step(step.migration, reason, step.out_of_order)
            })
            .collect();
        Ok(Preview { action: "apply", steps })
    }

    /// What [`Migrator::down`] would revert for `scope`, in order, and why;
    /// takes no lock and changes nothing.
    pub async fn preview_down(&self, conn: &mut Connection, scope: RevertScope) -> Result<Preview> {
        let conn = &mut self.bind(conn)?;
        let rows = self.applied_rows(conn).await?;
        self.down_preview(&rows, &scope)
    }

    /// What a `down` of `scope` would revert from a database with these history rows.
    pub(crate) fn down_preview(&self, rows: &[AppliedMigration], scope: &RevertScope) -> Result<Preview> {
        let applied: Vec<Version> = rows.iter().map(|r| r.version).collect();
        let chosen: HashSet<Version> = match revert_target(scope, rows) {
            RevertTarget::Steps(steps) => applied.iter().rev().take(steps).copied().collect(),
            RevertTarget::Versions(versions) => versions.into_iter().collect(),
            RevertTarget::To(_) => HashSet::new(),
        };
        let why = match scope {
            RevertScope::Steps(steps) => format!("among the last {steps} applied"),
            RevertScope::Versions(_) => "named to be reverted".to_owned(),
            RevertScope::LastBatch => "in the last batch".to_owned(),
            RevertScope::To(version) => format!("comes after {version} in the migration order"),
        };
        let plan = self.plan_revert(rows, scope, self.strict_revert)?;
        let steps = plan
            .steps
            .iter()
            .map(|migration| {
                let reason = if chosen.is_empty() || chosen.contains(&migration.version) {
                    why.clone()
                } else {
                    "applied, and depends on a migration being reverted".to_owned()
                };
                planned_step(migration, reason, false)
            })
            .collect();
        Ok(Preview { action: "revert", steps })
    }

    /// Every migration with its dependencies, and whether it is applied.
    pub async fn graph_nodes(&self, conn: &mut Connection) -> Result<Vec<GraphNode>> {
        let conn = &mut self.bind(conn)?;
        let applied: HashSet<Version> = self.applied_rows(conn).await?.iter().map(|r| r.version).collect();
        Ok(self
            .registry
            .in_order()
            .map(|migration| GraphNode {
                version: migration.version,
                name: migration.name,
                module: migration.module,
                depends_on: self.registry.graph().dependencies_of(migration.version),
                applied: applied.contains(&migration.version),
            })
            .collect())
    }

    /// The SQL each migration in `versions` runs on `backend`, found by running
    /// its `up` against a handle that writes statements down instead of sending them.
    pub async fn sql(&self, backend: Backend, versions: &[Version]) -> Result<Vec<StepSql>> {
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            let migration = self.registry.get(*version).ok_or(Error::UnknownVersion { version: *version })?;
            let mut statements = Vec::new();
            let outcome = migration.up.run(&mut Db::recording(backend, &mut statements)).await;
            let needs_database = match outcome {
                Ok(()) => None,
                Err(error @ Error::NeedsDatabase { .. }) => Some(error.to_string()),
                Err(error) => return Err(error),
            };
            out.push(StepSql { version: *version, name: migration.name, statements, needs_database });
        }
        Ok(out)
    }

    /// Applied migrations in order of application, read without creating anything.
    async fn applied_rows(&self, conn: &mut Bound<'_>) -> Result<Vec<AppliedMigration>> {
        let rows = self.rows(conn).await?;
        Ok(rows.into_iter().filter(|r| r.state == RowState::Applied).collect())
    }
}

/// A planned migration as a preview shows it.
fn planned_step(migration: &'static Migration, reason: String, out_of_order: bool) -> PreviewStep {
    PreviewStep {
        version: migration.version,
        name: migration.name,
        module: migration.module,
        reason,
        out_of_order,
        transaction: migration.transaction,
        irreversible: migration.irreversible,
        risk: migration.risk,
    }
}
