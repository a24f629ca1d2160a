//! Running one step and recording it.
//!
//! A step is atomic when the migration runs in a transaction on a backend
//! with transactional DDL (PostgreSQL, SQLite): the body, its history change,
//! its log entry and the lease check commit together or not at all. Any
//! other step is first recorded as `applying` or `reverting`, so a failure or
//! a crash after it changed what a rollback cannot undo leaves a visible
//! dirty state:
//! - a `transaction = false` migration, in a commit of its own before the body;
//! - a migration in a transaction on MySQL/MariaDB, where DDL commits
//!   implicitly, as the first statement of its transaction: the first
//!   statement that commits by itself commits the row before it runs, and a
//!   body that only changes rows takes the row back with them when it fails.
//!
//! When the step before it in the same run succeeds, that step's record
//! commits the row instead (one commit fewer per step); a run that stops
//! between the two takes it back.

use crate::analysis::{Replay, Transcript};
use crate::backend::{Backend, ConnRef, Connection, SavedSettings, Tx};
use crate::compat::{self, Compat};
use crate::db::{Db, InMigration};
use crate::engine::analyses::{Analysed, RunAnalyses};
use crate::engine::report::Progress;
use crate::engine::{Migrator, ProgressCallback, StatementLimits, StepAction, panic};
use crate::error::{Error, LockError, Result};
use crate::history::{self, Action, AppliedMigration, HistoryChange, LogEntry, RowState, StepRecord, Tables};
use crate::lock::LockGuard;
use crate::record::{Body, Migration};
use crate::step_report::StepReport;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// One step of a run, as the engine executes it.
pub(crate) struct Step {
    pub migration: &'static Migration,
    pub action: StepAction,
    pub batch: i64,
    /// Order of application recorded for an apply; unused for a revert.
    pub seq: i64,
    /// Whether its unfinished row was committed before it started, by the step before it.
    pub marked: Marked,
    /// The step applied after this one, when this step's record commits that step's unfinished row.
    pub marks_next: Option<Ahead>,
}

/// Whether a step's unfinished row was committed with the record of the step before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marked {
    /// It was not: the step writes its own, if it needs one.
    No,
    /// It was, in a transaction that also confirmed the lock (`confirmed`) or did not.
    WithPrevious { confirmed: bool },
}

/// The step applied after another, whose unfinished row goes in with that one's record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ahead {
    pub migration: &'static Migration,
    pub seq: i64,
    /// Whether the record that writes it also confirms the lock.
    pub confirmed: bool,
}

impl Step {
    /// A step with no unfinished row written before it, nor one to write for the next.
    pub(crate) fn new(migration: &'static Migration, action: StepAction, batch: i64, seq: i64) -> Self {
        Step { migration, action, batch, seq, marked: Marked::No, marks_next: None }
    }

    pub(crate) fn is_atomic(&self, conn: &Connection) -> bool {
        self.migration.transaction && conn.backend().transactional_ddl()
    }

    fn body(&self) -> Body {
        match self.action {
            StepAction::Apply => self.migration.up,
            StepAction::Revert => self.migration.down.expect("the planner refuses irreversible migrations"),
        }
    }

    pub(crate) fn history_row(&self, state: RowState, execution_ms: i64) -> AppliedMigration {
        let migration = self.migration;
        AppliedMigration {
            version: migration.version,
            name: migration.name.to_owned(),
            module: migration.module.to_owned(),
            module_version: migration.module_version.to_owned(),
            checksum: migration.checksum.to_hex(),
            risk: migration.risk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
            applied_at: history::now_rfc3339(),
            applied_by: history::operator(),
            execution_ms,
            batch: self.batch,
            seq: self.seq,
            state,
        }
    }
}

/// A step that failed, and whether it left its history row recorded as unfinished.
pub(crate) struct StepFailure {
    pub error: Error,
    pub dirty: bool,
    /// Why the failure is not in the audit log, when it could not be written there.
    pub not_logged: Option<String>,
}

