//! The engine: takes the lock, reads the applied state, plans, and runs each
//! step on one connection, recording it in the history table and the audit log.
//!
//! What a change does is always decided on state read after the lock is
//! taken (an `up` reads once before, only to skip the lock when there is
//! nothing to do, so replicas starting together do not queue behind each
//! other), and the lock is released on every path: success, error and panic.

mod adopt;
mod approval;
mod drift;
mod health;
mod hooks;
mod location;
mod on_scratch;
mod operations;
mod panic;
mod preview;
mod rehearsal;
mod report;
mod safety;
mod scope;
mod startup;
mod step;
mod verify;

pub use crate::sql::hooks::{Hook, Hooks};
pub use adopt::{AdoptReport, AdoptedMigration, MatchedBy, OurMigration};
pub use approval::PlanApproval;
pub use drift::{DEFAULT_SCHEMA_FILE, Drift, DriftOptions, ExpectedFrom};
pub use health::{DirtyMigration, FailedMigration, Health, LastApplied};
pub use operations::{RepairReport, Validation};
pub use preview::{GraphNode, Preview, PreviewStep, StepSql};
pub use rehearsal::{Rehearsal, RehearsalOutcome, RehearsedStep};
pub use report::{ApplyReport, MigrationState, MigrationStatus, Progress, RevertReport, Status, StepReport};
pub use scope::Scope;
pub use startup::{OnFailure, Startup, StartupFailure, StartupOutcome, StartupReport};
pub use verify::{MigrationCheck, Verification, VerifyFinding, VerifyOptions};

use crate::backend::Connection;
use crate::backup::BackupOptions;
use crate::compat::{self, Compat};
use crate::error::{ChecksumMismatch, Error, Result};
use crate::foreign::{self, ForeignTable};
use crate::history::{self, AppliedMigration, LogQuery, LogRecord, RowState, Tables};
use crate::lock::{self, LockGuard, LockHolder, LockOptions, LockStatus, LockWait};
use crate::plan::{PlanError, PlannedStep, RevertTarget};
use crate::registry::Registry;
use crate::sql::layout::HookPoint;
use crate::version::Version;
use futures_util::FutureExt;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use step::{Step, StepFailure};

/// Applies and reverts the migrations of one registry: what the command
/// line does, from code.
///
/// ```no_run
/// # async fn migrate() -> migrations_rs_runtime::Result<()> {
/// use migrations_rs_runtime::{Connection, DatabaseUrl, Migrator, RevertTarget};
///
/// let migrator = Migrator::from_linked()?; // every #[migration] linked into this program
/// let mut conn = Connection::connect(&DatabaseUrl::parse("sqlite://app.db?mode=rwc")?).await?;
/// let report = migrator.up(&mut conn, None).await?;
/// println!("{} applied in batch {:?}", report.applied.len(), report.batch);
/// if !migrator.status(&mut conn).await?.is_up_to_date() {
///     migrator.down(&mut conn, RevertTarget::Steps(1)).await?;
/// }
/// # Ok(()) }
/// ```
pub struct Migrator {
    registry: Registry,
    tables: Tables,
    lock: LockOptions,
    strict_order: bool,
    strict_revert: bool,
    revert_modified: bool,
    force: bool,
    backup: BackupOptions,
    hooks: Hooks,
    compat: Option<Compat>,
    ignore_foreign_history: bool,
    progress: Option<ProgressCallback>,
    lock_wait: Option<LockWaitCallback>,
    approve: Option<approval::ApproveCallback>,
    backup_taken: Option<BackupCallback>,
}

