//! The command line's wording of what to do about an error: each
//! [`Remedy`] of [`Error::remedies`] as the command and flag to run, printed
//! under the error's message and listed in its `--json` object.

use migrations_rs_runtime::remedy::versions_text;
use migrations_rs_runtime::{Error, Remedy};

/// Each remedy of `error` in the command line's words, most fitting first.
pub(crate) fn texts(error: &Error) -> Vec<(Remedy, String)> {
    error
        .remedies()
        .into_iter()
        .map(|remedy| {
            let text = text(&remedy);
            (remedy, text)
        })
        .collect()
}

/// `remedies` as the lines the command line prints under what they remedy.
pub(crate) fn help_lines(remedies: &[Remedy]) -> String {
    remedies.iter().map(|remedy| format!("\nhelp: {}", text(remedy))).collect()
}

/// `remedy` as the command line words it.
pub(crate) fn text(remedy: &Remedy) -> String {
    if let Some(text) = remedy.face_independent_text() {
        return text;
    }
    match remedy {
        Remedy::ListStatus => "run `status` to list the known versions and see what is applied".to_owned(),
        Remedy::RevertFewer { migration } => {
            format!("revert fewer steps, or use `down --to` with a version that comes after {migration}")
        }
        Remedy::RevertModified { versions } => format!(
            "if the database should get the new code of {} (it was applied before it was finished, and only \
             here), revert it with `down --revert-modified` (with --steps or --to reaching it; the new `down` runs) and run \
             `up` again",
            versions_text(versions)
        ),
        Remedy::AcceptModified { versions } => {
            format!(
                "if the database already matches the new code of {}, accept it with `repair`",
                versions_text(versions)
            )
        }
        Remedy::ResolveDirty { version } => format!(
            "either finish its change by hand and run `mark-applied {version}`, or undo what it did by hand and \
             run `mark-reverted {version}`"
        ),
        Remedy::AllowOutOfOrder => "run without --strict to apply them in graph order, or give them versions newer \
                                    than the applied migrations"
            .to_owned(),
        Remedy::FixAndRetry => "fix the migration and run the command again".to_owned(),
        Remedy::RetryWhenLockFree => "run the command again once the lock is free (`lock status`)".to_owned(),
        Remedy::ReleaseLock => "if that process is gone, run `lock release`".to_owned(),
        Remedy::WaitLonger { .. } => {
            "otherwise wait for it, or allow a longer wait with --lock-timeout (seconds)".to_owned()
        }
        Remedy::Adopt { tool } => {
            format!("run `adopt` (or `adopt --from {tool}`) first to record what {tool} applied")
        }
        Remedy::IgnoreForeignHistory => "if that table is unrelated, pass `up --ignore-foreign-history`".to_owned(),
        Remedy::ChooseTool { .. } => "choose the one to adopt with `adopt --from <tool>`".to_owned(),
        Remedy::AdoptFromAnyTool => "run `adopt` without --from to look for every tool's table".to_owned(),
        Remedy::Baseline => "a database without any history is adopted with `baseline` instead".to_owned(),
        Remedy::FixInitSql { .. } => "fix it in --init-sql or `init_sql` of the environment".to_owned(),
        Remedy::OverrideRefusal => "or run again with `up --allow-destructive`".to_owned(),
        Remedy::FixBackup => "fix the backup command, or pass --no-backup".to_owned(),
        Remedy::ConfigureBackupCommand => "set --backup-command or `backup_command` in migrations.toml".to_owned(),
        Remedy::RestoreOrForget { version } => {
            format!("restore it to the code, or record it as reverted with `mark-reverted {version}`")
        }
        Remedy::Rerecord { recorded, version } => {
            format!("record it under {version} with `mark-applied {version}`, then `mark-reverted {recorded}`")
        }
        Remedy::GiveScratchDatabase { missing_privilege } => format!(
            "{}or point `--scratch-url` at an existing empty database to use instead",
            migrations_rs_runtime::remedy::grant_text(missing_privilege.as_deref())
        ),
        Remedy::RetryWhenTableFree { lock_wait_ms } => format!(
            "run the command again once the session holding the lock has ended its transaction, or allow each \
             statement a longer wait than {lock_wait_ms} ms with --lock-wait (or `lock_wait` of the environment) \
             or more tries with --lock-retries"
        ),
        // A remedy of a newer runtime: its library wording.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrations_rs_runtime::Version;

    #[test]
    fn the_command_line_names_commands_and_flags() {
        let version = Version::parse("20240102000000").unwrap();
        let dirty = text(&Remedy::ResolveDirty { version });
        assert!(dirty.contains("`mark-applied 20240102000000`") && dirty.contains("`mark-reverted 20240102000000`"));
        assert!(text(&Remedy::ReleaseLock).contains("`lock release`"));
        assert!(text(&Remedy::WaitLonger { waited_secs: 1 }).contains("--lock-timeout"));
        assert!(text(&Remedy::OverrideRefusal).contains("--allow-destructive"));
        assert!(text(&Remedy::RetryWhenTableFree { lock_wait_ms: 300 }).contains("--lock-wait"));
        assert!(text(&Remedy::RevertModified { versions: vec![version] }).contains("`down --revert-modified`"));
        for remedy in Remedy::one_of_each() {
            let text = text(&remedy);
            assert!(!text.is_empty() && !text.contains("Migrator::"), "{}: {text}", remedy.kind());
        }
        let scratch = text(&Remedy::GiveScratchDatabase { missing_privilege: Some("CREATEDB (PostgreSQL)".into()) });
        assert!(scratch.contains("CREATEDB") && scratch.contains("--scratch-url"), "{scratch}");
    }
}