impl StepFailure {
    /// The error a run returns for this failure of `step`, after the steps in `done`.
    pub(crate) fn into_error(self, step: &Step, done: &[StepReport]) -> Error {
        let migration = step.migration;
        Error::MigrationFailed {
            version: migration.version,
            label: migration.label(),
            location: crate::engine::location::body_location(migration, step.action),
            action: step.action.verb(),
            dirty: self.dirty,
            not_logged: self.not_logged.map(Box::new),
            cause: Box::new(self.error),
            completed: done.to_vec(),
        }
    }
}

/// Runs the steps of one run under its lock: each body on the run's
/// connection, its history change and audit log entry beside it.
pub(crate) struct StepRunner<'a> {
    tables: &'a Tables,
    compat: Option<Compat>,
    /// Whether an applying body's unacknowledged destructive statements are sent anyway.
    force: bool,
    guard: &'a LockGuard,
    /// The run's analyses of its `up` bodies, which each step's guard replays.
    analyses: Option<&'a RunAnalyses>,
    progress: Option<&'a ProgressCallback>,
    /// How long each statement waits for a lock, and how often a step is tried.
    limits: StatementLimits,
    /// Audit log entries of retries not written yet: on SQLite, where the
    /// writer the step waited for also keeps the log from being written, they
    /// go in with the step's outcome, before its own entry.
    deferred: std::sync::Mutex<Vec<LogEntry>>,
    /// The session's own lock wait and statement timeout, read when the
    /// run's limits were set on its connection before the first step; put
    /// back by [`StepRunner::restore_session`].
    session: std::sync::Mutex<Option<SavedSettings>>,
}

impl Migrator {
    /// The runner of the steps of a run holding `guard`.
    pub(crate) fn step_runner<'a>(&'a self, guard: &'a LockGuard) -> StepRunner<'a> {
        StepRunner {
            tables: &self.tables,
            compat: self.compat,
            force: self.force,
            guard,
            analyses: None,
            progress: self.progress.as_ref(),
            limits: self.statement_limits,
            deferred: std::sync::Mutex::default(),
            session: std::sync::Mutex::default(),
        }
    }
}

impl<'a> StepRunner<'a> {
    /// The runner whose steps' guards replay these analyses where the bodies
    /// send what they read, rather than reading every statement again.
    pub(crate) fn with_analyses(self, analyses: &'a RunAnalyses) -> Self {
        StepRunner { analyses: Some(analyses), ..self }
    }
}

