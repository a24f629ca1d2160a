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

use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrations_rs_runtime::engine::{Progress, StepAction};
use migrations_rs_runtime::{Connection, DatabaseUrl, Error, MigrationState, Migrator, RevertTarget, Status, Version};
use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Used when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://migrations.db?mode=rwc";

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    about = "Apply, revert and inspect the migrations linked into this program",
    after_help = "Without --database-url or DATABASE_URL, a SQLite file `migrations.db` in the working directory is used.\n\
                  Exit codes: 0 success, 1 failure (reason on standard error), 2 wrong arguments."
)]
struct Cli {
    /// Database URL: sqlite://file.db, postgres://user@host/db or mysql://user@host/db
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,

    /// Show each step as it runs (-v), and the SQL (-vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations in dependency order
    #[command(after_help = "Examples:\n  migrate up\n  migrate up --to 20240115093000")]
    Up {
        /// Apply only this version and what it depends on
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
    },
    /// Revert applied migrations, dependents first (one step by default)
    #[command(after_help = "Examples:\n  migrate down\n  migrate down --steps 2\n  migrate down --to 20240115093000")]
    Down {
        /// Revert the last N applied migrations
        #[arg(long, conflicts_with = "to")]
        steps: Option<usize>,
        /// Revert everything applied after this version; the version itself stays
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
    },
    /// List every migration with its state
    #[command(after_help = "Example:\n  migrate status")]
    Status,
}

fn parse_version(input: &str) -> Result<Version, String> {
    Version::parse(input).map_err(|e| e.to_string())
}

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
    let progress_out = out.clone();
    let migrator = Migrator::from_linked()?.on_progress(move |progress| {
        if let Progress::Finished { action, migration, duration, .. } = progress {
            let verb = match action {
                StepAction::Apply => "applied ",
                StepAction::Revert => "reverted",
            };
            progress_out.line(format!("{verb} {} {} ({} ms)", migration.version, migration.name, duration.as_millis()));
        }
    });
    let mut conn = Connection::connect(&url).await?;
    let result = match cli.command {
        Command::Up { to } => migrator.up(&mut conn, to).await.map(|report| {
            for missing in &report.missing_from_code {
                out.line(format!(
                    "warning: {} {} (module {}) is applied but no longer in the code",
                    missing.version, missing.name, missing.module
                ));
            }
            let out_of_order = report.applied.iter().filter(|s| s.out_of_order).count();
            match report.applied.len() {
                0 => out.line("nothing to apply: the database is up to date".to_owned()),
                n => out.line(format!(
                    "{n} migration(s) applied in batch {}{}",
                    report.batch.unwrap_or_default(),
                    if out_of_order > 0 { format!(", {out_of_order} out of order") } else { String::new() }
                )),
            }
        }),
        Command::Down { steps, to } => {
            let target = match to {
                Some(version) => RevertTarget::To(version),
                None => RevertTarget::Steps(steps.unwrap_or(1)),
            };
            migrator.down(&mut conn, target).await.map(|report| match report.reverted.len() {
                0 => out.line("nothing to revert".to_owned()),
                n => out.line(format!("{n} migration(s) reverted")),
            })
        }
        Command::Status => migrator.status(&mut conn).await.map(|status| out.line(render_status(&status))),
    };
    let _ = conn.close().await;
    result
}

/// The status as an aligned table followed by a summary line.
fn render_status(status: &Status) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["version", "name", "module", "risk", "state", "applied at", "took", "batch"]);
    for migration in &status.migrations {
        let risk = migration.risk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        let row: [String; 8] = match &migration.state {
            MigrationState::Applied { applied_at, execution_ms, batch, checksum_matches, .. } => [
                migration.version.to_string(),
                migration.name.to_owned(),
                migration.module.to_owned(),
                risk,
                if *checksum_matches { "applied".to_owned() } else { "applied, modified since".to_owned() },
                applied_at.clone(),
                format!("{execution_ms} ms"),
                batch.to_string(),
            ],
            MigrationState::Pending { out_of_order } => [
                migration.version.to_string(),
                migration.name.to_owned(),
                migration.module.to_owned(),
                risk,
                if *out_of_order { "pending, out of order".to_owned() } else { "pending".to_owned() },
                String::new(),
                String::new(),
                String::new(),
            ],
        };
        table.add_row(row);
    }
    for missing in &status.missing_from_code {
        table.add_row([
            missing.version.to_string(),
            missing.name.clone(),
            missing.module.clone(),
            missing.risk.clone(),
            "applied, missing from code".to_owned(),
            missing.applied_at.clone(),
            format!("{} ms", missing.execution_ms),
            missing.batch.to_string(),
        ]);
    }
    let applied = status.migrations.iter().filter(|m| matches!(m.state, MigrationState::Applied { .. })).count();
    let pending = status.pending().count();
    let verdict = if status.is_up_to_date() { "up to date" } else { "not up to date" };
    format!("{table}\n{applied} applied, {pending} pending: {verdict}")
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "migrations_rs_runtime=info",
        _ => "migrations_rs_runtime=debug,migrations_rs::sql=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

/// An output stream shared with the progress callback; each line is flushed at once.
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
