//! What to do about an error, as data: [`Remedy`]. An [`Error`](crate::Error)'s
//! message says what happened and why; [`Error::remedies`](crate::Error::remedies)
//! says what can be done next, and each face words that for its reader: the
//! command line names commands and flags, the HTTP API routes and body
//! fields, and this crate's [`Display`](fmt::Display) the [`Migrator`](crate::Migrator)
//! and [`Startup`](crate::Startup) methods and options to call.
//!
//! A remedy is a next step whose wording depends on who reads it. Advice that
//! reads the same for everyone (split the statement, check the database URL,
//! guard the code with `db.backend()`) stays in the error's message.

use crate::analysis::{Rule, acknowledge_advice};
use crate::version::Version;
use std::fmt;

/// One thing that can be done next about an error, with the data each face
/// needs to word it. Serialized as an object whose `kind` names the variant
/// in snake case, beside the variant's fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Remedy {
    /// Look at every migration's state: which versions exist and which are applied.
    ListStatus,
    /// Revert fewer steps, or only down to a version that comes after `migration`,
    /// which cannot be reverted.
    RevertFewer {
        /// The migration, as `version name`.
        migration: String,
    },
    /// Restore the code of modified migrations as it was applied, and put the
    /// change in a new migration (right once other databases have applied them).
    RestoreCode {
        /// The migrations' versions.
        versions: Vec<Version>,
    },
    /// Revert modified migrations with their new `down`, which is refused
    /// unless asked for, then apply them again: when the database should get
    /// the new code (it was applied before it was finished, and only here).
    RevertModified {
        /// The migrations' versions.
        versions: Vec<Version>,
    },
    /// Accept the new code of modified migrations as applied, when the
    /// database already matches it.
    AcceptModified {
        /// The migrations' versions.
        versions: Vec<Version>,
    },
    /// A migration left partly done: finish its change by hand and record it
    /// as applied, or undo it by hand and record it as reverted.
    ResolveDirty {
        /// The migration's version.
        version: Version,
    },
    /// Apply pending migrations older than applied ones in graph order, by
    /// turning strict ordering off, or give them newer versions.
    AllowOutOfOrder,
    /// Fix what failed and run again: what was kept stays done.
    FixAndRetry,
    /// The lock was taken away mid-run: run again once it is free.
    RetryWhenLockFree,
    /// The lock's holder is gone: free the lock.
    ReleaseLock,
    /// The lock's holder is alive: wait for it, or allow a longer wait than
    /// the `waited_secs` this run waited.
    WaitLonger {
        /// How long the run waited, in seconds.
        waited_secs: u64,
    },
    /// Record what another tool applied before applying anything.
    Adopt {
        /// The tool.
        tool: &'static str,
    },
    /// The other tool's table is unrelated: apply without adopting it.
    IgnoreForeignHistory,
    /// Several tools' history tables exist: name the one to adopt.
    ChooseTool {
        /// The tables found.
        found: Vec<String>,
    },
    /// The named tool's table is missing: look for every tool's table instead.
    AdoptFromAnyTool,
    /// No tool's history exists: record what the database already has with a baseline.
    Baseline,
    /// The SQL run on every new connection failed: correct it where it is configured.
    FixInitSql {
        /// The SQL.
        sql: String,
    },
    /// A destructive statement was refused: acknowledge its rule in its migration.
    AcknowledgeRule {
        /// The migration, as `version name`.
        migration: String,
        /// The rule to acknowledge.
        rule: Rule,
        /// Whether the migration is a SQL file (acknowledged in its header comment).
        sql_file: bool,
    },
    /// Run the refused destructive statements anyway, without acknowledging them.
    OverrideRefusal,
    /// The backup before a risky run failed: fix how backups are taken, or
    /// run without one.
    FixBackup,
    /// No backup command is configured for a server database: configure one
    /// so that risky runs are backed up first.
    ConfigureBackupCommand,
    /// An applied migration is no longer in the code: restore it, or record
    /// it as reverted.
    RestoreOrForget {
        /// The migration's version.
        version: Version,
    },
    /// An applied migration is recorded under `recorded`, but its code now has
    /// `version`: record it under `version`, then forget `recorded`.
    Rerecord {
        /// The version it is recorded under.
        recorded: Version,
        /// The migration's version.
        version: Version,
    },
    /// No scratch database could be created beside the target: grant the
    /// missing privilege, or name an existing empty database to use instead.
    GiveScratchDatabase {
        /// The privilege that is missing, when that is why.
        missing_privilege: Option<String>,
    },
    /// The live schema drifted: undo the changes made outside the migrations,
    /// or put them into a new migration.
    ResolveDrift,
    /// A statement kept giving up on a lock another session held longer than
    /// the lock wait (`lock_wait_ms`): run again once that session's
    /// transaction ends, or allow a longer wait or more tries.
    RetryWhenTableFree {
        /// How long each statement could wait, in milliseconds.
        lock_wait_ms: u64,
    },
}

