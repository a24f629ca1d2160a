//! The engine: reads the applied state, plans, and runs each step on one
//! connection, recording it in the history table and the audit log.
//!
//! Transactional migrations run in one transaction with their history row and
//! log entry: after a failure the database holds no trace of the migration
//! but the log entry of the failure, written after the rollback.

use crate::backend::{Connection, Tx};
use crate::db::Db;
use crate::error::{ChecksumMismatch, Error, Result};
use crate::history::{self, Action, AppliedMigration, LogEntry, Tables};
use crate::plan::{PlanError, RevertTarget};
use crate::record::{Migration, MigrationFn, Risk};
use crate::registry::Registry;
use crate::version::Version;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Applies and reverts the migrations of one registry.
pub struct Migrator {
    registry: Registry,
    tables: Tables,
    progress: Option<ProgressCallback>,
}

type ProgressCallback = Box<dyn Fn(Progress<'_>) + Send + Sync>;

impl fmt::Debug for Migrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator").field("migrations", &self.registry.len()).field("tables", &self.tables).finish()
    }
}

/// Reported as each step starts and ends, for progress displays.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Started { action: StepAction, migration: &'a Migration, index: usize, total: usize },
    Finished { action: StepAction, migration: &'a Migration, index: usize, total: usize, duration: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    Apply,
    Revert,
}

impl StepAction {
    fn verb(self) -> &'static str {
        match self {
            StepAction::Apply => "applying",
            StepAction::Revert => "reverting",
        }
    }
}

/// One step of a run, as the engine executes it.
struct Step {
    migration: &'static Migration,
    action: StepAction,
    batch: i64,
    /// Order of application recorded for an apply; unused for a revert.
    seq: i64,
}

/// One migration applied or reverted by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub version: Version,
    pub name: &'static str,
    pub duration: Duration,
    /// Applied although a newer migration was already applied.
    pub out_of_order: bool,
}

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub applied: Vec<StepReport>,
    /// The batch number the applied migrations share, if any were applied.
    pub batch: Option<i64>,
    /// Applied migrations that are no longer in the code.
    pub missing_from_code: Vec<AppliedMigration>,
}

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertReport {
    pub reverted: Vec<StepReport>,
}

/// Every migration with its state, and what the database holds that the code does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub migrations: Vec<MigrationStatus>,
    pub missing_from_code: Vec<AppliedMigration>,
}

impl Status {
    /// Nothing pending, nothing changed since applied, nothing unknown applied.
    pub fn is_up_to_date(&self) -> bool {
        self.missing_from_code.is_empty()
            && self.migrations.iter().all(|m| matches!(m.state, MigrationState::Applied { checksum_matches: true, .. }))
    }

