//! An error as the JSON object `--json` and `--quiet` print on standard
//! error: `code` (what kind of error), `message` (what happened and why),
//! `remedies` (what can be done next: each one's `kind`, its data and its
//! `text` as the command line words it), `remedy` (those texts in one line)
//! and `details` (its parts as fields, such as the database's SQLSTATE,
//! DETAIL, HINT, file and line).

use crate::cli::remedy;
use migrations_rs_runtime::error::{AdoptError, LockError, SqlFolderError};
use migrations_rs_runtime::{Error, StatementError};
use serde_json::{Value, json};

/// The JSON object of `error`.
pub(crate) fn error_object(error: &Error) -> Value {
    let remedies = remedy::texts(error);
    let summary = if remedies.is_empty() {
        fallback_remedy(error).to_owned()
    } else {
        remedies.iter().map(|(_, text)| text.as_str()).collect::<Vec<_>>().join("; ")
    };
    let remedies: Vec<Value> = remedies
        .into_iter()
        .map(|(remedy, text)| {
            let mut value = serde_json::to_value(&remedy).unwrap_or_else(|_| json!({ "kind": remedy.kind() }));
            value["text"] = json!(text);
            value
        })
        .collect();
    json!({
        "code": code(error),
        "message": error.to_string(),
        "remedy": summary,
        "remedies": remedies,
        "details": details(error),
    })
}

fn code(error: &Error) -> &'static str {
    match error {
        Error::InvalidRegistry { .. } => "invalid_registry",
        Error::InvalidVersion { .. } => "invalid_version",
        Error::UnknownVersion { .. } => "unknown_version",
        Error::NotApplied { .. } => "not_applied",
        Error::Irreversible { .. } => "irreversible",
        Error::MissingFromCode { .. } => "missing_from_code",
        Error::ChecksumMismatch { .. } => "modified",
        Error::MigrationFailed { .. } => "migration_failed",
        Error::Dirty { .. } => "dirty",
        Error::OutOfOrder { .. } => "out_of_order",
        Error::SomeFailed { .. } => "some_failed",
        Error::AlreadyApplied { .. } => "already_applied",
        Error::InvalidTableName { .. } => "invalid_table_name",
        Error::Lock(LockError::Timeout { .. }) => "lock_held",
        Error::Lock(LockError::Lost { .. }) => "lock_lost",
        Error::UnsupportedUrl { .. } => "unsupported_url",
        Error::Connect { .. } => "connect",
        Error::WrongBackend { .. } => "wrong_backend",
        Error::CorruptHistory { .. } => "corrupt_history",
        Error::NeedsDatabase { .. } => "needs_database",
        Error::Refused { .. } => "refused",
        Error::TransactionControl { .. } => "transaction_control",
        Error::StatementTooLarge { .. } => "statement_too_large",
        Error::RevertStopped { .. } => "revert_stopped",
        Error::Adopt(AdoptError::NotAdopted { .. }) => "not_adopted",
        Error::Backup { .. } => "backup_failed",
        Error::Adopt(AdoptError::NoForeignHistory { .. }) | Error::Adopt(AdoptError::ForeignHistoryMissing { .. }) => {
            "no_foreign_history"
        }
        Error::Adopt(AdoptError::SeveralForeignHistories { .. }) => "several_foreign_histories",
        Error::Adopt(AdoptError::ForeignDirty { .. }) => "foreign_dirty",
        Error::Adopt(AdoptError::ForeignHistoryUnreadable { .. }) => "foreign_history_unreadable",
        Error::UnknownModule { .. } => "unknown_module",
        Error::SqlFolder(SqlFolderError { .. }) => "sql_folder",
        Error::ScratchDatabase { .. } => "scratch_database",
        Error::Drifted { .. } => "drifted",
        Error::Statement(_) | Error::Database(_) => "database_error",
        _ => "error",
    }
}

/// The one-line remedy of an error whose message says what to do and that
/// has no [`Error::remedies`].
fn fallback_remedy(error: &Error) -> &'static str {
    match error {
        Error::InvalidRegistry { .. } => "correct the migrations named in the message",
        Error::InvalidVersion { .. } => "give a version as the migrations' layout writes it",
        Error::MissingFromCode { .. } => "restore the migration's code to revert it",
        Error::AlreadyApplied { .. } => "nothing to do",
        Error::InvalidTableName { .. } => "use plain identifiers as table names",
        Error::UnsupportedUrl { .. } => {
            "use a sqlite:, postgres: or mysql: URL of a backend this program is built with"
        }
        Error::Connect { .. } => "check the URL and that the server is running and reachable",
        Error::WrongBackend { .. } => "check the database URL or guard the code with db.backend()",
        Error::CorruptHistory { .. } => "correct or remove the row by hand",
        Error::NeedsDatabase { .. } => "run it against a database",
        Error::TransactionControl { .. } => {
            "remove the statement, or mark the migration `transaction = false` to run it outside a transaction"
        }
        Error::StatementTooLarge { .. } => "split the statement, or raise max_allowed_packet on the server",
        Error::RevertStopped { .. } => {
            "give the irreversible migration a down file, or revert it by hand and \
                                        `mark-reverted` it"
        }
        Error::Adopt(AdoptError::ForeignDirty { .. }) => "put the failed migrations right with that tool first",
        Error::Adopt(AdoptError::ForeignHistoryUnreadable { .. }) => "check that it is that tool's table",
        Error::UnknownModule { .. } => "use one of the modules the message lists",
        Error::SqlFolder(SqlFolderError { .. }) => "correct the file the message names",
        Error::Statement(_) => "correct the statement the message names",
        Error::Database(_) => "check the database and run the command again",
        _ => "read the message",
    }
}

fn details(error: &Error) -> Value {
    match error {
        Error::MigrationFailed { version, label, location, action, cause, completed, dirty, not_logged } => json!({
            "not_logged": not_logged,
            "version": version,
            "migration": label,
            "location": location,
            "action": action,
            "dirty": dirty,
            "completed": completed,
            "cause": cause.to_string(),
            "database": database(cause),
        }),
        Error::Statement(refused) => json!({ "database": statement(refused) }),
        Error::Refused { refusals, before_run } => json!({ "refusals": refusals, "before_run": before_run }),
        Error::Dirty { version, label, since, reverting } => {
            json!({ "version": version, "migration": label, "since": since, "reverting": reverting })
        }
        Error::SomeFailed { applied, failed, skipped, dirty } => {
            json!({ "applied": applied, "failed": failed, "skipped": skipped, "dirty": dirty })
        }
        Error::SqlFolder(SqlFolderError { path, message }) => json!({ "path": path, "problem": message }),
        Error::UnknownVersion { version } | Error::NotApplied { version } | Error::AlreadyApplied { version } => {
            json!({ "version": version })
        }
        Error::Irreversible { label, location } => json!({ "migration": label, "location": location }),
        Error::ScratchDatabase { action, server, cause, missing_privilege } => json!({
            "action": action, "server": server, "cause": cause, "missing_privilege": missing_privilege,
        }),
        Error::Drifted { changes } => json!({ "changes": changes }),
        _ => json!({}),
    }
}

fn database(cause: &Error) -> Value {
    match cause {
        Error::Statement(refused) => statement(refused),
        _ => Value::Null,
    }
}

fn statement(refused: &StatementError) -> Value {
    let mut value = serde_json::to_value(refused).unwrap_or(Value::Null);
    value["location"] = json!(refused.location());
    value
}
