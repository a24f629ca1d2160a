//! What one step of a run did: the report a run returns for each migration
//! it applied or reverted, and that an error carries for the steps a failed
//! run completed before it stopped.

use crate::version::Version;
use std::time::Duration;

/// One migration applied or reverted by a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: &'static str,
    /// How long the step took.
    #[serde(rename = "duration_ms", serialize_with = "crate::serialize::millis")]
    pub duration: Duration,
    /// Applied although a newer migration was already applied.
    pub out_of_order: bool,
    /// What the step ran that the risk policy would refuse elsewhere, and why
    /// it ran here: a destructive statement on tables that held no rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