    pub fn pending(&self) -> impl Iterator<Item = &MigrationStatus> {
        self.migrations.iter().filter(|m| matches!(m.state, MigrationState::Pending { .. }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: Version,
    pub name: &'static str,
    pub module: &'static str,
    pub location: String,
    pub risk: &'static [Risk],
    pub state: MigrationState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Applied { applied_at: String, applied_by: String, execution_ms: i64, batch: i64, checksum_matches: bool },
    Pending { out_of_order: bool },
}

impl Migrator {
    pub fn new(registry: Registry) -> Self {
        Migrator { registry, tables: Tables::default(), progress: None }
    }

    /// A migrator over every migration linked into this program.
    pub fn from_linked() -> Result<Self> {
        Ok(Self::new(Registry::from_linked()?))
    }

    pub fn with_tables(mut self, tables: Tables) -> Self {
        self.tables = tables;
        self
    }

    /// Calls `report` as each step starts and finishes.
    pub fn on_progress(mut self, report: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(report));
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The state of every migration, read in one query; changes nothing.
    pub async fn status(&self, conn: &mut Connection) -> Result<Status> {
        let applied = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        let by_version: HashMap<Version, &AppliedMigration> = applied.iter().map(|a| (a.version, a)).collect();
        let newest_applied = applied.iter().map(|a| a.version).max();
        let migrations = self
            .registry
            .in_order()
            .map(|migration| MigrationStatus {
                version: migration.version,
                name: migration.name,
                module: migration.module,
                location: migration.location(),
                risk: migration.risk,
                state: match by_version.get(&migration.version) {
                    Some(row) => MigrationState::Applied {
                        applied_at: row.applied_at.clone(),
                        applied_by: row.applied_by.clone(),
                        execution_ms: row.execution_ms,
                        batch: row.batch,
                        checksum_matches: row.checksum == migration.checksum.to_hex(),
                    },
                    None => MigrationState::Pending {
                        out_of_order: newest_applied.is_some_and(|newest| migration.version < newest),
                    },
                },
            })
            .collect();
        Ok(Status { migrations, missing_from_code: self.missing_from_code(&applied) })
    }

    /// Applies every pending migration, or `target` and what it depends on.
    pub async fn up(&self, conn: &mut Connection, target: Option<Version>) -> Result<ApplyReport> {
        history::ensure_tables(conn.as_ref(), &self.tables).await?;
        let applied = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        self.verify_checksums(&applied)?;
        let versions: Vec<Version> = applied.iter().map(|a| a.version).collect();
        let plan = self.registry.graph().plan_apply(&versions, target).map_err(|e| self.plan_error(e, &applied))?;
        let batch = applied.iter().map(|a| a.batch).max().unwrap_or(0) + 1;
        let last_seq = applied.iter().map(|a| a.seq).max().unwrap_or(0);
        let mut report = ApplyReport {
            applied: Vec::with_capacity(plan.len()),
            batch: (!plan.is_empty()).then_some(batch),
            missing_from_code: self.missing_from_code(&applied),
        };
        tracing::info!(pending = plan.len(), batch, "applying migrations");
        for (index, planned) in plan.iter().enumerate() {
            let migration = self.registry.get(planned.version).expect("planned versions are registered");
            let seq = last_seq + 1 + index as i64;
            let step = Step { migration, action: StepAction::Apply, batch, seq };
            let duration = self
                .run_step(conn, &step, index, plan.len())
                .await
                .map_err(|cause| self.failed(migration, StepAction::Apply, cause, &report.applied))?;
            report.applied.push(StepReport {
                version: migration.version,
                name: migration.name,
                duration,
                out_of_order: planned.out_of_order,
            });
        }
        Ok(report)
    }

    /// Reverts applied migrations, dependents before what they depend on.
    pub async fn down(&self, conn: &mut Connection, target: RevertTarget) -> Result<RevertReport> {
        history::ensure_tables(conn.as_ref(), &self.tables).await?;
        let applied = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        let versions: Vec<Version> = applied.iter().map(|a| a.version).collect();
        let plan = self.registry.graph().plan_revert(&versions, target).map_err(|e| self.plan_error(e, &applied))?;
        self.verify_checksums(applied.iter().filter(|a| plan.contains(&a.version)))?;
        let batch = applied.iter().map(|a| a.batch).max().unwrap_or(0);
        let mut report = RevertReport { reverted: Vec::with_capacity(plan.len()) };
        tracing::info!(steps = plan.len(), "reverting migrations");
        for (index, version) in plan.iter().enumerate() {
            let migration = self.registry.get(*version).expect("planned versions are registered");
            let step = Step { migration, action: StepAction::Revert, batch, seq: 0 };
            let duration = self
                .run_step(conn, &step, index, plan.len())
                .await
                .map_err(|cause| self.failed(migration, StepAction::Revert, cause, &report.reverted))?;
            report.reverted.push(StepReport { version: *version, name: migration.name, duration, out_of_order: false });
        }
        Ok(report)
    }

    /// Runs one step and records it; on failure records the failure in the log.
    async fn run_step(&self, conn: &mut Connection, step: &Step, index: usize, total: usize) -> Result<Duration> {
        let Step { migration, action, batch, .. } = *step;
        if let Some(report) = &self.progress {
            report(Progress::Started { action, migration, index, total });
        }
        let span = tracing::info_span!("migration", version = %migration.version, name = migration.name, action = action.verb());
        let _entered = span.enter();
        let body = match action {
            StepAction::Apply => migration.up,
            StepAction::Revert => migration.down.expect("the planner refuses irreversible migrations"),
        };
        let started = Instant::now();
        let outcome = if migration.transaction {
            self.run_in_transaction(conn, step, body, started).await
        } else {
            self.run_without_transaction(conn, step, body, started).await
        };
        let duration = started.elapsed();
        match outcome {
            Ok(()) => {
                tracing::info!(elapsed_ms = duration.as_millis() as u64, "done");
                if let Some(report) = &self.progress {
                    report(Progress::Finished { action, migration, index, total, duration });
                }
                Ok(duration)
            }
            Err(error) => {
                tracing::error!(%error, "failed");
                let entry = LogEntry {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    action: match action {
                        StepAction::Apply => Action::ApplyFailed,
                        StepAction::Revert => Action::RevertFailed,
                    },
                    duration_ms: millis(duration),
                    batch,
                    error: Some(error.to_string()),
                };
                if let Err(log_error) = history::append_log(conn.as_ref(), &self.tables, &entry).await {
                    tracing::error!(%log_error, "could not write the failure to the audit log");
                }
                Err(error)
            }
        }
    }

    /// The body, its history change and its log entry commit together or not at all.
    async fn run_in_transaction(
        &self,
        conn: &mut Connection,
        step: &Step,
        body: MigrationFn,
        started: Instant,
    ) -> Result<()> {
        let mut tx = conn.begin().await?;
        let outcome = async {
            body(&mut Db::new(tx.conn())).await?;
            self.record(&mut tx, step, started).await
        }
        .await;
        match outcome {
            Ok(()) => tx.commit().await,
            Err(error) => {
                if let Err(rollback_error) = tx.rollback().await {
                    tracing::error!(%rollback_error, "rollback failed");
                }
                Err(error)
            }
        }
    }

    /// The body runs on its own; its history change and log entry commit together after it.
    async fn run_without_transaction(
        &self,
        conn: &mut Connection,
        step: &Step,
        body: MigrationFn,
        started: Instant,
    ) -> Result<()> {
        body(&mut Db::new(conn.as_ref())).await?;
        let mut tx = conn.begin().await?;
        self.record(&mut tx, step, started).await?;
        tx.commit().await
    }

    /// Writes the history change and the log entry of a finished step.
    async fn record(&self, tx: &mut Tx<'_>, step: &Step, started: Instant) -> Result<()> {
        let Step { migration, action, batch, seq } = *step;
        let duration_ms = millis(started.elapsed());
        match action {
            StepAction::Apply => {
                let applied = AppliedMigration {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    module: migration.module.to_owned(),
                    module_version: migration.module_version.to_owned(),
                    checksum: migration.checksum.to_hex(),
                    risk: migration.risk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
                    applied_at: history::now_rfc3339(),
                    applied_by: history::operator(),
                    execution_ms: duration_ms,
                    batch,
                    seq,
                };
                history::insert_applied(tx.conn(), &self.tables, &applied).await?;
            }
            StepAction::Revert => history::delete_applied(tx.conn(), &self.tables, migration.version).await?,
        }
        let entry = LogEntry {
            version: migration.version,
            name: migration.name.to_owned(),
            action: match action {
                StepAction::Apply => Action::Apply,
                StepAction::Revert => Action::Revert,
            },
            duration_ms,
            batch,
            error: None,
        };
        history::append_log(tx.conn(), &self.tables, &entry).await
    }

    /// Refuses to go on if an applied migration's code changed since it was applied.
    fn verify_checksums<'a>(&self, applied: impl IntoIterator<Item = &'a AppliedMigration>) -> Result<()> {
        let mismatches: Vec<ChecksumMismatch> = applied
            .into_iter()
            .filter_map(|row| {
                let migration = self.registry.get(row.version)?;
                let current = migration.checksum.to_hex();
                (current != row.checksum).then(|| ChecksumMismatch {
                    version: row.version,
                    name: migration.name.to_owned(),
                    location: migration.location(),
                    applied: row.checksum.clone(),
                    current,
                })
            })
            .collect();
        if mismatches.is_empty() { Ok(()) } else { Err(Error::ChecksumMismatch { mismatches }) }
    }

    fn missing_from_code(&self, applied: &[AppliedMigration]) -> Vec<AppliedMigration> {
        applied.iter().filter(|a| self.registry.get(a.version).is_none()).cloned().collect()
    }

    fn plan_error(&self, error: PlanError, applied: &[AppliedMigration]) -> Error {
        match error {
            PlanError::UnknownVersion(version) => Error::UnknownVersion { version },
            PlanError::NotApplied(version) => Error::NotApplied { version },
            PlanError::Irreversible(version) => {
                let migration = self.registry.get(version).expect("the planner names registered migrations");
                Error::Irreversible { label: migration.label(), location: migration.location() }
            }
            PlanError::NotInGraph(version) => {
                let row = applied.iter().find(|a| a.version == version);
                Error::MissingFromCode {
                    version,
                    name: row.map_or_else(String::new, |r| r.name.clone()),
                    module: row.map_or_else(String::new, |r| r.module.clone()),
                }
            }
        }
    }

    fn failed(&self, migration: &Migration, action: StepAction, cause: Error, done: &[StepReport]) -> Error {
        Error::MigrationFailed {
            label: migration.label(),
            location: migration.location(),
            action: action.verb(),
            cause: Box::new(cause),
            completed: done.iter().map(|s| s.version).collect(),
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
