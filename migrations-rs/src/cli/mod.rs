//! The command line, run from the program that links the migrations:
//!
//! ```no_run
//! fn main() {
//!     migrations_rs::cli::main()
//! }
//! ```
//!
//! [`main`] ends the process itself with the exit code, so no form of the call
//! can drop it; [`run`] returns it instead, for tests and embedding.
//!
//! Exit codes: 0 success; 1 failure (the reason is printed on standard
//! error); 2 wrong arguments; 3 `status` or `validate` found the database not
//! up to date or not valid, `verify` found a down that does not reverse its
//! up, or `drift` found the live schema drifted, so a deploy can be gated on them.
//! Over a fleet of targets: 0 only if every target is up to date, 1 if a
//! target failed or was not started, else 3.

// The example above is the whole `main.rs` of a program.
#![allow(clippy::needless_doctest_main)]

// The layers, lowest first, each using only those below it: `args`,
// `config`, `output`, `render`, `error_json` and `new_migration`; `context`,
// what every handler shares; `report`, results that take more than a line;
// `run`, the handlers of the verbs.
mod args;
mod config;
mod context;
mod error_json;
mod new_migration;
mod output;
mod remedy;
mod render;
mod report;
mod run;

pub use config::DEFAULT_DATABASE_URL;

use args::Cli;
use clap::Parser;
use output::Output;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

/// Runs the command line with the process's arguments on the terminal, then
/// ends the process with the exit code.
pub fn main() -> ! {
    config::load_dotenv();
    let code = match Cli::try_parse() {
        Ok(cli) => {
            let (out, err) = (Output::stdout(cli.quiet), Output::stderr(cli.quiet || cli.json));
            execute(cli, &out, &err)
        }
        Err(error) => usage_error(&error, &Output::stdout(false), &Output::stderr(false)),
    };
    exit(code)
}

/// The standalone `migrations-rs` program: every verb over a folder of SQL
/// migrations, `--sql-dir` (default `migrations`), for projects without
/// Rust migrations. Installed by `cargo install --path migrations-rs`.
/// Ends the process with the exit code.
pub fn main_for_sql_folder() -> ! {
    use clap::{CommandFactory, FromArgMatches};
    config::load_dotenv();
    let command = Cli::command()
        .name("migrations-rs")
        .about("Apply, revert and inspect the SQL migrations of a folder (--sql-dir, default `migrations`)");
    let code = match command.try_get_matches().and_then(|matches| Cli::from_arg_matches(&matches)) {
        Ok(mut cli) => {
            cli.sql_dir.get_or_insert_with(|| "migrations".into());
            let (out, err) = (Output::stdout(cli.quiet), Output::stderr(cli.quiet || cli.json));
            execute(cli, &out, &err)
        }
        Err(error) => usage_error(&error, &Output::stdout(false), &Output::stderr(false)),
    };
    exit(code)
}

/// Flushes the output and ends the process with `code`.
fn exit(code: ExitCode) -> ! {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // `ExitCode` has no stable accessor for its number: find the byte it was made from.
    let number = (0..=u8::MAX).find(|n| ExitCode::from(*n) == code).map_or(1, i32::from);
    std::process::exit(number)
}

/// Runs the command line with `args` (the first is the program name),
/// writing results to `out` and diagnostics to `err` as they happen, without
/// colours, and returns the exit code.
#[must_use = "the exit code says whether the command succeeded"]
pub fn run<I, T>(args: I, out: impl Write + Send + 'static, err: impl Write + Send + 'static) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            let (quiet, json) = (cli.quiet, cli.json);
            execute(cli, &Output::new(out, false, quiet), &Output::new(err, false, quiet || json))
        }
        Err(error) => usage_error(&error, &Output::new(out, false, false), &Output::new(err, false, false)),
    }
}

fn usage_error(error: &clap::Error, out: &Output, err: &Output) -> ExitCode {
    let text = usage_text(error, err.is_terminal_with_color());
    if error.use_stderr() {
        err.write_always(&text);
        ExitCode::from(2)
    } else {
        out.write_always(&text);
        ExitCode::SUCCESS
    }
}

/// A usage error (or `--help`) as printed. A URL given in the wrong place is
/// repeated by the error: never with its password.
fn usage_text(error: &clap::Error, color: bool) -> String {
    let text = if color { error.render().ansi().to_string() } else { error.render().to_string() };
    migrations_rs_runtime::url::redact_text(&text)
}

/// What the command line prints about its arguments before it connects:
/// the usage error, the configuration error, or the database it would use
/// and where that came from. No database is opened and nothing is changed.
/// For the fuzz target over argument parsing.
#[doc(hidden)]
pub fn check_arguments<I, T>(args: I) -> (u8, String)
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => return (if error.use_stderr() { 2 } else { 0 }, usage_text(&error, false)),
    };
    let settings = match config::resolve(&cli) {
        Ok(settings) => settings,
        Err(error) => return (1, migrations_rs_runtime::url::redact_text(&error.to_string())),
    };
    let mut text = format!("database: {} (from {})", settings.url, settings.source);
    if let args::Command::History(args::HistoryArgs { since: Some(since), .. }) = &cli.command {
        match crate::history_filter::parse_since(since, &format!("--since {since}")) {
            Ok(moment) => text.push_str(&format!(
                "
since {moment}"
            )),
            Err(error) => return (1, migrations_rs_runtime::url::redact_text(&error.to_string())),
        }
    }
    (0, text)
}

fn execute(cli: Cli, out: &Output, err: &Output) -> ExitCode {
    init_tracing(cli.verbose);
    let failed = |error: &migrations_rs_runtime::Error| {
        // Runtime errors show URLs redacted already; a configuration file's own errors quote its lines.
        if cli.json || cli.quiet {
            let object = render::json(&error_json::error_object(error));
            err.line_always(migrations_rs_runtime::url::redact_text(&object));
            return ExitCode::FAILURE;
        }
        let message = migrations_rs_runtime::url::redact_text(&error.to_string());
        err.line_always(format!("{} {message}", err.paint(output::Tone::Bad, "error:")));
        for (_, text) in remedy::texts(error) {
            err.line_always(format!(
                "{} {}",
                err.paint(output::Tone::Strong, "help:"),
                migrations_rs_runtime::url::redact_text(&text)
            ));
        }
        ExitCode::FAILURE
    };
    let settings = match config::resolve(&cli) {
        Ok(settings) => settings,
        Err(error) => return failed(&error),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return failed(&migrations_rs_runtime::Error::msg(format!("cannot start the async runtime: {error}")));
        }
    };
    let context = context::Context { cli: &cli, settings: &settings, out, err };
    match runtime.block_on(run::execute(&context)) {
        Ok(code) => code,
        Err(error) => failed(&error),
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        // The command line says everything itself, once; the log is for -v.
        0 => "off",
        // sqlx warns of every statement slower than a second; a migration is often slower.
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