impl StepRunner<'_> {
    /// Runs one step between its progress reports, once the lock is confirmed
    /// held. A step that is not atomic changes the database before the check
    /// in its recording transaction, so the lock is checked on its own
    /// connection first; an atomic step commits nothing unless that check in
    /// its transaction passes, so before it only a loss already found counts.
    pub(crate) async fn run(
        &self,
        conn: &mut Connection,
        step: &Step,
        index: usize,
        total: usize,
    ) -> std::result::Result<(Duration, Vec<String>), StepFailure> {
        let (action, migration) = (step.action, step.migration);
        // A step whose unfinished row a confirmation of the lock committed was checked with it.
        let checked = if step.is_atomic(conn) || step.marked == (Marked::WithPrevious { confirmed: true }) {
            self.guard.known_lost(&migration.label())
        } else {
            self.guard.check(&migration.label()).await
        };
        if let Err(error) = checked {
            self.log_lock_lost(conn, step, &error).await;
            // The row written ahead of a step that never started is taken back: nothing of it ran.
            let dirty = step.marked != Marked::No
                && match self.clear_in_progress(conn, step).await {
                    Ok(()) => false,
                    Err(clear_error) => {
                        tracing::error!(%clear_error, "could not clear the unfinished row of a step that never started");
                        true
                    }
                };
            return Err(StepFailure { error, dirty, not_logged: None });
        }
        if let Some(report) = self.progress {
            report(Progress::Started { action, migration, index, total });
        }
        let (duration, notes) = self.run_step(conn, step).await?;
        if let Some(report) = self.progress {
            report(Progress::Finished { action, migration, index, total, duration });
        }
        Ok((duration, notes))
    }

    /// Sets the run's lock wait and statement timeout on its connection, once,
    /// keeping the session's own to put back after the last step.
    async fn limit_session(&self, conn: &mut Connection) -> Result<()> {
        if self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some() {
            return Ok(());
        }
        let saved = conn.as_ref().limit_waits(self.limits.lock_wait, self.limits.statement_timeout).await?;
        *self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(saved);
        Ok(())
    }

    /// Puts back the session's own lock wait and statement timeout, if a step
    /// changed them: call it after the last step, on every path.
    pub(crate) async fn restore_session(&self, conn: &mut Connection) {
        let saved = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(saved) = saved
            && let Err(error) = conn.as_ref().restore_settings(saved).await
        {
            tracing::warn!(%error, "could not put back the session's lock wait after the run");
        }
    }

    /// Sets the run's lock wait back on its connection after a step that had its own.
    async fn end_own_lock_wait(&self, conn: &mut Connection) {
        if let Err(error) = conn.as_ref().set_lock_wait(self.limits.lock_wait, false).await {
            tracing::warn!(%error, "could not set the run's lock wait back after a step with its own");
        }
    }

    /// Records in the audit log that the run stopped before `step` because its lock was lost.
    async fn log_lock_lost(&self, conn: &mut Connection, step: &Step, error: &Error) {
        let entry = LogEntry {
            version: step.migration.version,
            name: step.migration.name.to_owned(),
            action: Action::LockLost,
            duration_ms: 0,
            batch: step.batch,
            error: Some(error.to_string()),
        };
        if let Err(log_error) = history::append_log(conn.as_ref(), self.tables, &entry).await {
            tracing::error!(%log_error, "could not write the lost lock to the audit log");
        }
    }

    /// Records in the audit log that a try of `step` gave up waiting for a
    /// lock and was rolled back, to be tried again after a pause.
    async fn log_lock_retry(&self, conn: &mut Connection, step: &Step, retry: LockRetry, error: &Error) {
        let LockRetry { tries, limits, pause, took } = retry;
        let entry = LogEntry {
            version: step.migration.version,
            name: step.migration.name.to_owned(),
            action: Action::LockRetry,
            duration_ms: millis(took),
            batch: step.batch,
            error: Some(format!(
                "try {tries} of {} gave up after a lock wait of {} ms and was rolled back; \
                 the next try starts in {} ms. The database said: {error}",
                limits.lock_tries,
                millis(limits.lock_wait),
                millis(pause)
            )),
        };
        if conn.backend() == Backend::Sqlite {
            self.defer(entry);
        } else if let Err(log_error) = history::append_log(conn.as_ref(), self.tables, &entry).await {
            tracing::warn!(%log_error, "could not write a retry to the audit log yet; it is written with the step");
            self.defer(entry);
        }
    }

    fn has_deferred(&self) -> bool {
        !self.deferred.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty()
    }

    fn defer(&self, entry: LogEntry) {
        self.deferred.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(entry);
    }

    /// Writes the retries not written yet on `conn`, before the step's own entry.
    async fn write_deferred(&self, mut conn: ConnRef<'_>) -> Result<()> {
        let entries = std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for entry in &entries {
            history::append_log(conn.reborrow(), self.tables, entry).await?;
        }
        Ok(())
    }

    /// Runs one step; on failure writes the failure to the audit log.
    async fn run_step(
        &self,
        conn: &mut Connection,
        step: &Step,
    ) -> std::result::Result<(Duration, Vec<String>), StepFailure> {
        let migration = step.migration;
        let span = tracing::info_span!(
            "migration",
            version = %migration.version,
            name = migration.name,
            module = migration.module,
            direction = step.action.direction(),
            batch = step.batch,
        );
        self.run_step_in_span(conn, step).instrument(span).await
    }

    async fn run_step_in_span(
        &self,
        conn: &mut Connection,
        step: &Step,
    ) -> std::result::Result<(Duration, Vec<String>), StepFailure> {
        let guard = self.guard;
        let migration = step.migration;
        // The migration's own lock wait wins over the run's.
        let limits = StatementLimits { lock_wait: migration.lock_wait.unwrap_or(self.limits.lock_wait), ..self.limits };
        let started = Instant::now();
        // Set once the unfinished row is committed: from then on a failure leaves it dirty.
        let mut in_progress = step.marked != Marked::No;
        // What the guard let through because it loses nothing, to report.
        let mut notes = Vec::new();
        let mut tries = 0;
        // Set when the step failed on a lock wait: whether it could have been tried again.
        let mut gave_up_on_lock = None;
        let outcome = loop {
            tries += 1;
            let try_started = Instant::now();
            let (outcome, undone) = self.attempt(conn, step, limits, started, &mut in_progress, &mut notes).await;
            match outcome {
                Err(error) if crate::backend::is_lock_timeout(&error) => {
                    let retryable = undone && migration.transaction && !in_progress;
                    if !retryable || tries >= limits.lock_tries {
                        gave_up_on_lock = Some(retryable);
                        break Err(error);
                    }
                    let pause = StatementLimits::pause_before(tries + 1);
                    tracing::warn!(
                        attempt = tries,
                        of = limits.lock_tries,
                        lock_wait_ms = millis(limits.lock_wait),
                        pause_ms = millis(pause),
                        %error,
                        "a statement gave up waiting for a lock; the step was rolled back and is tried again"
                    );
                    let retry = LockRetry { tries, limits, pause, took: try_started.elapsed() };
                    self.log_lock_retry(conn, step, retry, &error).await;
                    tokio::time::sleep(pause).await;
                    if let Err(error) = guard.check(&migration.label()).await {
                        break Err(error);
                    }
                }
                outcome => break outcome,
            }
        };
        let duration = started.elapsed();
        match outcome {
            Ok(()) => {
                tracing::info!(elapsed_ms = millis(duration), "migration {}", step.action.past_tense());
                Ok((duration, notes))
            }
            Err(mut error) => {
                crate::engine::location::locate(&mut error, migration, step.action);
                if let Some(retryable) = gave_up_on_lock {
                    error = Error::LockWaitExhausted {
                        tries,
                        lock_wait_ms: u64::try_from(limits.lock_wait.as_millis()).unwrap_or(u64::MAX),
                        retryable,
                        cause: Box::new(error),
                    };
                }
                // A step that failed after its lock was lost failed because of it, most likely
                // (another process ran it too): the report says so first.
                let error = match (guard.lost_reason(), error) {
                    (_, error @ Error::Lock(LockError::Lost { .. })) => error,
                    (Some(reason), error) => Error::Lock(LockError::Lost {
                        label: migration.label(),
                        reason: format!("{reason}; the step then failed: {error}"),
                    }),
                    (None, error) => error,
                };
                tracing::error!(elapsed_ms = millis(duration), dirty = in_progress, %error, "migration failed");
                let entry = LogEntry {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    action: match step.action {
                        StepAction::Apply => Action::ApplyFailed,
                        StepAction::Revert => Action::RevertFailed,
                    },
                    duration_ms: millis(duration),
                    batch: step.batch,
                    error: Some(error.to_string()),
                };
                if let Err(log_error) = self.write_deferred(conn.as_ref()).await {
                    tracing::error!(%log_error, "could not write the step's retries to the audit log");
                }
                let not_logged = self.log_failure(conn, &entry).await.err().map(|log_error| {
                    tracing::error!(%log_error, "could not write the failure to the audit log");
                    log_error.to_string()
                });
                Err(StepFailure { error, dirty: in_progress, not_logged })
            }
        }
    }

    /// Tries a step once under the run's statement limits: its body and its
    /// history change, committed, or rolled back with what the rollback can
    /// undo. Returns the outcome, and whether nothing of the step is left
    /// (its unfinished row, if any, cleared again).
    async fn attempt(
        &self,
        conn: &mut Connection,
        step: &Step,
        limits: StatementLimits,
        started: Instant,
        in_progress: &mut bool,
        notes: &mut Vec<String>,
    ) -> (Result<()>, bool) {
        let atomic = step.is_atomic(conn);
        let migration = step.migration;
        let analysed = self.analysed(step, conn.backend());
        let transcript = analysed.as_deref().map(|made| &made.transcript);
        if let Err(error) = self.limit_session(conn).await {
            return (Err(error), false);
        }
        // Only a migration whose lock wait differs from the run's changes it for its step.
        let own_lock_wait = (limits.lock_wait != self.limits.lock_wait).then_some(limits.lock_wait);
        if !migration.transaction && !*in_progress {
            if let Err(error) = self.mark_in_progress(conn.as_ref(), step).await {
                return (Err(error), false);
            }
            *in_progress = true;
        }
        if migration.transaction {
            let mut tx = match conn.begin().await {
                Ok(tx) => tx,
                Err(error) => return (Err(error), false),
            };
            // Whether the rollback can undo everything the body sent.
            let mut undone_by_rollback = false;
            // Whether the step's own lock wait outlives its transaction.
            let mut set_back = false;
            let in_tx = async {
                if let Some(lock_wait) = own_lock_wait {
                    set_back = tx.conn().set_lock_wait(lock_wait, true).await?;
                }
                if !atomic && !*in_progress {
                    // In the step's transaction: the first statement that commits by
                    // itself (any DDL) commits the unfinished row before it runs, and a
                    // body that only changes rows takes it back with them if it fails.
                    self.mark_in_progress(tx.conn(), step).await?;
                }
                let mut db = self.db_for(step, tx.conn(), transcript);
                let ran = panic::catch(step.body().run(&mut db)).await;
                let implicitly_committed = db.sent_implicit_commit();
                // From the first statement that commits by itself, the unfinished row is committed.
                *in_progress |= !atomic && implicitly_committed;
                // A statement that gave up on a lock before any other ran left nothing
                // but, if it commits implicitly, the unfinished row, cleared below.
                let first_gave_up = db.executed() == 1 && ran.as_ref().is_err_and(crate::backend::is_lock_timeout);
                undone_by_rollback = !implicitly_committed || first_gave_up;
                *notes = db.take_notes();
                ran?;
                self.record(tx.conn(), step, atomic, started, implicitly_committed).await
            }
            .await;
            let outcome = finish(tx, in_tx).await;
            if set_back {
                self.end_own_lock_wait(conn).await;
            }
            if outcome.is_err() && *in_progress && undone_by_rollback {
                // Only rows changed, and the rollback undid them: the step left nothing behind.
                match self.clear_in_progress(conn, step).await {
                    Ok(()) => *in_progress = false,
                    Err(error) => {
                        tracing::error!(%error, "could not clear the unfinished row of a rolled-back step")
                    }
                }
            }
            (outcome, undone_by_rollback)
        } else {
            let set_back = match own_lock_wait {
                Some(lock_wait) => match conn.as_ref().set_lock_wait(lock_wait, false).await {
                    Ok(set_back) => set_back,
                    Err(error) => return (Err(error), false),
                },
                None => false,
            };
            let outcome = async {
                let mut db = self.db_for(step, conn.as_ref(), transcript);
                let ran = panic::catch(step.body().run(&mut db)).await;
                *notes = db.take_notes();
                ran?;
                if self.records_alone(conn.backend(), step) {
                    return self.record(conn.as_ref(), step, atomic, started, false).await;
                }
                let mut tx = conn.begin().await?;
                let recorded = self.record(tx.conn(), step, atomic, started, false).await;
                finish(tx, recorded).await
            }
            .await;
            if set_back {
                self.end_own_lock_wait(conn).await;
            }
            (outcome, false)
        }
    }

    /// Writes a failure to the audit log on the run's connection, or, when
    /// that connection died with the step, on a new one.
    async fn log_failure(&self, conn: &mut Connection, entry: &LogEntry) -> Result<()> {
        let Err(first) = history::append_log(conn.as_ref(), self.tables, entry).await else { return Ok(()) };
        tracing::warn!(%first, "writing the failure to the audit log on a new connection");
        let mut fresh = conn.open_unpooled().await?;
        let written = history::append_log(fresh.as_ref(), self.tables, entry).await;
        let _ = fresh.close().await;
        written
    }

    /// Undoes [`StepRunner::mark_in_progress`] after a step whose changes were all rolled back.
    async fn clear_in_progress(&self, conn: &mut Connection, step: &Step) -> Result<()> {
        match step.action {
            StepAction::Apply => history::delete_applied(conn.as_ref(), self.tables, step.migration.version).await,
            StepAction::Revert => {
                history::set_state(conn.as_ref(), self.tables, step.migration.version, RowState::Applied).await
            }
        }
    }

    /// The run's analysis of the body `step` runs, when it made one.
    fn analysed(&self, step: &Step, backend: crate::backend::Backend) -> Option<Arc<Analysed>> {
        match step.action {
            StepAction::Apply => self.analyses?.made_for(step.migration.version, backend),
            StepAction::Revert => None,
        }
    }

    /// The handle a body gets: statements that would end the migration's
    /// transaction are refused as they are sent, and so are an applying body's
    /// destructive statements, unless the run is forced. What the body sends
    /// as `transcript` says is not read again.
    fn db_for<'c>(&self, step: &Step, conn: ConnRef<'c>, transcript: Option<&'c Transcript>) -> Db<'c> {
        let analysis = Replay::new(step.migration.analyzer(conn.backend()), transcript);
        Db::guarded(conn, step.migration.origin(), analysis, step.action == StepAction::Apply && !self.force)
            .in_migration(InMigration {
                version: step.migration.version,
                transaction: step.migration.transaction,
                reverting: step.action == StepAction::Revert,
                backfills: self.tables.backfills().sea(),
            })
    }

    /// Records a step that cannot be atomic as started: in its own commit
    /// outside a transaction, else in the step's transaction.
    async fn mark_in_progress(&self, conn: ConnRef<'_>, step: &Step) -> Result<()> {
        match step.action {
            StepAction::Apply => {
                history::insert_applied(conn, self.tables, &step.history_row(RowState::Applying, 0)).await
            }
            StepAction::Revert => {
                history::set_state(conn, self.tables, step.migration.version, RowState::Reverting).await
            }
        }
    }

    /// Writes the history change and the log entry of a finished step (in one
    /// round trip) on `conn`, after checking that this process still holds the
    /// lock; in the step's transaction, begun again when the body committed the
    /// one the step opened, or without one (see [`StepRunner::records_alone`]).
    async fn record(
        &self,
        mut conn: ConnRef<'_>,
        step: &Step,
        atomic: bool,
        started: Instant,
        implicitly_committed: bool,
    ) -> Result<()> {
        let migration = step.migration;
        // On SQLite the lease is renewed by the record's own round trip, or
        // checked by its writes while it is fresh; on PostgreSQL (an atomic
        // step) and MySQL/MariaDB the record checks the session lock.
        let renewal = self.guard.renewal_with_record(conn.backend(), atomic);
        let lock_held = match renewal {
            None => self.guard.held_with_record(conn.backend(), atomic),
            Some(_) => None,
        };
        if renewal.is_none() && lock_held.is_none() {
            self.guard.confirm_in_step(conn.reborrow(), &migration.label(), atomic).await?;
        }
        let duration_ms = millis(started.elapsed());
        // Begun with the history change when nothing else is written before it.
        let mut begin_with_history = implicitly_committed;
        if implicitly_committed && (step.action == StepAction::Revert || self.compat.is_some() || self.has_deferred()) {
            Db::new(conn.reborrow()).exec("BEGIN").await?;
            begin_with_history = false;
        }
        let row;
        let change = match (step.action, atomic) {
            (StepAction::Apply, true) => {
                row = step.history_row(RowState::Applied, duration_ms);
                HistoryChange::Insert(&row)
            }
            (StepAction::Apply, false) => {
                HistoryChange::Finish { version: migration.version, execution_ms: duration_ms }
            }
            (StepAction::Revert, _) => {
                let backfills = self.tables.backfills();
                crate::backfill::forget(conn.reborrow(), &backfills.sea(), &backfills.to_string(), migration.version)
                    .await?;
                HistoryChange::Delete(migration.version)
            }
        };
        self.record_compat(conn.reborrow(), step, duration_ms).await?;
        let entry = LogEntry {
            version: migration.version,
            name: migration.name.to_owned(),
            action: match step.action {
                StepAction::Apply => Action::Apply,
                StepAction::Revert => Action::Revert,
            },
            duration_ms,
            batch: step.batch,
            error: None,
        };
        self.write_deferred(conn.reborrow()).await?;
        let next = step.marks_next.map(|ahead| {
            let next = Step::new(ahead.migration, StepAction::Apply, step.batch, ahead.seq);
            next.history_row(RowState::Applying, 0)
        });
        let renews = renewal.is_some();
        // A session lock's connection can say whether another process took
        // the lock; SQLite's would wait for this transaction.
        let checks_lock = lock_held.is_some() && conn.backend() != Backend::Sqlite;
        let record = StepRecord {
            change,
            entry: &entry,
            next: next.as_ref(),
            renewal,
            lock_held,
            after_implicit_commit: begin_with_history,
        };
        let recorded = match history::record_step(conn.reborrow(), self.tables, record).await {
            // A process that took the lock over may have written what this one could not.
            Err(error) if checks_lock => {
                self.guard.check(&migration.label()).await?;
                return Err(error);
            }
            recorded => recorded?,
        };
        match recorded {
            Some(renewed) if renews => {
                self.guard.after_renewal(conn.reborrow(), &migration.label(), atomic, renewed).await?
            }
            Some(held) => self.guard.after_held_check(conn.reborrow(), &migration.label(), atomic, held).await?,
            None => {}
        }
        Ok(())
    }

    /// Whether the record of `step`, which did not run in a transaction, is
    /// one statement with nothing sent before it, and so needs no
    /// transaction of its own: on PostgreSQL, an apply (a revert first
    /// forgets its backfills) under a session lock (a lease is renewed first),
    /// with no other tool's table kept in step and no writes deferred to it.
    fn records_alone(&self, backend: Backend, step: &Step) -> bool {
        backend == Backend::Postgres
            && step.action == StepAction::Apply
            && !self.guard.is_lease()
            && self.compat.is_none()
            && !self.has_deferred()
    }

    /// The step to write the unfinished row of with the record of `step`,
    /// when `next` is applied right after it and needs one: a migration that
    /// cannot be atomic. Its row is then committed before it starts without a
    /// commit of its own.
    pub(crate) fn ahead(&self, conn: &Connection, step: &Step, next: &'static Migration, seq: i64) -> Option<Ahead> {
        let atomic = next.transaction && conn.backend().transactional_ddl();
        (step.action == StepAction::Apply && !atomic).then(|| Ahead {
            migration: next,
            seq,
            confirmed: self.guard.confirmed_in_every_step(conn.backend()) || step.is_atomic(conn),
        })
    }
}

impl StepRunner<'_> {
    /// Writes or deletes the row of the tool kept in step (`compat`) for a
    /// finished step, on the connection (and in the transaction) of our own row.
    async fn record_compat(&self, conn: ConnRef<'_>, step: &Step, duration_ms: i64) -> Result<()> {
        let Some(compat) = self.compat else { return Ok(()) };
        match step.action {
            StepAction::Apply => compat::record_applied(conn, compat, step.migration, duration_ms).await,
            StepAction::Revert => compat::record_reverted(conn, compat, step.migration).await,
        }
    }
}

/// A try of a step that gave up on a lock: which one, under what limits,
/// the pause before the next, and how long it took.
#[derive(Clone, Copy)]
struct LockRetry {
    tries: u32,
    limits: StatementLimits,
    pause: Duration,
    took: Duration,
}

/// Commits after success, rolls back after an error.
async fn finish(tx: Tx<'_>, outcome: Result<()>) -> Result<()> {
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

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
