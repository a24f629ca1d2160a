//! The command line, run from the program that links the migrations:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     migrations_rs::cli::main()
//! }
//! ```
//!
//! Exit codes: 0 on success, 1 when a command fails (the reason is printed on
//! standard error), 2 when the arguments are wrong.

mod args;
mod render;

use args::{Cli, Command, LockCommand, LockKind};
use clap::Parser;
use migrations_rs_runtime::engine::{Progress, StepAction};
use migrations_rs_runtime::{
    Connection, DatabaseUrl, Error, LockOptions, LockStrategy, LockWait, Migrator, RevertTarget,
};
use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Used when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://migrations.db?mode=rwc";

/// Runs the command line with the process's arguments and prints to the terminal.
pub fn main() -> ExitCode {
    run(std::env::args_os(), io::stdout(), io::stderr())
}

/// Runs the command line with `args` (the first is the program name),
/// writing results to `out` and diagnostics to `err` as they happen.
pub fn run<I, T>(args: I, out: impl Write + Send + 'static, err: impl Write + Send + 'static) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let (out, err) = (Output::new(out), Output::new(err));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            return if error.use_stderr() {
                err.write(&text);
                ExitCode::from(2)
            } else {
                out.write(&text);
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            err.line(format!("error: cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli, &out, &err)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            err.line(format!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli, out: &Output, err: &Output) -> Result<(), Error> {
    let url = match &cli.database_url {
        Some(url) => DatabaseUrl::parse(url)?,
        None => {
            err.line(
                "note: no --database-url or DATABASE_URL given; using the SQLite file migrations.db in the working directory"
                    .to_owned(),
            );
            DatabaseUrl::parse(DEFAULT_DATABASE_URL)?
        }
    };
    err.line(format!("database: {url}"));
    let strict = matches!(cli.command, Command::Up { strict: true, .. });
    let migrator = Migrator::from_linked()?
        .with_lock_options(LockOptions {
            strategy: match cli.lock.lock {
                LockKind::Native => LockStrategy::Native,
                LockKind::Lease => LockStrategy::Lease,
            },
            wait: Duration::from_secs(cli.lock.lock_timeout),
            stale_after: Duration::from_secs(cli.lock.stale_lock_after),
            ..LockOptions::default()
        })
        .strict_order(strict)
        .on_progress(progress_printer(out.clone()))
        .on_lock_wait(lock_wait_printer(err.clone()));
    let mut conn = Connection::connect(&url).await?;
    let result = run_command(&migrator, &mut conn, cli.command, out, err).await;
    let _ = conn.close().await;
    result
}

async fn run_command(
    migrator: &Migrator,
    conn: &mut Connection,
    command: Command,
    out: &Output,
    err: &Output,
) -> Result<(), Error> {
    match command {
        Command::Up { to, .. } => {
            let report = migrator.up(conn, to).await?;
            for missing in &report.missing_from_code {
                err.line(format!(
                    "warning: {} {} (module {}) is applied but no longer in the code",
                    missing.version, missing.name, missing.module
                ));
            }
            let out_of_order = report.applied.iter().filter(|s| s.out_of_order).count();
            out.line(match report.applied.len() {
                0 => "nothing to apply: the database is up to date".to_owned(),
                n => format!(
                    "{n} migration(s) applied in batch {}{}",
                    report.batch.unwrap_or_default(),
                    if out_of_order > 0 { format!(", {out_of_order} out of order") } else { String::new() }
                ),
            });
        }
        Command::Down { steps, to } => {
            let target = match to {
                Some(version) => RevertTarget::To(version),
                None => RevertTarget::Steps(steps.unwrap_or(1)),
            };
            let report = migrator.down(conn, target).await?;
            out.line(match report.reverted.len() {
                0 => "nothing to revert".to_owned(),
                n => format!("{n} migration(s) reverted"),
            });
        }
        Command::Status => out.line(render::status(&migrator.status(conn).await?)),
        Command::MarkApplied { version } => {
            migrator.mark_applied(conn, version).await?;
            out.line(format!("{version} recorded as applied, without running it"));
        }
        Command::MarkReverted { version } => {
            migrator.mark_reverted(conn, version).await?;
            out.line(format!("{version} recorded as not applied, without running its down"));
        }
        Command::Lock(LockCommand::Status) => out.line(render::lock_status(&migrator.lock_status(conn).await?)),
        Command::Lock(LockCommand::Release { yes }) => {
            let status = migrator.lock_status(conn).await?;
            if !status.held && status.holder.is_none() {
                out.line("the migration lock is free; nothing to release".to_owned());
                return Ok(());
            }
            if !yes {
                confirm(&format!(
                    "{}\nRelease it? Only do so if that process is gone. [y/N] ",
                    render::lock_status(&status)
                ))?;
            }
            match migrator.release_lock(conn).await? {
                Some(holder) => out.line(format!("released the migration lock held by {holder}")),
                None => out.line("released the migration lock".to_owned()),
            }
        }
    }
    Ok(())
}

/// Asks on the terminal; refuses when there is no terminal to ask on.
fn confirm(question: &str) -> Result<(), Error> {
    if !io::stdin().is_terminal() {
        return Err(Error::msg("refusing without confirmation: there is no terminal to ask on; pass --yes to confirm"));
    }
    eprint!("{question}");
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer).map_err(|e| Error::msg(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") { Ok(()) } else { Err(Error::msg("not confirmed; nothing changed")) }
}

fn progress_printer(out: Output) -> impl Fn(Progress<'_>) + Send + Sync + 'static {
    move |progress| {
        if let Progress::Finished { action, migration, duration, .. } = progress {
            let verb = match action {
                StepAction::Apply => "applied ",
                StepAction::Revert => "reverted",
            };
            out.line(format!("{verb} {} {} ({} ms)", migration.version, migration.name, duration.as_millis()));
        }
    }
}

/// Says who holds the lock when waiting starts, then every ten seconds.
fn lock_wait_printer(err: Output) -> impl Fn(LockWait<'_>) + Send + Sync + 'static {
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    move |wait| {
        let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *last = Some(Instant::now());
        let holder = wait.holder.map_or_else(|| "another process".to_owned(), ToString::to_string);
        err.line(format!(
            "waiting for the migration lock held by {holder} ({} s of {} s)",
            wait.waited.as_secs(),
            wait.limit.as_secs()
        ));
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        // sqlx warns of every statement slower than a second; a migration is often slower.
        0 => "warn,sqlx=error",
        1 => "warn,sqlx=error,migrations_rs_runtime=info",
        _ => "warn,sqlx=error,migrations_rs_runtime=debug,migrations_rs::sql=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

/// An output stream shared with the progress callbacks; each line is flushed at once.
#[derive(Clone)]
struct Output(Arc<Mutex<Box<dyn Write + Send>>>);

impl Output {
    fn new(writer: impl Write + Send + 'static) -> Self {
        Output(Arc::new(Mutex::new(Box::new(writer))))
    }

    fn write(&self, text: &str) {
        let mut writer = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A closed pipe (`migrate status | head`) is not worth a panic.
        let _ = writer.write_all(text.as_bytes()).and_then(|()| writer.flush());
    }

    fn line(&self, mut text: String) {
        text.push('\n');
        self.write(&text);
    }
}
