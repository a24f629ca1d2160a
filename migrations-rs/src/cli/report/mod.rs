//! The results that take more than a line to show, painted for a terminal
//! or printed as JSON, with the exit code they call for.

mod fleet;
mod lint;
mod rehearsal;
mod schema;

pub(crate) use fleet::{fleet_progress_line, show_fleet};
pub(crate) use lint::show_lint;
pub(crate) use rehearsal::show_rehearsal;
pub(crate) use schema::{show_drift, show_verification};
