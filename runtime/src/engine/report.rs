//! What the engine returns: reports of runs and the status of every migration.

use crate::backup::Backup;
use crate::engine::StepAction;
use crate::history::AppliedMigration;
use crate::record::{Migration, Risk};
pub use crate::step_report::StepReport;
use crate::version::Version;
use std::time::Duration;

/// Reported as each step starts and ends, for progress displays.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Started { action: StepAction, migration: &'a Migration, index: usize, total: usize },
    Finished { action: StepAction, migration: &'a Migration, index: usize, total: usize, duration: Duration },
}

/// What `up` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
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
    pub reverted: Vec<StepReport>,
    /// The backup taken before reverting a `data` migration, if the run had one.
    pub backup: Option<Backup>,
    /// What reverting may lose.
    pub warnings: Vec<String>,
}

/// Every migration with its state, and what the database holds that the code does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub migrations: Vec<MigrationStatus>,
    pub missing_from_code: Vec<AppliedMigration>,
    /// Other tools' history tables with rows, when ours records nothing:
    /// what they applied is not adopted yet (`adopt`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unadopted: Vec<crate::foreign::ForeignTable>,
}

impl Status {
    /// Nothing pending, dirty or changed since applied, nothing unknown applied.
    pub fn is_up_to_date(&self) -> bool {
        self.missing_from_code.is_empty()
            && self.migrations.iter().all(|m| matches!(m.state, MigrationState::Applied { checksum_matches: true, .. }))
    }

    pub fn pending(&self) -> impl Iterator<Item = &MigrationStatus> {
        self.migrations.iter().filter(|m| matches!(m.state, MigrationState::Pending { .. }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    pub version: Version,
    pub name: &'static str,
    pub module: &'static str,
    pub location: String,
    pub risk: &'static [Risk],
    pub state: MigrationState,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MigrationState {
    Applied {
        applied_at: String,
        applied_by: String,
        execution_ms: i64,
        batch: i64,
        checksum_matches: bool,
    },
    Pending {
        out_of_order: bool,
    },
    /// A run that could not be atomic started this migration and did not finish.
    Dirty {
        since: String,
        reverting: bool,
    },
}
