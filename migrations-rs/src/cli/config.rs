//! Where the database is and how careful to be: `--database-url`, a named
//! environment from the config file, `DATABASE_URL` (also from a `.env`
//! file in the working directory), or the SQLite default, in that order.
//!
//! ```toml
//! # migrations.toml
//! [environments.production]
//! database_url_env = "PRODUCTION_DATABASE_URL"   # or database_url = "postgres://..."
//! protected = true                              # ask before risky commands
//! lock = "lease"                                # for a pooler in transaction mode
//! backup_command = "pg_dump \"$MIGRATIONS_RS_DATABASE_URL\" > backup-$(date +%s).sql"
//! init_sql = ["SET FOREIGN_KEY_CHECKS = 0"]      # run on every connection opened
//! compat = "sqlx"                               # keep sqlx's (or diesel's) history table in step
//! refuse_drift = true                           # `up` refuses to run on a drifted schema
//! drift_exclude = ["sessions"]                  # tables `drift` leaves out
//! lock_wait = "2s"                              # how long a statement waits for a lock (default 5s)
//! lock_retries = 4                              # tries after the first when it gives up (default 4)
//! statement_timeout = "30s"                     # how long a statement may run (off by default)
//! ```

use crate::cli::args::{Cli, CompatTool, LockKind};
use migrations_rs_runtime::{DatabaseUrl, Error, StatementLimits, Version};
use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The `.env` file `DATABASE_URL` was read from, when it was.
static DATABASE_URL_FROM_DOTENV: OnceLock<PathBuf> = OnceLock::new();

/// Reads `.env` in the working directory, and only there (never a parent
/// directory's, which could point a run at the wrong database): its variables
/// are set unless the environment already has them.
pub(crate) fn load_dotenv() {
    let Ok(path) = std::env::current_dir().map(|dir| dir.join(".env")) else { return };
    if !path.is_file() {
        return;
    }
    let url_was_set = std::env::var_os("DATABASE_URL").is_some();
    if let Err(error) = dotenvy::from_path(&path) {
        eprintln!("warning: {} was not read: {error}", path.display());
        return;
    }
    if !url_was_set && std::env::var_os("DATABASE_URL").is_some() {
        let _ = DATABASE_URL_FROM_DOTENV.set(path);
    }
}

/// Used when no database is named anywhere.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://migrations.db?mode=rwc";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Risk-analysis findings in migrations older than this version are history, not errors.
    checks_from: Option<VersionValue>,
    #[serde(default)]
    environments: BTreeMap<String, Environment>,
}

/// A version written as a TOML integer or string.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum VersionValue {
    Number(u64),
    Text(String),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Environment {
    database_url: Option<String>,
    database_url_env: Option<String>,
    #[serde(default)]
    protected: bool,
    lock: Option<LockKind>,
    backup_command: Option<String>,
    #[serde(default)]
    init_sql: Vec<String>,
    compat: Option<CompatTool>,
    #[serde(default)]
    refuse_drift: bool,
    #[serde(default)]
    drift_exclude: Vec<String>,
    lock_wait: Option<String>,
    lock_retries: Option<u32>,
    statement_timeout: Option<String>,
}

/// The database to use and the rules for it.
#[derive(Debug)]
pub(crate) struct Settings {
    pub url: DatabaseUrl,
    /// Where the URL came from, to say so.
    pub source: String,
    /// No database was named anywhere: the URL is [`DEFAULT_DATABASE_URL`].
    pub is_default: bool,
    /// Changes need confirmation (or `--yes`), and are refused without a terminal.
    pub protected: bool,
    pub lock: LockKind,
    /// The backup command of the environment, unless the command line gives one.
    pub backup_command: Option<String>,
    /// Run on every connection: the environment's `init_sql`, then each `--init-sql`.
    pub init_sql: Vec<String>,
    /// `--compat`, else the environment's `compat`.
    pub compat: Option<CompatTool>,
    /// `checks_from` of the config file: `lint` reports the findings of older migrations as history.
    pub checks_from: Option<Version>,
    /// `refuse_drift` of the environment: `up` refuses to run on a drifted schema.
    pub refuse_drift: bool,
    /// `drift_exclude` of the environment: tables `drift` leaves out.
    pub drift_exclude: Vec<String>,
    /// `--lock-wait`, `--lock-retries` and `--statement-timeout`, else the
    /// environment's keys of the same names, else the defaults.
    pub statement_limits: StatementLimits,
}

