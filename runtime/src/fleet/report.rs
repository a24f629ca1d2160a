//! What a fleet run reports: one [`TargetReport`] per target, in the order
//! of the list, and a [`FleetSummary`] of how many ended each way.

use crate::engine::ExpectedFrom;
use crate::error::Error;
use crate::remedy::Remedy;
use crate::step_report::StepReport;
use crate::version::Version;
use std::time::Duration;

/// The state of a target's migrations, as far as the run knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Every migration applied and unchanged.
    UpToDate,
    /// Migrations to apply (or applied ones whose code changed).
    Pending,
    /// A migration left partly done: nothing runs until it is resolved.
    Dirty,
    /// `validate` found problems.
    Invalid,
    /// `drift` found the live schema differs from the one the applied migrations produce.
    Drifted,
    /// Not known: the target could not be read, or was not started.
    Unknown,
}

/// How one target's part of a fleet run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetOutcome {
    /// Nothing to do: up to date (and valid, for `validate`; without drift, for `drift`).
    UpToDate,
    /// `up` applied pending migrations.
    Migrated,
    /// `status` found migrations to apply, or a migration left dirty.
    Pending,
    /// `validate` found problems.
    Invalid,
    /// `drift` found the live schema differs from the one the applied
    /// migrations produce: see the report's `differences`.
    Drifted,
    /// The target could not be reached, or a migration failed: see the report's `error`.
    Failed,
    /// Not started: an earlier failure stopped the run, or a canary failed.
    Skipped,
}

/// Why a target failed, with what can be done about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetError {
    /// The error, in words (URLs without their password).
    pub message: String,
    /// The migration that failed, when one did.
    pub version: Option<Version>,
    /// What can be done about it ([`Error::remedies`]).
    pub remedies: Vec<Remedy>,
}

impl TargetError {
    pub(crate) fn new(error: &Error) -> Self {
        let version = match error {
            Error::MigrationFailed { version, .. } | Error::Dirty { version, .. } => Some(*version),
            _ => None,
        };
        TargetError { message: crate::url::redact_text(&error.to_string()), version, remedies: error.remedies() }
    }
}

/// What a fleet run did on one target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetReport {
    /// The target's name: its schema's, database's or SQLite file's name.
    pub name: String,
    /// Where it is, without any password.
    pub location: String,
    /// How its part ended.
    pub outcome: TargetOutcome,
    /// Its state before the run, as far as known.
    pub before: TargetState,
    /// Its state after the run, as far as known.
    pub after: TargetState,
    /// Migrations not applied yet (after the run), when they were counted.
    pub pending: Option<usize>,
    /// For `status`, the versions not applied yet, in the order `up` would apply them.
    pub pending_versions: Vec<Version>,
    /// What `up` applied on it, including what it applied before a failure.
    pub applied: Vec<StepReport>,
    /// What `validate` found wrong.
    pub problems: Vec<String>,
    /// What `drift` found: each difference in words, the live schema
    /// compared with the one the applied migrations produce.
    pub differences: Vec<String>,
    /// For `drift`, where the expected schema came from: the schema file, or
    /// a scratch database beside the target.
    pub expected_from: Option<ExpectedFrom>,
    /// For `drift`, why the schema file was not used, when there is one
    /// (another applied state, another backend, a file that cannot be read).
    pub expected_note: Option<String>,
    /// Whether the run took the target's migration lock: only when its one
    /// read found something to do.
    pub took_lock: bool,
    /// Whether the target was in the canary wave.
    pub canary: bool,
    /// Why it failed or was skipped.
    pub error: Option<TargetError>,
    /// How long its part took, connecting included.
    #[serde(rename = "duration_ms", serialize_with = "crate::serialize::millis")]
    pub duration: Duration,
}

impl TargetReport {
    /// Whether the target ended up to date (and valid, for `validate`;
    /// without drift, for `drift`).
    pub fn is_up_to_date(&self) -> bool {
        matches!(self.outcome, TargetOutcome::UpToDate | TargetOutcome::Migrated)
    }

    /// A report for a target that was not started, saying why.
    pub(crate) fn skipped(name: String, location: String, canary: bool, why: &str) -> Self {
        let why = TargetError { message: why.to_owned(), version: None, remedies: vec![Remedy::FixAndRetry] };
        TargetReport { error: Some(why), ..Self::blank(name, location, canary, TargetOutcome::Skipped) }
    }

    /// A report with `outcome` and nothing known yet of the target's state.
    pub(crate) fn blank(name: String, location: String, canary: bool, outcome: TargetOutcome) -> Self {
        TargetReport {
            name,
            location,
            outcome,
            before: TargetState::Unknown,
            after: TargetState::Unknown,
            pending: None,
            pending_versions: Vec::new(),
            applied: Vec::new(),
            problems: Vec::new(),
            differences: Vec::new(),
            expected_from: None,
            expected_note: None,
            took_lock: false,
            canary,
            error: None,
            duration: Duration::ZERO,
        }
    }
}

/// How many targets ended each way.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FleetSummary {
    /// Every target of the run.
    pub targets: usize,
    /// Up to date with nothing to do.
    pub up_to_date: usize,
    /// Brought up to date by this run.
    pub migrated: usize,
    /// Found not up to date by `status`.
    pub pending: usize,
    /// Found invalid by `validate`.
    pub invalid: usize,
    /// Found drifted by `drift`.
    pub drifted: usize,
    /// Unreachable, or a migration failed.
    pub failed: usize,
    /// Not started.
    pub skipped: usize,
    /// How long the whole run took.
    #[serde(rename = "duration_ms", serialize_with = "crate::serialize::millis")]
    pub duration: Duration,
}

/// What a fleet run did: every target's report, in the order of the list, and the counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FleetReport {
    /// `up`, `status`, `validate` or `drift`.
    pub operation: &'static str,
    /// One report per target.
    pub targets: Vec<TargetReport>,
    /// How many ended each way.
    pub summary: FleetSummary,
}

impl FleetReport {
    pub(crate) fn new(operation: &'static str, targets: Vec<TargetReport>, duration: Duration) -> Self {
        let mut summary = FleetSummary { targets: targets.len(), duration, ..FleetSummary::default() };
        for target in &targets {
            *match target.outcome {
                TargetOutcome::UpToDate => &mut summary.up_to_date,
                TargetOutcome::Migrated => &mut summary.migrated,
                TargetOutcome::Pending => &mut summary.pending,
                TargetOutcome::Invalid => &mut summary.invalid,
                TargetOutcome::Drifted => &mut summary.drifted,
                TargetOutcome::Failed => &mut summary.failed,
                TargetOutcome::Skipped => &mut summary.skipped,
            } += 1;
        }
        FleetReport { operation, targets, summary }
    }

    /// Whether every target ended up to date (and valid, for `validate`;
    /// without drift, for `drift`).
    pub fn is_up_to_date(&self) -> bool {
        self.targets.iter().all(TargetReport::is_up_to_date)
    }

    /// Whether any target failed or was skipped (rather than only found behind, invalid or drifted).
    pub fn has_failures(&self) -> bool {
        self.summary.failed > 0 || self.summary.skipped > 0
    }
}
