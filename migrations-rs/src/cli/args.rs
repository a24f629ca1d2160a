//! The command line's arguments, as clap reads them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use migrations_rs_runtime::lock::MIN_STALE_AFTER;
use migrations_rs_runtime::{Action, Version};

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    about = "Apply, revert and inspect the migrations linked into this program",
    after_help = "The database: --database-url, else the URL of --env NAME from the config file, else DATABASE_URL \
                  (also read from a .env file in the working directory), else the SQLite file migrations.db in the working directory.\n\
                  Exit codes: 0 success; 1 failure (reason on standard error); 2 wrong arguments; \
                  3 `status` or `validate` found the database not up to date or not valid."
)]
pub(crate) struct Cli {
    /// Database URL: sqlite://file.db, postgres://user@host/db or mysql://user@host/db
    #[arg(long, global = true)]
    pub database_url: Option<String>,

    /// A folder of SQL migrations (ours, sqlx's or diesel's layout) to run in the
    /// same graph as the migrations linked into this program
    #[arg(long, global = true, env = "MIGRATIONS_RS_SQL_DIR", value_name = "DIR")]
    pub sql_dir: Option<std::path::PathBuf>,
    /// SQL run on every connection opened to the database (the migrations' and the
    /// lock's), after the environment's `init_sql`; repeatable. For session settings
    /// such as `SET FOREIGN_KEY_CHECKS = 0` or `PRAGMA foreign_keys = OFF`
    #[arg(long = "init-sql", global = true, value_name = "SQL")]
    pub init_sql: Vec<String>,
    /// Keep this tool's history table in step with ours (created if missing, a row
    /// written or deleted with each migration), so migrations that use it work and
    /// the project can go back to the tool
    #[arg(long, global = true, value_enum, value_name = "TOOL")]
    pub compat: Option<CompatTool>,
    /// A named environment from the config file, such as `production`
    #[arg(long = "env", global = true, value_name = "NAME")]
    pub environment: Option<String>,

    /// The config file holding named environments
    #[arg(long, global = true, default_value = "migrations.toml", value_name = "FILE")]
    pub config: String,

    /// Print results as JSON for machines
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Show each step as it runs (-v), and the SQL (-vv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Answer yes to every confirmation (needed without a terminal in a protected environment)
    #[arg(long, global = true)]
    pub yes: bool,

    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub backup: BackupArgs,

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
    #[arg(long, global = true, value_enum, env = "MIGRATIONS_RS_LOCK")]
    pub lock: Option<LockKind>,

    /// Seconds without a heartbeat after which a lease counts as abandoned (at least 2;
    /// waiting processes use the holder's value)
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS", value_parser = parse_stale_after)]
    pub stale_lock_after: u64,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Shell command that backs up a PostgreSQL or MySQL/MariaDB database before risky
    /// migrations; it reads the URL from $MIGRATIONS_RS_DATABASE_URL, and must succeed for the run to go on
    #[arg(long, global = true, env = "MIGRATIONS_RS_BACKUP_COMMAND", value_name = "COMMAND")]
    pub backup_command: Option<String>,
    /// Folder for the SQLite snapshots taken before risky migrations (default: beside the database file)
    #[arg(long, global = true, value_name = "DIR")]
    pub backup_dir: Option<std::path::PathBuf>,
    /// Take no backup before risky migrations
    #[arg(long, global = true)]
    pub no_backup: bool,
    /// SQLite snapshots of one database to keep in the snapshot folder; older ones are deleted
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=10_000)
    )]
    pub keep_backups: u64,
    /// Seconds the backup command may run before it is killed and the run stops
    #[arg(
        long,
        global = true,
        env = "MIGRATIONS_RS_BACKUP_TIMEOUT",
        value_name = "SECS",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(1..=31_536_000)
    )]
    pub backup_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LockKind {
    Native,
    Lease,
}

