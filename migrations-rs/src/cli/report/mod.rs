//! The results that take more than a line to show, painted for a terminal
//! or printed as JSON, with the exit code they call for.

mod lint;
mod rehearsal;

pub(crate) use lint::show_lint;
pub(crate) use rehearsal::show_rehearsal;
