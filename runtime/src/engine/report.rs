//! What the engine returns: reports of runs and the status of every migration.

use crate::backup::Backup;
use crate::engine::StepAction;
use crate::history::AppliedMigration;
use crate::record::Migration;
pub use crate::step_report::StepReport;
pub use compact_str::CompactString;
use std::time::Duration;

/// Reported as each step starts and ends, for progress displays.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A step is about to run.
    Started {
        /// Whether it applies or reverts.
        action: StepAction,
        /// The migration it runs.
        migration: &'a Migration,
        /// Its place in the run, from 0.
        index: usize,
        /// How many steps the run has.
        total: usize,
    },
    /// A step finished.
    Finished {
        /// Whether it applied or reverted.
        action: StepAction,
        /// The migration it ran.
        migration: &'a Migration,
        /// Its place in the run, from 0.
        index: usize,
        /// How many steps the run has.
        total: usize,
        /// How long it took.
        duration: Duration,
    },
}

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    /// The migrations applied, in order.
    pub applied: Vec<StepReport>,
    /// The batch number the applied migrations share, if any were applied.
    pub batch: Option<i64>,
    /// Applied migrations that are no longer in the code.
    pub missing_from_code: Vec<AppliedMigration>,
    /// The backup taken before the first risky migration, if the run had one.
    pub backup: Option<Backup>,
}

/// What `down` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevertReport {
    /// The migrations reverted, in order.
    pub reverted: Vec<StepReport>,
    /// The backup taken before reverting a `data` migration, if the run had one.
    pub backup: Option<Backup>,
    /// What reverting may lose.
    pub warnings: Vec<String>,
}

/// Every migration with its state, and what the database holds that the code does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// Every migration of this program, in the migration order.
    pub migrations: Vec<MigrationStatus>,
    /// Applied migrations this program does not have (a newer release may have applied them).
    pub missing_from_code: Vec<AppliedMigration>,
    /// Other tools' history tables with rows, when ours records nothing:
    /// what they applied is not adopted yet (`adopt`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unadopted: Vec<crate::foreign::ForeignTable>,
    /// Backfills running now or interrupted: read only when a migration is dirty, as theirs is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backfills: Vec<crate::backfill::BackfillCursor>,
}

impl Status {
    /// Nothing pending, dirty or changed since applied, nothing unknown applied.
    pub fn is_up_to_date(&self) -> bool {
        self.missing_from_code.is_empty()
            && self.migrations.iter().all(|m| matches!(m.state, MigrationState::Applied { checksum_matches: true, .. }))
    }

    /// The migrations not applied yet, in the migration order.
    pub fn pending(&self) -> impl Iterator<Item = &MigrationStatus> {
        self.migrations.iter().filter(|m| matches!(m.state, MigrationState::Pending { .. }))
    }
}

/// One migration and its state in the database: the migration's own record,
/// borrowed (serialised with its version, name, module, location and risk),
/// and what the history says of it.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    /// The migration, as registered.
    pub migration: &'static Migration,
    /// Whether it is applied, pending or left unfinished.
    pub state: MigrationState,
}

impl PartialEq for MigrationStatus {
    fn eq(&self, other: &Self) -> bool {
        // One record per version in a registry.
        self.migration.version == other.migration.version && self.state == other.state
    }
}

impl Eq for MigrationStatus {}

impl serde::Serialize for MigrationStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let migration = self.migration;
        let mut fields = serializer.serialize_struct("MigrationStatus", 6)?;
        fields.serialize_field("version", &migration.version)?;
        fields.serialize_field("name", migration.name)?;
        fields.serialize_field("module", migration.module)?;
        fields.serialize_field("location", &migration.location())?;
        fields.serialize_field("risk", migration.risk)?;
        fields.serialize_field("state", &self.state)?;
        fields.end()
    }
}

/// The state of one migration in the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MigrationState {
    /// Applied, as the history records it.
    Applied {
        /// When it was applied, as recorded (RFC 3339).
        applied_at: CompactString,
        /// Who applied it: user and host.
        applied_by: CompactString,
        /// How long it took, in milliseconds.
        execution_ms: i64,
        /// The batch (the run) that applied it.
        batch: i64,
        /// Whether its code is still what was applied.
        checksum_matches: bool,
    },
    /// Not applied yet.
    Pending {
        /// It is older than a migration already applied.
        out_of_order: bool,
    },
    /// A run that could not be atomic started this migration and did not finish.
    Dirty {
        /// When the unfinished run started it (RFC 3339).
        since: CompactString,
        /// A revert, rather than an apply, did not finish.
        reverting: bool,
    },
}
