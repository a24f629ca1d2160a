//! Looking before leaping: what `up` or `down` would do and why, the
//! dependency graph, and the SQL of each migration, without changing anything.

use crate::backend::{Backend, Connection};
use crate::db::Db;
use crate::engine::{Migrator, Scope};
use crate::error::{Error, Result};
use crate::history::{self, AppliedMigration, RowState};
use crate::plan::RevertTarget;
use crate::record::Risk;
use crate::version::Version;
use std::collections::HashSet;

/// One step of a plan, and why it is in the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PreviewStep {
    pub version: Version,
    pub name: &'static str,
    pub module: &'static str,
    pub reason: String,
    pub out_of_order: bool,
    pub transaction: bool,
    pub irreversible: bool,
    pub risk: &'static [Risk],
}

/// What a command would do, in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// `apply` or `revert`.
    pub action: &'static str,
    pub steps: Vec<PreviewStep>,
}

/// A migration in the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GraphNode {
    pub version: Version,
    pub name: &'static str,
    pub module: &'static str,
    pub depends_on: Vec<Version>,
    pub applied: bool,
}

/// The SQL one migration runs, or why it cannot be shown offline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepSql {
    pub version: Version,
    pub name: &'static str,
    pub statements: Vec<String>,
    /// Set when the body needs a live database (it reads rows or uses the
    /// sqlx connection); `statements` then holds what it wrote before that.
    pub needs_database: Option<String>,
}

impl Migrator {
    /// What `up` would apply, in order, and why; takes no lock and changes nothing.
    pub async fn preview_up(&self, conn: &mut Connection, target: Option<Version>) -> Result<Preview> {
        self.preview_up_scoped(conn, &Scope::from(target)).await
    }

    /// What [`Migrator::up_scoped`] would apply, in order, and why; takes no lock and changes nothing.
    pub async fn preview_up_scoped(&self, conn: &mut Connection, scope: &Scope) -> Result<Preview> {
        let rows = self.applied_rows(conn).await?;
        self.up_preview(&rows, scope)
    }

    /// What an `up` of `scope` would apply to a database with these history rows.
    pub(crate) fn up_preview(&self, rows: &[AppliedMigration], scope: &Scope) -> Result<Preview> {
        let plan = self.plan_scope(rows, scope)?;
        let steps = plan
            .iter()
            .map(|step| {
                let reason = self.scope_reason(scope, step.version);
                let reason =
                    if step.out_of_order { format!("{reason}; older than an applied migration") } else { reason };
                self.planned_step(step.version, reason, step.out_of_order)
            })
            .collect();
        Ok(Preview { action: "apply", steps })
    }

    /// What `down` would revert, in order, and why; takes no lock and changes nothing.
    pub async fn preview_down(&self, conn: &mut Connection, target: RevertTarget) -> Result<Preview> {
        let rows = self.applied_rows(conn).await?;
        self.down_preview(&rows, target)
    }

    /// What a `down` to `target` would revert from a database with these history rows.
    pub(crate) fn down_preview(&self, rows: &[AppliedMigration], target: RevertTarget) -> Result<Preview> {
        let applied: Vec<Version> = rows.iter().map(|r| r.version).collect();
        let chosen: HashSet<Version> = match &target {
            RevertTarget::Steps(steps) => applied.iter().rev().take(*steps).copied().collect(),
            RevertTarget::Versions(versions) => versions.iter().copied().collect(),
            RevertTarget::To(_) => HashSet::new(),
        };
        let why = match &target {
            RevertTarget::Steps(steps) => format!("among the last {steps} applied"),
            RevertTarget::Versions(_) => "in the last batch".to_owned(),
            RevertTarget::To(version) => format!("comes after {version} in the migration order"),
        };
        let (plan, _stop) = self.revert_plan(rows, target.clone(), self.strict_revert)?;
        let steps = plan
            .iter()
            .map(|version| {
                let reason = if chosen.is_empty() || chosen.contains(version) {
                    why.clone()
                } else {
                    "applied, and depends on a migration being reverted".to_owned()
                };
                self.planned_step(*version, reason, false)
            })
            .collect();
        Ok(Preview { action: "revert", steps })
    }

    /// Every migration with its dependencies, and whether it is applied.
    pub async fn graph_nodes(&self, conn: &mut Connection) -> Result<Vec<GraphNode>> {
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
    async fn applied_rows(&self, conn: &mut Connection) -> Result<Vec<AppliedMigration>> {
        self.tables.check_backend(conn.backend())?;
        let rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        Ok(rows.into_iter().filter(|r| r.state == RowState::Applied).collect())
    }

    fn planned_step(&self, version: Version, reason: String, out_of_order: bool) -> PreviewStep {
        let migration = self.registry.get(version).expect("planned versions are registered");
        PreviewStep {
            version,
            name: migration.name,
            module: migration.module,
            reason,
            out_of_order,
            transaction: migration.transaction,
            irreversible: migration.irreversible,
            risk: migration.risk,
        }
    }
}