impl Remedy {
    /// One remedy of every kind, with sample data, for the tests of each
    /// face's wording (add a new kind here). Not for programs.
    #[doc(hidden)]
    pub fn one_of_each() -> Vec<Remedy> {
        let version = Version::from_checked(20240102000000);
        vec![
            Remedy::ListStatus,
            Remedy::RevertFewer { migration: "20240102000000 fill".to_owned() },
            Remedy::RestoreCode { versions: vec![version] },
            Remedy::RevertModified { versions: vec![version] },
            Remedy::AcceptModified { versions: vec![version] },
            Remedy::ResolveDirty { version },
            Remedy::AllowOutOfOrder,
            Remedy::FixAndRetry,
            Remedy::RetryWhenLockFree,
            Remedy::ReleaseLock,
            Remedy::WaitLonger { waited_secs: 3 },
            Remedy::Adopt { tool: "sqlx" },
            Remedy::IgnoreForeignHistory,
            Remedy::ChooseTool { found: vec!["_sqlx_migrations (sqlx)".to_owned()] },
            Remedy::AdoptFromAnyTool,
            Remedy::Baseline,
            Remedy::FixInitSql { sql: "SET x = 1".to_owned() },
            Remedy::AcknowledgeRule { migration: "1 drop".to_owned(), rule: Rule::DropTable, sql_file: false },
            Remedy::OverrideRefusal,
            Remedy::FixBackup,
            Remedy::ConfigureBackupCommand,
            Remedy::RestoreOrForget { version },
            Remedy::Rerecord { recorded: version, version },
            Remedy::GiveScratchDatabase { missing_privilege: Some("CREATEDB (PostgreSQL)".to_owned()) },
            Remedy::ResolveDrift,
            Remedy::RetryWhenTableFree { lock_wait_ms: 5000 },
        ]
    }

