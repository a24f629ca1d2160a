//! The command line's arguments, as clap reads them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use migrations_rs_runtime::Version;

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    about = "Apply, revert and inspect the migrations linked into this program",
    after_help = "Without --database-url or DATABASE_URL, a SQLite file `migrations.db` in the working directory is used.\n\
                  Exit codes: 0 success, 1 failure (reason on standard error), 2 wrong arguments."
)]
pub(crate) struct Cli {
    /// Database URL: sqlite://file.db, postgres://user@host/db or mysql://user@host/db
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Show each step as it runs (-v), and the SQL (-vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Seconds to wait for another process's migration lock before giving up
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub lock_timeout: u64,

    /// How the lock is taken: the database's own lock, or a lease row (for
    /// poolers in transaction mode); every process must use the same
    #[arg(long, global = true, value_enum, default_value_t = LockKind::Native, env = "MIGRATIONS_RS_LOCK")]
    pub lock: LockKind,

    /// Seconds without a heartbeat after which a lease counts as abandoned
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS")]
    pub stale_lock_after: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LockKind {
    Native,
    Lease,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Apply pending migrations in dependency order
    #[command(after_help = "Examples:\n  migrate up\n  migrate up --to 20240115093000\n  migrate up --strict")]
    Up {
        /// Apply only this version and what it depends on
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
        /// Refuse pending migrations older than applied ones instead of applying them
        #[arg(long)]
        strict: bool,
    },
    /// Revert applied migrations, dependents first (one step by default)
    #[command(after_help = "Examples:\n  migrate down\n  migrate down --steps 2\n  migrate down --to 20240115093000")]
    Down {
        /// Revert the last N applied migrations
        #[arg(long, conflicts_with = "to")]
        steps: Option<usize>,
        /// Revert every applied migration that comes after this version in the
        /// migration order; the version itself stays
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
    },
    /// List every migration with its state
    #[command(after_help = "Example:\n  migrate status")]
    Status,
    /// Record a migration as applied without running it (after fixing a dirty one by hand)
    #[command(after_help = "Example:\n  migrate mark-applied 20240115093000")]
    MarkApplied {
        #[arg(value_parser = parse_version)]
        version: Version,
    },
    /// Record a migration as not applied without running its down (after undoing it by hand)
    #[command(after_help = "Example:\n  migrate mark-reverted 20240115093000")]
    MarkReverted {
        #[arg(value_parser = parse_version)]
        version: Version,
    },
    /// Inspect or free the migration lock
    #[command(subcommand)]
    Lock(LockCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum LockCommand {
    /// Who holds the migration lock, and since when
    #[command(after_help = "Example:\n  migrate lock status")]
    Status,
    /// Free the lock of a process that died holding it (asks first unless --yes)
    #[command(after_help = "Examples:\n  migrate lock release\n  migrate lock release --yes")]
    Release {
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
}

fn parse_version(input: &str) -> Result<Version, String> {
    Version::parse(input).map_err(|e| e.to_string())
}
