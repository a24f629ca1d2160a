//! Running one operation over a fleet: bounded concurrency, a canary wave
//! first, stopping or going on after a failure, and a report per target.
//! Each target is worked on through the [`Migrator`] alone: a target with
//! nothing pending costs one read and takes no lock, as [`Migrator::up`] does.

use crate::engine::{DriftOptions, Migrator, Scope};
use crate::error::{Error, FleetError, Result};
use crate::fleet::report::{FleetReport, TargetError, TargetOutcome, TargetReport, TargetState};
use crate::fleet::target::{Target, Targets};
use crate::history::Tables;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::fmt;
use std::time::Instant;

/// How many targets a fleet works on at once unless told otherwise.
pub const DEFAULT_PARALLEL: usize = 4;

type MigratorFactory<'a> = Box<dyn Fn() -> Result<Migrator> + Send + Sync + 'a>;
type TargetCallback<'a> = Box<dyn Fn(&TargetReport) + Send + Sync + 'a>;

/// One plan, many databases: runs `up`, `status`, `validate` or `drift` on
/// every target of a list, a few at a time, and reports each.
///
/// - At most [`Fleet::parallel`] targets are worked on at once.
/// - `up` with [`Fleet::canary`] `K` brings the first `K` targets up first,
///   and starts the rest only if every one of them succeeded.
/// - `up` stops at the first failed target unless [`Fleet::keep_going`]:
///   no target is started after it, the ones already running finish, and the
///   rest are reported as skipped. `status`, `validate` and `drift` read every target.
/// - A schema target ([`Target::schema`]) keeps its history, audit log and
///   lock tables in its schema, and its lock is its own: two tenants of one
///   database never wait for each other.
///
/// ```no_run
/// # async fn roll_out() -> migrations_rs::Result<()> {
/// use migrations_rs::fleet::{Fleet, Targets};
/// use migrations_rs::{DatabaseUrl, Scope};
///
/// let control = DatabaseUrl::parse("postgres://app@db/control")?;
/// let targets = Targets::from_url_query(&control, "SELECT url FROM tenants ORDER BY id").await?;
/// let report = Fleet::new(targets).parallel(8).canary(2).up(Scope::All).await;
/// for target in &report.targets {
///     println!("{}: {:?}", target.name, target.outcome);
/// }
/// assert!(report.is_up_to_date());
/// # Ok(()) }
/// ```
pub struct Fleet<'a> {
    targets: Targets,
    migrator: MigratorFactory<'a>,
    parallel: usize,
    canary: usize,
    keep_going: bool,
    init_sql: Vec<String>,
    on_target: Option<TargetCallback<'a>>,
}

impl fmt::Debug for Fleet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("targets", &self.targets)
            .field("parallel", &self.parallel)
            .field("canary", &self.canary)
            .field("keep_going", &self.keep_going)
            .finish()
    }
}

/// What a fleet run does on each target.
#[derive(Debug, Clone, Copy)]
enum Operation<'s> {
    Up(&'s Scope),
    Status,
    Validate,
    Drift(&'s DriftOptions),
}

impl Operation<'_> {
    fn name(self) -> &'static str {
        match self {
            Operation::Up(_) => "up",
            Operation::Status => "status",
            Operation::Validate => "validate",
            Operation::Drift(_) => "drift",
        }
    }
}

impl<'a> Fleet<'a> {
    /// A fleet over `targets`, with the migrations linked into this program,
    /// [`DEFAULT_PARALLEL`] targets at a time, no canary, stopping `up` at the first failure.
    pub fn new(targets: Targets) -> Self {
        Fleet {
            targets,
            migrator: Box::new(Migrator::from_linked),
            parallel: DEFAULT_PARALLEL,
            canary: 0,
            keep_going: false,
            init_sql: Vec::new(),
            on_target: None,
        }
    }

    /// Builds each target's migrator with `make` (its registry, options and
    /// tables) instead of over every linked migration. For a schema target,
    /// the tables are then moved into the target's schema.
    pub fn migrator(mut self, make: impl Fn() -> Result<Migrator> + Send + Sync + 'a) -> Self {
        self.migrator = Box::new(make);
        self
    }

    /// Works on at most `parallel` targets at once (at least one).
    pub fn parallel(mut self, parallel: usize) -> Self {
        self.parallel = parallel.max(1);
        self
    }

    /// `up` brings the first `canary` targets up to date first, and starts
    /// the others only if all of them succeeded.
    pub fn canary(mut self, canary: usize) -> Self {
        self.canary = canary;
        self
    }

    /// `up` goes on past a failed target instead of starting no more targets.
    pub fn keep_going(mut self, keep_going: bool) -> Self {
        self.keep_going = keep_going;
        self
    }

    /// SQL run on every connection to every target, such as session settings.
    pub fn init_sql(mut self, statements: Vec<String>) -> Self {
        self.init_sql = statements;
        self
    }