/// The tools whose history table `--compat` keeps in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CompatTool {
    Sqlx,
    Diesel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    Text,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AdoptFrom {
    Auto,
    Sqlx,
    Diesel,
    Refinery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    Postgres,
    Mysql,
    Sqlite,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Apply pending migrations in dependency order
    #[command(
        after_help = "Examples:\n  migrate up\n  migrate up --to 20240115093000\n  migrate up --module billing\n  \
                            migrate up --dry-run\n  migrate up --keep-going\n  migrate up --strict\n  migrate up --force"
    )]
    Up {
        /// Apply only this version and what it depends on
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
        /// Apply only this module's (crate's) migrations and what they depend on in other modules
        #[arg(long, conflicts_with = "to")]
        module: Option<String>,
        /// Rehearse: run the plan in one transaction and roll it back (PostgreSQL, SQLite);
        /// on MySQL/MariaDB show the SQL instead. Exits 1 if the real run would fail
        #[arg(long)]
        dry_run: bool,
        /// Run destructive statements that their migrations do not acknowledge with `allow = [...]`
        #[arg(long)]
        force: bool,
        /// After a failure, still apply every pending migration that does not depend on it
        #[arg(long)]
        keep_going: bool,
        /// Refuse pending migrations older than applied ones instead of applying them
        #[arg(long)]
        strict: bool,
        /// Run even though the database holds another tool's history and none of ours
        /// (by default refused: `adopt` first, or every migration runs again)
        #[arg(long)]
        ignore_foreign_history: bool,
    },
    /// Revert applied migrations, dependents first (one step by default)
    #[command(
        after_help = "Examples:\n  migrate down\n  migrate down --steps 2\n  migrate down --to 20240115093000\n  \
                            migrate down --last-batch --dry-run"
    )]
    Down {
        /// Revert the last N applied migrations
        #[arg(long, conflicts_with_all = ["to", "last_batch"])]
        steps: Option<usize>,
        /// Revert every applied migration that comes after this version in the
        /// migration order; the version itself stays
        #[arg(long, value_parser = parse_version, conflicts_with = "last_batch")]
        to: Option<Version>,
        /// Revert what the last run applied
        #[arg(long)]
        last_batch: bool,
        /// Rehearse: run the reverts in one transaction and roll them back (PostgreSQL, SQLite);
        /// on MySQL/MariaDB show the SQL instead. Exits 1 if the real run would fail
        #[arg(long)]
        dry_run: bool,
        /// Revert migrations whose code changed since they were applied
        #[arg(long)]
        force: bool,
        /// Refuse before reverting anything when the plan meets an irreversible
        /// migration (by default everything newer is reverted and the run stops there)
        #[arg(long)]
        strict: bool,
    },
    /// Revert the last N applied migrations and apply them again
    #[command(after_help = "Examples:\n  migrate redo\n  migrate redo --steps 3")]
    Redo {
        #[arg(long, default_value_t = 1)]
        steps: usize,
    },
    /// List every migration with its state; exits 3 when the database is not up to date
    #[command(
        after_help = "Examples:\n  migrate status\n  migrate status --json\n  migrate status --module billing\n  \
                            migrate status --pending --limit 10\n  migrate status --quiet || echo 'migrations pending'"
    )]
    Status {
        /// Only the migrations of this module (crate)
        #[arg(long)]
        module: Option<String>,
        /// Only the migrations not applied yet (and any left dirty), in the order `up` runs them
        #[arg(long)]
        pending: bool,
        /// Show at most N migrations: the newest N, or with --pending the next N to apply
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// The audit log, newest first
    #[command(after_help = "Examples:\n  migrate history\n  migrate history --limit 20 --action apply_failed\n  \
                            migrate history --since 2024-06-01 --json\n  migrate history --since 2h")]
    History {
        /// At most this many entries, 1 to 9223372036854775807
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
        limit: Option<u64>,
        /// An RFC 3339 time or date (2024-06-01), or an age such as 2h or 7d
        #[arg(long)]
        since: Option<String>,
        #[arg(long, value_parser = parse_version)]
        version: Option<Version>,
        #[arg(long, value_parser = parse_action)]
        action: Option<Action>,
    },
    /// Check the migrations against the database: changed checksums, unfinished runs, missing code
    #[command(after_help = "Example:\n  migrate validate")]
    Validate,
    /// Accept changed checksums and clear unfinished runs, once the database is put right
    #[command(after_help = "Example:\n  migrate repair")]
    Repair,
    /// Record every migration up to a version as applied without running them
    #[command(after_help = "Example:\n  migrate baseline --to 20240115093000")]
    Baseline {
        #[arg(long, value_parser = parse_version)]
        to: Version,
    },
    /// Take over the history of sqlx, diesel or refinery: record as applied the migrations
    /// their history table lists, so that only new ones run
    #[command(
        after_help = "Examples:\n  migrate adopt --dry-run\n  migrate adopt\n  migrate adopt --from diesel --json"
    )]
    Adopt {
        /// Whose history table to read; `auto` finds the one this database has
        #[arg(long, value_enum, default_value_t = AdoptFrom::Auto)]
        from: AdoptFrom,
        /// Show what would be recorded, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
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
    /// The steps `up` would take, in order, and why each is there
    #[command(
        after_help = "Examples:\n  migrate plan\n  migrate plan --to 20240115093000 --json\n  migrate plan --module billing"
    )]
    Plan {
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
        /// Only this module's migrations and what they depend on in other modules
        #[arg(long, conflicts_with = "to")]
        module: Option<String>,
    },
    /// The dependency graph, applied and pending marked; `--format dot` for Graphviz
    #[command(after_help = "Examples:\n  migrate graph\n  migrate graph --format dot | dot -Tsvg > migrations.svg")]
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// The risk analysis of every migration (or the pending ones), without changing anything;
    /// exits 1 when it finds errors
    #[command(
        after_help = "Examples:\n  migrate lint\n  migrate lint --backend postgres --json\n  migrate lint --pending"
    )]
    Lint {
        /// The dialect to analyse for (default: the configured database's)
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Only the migrations not applied yet (reads the database)
        #[arg(long)]
        pending: bool,
    },
    /// The SQL each pending migration would run, rendered offline
    #[command(after_help = "Examples:\n  migrate sql\n  migrate sql --backend postgres --to 20240115093000")]
    Sql {
        /// The dialect to render (default: the database's)
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        #[arg(long, value_parser = parse_version)]
        to: Option<Version>,
    },
    /// Write a new migration file and wire it into the module tree; with --sql-dir,
    /// write V<version>__NAME.sql and its .down.sql there instead
    #[command(after_help = "Examples:\n  migrate create add_user_avatars --dir src/migrations\n  \
                            migrate create backfill_avatars --depends-on 20240115093000 --risk data\n  \
                            migrations-rs create add_user_avatars --sql-dir migrations")]
    Create {
        /// The migration's name: lowercase letters, digits and underscores
        name: String,
        /// The folder of migration files, holding their mod.rs
        #[arg(long, default_value = "src/migrations")]
        dir: String,
        #[arg(long = "depends-on", value_parser = parse_version)]
        depends_on: Vec<Version>,
        #[arg(long, value_parser = ["schema", "data", "index", "constraint"])]
        risk: Vec<String>,
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
    Release,
}

fn parse_version(input: &str) -> Result<Version, String> {
    Version::parse(input).map_err(|e| e.to_string())
}

/// `--stale-lock-after`: whole seconds, at least [`MIN_STALE_AFTER`].
fn parse_stale_after(input: &str) -> Result<u64, String> {
    let minimum = MIN_STALE_AFTER.as_secs();
    let seconds: u64 = input.parse().map_err(|_| format!("`{input}` is not a whole number of seconds"))?;
    if seconds < minimum {
        return Err(format!(
            "{seconds} s is too short: a lease must outlive several heartbeats (one every quarter of it), \
             so it must be at least {minimum} s"
        ));
    }
    Ok(seconds)
}

fn parse_action(input: &str) -> Result<Action, String> {
    Action::parse(input).ok_or_else(|| {
        let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        format!("unknown action `{input}`; known actions are {}", known.join(", "))
    })
}