type BackupCallback = Box<dyn Fn(&crate::backup::Backup) + Send + Sync>;
type ProgressCallback = Box<dyn Fn(Progress<'_>) + Send + Sync>;
type LockWaitCallback = Box<dyn Fn(LockWait<'_>) + Send + Sync>;

impl fmt::Debug for Migrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("migrations", &self.registry.len())
            .field("tables", &self.tables)
            .field("lock", &self.lock)
            .field("strict_order", &self.strict_order)
            .field("strict_revert", &self.strict_revert)
            .field("force", &self.force)
            .field("backup", &self.backup)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    Apply,
    Revert,
}

impl StepAction {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            StepAction::Apply => "applying",
            StepAction::Revert => "reverting",
        }
    }

    pub(crate) fn past_tense(self) -> &'static str {
        match self {
            StepAction::Apply => "applied",
            StepAction::Revert => "reverted",
        }
    }

    /// `up` or `down`, as the step runs the migration's `up` or `down`.
    pub const fn direction(self) -> &'static str {
        match self {
            StepAction::Apply => "up",
            StepAction::Revert => "down",
        }
    }
}

impl Migrator {
    pub fn new(registry: Registry) -> Self {
        Migrator {
            registry,
            tables: Tables::default(),
            lock: LockOptions::default(),
            strict_order: false,
            strict_revert: false,
            revert_modified: false,
            force: false,
            backup: BackupOptions::default(),
            hooks: Hooks::default(),
            compat: None,
            ignore_foreign_history: false,
            progress: None,
            lock_wait: None,
            approve: None,
            backup_taken: None,
        }
    }

    /// A migrator over every migration linked into this program.
    pub fn from_linked() -> Result<Self> {
        Ok(Self::new(Registry::from_linked()?))
    }

    pub fn with_tables(mut self, tables: Tables) -> Self {
        self.tables = tables;
        self
    }

    pub fn with_lock_options(mut self, options: LockOptions) -> Self {
        self.lock = options;
        self
    }

    /// Refuse to apply a pending migration older than an applied one,
    /// instead of applying it in graph order and reporting it.
    pub fn strict_order(mut self, strict: bool) -> Self {
        self.strict_order = strict;
        self
    }

    /// Keeps sqlx's or diesel's history table in step: created if missing, and
    /// a row written or deleted with each migration applied or reverted, in
    /// the same transaction as our own row.
    pub fn compat(mut self, compat: Option<Compat>) -> Self {
        self.compat = compat;
        self
    }

    /// Lets `up` run on a database whose only history is another tool's
    /// (refused by default: `adopt` first, or every migration runs again).
    pub fn ignore_foreign_history(mut self, ignore: bool) -> Self {
        self.ignore_foreign_history = ignore;
        self
    }

    /// Other tools' history tables with rows, when our history records
    /// nothing: a database another tool migrated and nobody adopted yet.
    pub async fn unadopted_history(&self, conn: &mut Connection) -> Result<Vec<ForeignTable>> {
        let ours = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        if !ours.is_empty() {
            return Ok(Vec::new());
        }
        foreign::tables_with_rows(conn).await
    }

    /// SQL to run around every run and every step of `up`, `down` and `redo`.
    pub fn with_hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// Refuse, before reverting anything, a revert whose plan holds an
    /// irreversible migration, instead of reverting everything newer than
    /// it and stopping there with [`Error::RevertStopped`].
    pub fn strict_revert(mut self, strict: bool) -> Self {
        self.strict_revert = strict;
        self
    }

    /// Revert migrations whose code changed since they were applied (refused by default:
    /// the `down` that runs is not the one that matches what was applied).
    pub fn revert_modified(mut self, allow: bool) -> Self {
        self.revert_modified = allow;
        self
    }

    /// Run destructive statements that their migrations do not acknowledge
    /// in `allow = [...]` (refused by default, before anything changes).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// How to back up before a run that includes a risky migration.
    pub fn with_backup(mut self, options: BackupOptions) -> Self {
        self.backup = options;
        self
    }