    /// Calls `report` as each target finishes (or is skipped), in the order they finish.
    pub fn on_target(mut self, report: impl Fn(&TargetReport) + Send + Sync + 'a) -> Self {
        self.on_target = Some(Box::new(report));
        self
    }

    /// The targets, in order.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Applies what `scope` names on every target.
    pub async fn up(&self, scope: Scope) -> FleetReport {
        self.run(Operation::Up(&scope)).await
    }

    /// Reads every target's state: one read each, no lock, nothing changed.
    pub async fn status(&self) -> FleetReport {
        self.run(Operation::Status).await
    }

    /// Checks every target against the migrations: changed checksums,
    /// unfinished runs, migrations missing from the code.
    pub async fn validate(&self) -> FleetReport {
        self.run(Operation::Validate).await
    }

    /// Compares every target's live schema with the one the applied
    /// migrations produce, as [`Migrator::drift`] does on one database: a
    /// target whose schema differs is [`TargetOutcome::Drifted`], its
    /// differences in its report. The expected schema is read from the
    /// schema file when it records the target's applied state (so a fleet
    /// of identical databases creates no scratch database at all), else
    /// built on a scratch database beside the target.
    ///
    /// Refused before anything runs ([`FleetError`]) over schema targets
    /// (the live schema is read from every schema of a database, so one
    /// tenant's cannot be compared alone), and with
    /// [`DriftOptions::write`] or [`DriftOptions::scratch_url`], which work
    /// on one database at a time.
    pub async fn drift(&self, options: &DriftOptions) -> Result<FleetReport> {
        let schemas: Vec<String> =
            self.targets.iter().filter(|t| t.schema_name().is_some()).map(Target::name).collect();
        if !schemas.is_empty() {
            return Err(FleetError::DriftOverSchemas { schemas }.into());
        }
        if options.writes() {
            return Err(FleetError::DriftOptionOverFleet {
                what: "write the schema file".to_owned(),
                why: "every target would write the same file; write it from one database (Migrator::drift with \
                      DriftOptions::write), then run drift over the fleet against it"
                    .to_owned(),
            }
            .into());
        }
        if options.has_scratch_url() {
            return Err(FleetError::DriftOptionOverFleet {
                what: "share one scratch database".to_owned(),
                why: "targets worked on at once would build their schemas in it together; leave out \
                      DriftOptions::scratch_url so each target gets a scratch database beside it, or give a \
                      schema file"
                    .to_owned(),
            }
            .into());
        }
        Ok(self.run(Operation::Drift(options)).await)
    }

    async fn run(&self, operation: Operation<'_>) -> FleetReport {
        let started = Instant::now();
        let targets: Vec<&Target> = self.targets.iter().collect();
        let mut reports: Vec<Option<TargetReport>> = vec![None; targets.len()];
        let is_up = matches!(operation, Operation::Up(_));
        let canary = if is_up { self.canary.min(targets.len()) } else { 0 };
        let stop_on_failure = is_up && !self.keep_going;
        let (first, rest): (Vec<usize>, Vec<usize>) = ((0..canary).collect(), (canary..targets.len()).collect());
        let canary_failed = self.wave(&targets, &first, true, operation, stop_on_failure, &mut reports).await;
        if canary_failed {
            self.skip(&targets, &rest, false, "not started: a canary target failed", &mut reports);
        } else {
            self.wave(&targets, &rest, false, operation, stop_on_failure, &mut reports).await;
        }
        let reports = reports.into_iter().flatten().collect();
        FleetReport::new(operation.name(), reports, started.elapsed())
    }

    /// Works on the targets at `indices`, at most `parallel` at once; returns
    /// whether any failed. After a failure with `stop_on_failure`, starts no
    /// more and reports the rest as skipped.
    async fn wave(
        &self,
        targets: &[&Target],
        indices: &[usize],
        canary: bool,
        operation: Operation<'_>,
        stop_on_failure: bool,
        reports: &mut [Option<TargetReport>],
    ) -> bool {
        let mut next = indices.iter().copied();
        let mut running = FuturesUnordered::new();
        let mut failed = false;
        loop {
            while !(failed && stop_on_failure) && running.len() < self.parallel {
                let Some(index) = next.next() else { break };
                let target = targets[index];
                running.push(async move { (index, self.one(target, canary, operation).await) });
            }
            let Some((index, report)) = running.next().await else { break };
            failed |= report.outcome == TargetOutcome::Failed;
            self.finished(&report);
            reports[index] = Some(report);
        }
        let left: Vec<usize> = next.collect();
        self.skip(targets, &left, canary, "not started: the run stopped after a failed target", reports);
        failed
    }

    fn skip(
        &self,
        targets: &[&Target],
        indices: &[usize],
        canary: bool,
        why: &str,
        reports: &mut [Option<TargetReport>],
    ) {
        for &index in indices {
            let target = targets[index];
            let report = TargetReport::skipped(target.name(), target.location(), canary, why);
            self.finished(&report);
            reports[index] = Some(report);
        }
    }

