//! An error as the JSON object `--json` and `--quiet` print on standard
//! error: `code` (what kind of error), `message` (the whole text people
//! read), `remedy` (what to do about it) and `details` (its parts as fields,
//! such as the database's SQLSTATE, DETAIL, HINT, file and line).

use migrations_rs_runtime::{Error, StatementError};
use serde_json::{Value, json};

/// The JSON object of `error`.
pub(crate) fn error_object(error: &Error) -> Value {
    let (code, remedy) = code_and_remedy(error);
    json!({
        "code": code,
        "message": error.to_string(),
        "remedy": remedy,
        "details": details(error),
    })
}

fn code_and_remedy(error: &Error) -> (&'static str, &'static str) {
    match error {
        Error::InvalidRegistry { .. } => ("invalid_registry", "correct the migrations named in the message"),
        Error::InvalidVersion { .. } => ("invalid_version", "give a version as the migrations' layout writes it"),
        Error::UnknownVersion { .. } => ("unknown_version", "run `status` to list the known versions"),
        Error::NotApplied { .. } => ("not_applied", "run `status` to see what is applied"),
        Error::Irreversible { .. } => ("irreversible", "revert fewer steps, or `down --to` a later version"),
        Error::MissingFromCode { .. } => ("missing_from_code", "restore the migration's code to revert it"),
        Error::ChecksumMismatch { .. } => {
            ("modified", "restore the applied code and put the change in a new migration, or run `repair`")
        }
        Error::MigrationFailed { dirty: true, .. } => (
            "migration_failed",
            "fix the database by hand, then run `mark-applied` or `mark-reverted` with the migration's version",
        ),
        Error::MigrationFailed { .. } => ("migration_failed", "fix the migration and run the command again"),
        Error::Dirty { .. } => ("dirty", "finish or undo the change by hand, then `mark-applied` or `mark-reverted`"),
        Error::OutOfOrder { .. } => ("out_of_order", "run without --strict, or give the migrations newer versions"),
        Error::SomeFailed { .. } => ("some_failed", "fix the failures and run `up` again"),
        Error::AlreadyApplied { .. } => ("already_applied", "nothing to do"),
        Error::InvalidTableName { .. } => ("invalid_table_name", "use plain identifiers as table names"),
        Error::LockTimeout { .. } => {
            ("lock_held", "wait, allow a longer --lock-timeout, or `lock release` if its holder is gone")
        }
        Error::LockLost { .. } => ("lock_lost", "raise --stale-lock-after above the longest migration"),
        Error::UnsupportedUrl { .. } => ("unsupported_url", "use a sqlite:, postgres: or mysql: URL"),
        Error::Connect { .. } => ("connect", "check the URL and that the server is running and reachable"),
        Error::WrongBackend { .. } => ("wrong_backend", "check the database URL or guard the code with db.backend()"),
        Error::CorruptHistory { .. } => ("corrupt_history", "correct or remove the row by hand"),
        Error::NeedsDatabase { .. } => ("needs_database", "run it against a database"),
        Error::Refused { .. } => (
            "refused",
            "acknowledge each rule in its migration (`allow = [...]`, or a `-- migrations-rs: allow` comment), \
             or run again with --force",
        ),
        Error::TransactionControl { .. } => (
            "transaction_control",
            "remove the statement, or mark the migration `transaction = false` to run it outside a transaction",
        ),
        Error::StatementTooLarge { .. } => {
            ("statement_too_large", "split the statement, or raise max_allowed_packet on the server")
        }
        Error::RevertStopped { .. } => {
            ("revert_stopped", "revert the irreversible migration by hand, then `mark-reverted` it")
        }
        Error::NotAdopted { .. } => {
            ("not_adopted", "run `adopt` to record what the other tool applied, or pass --ignore-foreign-history")
        }
        Error::Backup { .. } => ("backup_failed", "fix the backup command, or pass --no-backup"),
        Error::NoForeignHistory { .. } | Error::ForeignHistoryMissing { .. } => {
            ("no_foreign_history", "check the database URL; use `baseline` for a database without any history")
        }
        Error::SeveralForeignHistories { .. } => ("several_foreign_histories", "choose one with --from"),
        Error::ForeignDirty { .. } => ("foreign_dirty", "put the failed migrations right with that tool first"),
        Error::ForeignHistoryUnreadable { .. } => ("foreign_history_unreadable", "check that it is that tool's table"),
        Error::UnknownModule { .. } => ("unknown_module", "use one of the modules the message lists"),
        Error::SqlFolder { .. } => ("sql_folder", "correct the file the message names"),
        Error::Statement(_) => ("database_error", "correct the statement the message names"),
        Error::Database(_) => ("database_error", "check the database and run the command again"),
        _ => ("error", "read the message"),
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
        Error::SomeFailed { applied, failed, skipped } => {
            json!({ "applied": applied, "failed": failed, "skipped": skipped })
        }
        Error::SqlFolder { path, message } => json!({ "path": path, "problem": message }),
        Error::UnknownVersion { version } | Error::NotApplied { version } | Error::AlreadyApplied { version } => {
            json!({ "version": version })
        }
        Error::Irreversible { label, location } => json!({ "migration": label, "location": location }),
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
