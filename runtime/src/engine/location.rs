//! Where a step's body is, for the errors it raises: the SQL file that
//! runs (the down file when reverting), or the Rust migration's `file:line`.

use crate::engine::StepAction;
use crate::error::Error;
use crate::record::{Body, Migration};
use crate::sql::layout::down_file_of;

/// Where a step's body is: the SQL file that runs (the down file when
/// reverting), or the Rust migration's `file:line`.
pub(crate) fn body_location(migration: &Migration, action: StepAction) -> String {
    match (action, migration.up, migration.down) {
        (StepAction::Revert, Body::Sql(_), Some(Body::Sql(_))) => down_file_of(migration.file),
        (_, Body::Sql(_), _) => migration.file.to_owned(),
        _ => migration.location().to_string(),
    }
}

/// Puts the file of the step's body into a database error its statement raised.
pub(crate) fn locate(error: &mut Error, migration: &Migration, action: StepAction) {
    let Error::Statement(statement) = error else { return };
    let body = match action {
        StepAction::Apply => Some(migration.up),
        StepAction::Revert => migration.down,
    };
    match body {
        Some(Body::Sql(_)) => {
            statement.file = Some(body_location(migration, action));
        }
        _ => {
            // A line of raw SQL inside Rust code is not a line of the file.
            statement.file = Some(migration.file.to_owned());
            statement.line = Some(migration.line as usize);
            statement.error_line = None;
            statement.error_column = None;
        }
    }
}