    fn finished(&self, report: &TargetReport) {
        if let Some(callback) = &self.on_target {
            callback(report);
        }
    }

    /// One target's part: connect, do the operation, close.
    async fn one(&self, target: &Target, canary: bool, operation: Operation<'_>) -> TargetReport {
        let started = Instant::now();
        let mut report = TargetReport::blank(target.name(), target.location(), canary, TargetOutcome::Failed);
        let span = tracing::info_span!("migrations_rs::fleet", target = %report.name, operation = operation.name());
        let outcome = tracing::Instrument::instrument(self.work(target, operation, &mut report), span).await;
        if let Err(error) = outcome {
            report.outcome = TargetOutcome::Failed;
            if let Error::MigrationFailed { completed, dirty, .. } = &error {
                report.applied = completed.clone();
                report.before = TargetState::Pending;
                report.after = if *dirty { TargetState::Dirty } else { TargetState::Pending };
            }
            if matches!(error, Error::Dirty { .. }) {
                (report.before, report.after) = (TargetState::Dirty, TargetState::Dirty);
            }
            report.error = Some(TargetError::new(&error));
        }
        report.duration = started.elapsed();
        report
    }

    async fn work(&self, target: &Target, operation: Operation<'_>, report: &mut TargetReport) -> Result<()> {
        let migrator = self.migrator_for(target)?;
        if !matches!(operation, Operation::Up(_))
            && let Some(file) = target.missing_sqlite_file()
        {
            return Err(Error::msg(format!(
                "the SQLite database {} does not exist; reading a target creates nothing, bringing it up creates it",
                file.display()
            )));
        }
        let mut conn = target.connect(&self.init_sql).await?;
        let outcome = Self::operate(&migrator, &mut conn, operation, report).await;
        let _ = conn.close().await;
        outcome
    }

    async fn operate(
        migrator: &Migrator,
        conn: &mut crate::backend::Connection,
        operation: Operation<'_>,
        report: &mut TargetReport,
    ) -> Result<()> {
        match operation {
            Operation::Up(scope) => {
                let (applied, took_lock) = migrator.apply(conn, scope).await?;
                report.took_lock = took_lock;
                report.before = if applied.applied.is_empty() { TargetState::UpToDate } else { TargetState::Pending };
                report.after = TargetState::UpToDate;
                report.pending = Some(0);
                report.outcome =
                    if applied.applied.is_empty() { TargetOutcome::UpToDate } else { TargetOutcome::Migrated };
                report.applied = applied.applied;
            }
            Operation::Status => {
                let status = migrator.status(conn).await?;
                let dirty =
                    status.migrations.iter().any(|m| matches!(m.state, crate::engine::MigrationState::Dirty { .. }));
                let state = if status.is_up_to_date() {
                    TargetState::UpToDate
                } else if dirty {
                    TargetState::Dirty
                } else {
                    TargetState::Pending
                };
                (report.before, report.after) = (state, state);
                report.pending_versions = status.pending().map(|m| m.migration.version).collect();
                report.pending = Some(report.pending_versions.len());
                report.outcome =
                    if state == TargetState::UpToDate { TargetOutcome::UpToDate } else { TargetOutcome::Pending };
            }
            Operation::Validate => {
                let validation = migrator.validate(conn).await?;
                let state = if validation.is_valid() { TargetState::UpToDate } else { TargetState::Invalid };
                (report.before, report.after) = (state, state);
                report.outcome = if validation.is_valid() { TargetOutcome::UpToDate } else { TargetOutcome::Invalid };
                report.problems = validation.problems;
            }
            Operation::Drift(options) => {
                let drift = migrator.drift(conn, options).await?;
                let state = if drift.drifted { TargetState::Drifted } else { TargetState::UpToDate };
                (report.before, report.after) = (state, state);
                report.outcome = if drift.drifted { TargetOutcome::Drifted } else { TargetOutcome::UpToDate };
                report.expected_from = Some(drift.expected_from);
                report.expected_note = drift.note.map(|note| crate::url::redact_text(&note));
                report.differences = drift.changes;
            }
        }
        Ok(())
    }

    /// The target's migrator: for a schema, with its tables in that schema,
    /// so its history, log and lock are the schema's own.
    fn migrator_for(&self, target: &Target) -> Result<Migrator> {
        let migrator = (self.migrator)()?;
        let Some(schema) = target.schema_name() else { return Ok(migrator) };
        let tables = migrator.tables();
        let in_schema = |name: &crate::history::TableName| format!("{schema}.{}", name.name);
        let tables = Tables::new(&in_schema(tables.history()), &in_schema(tables.log()), &in_schema(tables.lock()))?;
        Ok(migrator.with_tables(tables))
    }
}