    /// Calls `report` as each step starts and finishes.
    pub fn on_progress(mut self, report: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(report));
        self
    }

    /// Calls `report` as soon as the backup before a risky run is taken (or
    /// skipped), before any step runs, so it is known even if a step then fails.
    pub fn on_backup(mut self, report: impl Fn(&crate::backup::Backup) + Send + Sync + 'static) -> Self {
        self.backup_taken = Some(Box::new(report));
        self
    }

    /// Calls `report` while waiting for another process's lock.
    pub fn on_lock_wait(mut self, report: impl Fn(LockWait<'_>) + Send + Sync + 'static) -> Self {
        self.lock_wait = Some(Box::new(report));
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The state of every migration, read in one query; takes no lock and changes nothing.
    pub async fn status(&self, conn: &mut Connection) -> Result<Status> {
        self.tables.check_backend(conn.backend())?;
        let rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        let by_version: HashMap<Version, &AppliedMigration> = rows.iter().map(|a| (a.version, a)).collect();
        let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
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
                    Some(row) if row.state == RowState::Applied => MigrationState::Applied {
                        applied_at: row.applied_at.clone(),
                        applied_by: row.applied_by.clone(),
                        execution_ms: row.execution_ms,
                        batch: row.batch,
                        checksum_matches: migration.matches_recorded(&row.checksum),
                    },
                    Some(row) => MigrationState::Dirty {
                        since: row.applied_at.clone(),
                        reverting: row.state == RowState::Reverting,
                    },
                    None => MigrationState::Pending {
                        out_of_order: self.registry.graph().is_out_of_order(migration.version, &applied),
                    },
                },
            })
            .collect();
        let unadopted = if rows.is_empty() { foreign::tables_with_rows(conn).await? } else { Vec::new() };
        Ok(Status { migrations, missing_from_code: self.missing_from_code(&rows), unadopted })
    }

    /// Applies every pending migration, or `target` and what it depends on.
    /// Stops at the first failure.
    pub async fn up(&self, conn: &mut Connection, target: Option<Version>) -> Result<ApplyReport> {
        self.up_with(conn, target, false).await
    }

    /// Like [`Migrator::up`]; with `keep_going`, a failure of a migration
    /// that ran atomically does not stop the run: every pending migration that
    /// does not depend on a failed one is still applied, and the run then
    /// fails with [`Error::SomeFailed`] naming what failed and what was skipped.
    pub async fn up_with(
        &self,
        conn: &mut Connection,
        target: Option<Version>,
        keep_going: bool,
    ) -> Result<ApplyReport> {
        self.up_scoped(conn, &Scope::from(target), keep_going).await
    }

    /// Like [`Migrator::up_with`], applying what `scope` names: with
    /// [`Scope::Module`], one module's migrations and those they depend on in other modules.
    pub async fn up_scoped(&self, conn: &mut Connection, scope: &Scope, keep_going: bool) -> Result<ApplyReport> {
        if let Some(report) = self.nothing_pending(conn, scope).await? {
            return Ok(report);
        }
        self.refuse_before_lock(conn, scope).await?;
        self.locked(conn, async |conn: &mut Connection, guard: &LockGuard| {
            self.up_locked(conn, guard, scope, keep_going).await
        })
        .await
    }

    /// Refuses a run whose plan, as read without the lock and without creating
    /// any table, holds statements the run would refuse: a refusal then leaves
    /// the database exactly as it was, bookkeeping tables included. The run
    /// under the lock reads the plan again and checks it again.
    /// Refuses a plan that would apply migrations whose `up` does nothing and
    /// that do not say `empty`: they would be recorded as done.
    fn refuse_empty(&self, plan: &[PlannedStep]) -> Result<()> {
        let empty: Vec<String> = plan
            .iter()
            .filter_map(|s| self.registry.get(s.version))
            .filter(|m| m.empty_up)
            .map(|m| format!("{} ({})", m.label(), m.location()))
            .collect();
        if empty.is_empty() { Ok(()) } else { Err(Error::EmptyMigration { migrations: empty }) }
    }

    async fn refuse_before_lock(&self, conn: &mut Connection, scope: &Scope) -> Result<()> {
        let rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        // A plan that cannot be made is reported by the run under the lock, with the state it reads there.
        if let Ok(plan) = self.plan_scope(&rows, scope) {
            self.refuse_empty(&plan)?;
            let versions: Vec<Version> = plan.iter().map(|s| s.version).collect();
            self.refuse_unacknowledged(conn, &versions).await?;
        }
        Ok(())
    }

    /// The report of an `up` with nothing to do, found without the lock in
    /// one read of each row's version, checksum and state (and a second, full
    /// read only if some applied migration is missing from the code); `None`
    /// when there is something to do or to refuse, which the run under the
    /// lock then reads again and handles. The read is one consistent snapshot
    /// and nothing is written, so skipping the lock here is as if the run had
    /// happened just before any other.
    async fn nothing_pending(&self, conn: &mut Connection, scope: &Scope) -> Result<Option<ApplyReport>> {
        self.tables.check_backend(conn.backend())?;
        let Some(rows) = history::read_summaries(conn.as_ref(), &self.tables).await? else { return Ok(None) };
        let clean = rows.iter().all(|row| {
            row.state == RowState::Applied
                && self.registry.get(row.version).is_none_or(|m| m.checksum.matches_hex(&row.checksum))
        });
        if !clean {
            return Ok(None);
        }
        let applied: Vec<Version> = rows.iter().map(|row| row.version).collect();
        let target = match scope {
            Scope::All => None,
            Scope::UpTo(target) => Some(*target),
            // A module's plan is part of the whole plan, but naming an unknown module is an error to report.
            Scope::Module(_) => return Ok(None),
        };
        if !matches!(self.registry.graph().plan_apply(&applied, target), Ok(plan) if plan.is_empty()) {
            return Ok(None);
        }
        let missing_from_code = if rows.iter().all(|row| self.registry.get(row.version).is_some()) {
            Vec::new()
        } else {
            self.missing_from_code(&history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default())
        };
        Ok(Some(ApplyReport { applied: Vec::new(), batch: None, missing_from_code, backup: None }))
    }

    /// Reverts applied migrations, dependents before what they depend on.
    pub async fn down(&self, conn: &mut Connection, target: RevertTarget) -> Result<RevertReport> {
        self.locked(conn, async |conn: &mut Connection, guard: &LockGuard| {
            let rows = self
                .approved_rows(conn, |rows| {
                    self.refuse_dirty(rows)?;
                    self.down_preview(rows, target.clone())
                })
                .await?;
            self.down_locked(conn, guard, &rows, target, self.strict_revert).await
        })
        .await
    }

    /// Reverts the migrations of the last batch (the last run that applied
    /// any), with whatever depends on them.
    pub async fn down_last_batch(&self, conn: &mut Connection) -> Result<RevertReport> {
        self.locked(conn, async |conn: &mut Connection, guard: &LockGuard| {
            let rows = self
                .approved_rows(conn, |rows| {
                    self.refuse_dirty(rows)?;
                    self.down_preview(rows, RevertTarget::Versions(last_batch(rows)))
                })
                .await?;
            self.down_locked(conn, guard, &rows, RevertTarget::Versions(last_batch(&rows)), self.strict_revert).await
        })
        .await
    }

    /// The migrations the last run applied, read without the lock: what
    /// [`Migrator::down_last_batch`] would revert, before anything else depending on them.
    pub async fn last_batch(&self, conn: &mut Connection) -> Result<Vec<Version>> {
        self.tables.check_backend(conn.backend())?;
        Ok(last_batch(&history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default()))
    }

    /// Reverts the last `steps` applied migrations and applies them again, under one lock.
    pub async fn redo(&self, conn: &mut Connection, steps: usize) -> Result<(RevertReport, ApplyReport)> {
        self.locked(conn, async |conn: &mut Connection, guard: &LockGuard| {
            let rows = self
                .approved_rows(conn, |rows| {
                    self.refuse_dirty(rows)?;
                    Ok(Preview { action: "redo", ..self.down_preview(rows, RevertTarget::Steps(steps))? })
                })
                .await?;
            let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
            let plan = self.registry.graph().plan_revert(&applied, RevertTarget::Steps(steps));
            if let Ok(versions) = plan {
                // Refused before anything is reverted, not halfway.
                self.refuse_unacknowledged(conn, &versions).await?;
            }
            // Strict: a redo that stopped half-way would leave the reverted steps unapplied.
            let reverted = self.down_locked(conn, guard, &rows, RevertTarget::Steps(steps), true).await?;
            let again: Vec<Version> = reverted.reverted.iter().map(|s| s.version).collect();
            let rows = self.read_state(conn).await?;
            let applied = self.apply_versions(conn, guard, &rows, &again).await?;
            Ok((reverted, applied))
        })
        .await
    }

    /// The audit log, newest first; takes no lock and changes nothing.
    pub async fn history(&self, conn: &mut Connection, query: &LogQuery) -> Result<Vec<LogRecord>> {
        self.tables.check_backend(conn.backend())?;
        history::read_log(conn.as_ref(), &self.tables, query).await
    }

    /// Who holds the migration lock, without taking it.
    pub async fn lock_status(&self, conn: &mut Connection) -> Result<LockStatus> {
        self.tables.check_backend(conn.backend())?;
        lock::status(conn, &self.tables, &self.lock).await
    }

    /// Frees the migration lock whoever holds it, for a holder that died
    /// without releasing it. Returns the holder it freed.
    pub async fn release_lock(&self, conn: &mut Connection) -> Result<Option<LockHolder>> {
        self.tables.check_backend(conn.backend())?;
        lock::force_release(conn, &self.tables, &self.lock).await
    }

    async fn lock(&self, conn: &Connection) -> Result<LockGuard> {
        self.tables.check_backend(conn.backend())?;
        let report = |wait: LockWait<'_>| {
            if let Some(callback) = &self.lock_wait {
                callback(wait);
            }
        };
        lock::acquire(conn.open_unpooled().await?, &self.tables, &self.lock, &report).await
    }

    /// Runs `work` under the lock, releasing it on every path.
    async fn locked<T>(
        &self,
        conn: &mut Connection,
        work: impl AsyncFnOnce(&mut Connection, &LockGuard) -> Result<T>,
    ) -> Result<T> {
        let guard = self.lock(conn).await?;
        let outcome = AssertUnwindSafe(work(conn, &guard)).catch_unwind().await;
        unlock(guard, outcome).await
    }

    /// Creates the tables if needed and reads every history row in one query.
    /// Rows recorded with a migration's legacy checksum get its current one.
    async fn read_state(&self, conn: &mut Connection) -> Result<Vec<AppliedMigration>> {
        history::ensure_tables(conn.as_ref(), &self.tables).await?;
        if let Some(compat) = self.compat {
            compat::ensure_table(conn.as_ref(), compat).await?;
        }
        let mut rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        self.upgrade_legacy_checksums(conn, &mut rows).await?;
        Ok(rows)
    }

    async fn up_locked(
        &self,
        conn: &mut Connection,
        guard: &LockGuard,
        scope: &Scope,
        keep_going: bool,
    ) -> Result<ApplyReport> {
        if !self.ignore_foreign_history {
            let found = self.unadopted_history(conn).await?;
            if !found.is_empty() {
                return Err(Error::NotAdopted { tool: found[0].tool.name(), found });
            }
        }
        let rows = self
            .approved_rows(conn, |rows| {
                self.refuse_dirty(rows)?;
                self.verify_checksums(rows)?;
                self.up_preview(rows, scope)
            })
            .await?;
        self.refuse_dirty(&rows)?;
        self.verify_checksums(&rows)?;
        let plan = self.plan_scope(&rows, scope)?;
        self.refuse_empty(&plan)?;
        if self.strict_order {
            let late: Vec<String> = plan
                .iter()
                .filter(|s| s.out_of_order)
                .map(|s| self.registry.get(s.version).expect("planned versions are registered").label())
                .collect();
            if !late.is_empty() {
                return Err(Error::OutOfOrder { pending: late });
            }
        }
        self.apply_plan(conn, guard, &rows, &plan, keep_going).await
    }

    /// Applies exactly `versions`, in the migration order.
    async fn apply_versions(
        &self,
        conn: &mut Connection,
        guard: &LockGuard,
        rows: &[AppliedMigration],
        versions: &[Version],
    ) -> Result<ApplyReport> {
        let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
        let plan = self.registry.graph().plan_apply(&applied, None).map_err(|e| self.plan_error(e, rows))?;
        let plan: Vec<PlannedStep> = plan.into_iter().filter(|s| versions.contains(&s.version)).collect();
        self.apply_plan(conn, guard, rows, &plan, false).await
    }

    async fn apply_plan(
        &self,
        conn: &mut Connection,
        guard: &LockGuard,
        rows: &[AppliedMigration],
        plan: &[crate::plan::PlannedStep],
        keep_going: bool,
    ) -> Result<ApplyReport> {
        let batch = next_batch(conn, &self.tables, rows).await?;
        let last_seq = rows.iter().map(|a| a.seq).max().unwrap_or(0);
        let versions: Vec<Version> = plan.iter().map(|s| s.version).collect();
        let backup = self.prepare_apply(conn, &versions).await?;
        let mut report = ApplyReport {
            applied: Vec::with_capacity(plan.len()),
            batch: (!plan.is_empty()).then_some(batch),
            missing_from_code: self.missing_from_code(rows),
            backup,
        };
        let mut failed: Vec<(Version, Error)> = Vec::new();
        let mut skipped: Vec<Version> = Vec::new();
        tracing::info!(pending = plan.len(), batch, "applying migrations");
        if let Some(first) = plan.first() {
            self.run_hook(conn, HookPoint::BeforeRun, first.version, batch).await?;
        }
        for (index, planned) in plan.iter().enumerate() {
            let migration = self.registry.get(planned.version).expect("planned versions are registered");
            let blocked_by_failure = !failed.is_empty()
                && self
                    .registry
                    .graph()
                    .ancestors(planned.version)
                    .any(|v| failed.iter().any(|(f, _)| *f == v) || skipped.contains(&v));
            if blocked_by_failure {
                skipped.push(planned.version);
                continue;
            }
            let seq = last_seq + 1 + report.applied.len() as i64;
            let step = Step { migration, action: StepAction::Apply, batch, seq };
            self.run_hook(conn, HookPoint::BeforeEach, migration.version, batch).await?;
            match self.run_reported(conn, guard, &step, index, plan.len()).await {
                Ok((duration, notes)) => {
                    report.applied.push(StepReport {
                        version: migration.version,
                        name: migration.name,
                        duration,
                        out_of_order: planned.out_of_order,
                        notes,
                    });
                    self.run_hook(conn, HookPoint::AfterEach, migration.version, batch).await?;
                }
                Err(cause) => {
                    let error = self.failed(&step, cause, &report.applied);
                    if !keep_going {
                        return Err(error);
                    }
                    // A dirty failure stays recorded and blocks later runs until resolved;
                    // this run goes on only with what does not depend on it.
                    failed.push((migration.version, error));
                }
            }
        }
        if failed.is_empty() {
            if let Some(last) = report.applied.last() {
                self.run_hook(conn, HookPoint::AfterRun, last.version, batch).await?;
            }
            return Ok(report);
        }
        let label = |version: &Version| self.registry.get(*version).expect("planned versions are registered").label();
        Err(Error::SomeFailed {
            applied: report.applied.iter().map(|s| s.version).collect(),
            failed: failed.iter().map(|(version, error)| format!("{}: {}", label(version), cause_of(error))).collect(),
            skipped: skipped.iter().map(label).collect(),
            dirty: failed
                .iter()
                .filter(|(_, error)| matches!(error, Error::MigrationFailed { dirty: true, .. }))
                .map(|(version, _)| *version)
                .collect(),
        })
    }

    async fn down_locked(
        &self,
        conn: &mut Connection,
        guard: &LockGuard,
        rows: &[AppliedMigration],
        target: RevertTarget,
        strict: bool,
    ) -> Result<RevertReport> {
        self.refuse_dirty(rows)?;
        let (plan, stop) = self.revert_plan(rows, target, strict)?;
        if !self.revert_modified {
            self.verify_checksums(rows.iter().filter(|a| plan.contains(&a.version)))?;
        }
        let batch = next_batch(conn, &self.tables, rows).await?;
        let backup = self.prepare_revert(conn, &plan).await?;
        let warnings = plan
            .iter()
            .filter_map(|version| self.registry.get(*version))
            .flat_map(safety::revert_warnings)
            .collect::<Vec<_>>();
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let mut report = RevertReport { reverted: Vec::with_capacity(plan.len()), backup, warnings };
        tracing::info!(steps = plan.len(), "reverting migrations");
        if let Some(first) = plan.first() {
            self.run_hook(conn, HookPoint::BeforeRun, *first, batch).await?;
        }
        for (index, version) in plan.iter().enumerate() {
            let migration = self.registry.get(*version).expect("planned versions are registered");
            let step = Step { migration, action: StepAction::Revert, batch, seq: 0 };
            self.run_hook(conn, HookPoint::BeforeEach, *version, batch).await?;
            let (duration, notes) = self
                .run_reported(conn, guard, &step, index, plan.len())
                .await
                .map_err(|cause| self.failed(&step, cause, &report.reverted))?;
            report.reverted.push(StepReport {
                version: *version,
                name: migration.name,
                duration,
                out_of_order: false,
                notes,
            });
            self.run_hook(conn, HookPoint::AfterEach, *version, batch).await?;
        }
        if let Some(last) = plan.last() {
            self.run_hook(conn, HookPoint::AfterRun, *last, batch).await?;
        }
        if let Some(version) = stop {
            let migration = self.registry.get(version).expect("the planner names registered migrations");
            return Err(Error::RevertStopped {
                label: migration.label(),
                location: migration.location(),
                reverted: report.reverted,
            });
        }
        Ok(report)
    }

    /// What a revert runs, and the irreversible migration where it stops
    /// short of its target; `strict` refuses such a plan instead.
    pub(crate) fn revert_plan(
        &self,
        rows: &[AppliedMigration],
        target: RevertTarget,
        strict: bool,
    ) -> Result<(Vec<Version>, Option<Version>)> {
        let applied: Vec<Version> = rows.iter().map(|a| a.version).collect();
        let graph = self.registry.graph();
        let plan = if strict {
            graph.plan_revert(&applied, target).map(|plan| (plan, None))
        } else {
            graph.plan_revert_until_irreversible(&applied, target)
        };
        plan.map_err(|e| self.plan_error(e, rows))
    }

    /// Writes or deletes the row of the tool kept in step (`compat`) for a
    /// finished step, on the connection (and in the transaction) of our own row.
    pub(crate) async fn record_compat(
        &self,
        conn: crate::backend::ConnRef<'_>,
        step: &Step,
        duration_ms: i64,
    ) -> Result<()> {
        let Some(compat) = self.compat else { return Ok(()) };
        match step.action {
            StepAction::Apply => compat::record_applied(conn, compat, step.migration, duration_ms).await,
            StepAction::Revert => compat::record_reverted(conn, compat, step.migration).await,
        }
    }

    /// Runs one step between its progress reports.
    async fn run_reported(
        &self,
        conn: &mut Connection,
        guard: &LockGuard,
        step: &Step,
        index: usize,
        total: usize,
    ) -> std::result::Result<(std::time::Duration, Vec<String>), StepFailure> {
        let (action, migration) = (step.action, step.migration);
        if let Err(error) = guard.check(&migration.label()).await {
            self.log_lock_lost(conn, step, &error).await;
            return Err(StepFailure { error, dirty: false, not_logged: None });
        }
        if let Some(report) = &self.progress {
            report(Progress::Started { action, migration, index, total });
        }
        let (duration, notes) = self.run_step(conn, guard, step).await?;
        if let Some(report) = &self.progress {
            report(Progress::Finished { action, migration, index, total, duration });
        }
        Ok((duration, notes))
    }

    /// Records in the audit log that the run stopped before `step` because its lock was lost.
    async fn log_lock_lost(&self, conn: &mut Connection, step: &Step, error: &Error) {
        let entry = history::LogEntry {
            version: step.migration.version,
            name: step.migration.name.to_owned(),
            action: history::Action::LockLost,
            duration_ms: 0,
            batch: step.batch,
            error: Some(error.to_string()),
        };
        if let Err(log_error) = history::append_log(conn.as_ref(), &self.tables, &entry).await {
            tracing::error!(%log_error, "could not write the lost lock to the audit log");
        }
    }

    /// Refuses to run while a migration is recorded as partly done.
    fn refuse_dirty(&self, rows: &[AppliedMigration]) -> Result<()> {
        match rows.iter().find(|r| r.state != RowState::Applied) {
            None => Ok(()),
            Some(row) => Err(Error::Dirty {
                version: row.version,
                label: format!("{} {}", row.version, row.name),
                since: row.applied_at.clone(),
                reverting: row.state == RowState::Reverting,
            }),
        }
    }

    /// Refuses to go on if an applied migration's code changed since it was applied.
    fn verify_checksums<'a>(&self, applied: impl IntoIterator<Item = &'a AppliedMigration>) -> Result<()> {
        let mismatches: Vec<ChecksumMismatch> = applied
            .into_iter()
            .filter_map(|row| {
                let migration = self.registry.get(row.version)?;
                (!migration.matches_recorded(&row.checksum)).then(|| ChecksumMismatch {
                    version: row.version,
                    name: migration.name.to_owned(),
                    location: migration.location(),
                    applied: row.checksum.clone(),
                    current: migration.checksum.to_hex(),
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

    fn failed(&self, step: &Step, failure: StepFailure, done: &[StepReport]) -> Error {
        let migration = step.migration;
        Error::MigrationFailed {
            version: migration.version,
            label: migration.label(),
            location: crate::engine::location::body_location(migration, step.action),
            action: step.action.verb(),
            dirty: failure.dirty,
            not_logged: failure.not_logged.map(Box::new),
            cause: Box::new(failure.error),
            completed: done.to_vec(),
        }
    }
}

/// The database's or the body's own error inside a failed step, for lists of failures.
fn cause_of(error: &Error) -> String {
    match error {
        Error::MigrationFailed { cause, dirty: true, .. } => {
            format!("{cause} (left dirty: the database must be put right by hand)")
        }
        Error::MigrationFailed { cause, .. } => cause.to_string(),
        other => other.to_string(),
    }
}

fn last_batch(rows: &[AppliedMigration]) -> Vec<Version> {
    let last = rows.iter().map(|r| r.batch).max();
    rows.iter().filter(|r| Some(r.batch) == last).map(|r| r.version).collect()
}

/// The batch number of the next run: above every batch in the history and in
/// the audit log, so a number is never given twice, even after a revert.
async fn next_batch(conn: &mut Connection, tables: &Tables, rows: &[AppliedMigration]) -> Result<i64> {
    let logged = history::max_logged_batch(conn.as_ref(), tables).await?;
    Ok(rows.iter().map(|a| a.batch).max().unwrap_or(0).max(logged) + 1)
}

/// Releases the lock, then returns the outcome or resumes the panic.
async fn unlock<T>(guard: LockGuard, outcome: std::result::Result<Result<T>, Box<dyn Any + Send>>) -> Result<T> {
    if let Err(error) = guard.release().await {
        tracing::warn!(%error, "could not release the migration lock cleanly; it is freed when its connection closes or its lease goes stale");
    }
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
