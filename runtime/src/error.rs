//! The one error type of the runtime. Each message says which migration,
//! what went wrong and what to do about it.

use crate::analysis::Refusal;
use crate::database_error::StatementError;
use crate::engine::StepReport;
use crate::registry::RegistryProblem;
use crate::version::{ParseVersionError, Version};
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the registered migrations are inconsistent:{}", list(problems))]
    InvalidRegistry { problems: Vec<RegistryProblem> },

    #[error(transparent)]
    InvalidVersion(#[from] ParseVersionError),

    #[error("no migration has version {version}; run `status` to list the known versions")]
    UnknownVersion { version: Version },

    #[error(
        "migration {version} is not applied, so there is nothing to revert to; run `status` to see what is applied"
    )]
    NotApplied { version: Version },

    #[error(
        "migration {label} ({location}) is irreversible, and the plan would revert it; \
         revert fewer steps, or use `down --to` with a version that comes after it"
    )]
    Irreversible { label: String, location: String },

    #[error(
        "{}stopped at {label} ({location}): it is irreversible (no down file, or an empty one), so it and \
         everything older stay applied; give it a down file (one holding only comments says there is \
         nothing to undo) to revert past it",
        reverted_note(reverted)
    )]
    RevertStopped { label: String, location: String, reverted: Vec<StepReport> },

    #[error(
        "cannot revert {version}: it is applied but no longer in the code ({name}, module {module}); \
         restore its migration to revert it"
    )]
    MissingFromCode { version: Version, name: String, module: String },

    #[error("applied migrations changed since they were applied:{}", list(mismatches))]
    ChecksumMismatch { mismatches: Vec<ChecksumMismatch> },

    #[error(
        "migration {label} ({location}) failed while {action}: {cause}\n{}{}{}",
        failure_note(*dirty, *version, cause),
        completed_note(completed),
        not_logged.as_ref().map_or_else(String::new, |why| format!(
            "\nthis failure could not be written to the audit log ({why}): keep this message as its record"
        ))
    )]
    MigrationFailed {
        version: Version,
        label: String,
        location: String,
        /// `applying` or `reverting`.
        action: &'static str,
        cause: Box<Error>,
        /// What this run completed before the failure, with how long each
        /// took; it stays done.
        completed: Vec<StepReport>,
        /// The migration could not run atomically and is now recorded as
        /// partly done; later runs refuse to start until it is resolved.
        dirty: bool,
        /// Why the failure is missing from the audit log, when it could not be written there.
        not_logged: Option<Box<String>>,
    },

    #[error(
        "migration {label} was left partly {} at {since} (a run failed or was killed before it finished), \
         so nothing more runs until it is resolved. Either finish its change by hand and run `mark-applied {version}`, \
         or undo what it did by hand and run `mark-reverted {version}`",
        if *reverting { "reverted" } else { "applied" }
    )]
    Dirty { version: Version, label: String, since: String, reverting: bool },

    #[error(
        "pending migrations are older than applied ones:{}\nrun without strict ordering to apply them in graph order, \
         or give them versions newer than the applied migrations",
        list(pending)
    )]
    OutOfOrder { pending: Vec<String> },

    #[error(
        "{} migration(s) failed:{}{}\n{} applied; fix the failures and run `up` again",
        failed.len(),
        list(failed),
        if skipped.is_empty() { String::new() } else { format!("\nskipped because they depend on a failure:{}", list(skipped)) },
        applied.len()
    )]
    SomeFailed { applied: Vec<Version>, failed: Vec<String>, skipped: Vec<String> },

    #[error(
        "nothing was applied: {} pending migration(s) have an empty `up`, as `create` wrote it:{}\n\
         applying one would record it as done without changing anything. Write its change, or, if it is meant \
         to change nothing, say `empty` in its attribute (`#[migration(.., empty)]`, or `-- migrations-rs: empty` \
         in a SQL file)",
        migrations.len(),
        list(migrations)
    )]
    EmptyMigration { migrations: Vec<String> },

    #[error("{version} is already recorded as applied; nothing to mark")]
    AlreadyApplied { version: Version },

    #[error("`{name}` cannot name a migrations-rs table: {reason}")]
    InvalidTableName { name: String, reason: String },

    #[error(
        "gave up waiting for the migration lock after {waited_secs} s: it is held by {holder}. \
         If that process is gone, run `lock release`; otherwise wait for it or allow a longer wait with --lock-timeout"
    )]
    LockTimeout { waited_secs: u64, holder: String },

    #[error(
        "the migration lock was lost: {reason}. The run stopped at {label}: nothing of it was committed and no \
         later step ran. Another process may hold the lock now; run `status` to see what is applied, then run again"
    )]
    LockLost { label: String, reason: String },

    #[error("{option} is {given_ms} ms: it must be at least {minimum_ms} ms, several heartbeats of the lock")]
    StaleAfterTooShort { option: &'static str, given_ms: u64, minimum_ms: u64 },

    #[error("{url} is not a database URL migrations-rs can use: {reason}")]
    UnsupportedUrl { url: String, reason: String },

    #[error("cannot connect to {url}: {cause}; check the URL and that the server is running and reachable")]
    Connect { url: String, cause: sqlx::Error },

    #[error(
        "this database holds {} but no history of migrations-rs: `up` would run every migration again. \
         Run `adopt` (or `adopt --from {tool}`) first to record what {tool} applied; if that table is \
         unrelated, pass `up --ignore-foreign-history`",
        found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    NotAdopted { tool: &'static str, found: Vec<crate::foreign::ForeignTable> },

    #[error("the hook {hook} failed (around {version}): {cause}; nothing after it ran")]
    HookFailed { hook: String, version: Version, cause: Box<Error> },

    #[error(
        "the init SQL `{sql}` failed on a new connection: {cause}; fix it in --init-sql or `init_sql` of the environment"
    )]
    InitSql { sql: String, cause: sqlx::Error },

    #[error(
        "this migration needs {expected}, but the database is {actual}; check the database URL or guard the code with `db.backend()`"
    )]
    WrongBackend { expected: &'static str, actual: &'static str },

    #[error(
        "the history table {table} holds a row that cannot be read ({detail}); it was not written by this \
         version of migrations-rs: correct or remove that row by hand, or use other table names"
    )]
    CorruptHistory { table: String, detail: String },

    #[error(
        "the bookkeeping table {table} is damaged: {detail}. migrations-rs did not leave it this way: restore it \
         from a backup, or give it back the columns migrations-rs creates it with (README, \"What a run records\"), \
         or use other table names"
    )]
    DamagedTable { table: String, detail: String },

    #[error("this migration needs {what}, which only a live database has, so its SQL cannot be shown offline")]
    NeedsDatabase { what: &'static str },

    #[error(
        "{} statement(s) can destroy data, and their migration does not acknowledge it:{}\n{}",
        refusals.len(),
        list(refusals),
        if *before_run {
            "nothing was changed. If the change is intended, acknowledge each rule in its migration's attribute \
             as shown, or run again with --force"
        } else {
            "the statement was not run. If the change is intended, acknowledge the rule in the migration's \
             attribute as shown, or run again with --force"
        }
    )]
    Refused { refusals: Vec<Refusal>, before_run: bool },

    #[error(
        "{} statement(s) control the transaction the runner opened for their migration:{}\n{}. Leave transactions to \
         the runner and remove the statement, or run the migration outside a transaction: `transaction = false` in \
         its #[migration], or `-- migrations-rs: transaction = false` at the top of its SQL file",
        refusals.len(),
        tx_control_list(refusals),
        if *before_run {
            "nothing was run"
        } else {
            "the statement was not sent, and the migration's transaction was rolled back"
        }
    )]
    TransactionControl { refusals: Vec<Refusal>, before_run: bool },

    #[error("the backup before the risky migrations failed, so no migration was run: {detail}")]
    Backup { detail: String },

    #[error(
        "this database has no history table of another tool to adopt: looked for{}\ncheck the database URL; \
         a database without any is adopted with `baseline` instead",
        list(looked_for)
    )]
    NoForeignHistory { looked_for: Vec<String> },

    #[error(
        "this database has no {table} table, so there is no {tool} history to adopt; check the database URL, \
         or run `adopt` without --from to look for every tool's table"
    )]
    ForeignHistoryMissing { tool: &'static str, table: &'static str },

    #[error(
        "this database has the history tables of several tools:{}\nchoose the one to adopt with --from",
        list(found)
    )]
    SeveralForeignHistories { found: Vec<String> },

    #[error(
        "{tool} recorded migrations in {table} as failed:{}\nnothing was adopted: a failed migration may have been \
         applied in part. Put it right with {tool} first (finish or undo it by hand, then re-run it or delete its row), \
         and adopt again",
        list(failed)
    )]
    ForeignDirty { tool: &'static str, table: &'static str, failed: Vec<String> },

    #[error("the table {table} cannot be read as that tool writes it ({detail}); check that it is that tool's history")]
    ForeignHistoryUnreadable { table: &'static str, detail: String },

    #[error(
        "no migration belongs to module `{module}`; the modules are: {}",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownModule { module: String, known: Vec<String> },

    #[error("{}: {message}", path.display())]
    SqlFolder { path: std::path::PathBuf, message: String },

    #[error(
        "a statement of {bytes} bytes is larger than the server's max_allowed_packet of {limit} bytes, so \
         MySQL/MariaDB would drop the connection; it was not sent. Split it into smaller statements, or raise \
         max_allowed_packet on the server"
    )]
    StatementTooLarge { bytes: u64, limit: u64 },

    #[error("database error: {}", crate::database_error::describe(.0))]
    Database(sqlx::Error),

    /// A statement the database refused, with everything the database said about it.
    #[error("{0}")]
    Statement(Box<StatementError>),

    /// A migration body panicked; the step failed like on any other error.
    #[error("panicked at {location}: {message}")]
    Panicked { message: String, location: String },

    /// An error raised by a migration body with [`Error::msg`].
    #[error("{message}")]
    Migration { message: String },
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Database(error)
    }
}

