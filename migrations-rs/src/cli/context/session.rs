//! A verb's time on the database: it says which database, builds the
//! migrator with the verb's rules and the command line's options (lock,
//! backup, compat, progress shown as steps run), connects, runs the verb's
//! work, and closes the connection whatever the work returned.

use super::{Context, approval};
use crate::cli::args::{CompatTool, LockKind};
use crate::cli::output::{Output, Progress, Tone};
use migrations_rs_runtime::engine::{Progress as StepProgress, StepAction};
#[cfg(feature = "sqlite")]
use migrations_rs_runtime::sqlx::sqlite::SqliteConnectOptions;
use migrations_rs_runtime::{Backup, BackupOptions, Compat, Connection, Error, LockOptions, LockStrategy, Migrator};
#[cfg(feature = "sqlite")]
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a verb does to the database.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    /// Only reads: a SQLite file that is not there is not created. The verb's
    /// name, to say so.
    Reads(&'static str),
    Changes,
}

/// The rules of one verb's run, from its own flags; all off by default.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunRules {
    /// `up --strict`: refuse pending migrations older than applied ones.
    pub strict_order: bool,
    /// `down --strict`: refuse before reverting anything when the plan meets an irreversible migration.
    pub strict_revert: bool,
    /// `up --ignore-foreign-history`.
    pub ignore_foreign_history: bool,
    /// `down --revert-modified`: revert migrations whose code changed since they were applied.
    pub revert_modified: bool,
    /// `up --allow-destructive`: run destructive statements their migrations do not acknowledge.
    pub allow_destructive: bool,
    /// `up --keep-going`: apply what does not depend on a failed migration.
    pub keep_going: bool,
}