pub(crate) fn resolve(cli: &Cli) -> Result<Settings, Error> {
    let environment = match &cli.environment {
        Some(name) => Some((name.as_str(), load_environment(&cli.config, name)?)),
        None => None,
    };
    let lock = cli.lock.lock.or(environment.as_ref().and_then(|(_, env)| env.lock)).unwrap_or(LockKind::Native);
    let protected = environment.as_ref().is_some_and(|(_, env)| env.protected);
    let refuse_drift = environment.as_ref().is_some_and(|(_, env)| env.refuse_drift);
    let drift_exclude = environment.as_ref().map(|(_, env)| env.drift_exclude.clone()).unwrap_or_default();
    let backup_command = cli
        .backup
        .backup_command
        .clone()
        .or_else(|| environment.as_ref().and_then(|(_, env)| env.backup_command.clone()));
    let compat = cli.compat.or(environment.as_ref().and_then(|(_, env)| env.compat));
    let mut init_sql = environment.as_ref().map(|(_, env)| env.init_sql.clone()).unwrap_or_default();
    init_sql.extend(cli.init_sql.iter().cloned());
    let (raw, source) = if let Some(url) = &cli.database_url {
        (url.clone(), "--database-url".to_owned())
    } else if let Some((name, env)) = &environment {
        match (&env.database_url, &env.database_url_env) {
            (Some(url), _) => (url.clone(), format!("environment `{name}` in {}", cli.config)),
            (None, Some(variable)) => match std::env::var(variable) {
                Ok(url) => (url, format!("{variable}, named by environment `{name}`")),
                Err(_) => {
                    return Err(Error::msg(format!(
                        "environment `{name}` takes its URL from {variable}, which is not set; set it or pass --database-url"
                    )));
                }
            },
            (None, None) => {
                return Err(Error::msg(format!(
                    "environment `{name}` in {} names no database: give it `database_url` or `database_url_env`",
                    cli.config
                )));
            }
        }
    } else if let Ok(url) = std::env::var("DATABASE_URL") {
        let source = match DATABASE_URL_FROM_DOTENV.get() {
            Some(path) => format!("DATABASE_URL in {}", path.display()),
            None => "DATABASE_URL".to_owned(),
        };
        (url, source)
    } else {
        (
            DEFAULT_DATABASE_URL.to_owned(),
            "the default: no --database-url, --env or DATABASE_URL given, so the SQLite file migrations.db \
             in the working directory"
                .to_owned(),
        )
    };
    let checks_from = checks_from(&cli.config)?;
    let statement_limits = statement_limits(cli, environment.as_ref())?;
    let is_default = raw == DEFAULT_DATABASE_URL;
    Ok(Settings {
        url: DatabaseUrl::parse(&raw)?,
        source,
        is_default,
        protected,
        lock,
        backup_command,
        init_sql,
        compat,
        checks_from,
        refuse_drift,
        drift_exclude,
        statement_limits,
    })
}