impl Error {
    /// An error from a migration body, for conditions that are not database errors.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Migration { message: message.to_string() }
    }
}

/// An applied migration whose code no longer matches what was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumMismatch {
    pub version: Version,
    pub name: String,
    pub location: String,
    pub applied: String,
    pub current: String,
}

impl fmt::Display for ChecksumMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}) was applied with checksum {} but the code now has {}. Either restore the applied code \
             and put the change in a new migration (right once others have applied it); or, if the database should \
             get the new code (it was applied before it was finished, and only here), revert it with \
             `down --force` (with --steps or --to reaching it; the new `down` runs) and run `up` again; or, if the \
             database already matches the new code, accept it with `repair`",
            self.version,
            self.name,
            self.location,
            short(&self.applied),
            short(&self.current)
        )
    }
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(|item| format!("\n  - {item}")).collect()
}

fn tx_control_list(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| {
            format!(
                "\n  - {} ({}): {}\n      statement: {}",
                r.migration, r.location, r.finding.detail, r.finding.statement
            )
        })
        .collect()
}

fn failure_note(dirty: bool, version: Version, cause: &Error) -> String {
    if matches!(cause, Error::LockLost { .. }) && !dirty {
        "nothing of it was kept; run the command again once the lock is free (`lock status`)".to_owned()
    } else if dirty {
        format!(
            "it could not run atomically and may have been partly done, so it is recorded as dirty and later runs \
             refuse to start: fix the database by hand, then run `mark-applied {version}` if its change is complete \
             or `mark-reverted {version}` if it is undone"
        )
    } else {
        "nothing of it was kept; fix the migration and run the command again".to_owned()
    }
}

/// What a revert that stopped short did first.
fn reverted_note(reverted: &[StepReport]) -> String {
    match reverted.len() {
        0 => "nothing was reverted: ".to_owned(),
        n => format!("reverted {n} newer migration(s), then "),
    }
}

fn completed_note(completed: &[StepReport]) -> String {
    match completed.len() {
        0 => String::new(),
        1 => format!("\nthe 1 migration completed before it, {}, stays done", completed[0].version),
        n => format!("\nthe {n} migrations completed before it stay done"),
    }
}
