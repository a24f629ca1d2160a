//! The one error type of the runtime. Each message says which migration,
//! what went wrong and why; what to do about it is data, [`Error::remedies`],
//! which each face words for its reader (see [`crate::remedy`]).

use crate::analysis::Refusal;
use crate::database_error::StatementError;
use crate::remedy::Remedy;
use crate::step_report::StepReport;
use crate::version::{ParseVersionError, Version};
use std::fmt;

mod adopt;
mod fleet;
mod folder;
mod lock;
mod registry;

pub use adopt::AdoptError;
pub use fleet::FleetError;
pub use folder::SqlFolderError;
pub use lock::LockError;
pub use registry::RegistryProblem;

/// What every fallible call of migrations-rs returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, each message saying which migration and
/// what happened; [`Error::remedies`] says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registered migrations clash: duplicate versions, unknown dependencies or a cycle.
    #[error("the registered migrations are inconsistent:{}", list(problems))]
    InvalidRegistry {
        /// Every problem found.
        problems: Vec<RegistryProblem>,
    },

    /// Text that is not a migration version.
    #[error(transparent)]
    InvalidVersion(#[from] ParseVersionError),

    /// No migration has this version.
    #[error("no migration has version {version}")]
    UnknownVersion {
        /// The migration's version.
        version: Version,
    },

    /// The version to revert to is not applied.
    #[error("migration {version} is not applied, so there is nothing to revert to")]
    NotApplied {
        /// The migration's version.
        version: Version,
    },

    /// The plan would revert an irreversible migration.
    #[error("migration {label} ({location}) is irreversible, and the plan would revert it")]
    Irreversible {
        /// The migration's version and name.
        label: String,
        /// Where the migration is defined, or its SQL file.
        location: String,
    },

    #[error(
        "{}stopped at {label} ({location}): it is irreversible (no down file, or an empty one), so it and \
         everything older stay applied; give it a down file (one holding only comments says there is \
         nothing to undo) to revert past it",
        reverted_note(reverted)
    )]
    /// A revert reached an irreversible migration and stopped there.
    RevertStopped {
        /// The migration's version and name.
        label: String,
        /// Where the migration is defined, or its SQL file.
        location: String,
        /// What was reverted before it stopped.
        reverted: Vec<StepReport>,
    },

    #[error(
        "cannot revert {version}: it is applied but no longer in the code ({name}, module {module}); \
         restore its migration to revert it"
    )]
    /// An applied migration to revert is no longer in the code.
    MissingFromCode {
        /// The migration's version.
        version: Version,
        /// The migration's name.
        name: String,
        /// The module (crate or folder) it belongs to.
        module: String,
    },

    /// Applied migrations whose code changed since.
    #[error("applied migrations changed since they were applied:{}", list(mismatches))]
    ChecksumMismatch {
        /// Each applied migration whose code changed.
        mismatches: Vec<ChecksumMismatch>,
    },

    #[error(
        "migration {label} ({location}) failed while {action}: {cause}\n{}{}{}",
        failure_note(*dirty),
        completed_note(completed),
        not_logged.as_ref().map_or_else(String::new, |why| format!(
            "\nthis failure could not be written to the audit log ({why}): keep this message as its record"
        ))
    )]
    /// A migration failed; what the run completed before it stays done.
    MigrationFailed {
        /// The migration's version.
        version: Version,
        /// The migration's version and name.
        label: String,
        /// Where the migration is defined, or its SQL file.
        location: String,
        /// `applying` or `reverting`.
        action: &'static str,
        /// What went wrong.
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

    /// A statement of a step gave up waiting for a lock another session
    /// holds, on the step's last try. `cause` is the last statement's error.
    #[error("{}: {cause}", lock_wait_note(*tries, *lock_wait_ms, *retryable))]
    LockWaitExhausted {
        /// How many times the step was tried.
        tries: u32,
        /// How long each statement could wait for a lock, in milliseconds.
        lock_wait_ms: u64,
        /// Whether the step could be tried again (ran in a transaction that undid it all).
        retryable: bool,
        /// The last statement's error.
        cause: Box<Error>,
    },

    #[error(
        "migration {label} was left partly {} at {since} (a run failed or was killed before it finished), \
         so nothing more runs until it is resolved by hand",
        if *reverting { "reverted" } else { "applied" }
    )]
    /// A migration was left partly done by a run that failed or was killed.
    Dirty {
        /// The migration's version.
        version: Version,
        /// The migration's version and name.
        label: String,
        /// When the unfinished run started.
        since: String,
        /// Whether it was being reverted (else applied).
        reverting: bool,
    },

    #[error(
        "pending migrations are older than applied ones, and strict ordering refuses to apply them:{}",
        list(pending)
    )]
    /// Pending migrations are older than applied ones, and strict ordering is on.
    OutOfOrder {
        /// The pending migrations, as `version name`.
        pending: Vec<String>,
    },

    #[error(
        "{} migration(s) failed:{}{}\n{} applied",
        failed.len(),
        list(failed),
        if skipped.is_empty() { String::new() } else { format!("\nskipped because they depend on a failure:{}", list(skipped)) },
        applied.len()
    )]
    /// With keep-going: some migrations failed, the others were applied.
    SomeFailed {
        /// The checksum recorded when it was applied.
        applied: Vec<Version>,
        /// What failed, with why.
        failed: Vec<String>,
        /// What was skipped because it depends on a failure.
        skipped: Vec<String>,
        /// The failed migrations left partly done, which block later runs until resolved.
        dirty: Vec<Version>,
    },

    #[error(
        "nothing was applied: {} pending migration(s) have an empty `up`, as `create` wrote it:{}\n\
         applying one would record it as done without changing anything. Write its change, or, if it is meant \
         to change nothing, say `empty` in its attribute (`#[migration(.., empty)]`, or `-- migrations-rs: empty` \
         in a SQL file)",
        migrations.len(),
        list(migrations)
    )]
    /// Pending migrations whose `up` is empty, as `create` wrote it.
    EmptyMigration {
        /// The migrations, as `version name (location)`.
        migrations: Vec<String>,
    },

    /// The migration to mark as applied already is.
    #[error("{version} is already recorded as applied; nothing to mark")]
    AlreadyApplied {
        /// The migration's version.
        version: Version,
    },

    /// A name that cannot name one of our tables.
    #[error("`{name}` cannot name a migrations-rs table: {reason}")]
    InvalidTableName {
        /// The migration's name.
        name: String,
        /// Why.
        reason: String,
    },

    /// A URL migrations-rs cannot use.
    #[error("{url} is not a database URL migrations-rs can use: {reason}")]
    UnsupportedUrl {
        /// The URL, without its password.
        url: String,
        /// Why.
        reason: String,
    },

    /// The database could not be reached.
    #[error("cannot connect to {url}: {cause}; check the URL and that the server is running and reachable")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// What went wrong.
        cause: sqlx::Error,
    },

    /// A hook's SQL failed.
    #[error("the hook {hook} failed (around {version}): {cause}; nothing after it ran")]
    HookFailed {
        /// The hook's file name.
        hook: String,
        /// The migration's version.
        version: Version,
        /// What went wrong.
        cause: Box<Error>,
    },

    /// The SQL run on every new connection failed.
    #[error("the init SQL `{sql}` failed on a new connection: {cause}")]
    InitSql {
        /// The SQL.
        sql: String,
        /// What went wrong.
        cause: sqlx::Error,
    },

    #[error(
        "this migration needs {expected}, but the database is {actual}; check the database URL or guard the code with `db.backend()`"
    )]
    /// A migration needs another backend than the database's.
    WrongBackend {
        /// The backend it needs.
        expected: &'static str,
        /// The backend of the database.
        actual: &'static str,
    },

    #[error(
        "the history table {table} holds a row that cannot be read ({detail}); it was not written by this \
         version of migrations-rs: correct or remove that row by hand, or use other table names"
    )]
    /// A history row that cannot be read.
    CorruptHistory {
        /// The table.
        table: String,
        /// What is wrong.
        detail: String,
    },

    #[error(
        "the bookkeeping table {table} is damaged: {detail}. migrations-rs did not leave it this way: restore it \
         from a backup, or give it back the columns migrations-rs creates it with (README, \"What a run records\"), \
         or use other table names"
    )]
    /// One of our tables lacks what we create it with.
    DamagedTable {
        /// The table.
        table: String,
        /// What is wrong.
        detail: String,
    },

    /// A migration reads the database, so its SQL cannot be shown offline.
    #[error("this migration needs {what}, which only a live database has, so its SQL cannot be shown offline")]
    NeedsDatabase {
        /// What it needs.
        what: &'static str,
    },

    #[error(
        "{} statement(s) can destroy data, and their migration does not acknowledge it:{}\n{}",
        refusals.len(),
        list(refusals),
        if *before_run { "nothing was changed" } else { "the statement was not run" }
    )]
    /// Destructive statements their migrations do not acknowledge.
    Refused {
        /// Each refused statement.
        refusals: Vec<Refusal>,
        /// Whether the refusal came before anything ran (else as the statement was sent).
        before_run: bool,
    },

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
    /// Statements that would end the transaction the runner opened.
    TransactionControl {
        /// Each refused statement.
        refusals: Vec<Refusal>,
        /// Whether the refusal came before anything ran (else as the statement was sent).
        before_run: bool,
    },

    /// The backup before risky migrations failed.
    #[error("the backup before the risky migrations failed, so no migration was run: {detail}")]
    Backup {
        /// What is wrong.
        detail: String,
    },

    #[error(
        "no migration belongs to module `{module}`; the modules are: {}",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    /// No migration belongs to the module named.
    UnknownModule {
        /// The module (crate or folder) it belongs to.
        module: String,
        /// The modules there are.
        known: Vec<String>,
    },

    #[error(
        "a statement of {bytes} bytes is larger than the server's max_allowed_packet of {limit} bytes, so \
         MySQL/MariaDB would drop the connection; it was not sent. Split it into smaller statements, or raise \
         max_allowed_packet on the server"
    )]
    /// A statement larger than MySQL/MariaDB's packet limit.
    StatementTooLarge {
        /// The statement's size.
        bytes: u64,
        /// The server's limit.
        limit: u64,
    },

    /// The migration lock could not be taken or was lost.
    #[error(transparent)]
    Lock(#[from] LockError),

    /// Another tool's history could not be adopted, or needs adopting first.
    #[error(transparent)]
    Adopt(#[from] AdoptError),

    /// A SQL migration folder could not be read.
    #[error(transparent)]
    SqlFolder(#[from] SqlFolderError),

    /// A list of targets for a fleet run could not be used as given.
    #[error(transparent)]
    Fleet(#[from] FleetError),

    /// An error of the database driver.
    #[error("database error: {}", crate::database_error::describe(.0))]
    Database(sqlx::Error),

    /// A scratch database (for `verify` or `drift`) could not be created or dropped beside the target.
    #[error(
        "cannot {action} a scratch database on {server}: {cause}{}",
        match missing_privilege {
            Some(privilege) => format!("; the user of the database URL may not create databases (it needs {privilege})"),
            None => String::new(),
        }
    )]
    /// A scratch database could not be created or dropped.
    ScratchDatabase {
        /// What was being done to it: `create` or `drop`.
        action: &'static str,
        /// The server, without its password.
        server: String,
        /// What went wrong.
        cause: String,
        /// The privilege that is missing, when that is why.
        missing_privilege: Option<String>,
    },

    /// The live schema differs from the schema the applied migrations produce.
    #[error("the live schema differs from the one the applied migrations produce:{}", list(changes))]
    Drifted {
        /// Each difference, in words.
        changes: Vec<String>,
    },

    /// A statement the database refused, with everything the database said about it.
    #[error("{0}")]
    Statement(Box<StatementError>),

    /// A migration body panicked; the step failed like on any other error.
    #[error("panicked at {location}: {message}")]
    Panicked {
        /// The panic's or the body's message.
        message: String,
        /// Where the migration is defined, or its SQL file.
        location: String,
    },

    /// An error raised by a migration body with [`Error::msg`].
    #[error("{message}")]
    Migration {
        /// The panic's or the body's message.
        message: String,
    },
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

    /// What can be done next about this error, most fitting first; empty
    /// when the message says it all (correct the named migration, split the
    /// statement). The `Display` of each [`Remedy`] words it for a program
    /// that links this crate; the command line and the HTTP API word it for
    /// their own readers.
    pub fn remedies(&self) -> Vec<Remedy> {
        let mut remedies = match self {
            Error::UnknownVersion { .. } | Error::NotApplied { .. } => vec![Remedy::ListStatus],
            Error::Irreversible { label, .. } => vec![Remedy::RevertFewer { migration: label.clone() }],
            Error::ChecksumMismatch { mismatches } => {
                let versions: Vec<Version> = mismatches.iter().map(|m| m.version).collect();
                vec![
                    Remedy::RestoreCode { versions: versions.clone() },
                    Remedy::RevertModified { versions: versions.clone() },
                    Remedy::AcceptModified { versions },
                ]
            }
            Error::MigrationFailed { version, cause, dirty, .. } => {
                let mut remedies = cause.remedies();
                if !*dirty && matches!(**cause, Error::LockWaitExhausted { .. }) {
                    // Nothing to fix in the migration: its remedies say when to run again.
                    return remedies;
                }
                remedies.push(if *dirty {
                    Remedy::ResolveDirty { version: *version }
                } else if matches!(**cause, Error::Lock(LockError::Lost { .. })) {
                    Remedy::RetryWhenLockFree
                } else {
                    Remedy::FixAndRetry
                });
                remedies
            }
            Error::LockWaitExhausted { lock_wait_ms, .. } => {
                vec![Remedy::RetryWhenTableFree { lock_wait_ms: *lock_wait_ms }]
            }
            Error::Dirty { version, .. } => vec![Remedy::ResolveDirty { version: *version }],
            Error::OutOfOrder { .. } => vec![Remedy::AllowOutOfOrder],
            Error::SomeFailed { dirty, .. } => {
                let mut remedies: Vec<Remedy> = dirty.iter().map(|&version| Remedy::ResolveDirty { version }).collect();
                remedies.push(Remedy::FixAndRetry);
                remedies
            }
            Error::Lock(LockError::Timeout { waited_secs, .. }) => {
                vec![Remedy::ReleaseLock, Remedy::WaitLonger { waited_secs: *waited_secs }]
            }
            Error::Lock(LockError::Lost { .. }) => vec![Remedy::ListStatus, Remedy::RetryWhenLockFree],
            Error::Adopt(AdoptError::NotAdopted { tool, .. }) => {
                vec![Remedy::Adopt { tool }, Remedy::IgnoreForeignHistory]
            }
            Error::HookFailed { cause, .. } => cause.remedies(),
            Error::InitSql { sql, .. } => vec![Remedy::FixInitSql { sql: sql.clone() }],
            Error::Refused { refusals, .. } => {
                let mut remedies: Vec<Remedy> = refusals
                    .iter()
                    .map(|r| Remedy::AcknowledgeRule {
                        migration: r.migration.clone(),
                        rule: r.finding.rule,
                        sql_file: r.sql_file,
                    })
                    .collect();
                remedies.push(Remedy::OverrideRefusal);
                remedies
            }
            Error::Backup { .. } => vec![Remedy::FixBackup],
            Error::Adopt(AdoptError::NoForeignHistory { .. }) => vec![Remedy::Baseline],
            Error::Adopt(AdoptError::ForeignHistoryMissing { .. }) => vec![Remedy::AdoptFromAnyTool],
            Error::Adopt(AdoptError::SeveralForeignHistories { found }) => {
                vec![Remedy::ChooseTool { found: found.clone() }]
            }
            Error::ScratchDatabase { missing_privilege, .. } => {
                vec![Remedy::GiveScratchDatabase { missing_privilege: missing_privilege.clone() }]
            }
            Error::Drifted { .. } => vec![Remedy::ResolveDrift],
            _ => Vec::new(),
        };
        // A cause's remedies and the error's own may repeat one another.
        crate::remedy::dedup(&mut remedies);
        remedies
    }
}

/// An applied migration whose code no longer matches what was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumMismatch {
    /// The migration's version.
    pub version: Version,
    /// The migration's name.
    pub name: String,
    /// Where the migration is defined, or its SQL file.
    pub location: String,
    /// The checksum recorded when it was applied.
    pub applied: String,
    /// The checksum of the code now.
    pub current: String,
}

impl fmt::Display for ChecksumMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}) was applied with checksum {} but the code now has {}",
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

fn lock_wait_note(tries: u32, lock_wait_ms: u64, retryable: bool) -> String {
    let waited = format!(
        "waited longer than its lock wait ({lock_wait_ms} ms) for a lock another session holds on what it touches"
    );
    match (tries, retryable) {
        (1, false) => format!(
            "a statement {waited}; the step was not tried again, as it ran outside a transaction or had committed part \
             of its work"
        ),
        (1, true) => format!("a statement {waited}, on the step's only try"),
        (tries, _) => format!("the step was tried {tries} times, and each time a statement {waited}"),
    }
}

fn failure_note(dirty: bool) -> &'static str {
    if dirty {
        "it could not run atomically and may have been partly done, so it is recorded as dirty and later runs \
         refuse to start until the database is put right by hand"
    } else {
        "nothing of it was kept"
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