/// The statement limits of the command line, else of the environment, else the defaults.
fn statement_limits(cli: &Cli, environment: Option<&(&str, Environment)>) -> Result<StatementLimits, Error> {
    let wait_key = |key: &str, value: Option<&String>| -> Result<Option<std::time::Duration>, Error> {
        let (Some((name, _)), Some(value)) = (environment, value) else { return Ok(None) };
        migrations_rs_runtime::wait::parse_wait(value)
            .map(Some)
            .map_err(|why| Error::msg(format!("`{key}` of environment `{name}` in {}: {why}", cli.config)))
    };
    let env = environment.map(|(_, env)| env);
    let lock_wait = match cli.limits.lock_wait {
        Some(wait) => wait,
        None => {
            wait_key("lock_wait", env.and_then(|e| e.lock_wait.as_ref()))?.unwrap_or(StatementLimits::DEFAULT_LOCK_WAIT)
        }
    };
    let statement_timeout = match cli.limits.statement_timeout {
        Some(timeout) => Some(timeout),
        None => wait_key("statement_timeout", env.and_then(|e| e.statement_timeout.as_ref()))?,
    };
    let retries = cli.limits.lock_retries.or(env.and_then(|e| e.lock_retries));
    if let (None, Some((name, env))) = (cli.limits.lock_retries, environment)
        && env.lock_retries.is_some_and(|n| n > 100)
    {
        return Err(Error::msg(format!("`lock_retries` of environment `{name}` in {}: at most 100", cli.config)));
    }
    Ok(StatementLimits {
        lock_wait,
        lock_tries: retries.map_or(StatementLimits::DEFAULT_LOCK_TRIES, |n| n + 1),
        statement_timeout,
    })
}

/// `checks_from` of the config file at `path`; `None` without the file or the key.
fn checks_from(path: &str) -> Result<Option<Version>, Error> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
    let file: ConfigFile =
        toml::from_str(&text).map_err(|error| Error::msg(format!("{path} is not a valid config file: {error}")))?;
    let Some(value) = file.checks_from else { return Ok(None) };
    let text = match value {
        VersionValue::Number(number) => number.to_string(),
        VersionValue::Text(text) => text,
    };
    Version::parse(&text)
        .map(Some)
        .map_err(|error| Error::msg(format!("{path}: `checks_from = {text}` is not a version: {error}")))
}

/// What [`record_checks_from`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CutOff {
    Written,
    /// The file already names this version or a later one.
    Kept,
    /// There is no config file: none is created.
    NoFile,
}

/// Writes `checks_from = version` into the config file at `path`, unless it
/// already names a later version or there is no such file.
pub(crate) fn record_checks_from(path: &str, version: Version) -> Result<CutOff, Error> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(CutOff::NoFile) };
    if checks_from(path)?.is_some_and(|current| current >= version) {
        return Ok(CutOff::Kept);
    }
    let line = format!("checks_from = {version}");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // A top-level key: before the first table.
    let top_level = lines.iter().position(|l| l.trim_start().starts_with('[')).unwrap_or(lines.len());
    match lines[..top_level].iter().position(|l| l.trim_start().starts_with("checks_from")) {
        Some(at) => lines[at] = line,
        None => {
            lines.insert(0, line);
            lines.insert(
                0,
                "# `lint` reports findings in migrations older than this as history (written by adopt/baseline)"
                    .to_owned(),
            );
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).map_err(|error| Error::msg(format!("cannot write {path}: {error}")))?;
    Ok(CutOff::Written)
}

fn load_environment(path: &str, name: &str) -> Result<Environment, Error> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        Error::msg(format!(
            "--env {name} needs the config file {path}, which cannot be read ({error}); \
             create it with an [environments.{name}] table, or point --config at it"
        ))
    })?;
    let mut file: ConfigFile =
        toml::from_str(&text).map_err(|error| Error::msg(format!("{path} is not a valid config file: {error}")))?;
    file.environments.remove(name).ok_or_else(|| {
        let known: Vec<&String> = file.environments.keys().collect();
        Error::msg(format!(
            "{path} has no environment `{name}`; it has {}",
            if known.is_empty() { "none".to_owned() } else { format!("{known:?}") }
        ))
    })
}

/// Asks on the terminal, unless `--yes` answered already; refuses when there
/// is no terminal to ask on.
pub(crate) fn confirm(question: &str, yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(Error::msg(format!(
            "{question}\nrefusing without confirmation: there is no terminal to ask on; pass --yes to confirm"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer).map_err(|e| Error::msg(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") { Ok(()) } else { Err(Error::msg("not confirmed; nothing changed")) }
}
