//! The engine: takes the lock, reads the applied state, plans, and runs each
//! step on one connection, recording it in the history table and the audit log.
//!
//! What a change does is always decided on state read after the lock is
//! taken (an `up` reads once before, only to skip the lock when there is
//! nothing to do, so replicas starting together do not queue behind each
//! other), and the lock is released on every path: success, error and panic.

mod adopt;
mod analyses;
mod approval;
mod bound;
mod drift;
mod health;
mod hooks;
mod limits;
mod location;
mod on_scratch;
mod operations;
mod panic;
mod plan;
mod preview;
mod rehearsal;
mod report;
mod run;
mod safety;
mod scope;
mod startup;
mod status_fill;
mod step;
mod verify;

pub use crate::sql::hooks::{Hook, Hooks};
pub use adopt::{AdoptReport, AdoptedMigration, MatchedBy, OurMigration};
pub use approval::PlanApproval;
pub use drift::{DEFAULT_SCHEMA_FILE, Drift, DriftOptions, ExpectedFrom};
pub use health::{DirtyMigration, DriftCheck, FailedMigration, Health, LastApplied};
pub use limits::StatementLimits;
pub use operations::{RepairReport, Validation};
pub use preview::{GraphNode, Preview, PreviewStep, StepSql};
pub use rehearsal::{Rehearsal, RehearsalOutcome, RehearsedStep};
pub use report::{ApplyReport, MigrationState, MigrationStatus, Progress, RevertReport, Status, StepReport};
pub use scope::{RevertScope, Scope};
pub use startup::{OnFailure, Startup, StartupFailure, StartupOutcome, StartupReport};
pub use verify::{MigrationCheck, Verification, VerifyFinding, VerifyOptions};

use crate::backend::Connection;
use crate::backup::BackupOptions;
use crate::compat::{self, Compat};
use crate::error::{ChecksumMismatch, Error, Result};
use crate::foreign::{self, ForeignTable};
use crate::history::{self, AppliedMigration, LogQuery, LogRecord, RowState, Tables};
use crate::lock::{self, LockGuard, LockHolder, LockOptions, LockStatus, LockWait};
use crate::plan::PlanError;
use crate::registry::Registry;
use crate::version::Version;
use bound::Bound;
use futures_util::FutureExt;
use status_fill::StatusFill;
use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;

/// Applies and reverts the migrations of one registry: what the command
/// line does, from code.
///
/// Options are set when it is built; each method then takes the connection
/// to work on, and `up` and `down` what to apply or revert.
///
/// ```no_run
/// # async fn migrate() -> migrations_rs::Result<()> {
/// use migrations_rs::{Connection, DatabaseUrl, Migrator, RevertScope, Scope};
///
/// let migrator = Migrator::from_linked()?; // every #[migration] linked into this program
/// let mut conn = Connection::connect(&DatabaseUrl::parse("sqlite://app.db?mode=rwc")?).await?;
/// let report = migrator.up(&mut conn, Scope::All).await?;
/// println!("{} applied in batch {:?}", report.applied.len(), report.batch);
/// if !migrator.status(&mut conn).await?.is_up_to_date() {
///     migrator.down(&mut conn, RevertScope::Steps(1)).await?;
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
    keep_going: bool,
    statement_limits: StatementLimits,
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
            .field("keep_going", &self.keep_going)
            .field("statement_limits", &self.statement_limits)
            .field("backup", &self.backup)
            .finish()
    }
}