impl Context<'_> {
    /// Runs `work` with the migrator and a connection to the database, then
    /// clears the progress bar and closes the connection.
    pub(crate) async fn on_database<T>(
        &self,
        access: Access,
        rules: RunRules,
        work: impl AsyncFnOnce(&Migrator, &mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if let Access::Reads(verb) = access {
            self.refuse_to_create(verb)?;
        }
        self.say(Tone::Dim, &format!("database: {} (from {})", self.settings.url, self.settings.source));
        let progress = Progress::new(self.err.is_terminal_with_color() && !self.cli.json && !self.cli.quiet);
        self.err.share_with(&progress);
        let migrator = self.migrator(rules, &progress)?;
        let mut conn =
            Connection::connect(&self.settings.url).await?.with_init_sql(self.settings.init_sql.clone()).await?;
        let result = work(&migrator, &mut conn).await;
        progress.clear();
        let _ = conn.close().await;
        result
    }

    /// A verb that only reads does not create a SQLite file that is not there
    /// (`mode=rwc` would): it says so instead, and which verb creates it.
    #[cfg(feature = "sqlite")]
    fn refuse_to_create(&self, verb: &str) -> Result<(), Error> {
        let url = &self.settings.url;
        if url.backend() != migrations_rs_runtime::Backend::Sqlite || url.expose().contains("memory") {
            return Ok(());
        }
        let options = SqliteConnectOptions::from_str(url.expose()).map_err(|e| Error::msg(e.to_string()))?;
        let file = options.get_filename();
        if file.exists() {
            return Ok(());
        }
        let file = std::env::current_dir().map_or_else(|_| file.to_path_buf(), |dir| dir.join(file));
        Err(Error::msg(format!(
            "the SQLite database {} does not exist (from {}); `{verb}` only reads and creates nothing: \
             `up` creates it, or check --database-url / DATABASE_URL",
            file.display(),
            self.settings.source
        )))
    }

    /// Without SQLite built there is no file to create: connecting says so.
    #[cfg(not(feature = "sqlite"))]
    fn refuse_to_create(&self, _verb: &str) -> Result<(), Error> {
        Ok(())
    }

    /// The migrations (linked and of `--sql-dir`), their hooks and `--compat`,
    /// for a verb that works on scratch databases and never opens the target.
    pub(crate) fn scratch_migrator(&self) -> Result<Migrator, Error> {
        let (registry, hooks) = self.registry_and_hooks()?;
        Ok(Migrator::new(registry).with_hooks(hooks).compat(self.compat()))
    }

    fn compat(&self) -> Option<Compat> {
        self.settings.compat.map(|tool| match tool {
            CompatTool::Sqlx => Compat::Sqlx,
            CompatTool::Diesel => Compat::Diesel,
        })
    }

    /// The migrator with the verb's rules and the command line's options but
    /// nothing that prints or asks: for a fleet run, which reports each
    /// target's steps in that target's report.
    pub(crate) fn quiet_migrator(&self, rules: RunRules) -> Result<Migrator, Error> {
        let (registry, hooks) = self.registry_and_hooks()?;
        Ok(self.with_options(Migrator::new(registry).with_hooks(hooks), rules))
    }

    /// `migrator` with the lock, rules, compat, statement limits and backups the command line asks for.
    fn with_options(&self, migrator: Migrator, rules: RunRules) -> Migrator {
        let cli = self.cli;
        migrator
            .with_lock_options(LockOptions {
                strategy: match self.settings.lock {
                    LockKind::Native => LockStrategy::Native,
                    LockKind::Lease => LockStrategy::Lease,
                },
                wait: Duration::from_secs(cli.lock.lock_timeout),
                stale_after: Duration::from_secs(cli.lock.stale_lock_after),
                ..LockOptions::default()
            })
            .strict_order(rules.strict_order)
            .strict_revert(rules.strict_revert)
            .ignore_foreign_history(rules.ignore_foreign_history)
            .compat(self.compat())
            .revert_modified(rules.revert_modified)
            .force(rules.allow_destructive)
            .keep_going(rules.keep_going)
            .with_statement_limits(self.settings.statement_limits)
            .with_backup(BackupOptions {
                enabled: !cli.backup.no_backup,
                directory: cli.backup.backup_dir.clone(),
                command: self.settings.backup_command.clone(),
                timeout: Duration::from_secs(cli.backup.backup_timeout),
                keep: usize::try_from(cli.backup.keep_backups).unwrap_or(usize::MAX),
            })
    }

    fn migrator(&self, rules: RunRules, progress: &Progress) -> Result<Migrator, Error> {
        let cli = self.cli;
        let (registry, hooks) = self.registry_and_hooks()?;
        let migrator = Migrator::new(registry).with_hooks(hooks);
        let migrator = if self.settings.protected {
            approval::ask_before_risky_plans(migrator, self.settings.url.to_string(), cli.yes)
        } else {
            migrator
        };
        let (out, steps, show_steps) = (self.out.clone(), progress.clone(), !cli.json);
        let (wait_err, backup_err) = (self.err.clone(), self.err.clone());
        let last_wait_report: Mutex<Option<Instant>> = Mutex::new(None);
        Ok(self
            .with_options(migrator, rules)
            .on_progress(move |event| match event {
                StepProgress::Started { action, migration, index, total } => {
                    steps.start(index, total, format!("{} {} {}", verb(action), migration.version, migration.name));
                }
                StepProgress::Finished { action, migration, duration, .. } if show_steps => {
                    let done = match action {
                        StepAction::Apply => out.paint(Tone::Good, "applied "),
                        StepAction::Revert => out.paint(Tone::Warning, "reverted"),
                    };
                    steps.finish_step(
                        &out,
                        format!("{done} {} {} ({} ms)", migration.version, migration.name, duration.as_millis()),
                    );
                }
                StepProgress::Finished { .. } => {}
            })
            .on_backup(move |backup| report_backup(&backup_err, backup))
            .on_lock_wait(move |wait| {
                // Who holds the lock, when waiting starts and every ten seconds.
                let mut last = last_wait_report.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if last.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
                    return;
                }
                *last = Some(Instant::now());
                let holder = wait.holder.map_or_else(|| "another process".to_owned(), ToString::to_string);
                wait_err.line(format!(
                    "waiting for the migration lock held by {holder} ({} s of {} s)",
                    wait.waited.as_secs(),
                    wait.limit.as_secs()
                ));
            }))
    }
}

fn verb(action: StepAction) -> &'static str {
    match action {
        StepAction::Apply => "applying",
        StepAction::Revert => "reverting",
    }
}

/// Says which backup the run took, on standard error.
fn report_backup(err: &Output, backup: &Backup) {
    let line = match backup {
        Backup::Snapshot { path, reason } => err.paint(
            Tone::Dim,
            &format!(
                "backup: {}, a snapshot taken before this run changed anything; the run includes {reason}",
                path.display()
            ),
        ),
        Backup::Command { reason } => err.paint(
            Tone::Dim,
            &format!(
                "backup: the backup command succeeded before this run changed anything; the run includes {reason}"
            ),
        ),
        Backup::Skipped { reason, remedy } => {
            let help =
                remedy.as_ref().map_or_else(String::new, |remedy| format!("; {}", crate::cli::remedy::text(remedy)));
            err.paint(Tone::Warning, &format!("warning: no backup taken: {reason}{help}"))
        }
        Backup::Disabled => err.paint(Tone::Dim, "backup: none, as --no-backup asks"),
    };
    err.line(line);
}