    /// The variant's name as serialized in `kind`, such as `resolve_dirty`.
    pub fn kind(&self) -> &'static str {
        match self {
            Remedy::ListStatus => "list_status",
            Remedy::RevertFewer { .. } => "revert_fewer",
            Remedy::RestoreCode { .. } => "restore_code",
            Remedy::RevertModified { .. } => "revert_modified",
            Remedy::AcceptModified { .. } => "accept_modified",
            Remedy::ResolveDirty { .. } => "resolve_dirty",
            Remedy::AllowOutOfOrder => "allow_out_of_order",
            Remedy::FixAndRetry => "fix_and_retry",
            Remedy::RetryWhenLockFree => "retry_when_lock_free",
            Remedy::ReleaseLock => "release_lock",
            Remedy::WaitLonger { .. } => "wait_longer",
            Remedy::Adopt { .. } => "adopt",
            Remedy::IgnoreForeignHistory => "ignore_foreign_history",
            Remedy::ChooseTool { .. } => "choose_tool",
            Remedy::AdoptFromAnyTool => "adopt_from_any_tool",
            Remedy::Baseline => "baseline",
            Remedy::FixInitSql { .. } => "fix_init_sql",
            Remedy::AcknowledgeRule { .. } => "acknowledge_rule",
            Remedy::OverrideRefusal => "override_refusal",
            Remedy::FixBackup => "fix_backup",
            Remedy::ConfigureBackupCommand => "configure_backup_command",
            Remedy::RestoreOrForget { .. } => "restore_or_forget",
            Remedy::Rerecord { .. } => "rerecord",
            Remedy::GiveScratchDatabase { .. } => "give_scratch_database",
            Remedy::ResolveDrift => "resolve_drift",
            Remedy::RetryWhenTableFree { .. } => "retry_when_table_free",
        }
    }

    /// The step in words that hold for every face, for the remedies that
    /// name no command, method or route (acknowledging a rule is done in the
    /// migration's code); `None` for the others.
    pub fn face_independent_text(&self) -> Option<String> {
        match self {
            Remedy::AcknowledgeRule { migration, rule, sql_file } => Some(format!(
                "if the change is intended, acknowledge {rule} in {migration}: {}",
                acknowledge_advice(*rule, *sql_file)
            )),
            Remedy::RestoreCode { versions } => Some(format!(
                "restore the applied code of {} and put the change in a new migration \
                 (right once other databases have applied it)",
                versions_text(versions)
            )),
            Remedy::ResolveDrift => Some(
                "undo the changes made outside the migrations, or put them into a new migration so that every \
                 database gets them"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// Drops the remedies that repeat an earlier one, keeping the order.
pub fn dedup(remedies: &mut Vec<Remedy>) {
    let mut seen = Vec::with_capacity(remedies.len());
    remedies.retain(|remedy| {
        let new = !seen.contains(remedy);
        if new {
            seen.push(remedy.clone());
        }
        new
    });
}

/// The versions as `a, b and c`, for the wording of remedies.
pub fn versions_text(versions: &[Version]) -> String {
    let names: Vec<String> = versions.iter().map(ToString::to_string).collect();
    match names.split_last() {
        None => "the migration".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `grant <privilege> to the user of the database URL, ` when a privilege is missing.
pub fn grant_text(missing_privilege: Option<&str>) -> String {
    missing_privilege
        .map_or_else(String::new, |privilege| format!("grant {privilege} to the user of the database URL, "))
}

/// The remedy as a program that links this crate acts on it: the
/// [`Migrator`](crate::Migrator) and [`Startup`](crate::Startup) methods and
/// options to use.
impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.face_independent_text() {
            return f.write_str(&text);
        }
        match self {
            Remedy::ListStatus => {
                f.write_str("call `Migrator::status` to see which versions exist and which are applied")
            }
            Remedy::RevertFewer { migration } => write!(
                f,
                "revert fewer steps (`RevertTarget::Steps`), or to a version that comes after {migration} \
                 (`RevertTarget::To`)"
            ),
            Remedy::RevertModified { versions } => write!(
                f,
                "if the database should get the new code of {} (it was applied before it was finished, and only \
                 here), revert it with a Migrator built with `revert_modified(true)` (`Migrator::down` with a \
                 `RevertTarget` that reaches it; the new `down` runs), then call `Migrator::up` again",
                versions_text(versions)
            ),
            Remedy::AcceptModified { versions } => write!(
                f,
                "if the database already matches the new code of {}, accept it with `Migrator::repair`",
                versions_text(versions)
            ),
            Remedy::ResolveDirty { version } => write!(
                f,
                "either finish its change by hand and call `Migrator::mark_applied({version})`, or undo what it \
                 did by hand and call `Migrator::mark_reverted({version})`"
            ),
            Remedy::AllowOutOfOrder => f.write_str(
                "build the Migrator with `strict_order(false)` to apply them in graph order, or give them \
                 versions newer than the applied migrations",
            ),
            Remedy::FixAndRetry => f.write_str("fix the migration and call the method again"),
            Remedy::RetryWhenLockFree => {
                f.write_str("call the method again once the lock is free (`Migrator::lock_status`)")
            }
            Remedy::ReleaseLock => f.write_str("if that process is gone, free the lock with `Migrator::release_lock`"),
            Remedy::WaitLonger { .. } => f.write_str(
                "otherwise wait for it, or allow a longer wait: `LockOptions::wait` (`Migrator::with_lock_options`) \
                 or `Startup::lock_timeout`",
            ),
            Remedy::Adopt { tool } => write!(
                f,
                "call `Migrator::adopt` (with `Source::Auto`, or {tool}'s `Source`) first to record what {tool} applied"
            ),
            Remedy::IgnoreForeignHistory => {
                f.write_str("if that table is unrelated, build the Migrator with `ignore_foreign_history(true)`")
            }
            Remedy::ChooseTool { .. } => {
                f.write_str("choose the one to adopt: call `Migrator::adopt` with that tool's `Source`")
            }
            Remedy::AdoptFromAnyTool => {
                f.write_str("call `Migrator::adopt` with `Source::Auto` to look for every tool's table")
            }
            Remedy::Baseline => {
                f.write_str("a database without any history is recorded as migrated with `Migrator::baseline` instead")
            }
            Remedy::FixInitSql { .. } => f.write_str("fix it in the SQL given to `Connection::with_init_sql`"),
            Remedy::OverrideRefusal => f.write_str("or run it anyway with a Migrator built with `force(true)`"),
            Remedy::FixBackup => f.write_str(
                "fix the backup (`BackupOptions::command`), or turn backups off (`BackupOptions::enabled`) in \
                 `Migrator::with_backup`",
            ),
            Remedy::ConfigureBackupCommand => f.write_str(
                "give `BackupOptions::command` a command that backs up the database, in `Migrator::with_backup`",
            ),
            Remedy::RestoreOrForget { version } => {
                write!(f, "restore it to the code, or record it as reverted with `Migrator::mark_reverted({version})`")
            }
            Remedy::Rerecord { recorded, version } => write!(
                f,
                "record it under {version} with `Migrator::mark_applied({version})`, then \
                 `Migrator::mark_reverted({recorded})`"
            ),
            Remedy::GiveScratchDatabase { missing_privilege } => write!(
                f,
                "{}or give an existing empty database to use instead with `VerifyOptions::scratch_url` or \
                 `DriftOptions::scratch_url`",
                grant_text(missing_privilege.as_deref())
            ),
            Remedy::RetryWhenTableFree { lock_wait_ms } => write!(
                f,
                "call the method again once the session holding the lock has ended its transaction, or allow \
                 each statement a longer wait than {lock_wait_ms} ms or more tries: `StatementLimits::lock_wait` \
                 and `lock_tries` (`Migrator::with_statement_limits`)"
            ),
            Remedy::AcknowledgeRule { .. } | Remedy::RestoreCode { .. } | Remedy::ResolveDrift => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_wording_names_methods_and_no_command_line_flag() {
        let version = Version::parse("20240102000000").unwrap();
        let every = Remedy::one_of_each();
        for remedy in &every {
            let text = remedy.to_string();
            assert!(!text.is_empty() && !text.contains("--"), "{}: {text}", remedy.kind());
        }
        let dirty = Remedy::ResolveDirty { version }.to_string();
        assert!(dirty.contains("Migrator::mark_applied(20240102000000)"), "{dirty}");
        assert!(Remedy::ReleaseLock.to_string().contains("Migrator::release_lock"));
        assert!(Remedy::WaitLonger { waited_secs: 3 }.to_string().contains("Startup::lock_timeout"));
    }

    #[test]
    fn versions_are_listed_in_words() {
        let v = |n: u64| Version::parse(&n.to_string()).unwrap();
        assert_eq!(versions_text(&[v(1)]), "1");
        assert_eq!(versions_text(&[v(1), v(2), v(3)]), "1, 2 and 3");
    }
}