/// Whether a step applies a migration or reverts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// Runs the migration's `up`.
    Apply,
    /// Runs the migration's `down`.
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
    /// A migrator over the migrations of `registry`, with every option at its default.
    pub fn new(registry: Registry) -> Self {
        Migrator {
            registry,
            tables: Tables::default(),
            lock: LockOptions::default(),
            strict_order: false,
            strict_revert: false,
            revert_modified: false,
            force: false,
            keep_going: false,
            statement_limits: StatementLimits::default(),
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

    /// Keeps the history, the audit log and the lock in these tables instead
    /// of `migrations_rs_history`, `migrations_rs_log` and `migrations_rs_lock`.
    pub fn with_tables(mut self, tables: Tables) -> Self {
        self.tables = tables;
        self
    }

    /// How the migration lock is taken, waited for and kept.
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

    /// With `keep_going`, a failure of a migration that ran atomically does
    /// not stop an `up`: every pending migration that does not depend on a
    /// failed one is still applied, and the run then fails with
    /// [`Error::SomeFailed`] naming what failed and what was skipped.
    pub fn keep_going(mut self, keep_going: bool) -> Self {
        self.keep_going = keep_going;
        self
    }

    /// How long each statement of a step may wait for a lock another
    /// session holds, and how often a step that gave up is tried again (see
    /// [`StatementLimits`]; 5 s and 5 tries by default). A lock wait of zero
    /// is taken as the default, a statement timeout of zero as none, and at
    /// least one try is made.
    pub fn with_statement_limits(mut self, limits: StatementLimits) -> Self {
        let default = StatementLimits::default();
        self.statement_limits = StatementLimits {
            lock_wait: if limits.lock_wait.is_zero() { default.lock_wait } else { limits.lock_wait },
            lock_tries: limits.lock_tries.max(1),
            statement_timeout: limits.statement_timeout.filter(|timeout| !timeout.is_zero()),
        };
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

    /// The migrations this migrator applies and reverts.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The tables it keeps the history, the audit log and the lock in.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The state of every migration, read in one query; takes no lock and changes nothing.
    ///
    /// ```no_run
    /// # async fn show(migrator: &migrations_rs::Migrator, conn: &mut migrations_rs::Connection)
    /// # -> migrations_rs::Result<()> {
    /// let status = migrator.status(conn).await?;
    /// for entry in status.pending() {
    ///     println!("pending: {} ({})", entry.migration.label(), entry.migration.location());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn status(&self, conn: &mut Connection) -> Result<Status> {
        let conn = &mut self.bind(conn)?;
        let graph = self.registry.graph();
        let mut fill = StatusFill::new(&self.registry);
        let read =
            history::for_each_status_row(conn.as_ref(), &self.tables, |row| fill.add(&self.registry, row)).await?;
        if read == Some(history::Read::Unframed) {
            fill = StatusFill::new(&self.registry);
            history::for_each_status_row_typed(conn.as_ref(), &self.tables, |row| fill.add(&self.registry, row))
                .await?;
        }
        let StatusFill { mut migrations, recorded, rows, repeated, unfinished, missing, last_applied } = fill;
        // Rows the code does not have, and repeated versions, are read whole,
        // and the repeated versions named, by a second, full read.
        let mut missing_from_code: Vec<AppliedMigration> = Vec::new();
        if repeated || missing {
            let all = self.rows(conn).await?;
            if repeated {
                let mut versions: Vec<Version> = all.iter().map(|row| row.version).collect();
                history::refuse_duplicates(&self.tables, &mut versions)?;
            }
            missing_from_code = all.into_iter().filter(|row| graph.position_of(row.version).is_none()).collect();
            missing_from_code.sort_unstable_by_key(|row| row.seq);
            let mut versions: Vec<Version> = missing_from_code.iter().map(|row| row.version).collect();
            history::refuse_duplicates(&self.tables, &mut versions)?;
        }
        if let Some(last) = last_applied {
            for (place, entry) in migrations.iter_mut().enumerate().take(last) {
                if !recorded[place] {
                    entry.state = MigrationState::Pending { out_of_order: true };
                }
            }
        }
        drop(recorded);
        let unadopted = if rows == 0 { foreign::tables_with_rows(conn).await? } else { Vec::new() };
        let backfills = if unfinished {
            crate::backfill::unfinished(conn.as_ref(), &self.tables.backfills().sea()).await?
        } else {
            Vec::new()
        };
        Ok(Status { migrations, missing_from_code, unadopted, backfills })
    }

    /// Other tools' history tables with rows, when our history records
    /// nothing: a database another tool migrated and nobody adopted yet.
    pub async fn unadopted_history(&self, conn: &mut Connection) -> Result<Vec<ForeignTable>> {
        let conn = &mut self.bind(conn)?;
        self.unadopted(conn).await
    }

    /// The audit log, newest first; takes no lock and changes nothing.
    pub async fn history(&self, conn: &mut Connection, query: &LogQuery) -> Result<Vec<LogRecord>> {
        let conn = &mut self.bind(conn)?;
        history::read_log(conn.as_ref(), &self.tables, query).await
    }

    /// Who holds the migration lock, without taking it, and what the
    /// holder's steps wait on in the database: on PostgreSQL and
    /// MySQL/MariaDB the session that runs them as the server shows it, and
    /// the sessions that block it ([`StepWaits`](crate::lock::StepWaits)).
    pub async fn lock_status(&self, conn: &mut Connection) -> Result<LockStatus> {
        let conn = &mut self.bind(conn)?;
        lock::status_with_waits(conn, &self.tables, &self.lock).await
    }

    /// Frees the migration lock whoever holds it, for a holder that died
    /// without releasing it. Returns the holder it freed.
    pub async fn release_lock(&self, conn: &mut Connection) -> Result<Option<LockHolder>> {
        let conn = &mut self.bind(conn)?;
        lock::force_release(conn, &self.tables, &self.lock).await
    }

    /// `conn`, once the tables are checked against its backend: every method
    /// that touches the database starts here.
    fn bind<'c>(&self, conn: &'c mut Connection) -> Result<Bound<'c>> {
        self.tables.check_backend(conn.backend())?;
        Ok(Bound::new(conn))
    }

    /// Other tools' history tables with rows, when ours records nothing.
    async fn unadopted(&self, conn: &mut Bound<'_>) -> Result<Vec<ForeignTable>> {
        let ours = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        if !ours.is_empty() {
            return Ok(Vec::new());
        }
        foreign::tables_with_rows(conn).await
    }

    /// Every history row, unfinished ones included, read without creating anything.
    async fn rows(&self, conn: &mut Bound<'_>) -> Result<Vec<AppliedMigration>> {
        Ok(history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default())
    }

    /// Runs `work` under the lock, releasing it on every path.
    async fn locked<T>(
        &self,
        conn: &mut Bound<'_>,
        work: impl AsyncFnOnce(&mut Bound<'_>, &LockGuard) -> Result<T>,
    ) -> Result<T> {
        let report = |wait: LockWait<'_>| {
            if let Some(callback) = &self.lock_wait {
                callback(wait);
            }
        };
        // Recorded with the holder, for `lock status` to show what the steps wait on.
        let step_session = conn.as_ref().session_id().await?;
        let guard = lock::acquire(conn.open_unpooled().await?, &self.tables, &self.lock, &report, step_session).await?;
        let outcome = AssertUnwindSafe(work(conn, &guard)).catch_unwind().await;
        unlock(guard, outcome).await
    }

    /// Creates the tables if needed and reads every history row in one query.
    /// Rows recorded with a migration's legacy checksum get its current one.
    async fn read_state(&self, conn: &mut Bound<'_>) -> Result<Vec<AppliedMigration>> {
        history::ensure_tables(conn.as_ref(), &self.tables).await?;
        if let Some(compat) = self.compat {
            compat::ensure_table(conn.as_ref(), compat).await?;
        }
        let mut rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        self.upgrade_legacy_checksums(conn, &mut rows).await?;
        Ok(rows)
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
                    location: migration.location().to_string(),
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
                let migration = plan::record(&self.registry, version);
                Error::Irreversible { label: migration.label(), location: migration.location().to_string() }
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
