//! Applying and reverting: `up`, `down` and `redo`, each planned and run
//! under the lock, step by step, with the hooks around them.

use crate::backend::Connection;
use crate::engine::analyses::RunAnalyses;
use crate::engine::bound::Bound;
use crate::engine::plan::{self, ApplyStep};
use crate::engine::step::{Ahead, Marked, Step, StepFailure};
use crate::engine::{
    ApplyReport, Migrator, Preview, RevertReport, RevertScope, Scope, StepAction, StepReport, next_batch, safety,
};
use crate::error::{AdoptError, Error, Result};
use crate::history::{self, AppliedMigration, RowState};
use crate::lock::LockGuard;
use crate::sql::layout::HookPoint;
use crate::version::Version;

impl Migrator {
    /// Applies the pending migrations `scope` names, in the migration order,
    /// and stops at the first failure (see [`Migrator::keep_going`]).
    ///
    /// The state is read once without the lock first: when nothing is
    /// pending, dirty or modified, that read is all the call costs.
    ///
    /// ```no_run
    /// # async fn migrate() -> migrations_rs::Result<()> {
    /// use migrations_rs::{Connection, DatabaseUrl, Migrator, Scope};
    ///
    /// let migrator = Migrator::from_linked()?;
    /// let mut conn = Connection::connect(&DatabaseUrl::parse("sqlite://app.db?mode=rwc")?).await?;
    /// let report = migrator.up(&mut conn, Scope::All).await?;
    /// for step in &report.applied {
    ///     println!("applied {} {} in {:?}", step.version, step.name, step.duration);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn up(&self, conn: &mut Connection, scope: Scope) -> Result<ApplyReport> {
        Ok(self.apply(conn, &scope).await?.0)
    }

    /// Reverts the applied migrations `scope` names, dependents before what
    /// they depend on.
    ///
    /// ```no_run
    /// # async fn undo() -> migrations_rs::Result<()> {
    /// use migrations_rs::{Connection, DatabaseUrl, Migrator, RevertScope};
    ///
    /// let migrator = Migrator::from_linked()?;
    /// let mut conn = Connection::connect(&DatabaseUrl::parse("sqlite://app.db")?).await?;
    /// let report = migrator.down(&mut conn, RevertScope::LastBatch).await?;
    /// println!("{} reverted", report.reverted.len());
    /// # Ok(()) }
    /// ```
    pub async fn down(&self, conn: &mut Connection, scope: RevertScope) -> Result<RevertReport> {
        let conn = &mut self.bind(conn)?;
        self.locked(conn, async |conn: &mut Bound<'_>, guard: &LockGuard| {
            let rows = self
                .approved_rows(conn, |rows| {
                    self.refuse_dirty(rows)?;
                    self.down_preview(rows, &scope)
                })
                .await?;
            self.revert(conn, guard, &rows, &scope, self.strict_revert).await
        })
        .await
    }

    /// Reverts the last `steps` applied migrations and applies them again, under one lock.
    pub async fn redo(&self, conn: &mut Connection, steps: usize) -> Result<(RevertReport, ApplyReport)> {
        let conn = &mut self.bind(conn)?;
        let scope = RevertScope::Steps(steps);
        self.locked(conn, async |conn: &mut Bound<'_>, guard: &LockGuard| {
            let rows = self
                .approved_rows(conn, |rows| {
                    self.refuse_dirty(rows)?;
                    Ok(Preview { action: "redo", ..self.down_preview(rows, &scope)? })
                })
                .await?;
            let analyses = RunAnalyses::default();
            if let Ok(plan) = self.plan_revert(&rows, &scope, true) {
                // Refused before anything is reverted, not halfway.
                self.refuse_unacknowledged(conn, &plan.steps, &analyses).await?;
            }
            // Strict: a redo that stopped half-way would leave the reverted steps unapplied.
            let reverted = self.revert(conn, guard, &rows, &scope, true).await?;
            let again: Vec<Version> = reverted.reverted.iter().map(|s| s.version).collect();
            let rows = self.read_state(conn).await?;
            let applied = self.apply_versions(conn, guard, &rows, &again, &analyses).await?;
            Ok((reverted, applied))
        })
        .await
    }

    /// What [`Migrator::up`] does, and whether it took the lock: only when
    /// the read without it found something to do or to refuse.
    pub(crate) async fn apply(&self, conn: &mut Connection, scope: &Scope) -> Result<(ApplyReport, bool)> {
        let conn = &mut self.bind(conn)?;
        if let Some(report) = self.nothing_pending(conn, scope).await? {
            return Ok((report, false));
        }
        // Each pending `up` is analysed once, for the refusals before and under the lock and its step's guard.
        let analyses = RunAnalyses::default();
        self.refuse_before_lock(conn, scope, &analyses).await?;
        let report = self
            .locked(conn, async |conn: &mut Bound<'_>, guard: &LockGuard| {
                self.up_locked(conn, guard, scope, &analyses).await
            })
            .await?;
        Ok((report, true))
    }

    /// Refuses a plan that would apply migrations whose `up` does nothing and
    /// that do not say `empty`: they would be recorded as done.
    fn refuse_empty(&self, plan: &[ApplyStep]) -> Result<()> {
        let empty: Vec<String> = plan
            .iter()
            .map(|s| s.migration)
            .filter(|m| m.empty_up)
            .map(|m| format!("{} ({})", m.label(), m.location()))
            .collect();
        if empty.is_empty() { Ok(()) } else { Err(Error::EmptyMigration { migrations: empty }) }
    }

    /// Refuses a run whose plan, as read without the lock and without creating
    /// any table, holds statements the run would refuse: a refusal then leaves
    /// the database exactly as it was, bookkeeping tables included. The run
    /// under the lock reads the plan again and checks it again.
    async fn refuse_before_lock(&self, conn: &mut Bound<'_>, scope: &Scope, analyses: &RunAnalyses) -> Result<()> {
        let rows = self.rows(conn).await?;
        // A plan that cannot be made is reported by the run under the lock, with the state it reads there.
        if let Ok(plan) = self.plan_scope(&rows, scope) {
            self.refuse_empty(&plan)?;
            let migrations: Vec<_> = plan.iter().map(|s| s.migration).collect();
            self.refuse_unacknowledged(conn, &migrations, analyses).await?;
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
    async fn nothing_pending(&self, conn: &mut Bound<'_>, scope: &Scope) -> Result<Option<ApplyReport>> {
        let target = match scope {
            Scope::All => None,
            Scope::UpTo(target) => Some(*target),
            // A module's plan is part of the whole plan, but naming an unknown module is an error to report.
            Scope::Module(_) => return Ok(None),
        };
        let graph = self.registry.graph();
        let mut applied: Vec<Version> = Vec::with_capacity(self.registry.len());
        // Counted while the rows stream in: with all applied and none repeated, nothing is pending.
        let (mut clean, mut known) = (true, 0);
        let read = history::for_each_summary(conn.as_ref(), &self.tables, |row| {
            applied.push(row.version);
            match self.registry.get(row.version) {
                Some(migration) => {
                    known += 1;
                    clean &= row.state == RowState::Applied && migration.checksum.matches_hex_bytes(row.checksum);
                }
                None => clean &= row.state == RowState::Applied,
            }
        })
        .await?;
        // A row that could not be framed, or a state to act on: the run under the lock reads it typed.
        if read != Some(history::Read::Whole) || !clean {
            return Ok(None);
        }
        history::refuse_duplicates(&self.tables, &mut applied)?;
        let everything = known == graph.len() && target.is_none();
        if !everything && !matches!(graph.plan_apply(&applied, target), Ok(plan) if plan.is_empty()) {
            return Ok(None);
        }
        let missing_from_code =
            if known == applied.len() { Vec::new() } else { self.missing_from_code(&self.rows(conn).await?) };
        Ok(Some(ApplyReport { applied: Vec::new(), batch: None, missing_from_code, backup: None }))
    }

    async fn up_locked(
        &self,
        conn: &mut Bound<'_>,
        guard: &LockGuard,
        scope: &Scope,
        analyses: &RunAnalyses,
    ) -> Result<ApplyReport> {
        if !self.ignore_foreign_history {
            let found = self.unadopted(conn).await?;
            if !found.is_empty() {
                return Err(Error::Adopt(AdoptError::NotAdopted { tool: found[0].tool.name(), found }));
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
            let late: Vec<String> = plan.iter().filter(|s| s.out_of_order).map(|s| s.migration.label()).collect();
            if !late.is_empty() {
                return Err(Error::OutOfOrder { pending: late });
            }
        }
        self.apply_plan(conn, guard, &rows, &plan, self.keep_going, analyses).await
    }

    /// Applies exactly `versions`, in the migration order.
    async fn apply_versions(
        &self,
        conn: &mut Bound<'_>,
        guard: &LockGuard,
        rows: &[AppliedMigration],
        versions: &[Version],
        analyses: &RunAnalyses,
    ) -> Result<ApplyReport> {
        let plan: Vec<ApplyStep> = self
            .plan_scope(rows, &Scope::All)?
            .into_iter()
            .filter(|s| versions.contains(&s.migration.version))
            .collect();
        self.apply_plan(conn, guard, rows, &plan, false, analyses).await
    }

    async fn apply_plan(
        &self,
        conn: &mut Bound<'_>,
        guard: &LockGuard,
        rows: &[AppliedMigration],
        plan: &[ApplyStep],
        keep_going: bool,
        analyses: &RunAnalyses,
    ) -> Result<ApplyReport> {
        let batch = next_batch(conn, &self.tables, rows).await?;
        let last_seq = rows.iter().map(|a| a.seq).max().unwrap_or(0);
        let migrations: Vec<_> = plan.iter().map(|s| s.migration).collect();
        let backup = self.prepare_apply(conn, &migrations, analyses).await?;
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
            self.run_hook(conn, HookPoint::BeforeRun, first.migration.version, batch).await?;
        }
        let runner = self.step_runner(guard).with_analyses(analyses);
        // The step whose unfinished row the last step's record committed, until it starts.
        let mut marked: Option<Ahead> = None;
        // The run's lock wait stays set on its connection from the first step to the last.
        let ran: Result<()> = async {
            for (index, planned) in plan.iter().enumerate() {
                let migration = planned.migration;
                let blocked = |version: Version, failed: &[(Version, Error)], skipped: &[Version]| {
                    !failed.is_empty()
                        && self
                            .registry
                            .graph()
                            .ancestors(version)
                            .any(|v| failed.iter().any(|(f, _)| *f == v) || skipped.contains(&v))
                };
                if blocked(migration.version, &failed, &skipped) {
                    skipped.push(migration.version);
                    continue;
                }
                let seq = last_seq + 1 + report.applied.len() as i64;
                let mut step = Step::new(migration, StepAction::Apply, batch, seq);
                if let Some(ahead) = marked.filter(|ahead| ahead.migration.version == migration.version) {
                    step.marked = Marked::WithPrevious { confirmed: ahead.confirmed };
                }
                step.marks_next = plan
                    .get(index + 1)
                    .filter(|next| !blocked(next.migration.version, &failed, &skipped))
                    .and_then(|next| runner.ahead(conn, &step, next.migration, seq + 1));
                self.run_hook(conn, HookPoint::BeforeEach, migration.version, batch).await?;
                marked = None;
                match runner.run(conn, &step, index, plan.len()).await {
                    Ok((duration, notes)) => {
                        marked = step.marks_next;
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
                        let error = cause.into_error(&step, &report.applied);
                        if !keep_going {
                            return Err(error);
                        }
                        // A dirty failure stays recorded and blocks later runs until resolved;
                        // this run goes on only with what does not depend on it.
                        failed.push((migration.version, error));
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Some(ahead) = marked
            && guard.lost_reason().is_none()
        {
            // The run stopped between the step that wrote it and the step it is for.
            if let Err(error) = history::delete_applied(conn.as_ref(), &self.tables, ahead.migration.version).await {
                tracing::error!(%error, version = %ahead.migration.version, "could not clear the unfinished row of a step that never started");
            }
        }
        runner.restore_session(conn).await;
        ran?;
        if failed.is_empty() {
            if let Some(last) = report.applied.last() {
                self.run_hook(conn, HookPoint::AfterRun, last.version, batch).await?;
            }
            return Ok(report);
        }
        let label = |version: &Version| plan::record(&self.registry, *version).label();
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

    /// Reverts what `scope` names from these rows, under the lock.
    async fn revert(
        &self,
        conn: &mut Bound<'_>,
        guard: &LockGuard,
        rows: &[AppliedMigration],
        scope: &RevertScope,
        strict: bool,
    ) -> Result<RevertReport> {
        self.refuse_dirty(rows)?;
        let plan = self.plan_revert(rows, scope, strict)?;
        if !self.revert_modified {
            let versions = plan.versions();
            self.verify_checksums(rows.iter().filter(|a| versions.contains(&a.version)))?;
        }
        let batch = next_batch(conn, &self.tables, rows).await?;
        let backup = self.prepare_revert(conn, &plan.steps).await?;
        let warnings = plan.steps.iter().copied().flat_map(safety::revert_warnings).collect::<Vec<_>>();
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let mut report = RevertReport { reverted: Vec::with_capacity(plan.steps.len()), backup, warnings };
        tracing::info!(steps = plan.steps.len(), "reverting migrations");
        if let Some(first) = plan.steps.first() {
            self.run_hook(conn, HookPoint::BeforeRun, first.version, batch).await?;
        }
        let runner = self.step_runner(guard);
        // The run's lock wait stays set on its connection from the first step to the last.
        let ran: Result<()> = async {
            for (index, migration) in plan.steps.iter().copied().enumerate() {
                let step = Step::new(migration, StepAction::Revert, batch, 0);
                self.run_hook(conn, HookPoint::BeforeEach, migration.version, batch).await?;
                let (duration, notes) = runner
                    .run(conn, &step, index, plan.steps.len())
                    .await
                    .map_err(|cause: StepFailure| cause.into_error(&step, &report.reverted))?;
                report.reverted.push(StepReport {
                    version: migration.version,
                    name: migration.name,
                    duration,
                    out_of_order: false,
                    notes,
                });
                self.run_hook(conn, HookPoint::AfterEach, migration.version, batch).await?;
            }
            Ok(())
        }
        .await;
        runner.restore_session(conn).await;
        ran?;
        if let Some(last) = plan.steps.last() {
            self.run_hook(conn, HookPoint::AfterRun, last.version, batch).await?;
        }
        if let Some(migration) = plan.stops_at {
            return Err(Error::RevertStopped {
                label: migration.label(),
                location: migration.location().to_string(),
                reverted: report.reverted,
            });
        }
        Ok(report)
    }
}

/// The database's or the body's own error inside a failed step, for lists of failures.
fn cause_of(error: &Error) -> String {
    match error {
        Error::MigrationFailed { cause, dirty: true, version, .. } => format!(
            "{cause} (left dirty: fix the database, then `mark-applied {version}` or `mark-reverted {version}`)"
        ),
        Error::MigrationFailed { cause, .. } => cause.to_string(),
        other => other.to_string(),
    }
}
