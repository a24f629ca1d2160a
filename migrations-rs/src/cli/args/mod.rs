//! The command line's arguments, as clap reads them: the options every verb
//! takes, and the verbs, each with a struct of its own arguments in the
//! file of its group.

mod apply;
mod create;
mod fleet;
mod inspect;
mod lock;
mod record;
mod review;
mod schema;
mod values;

pub(crate) use apply::{DownArgs, RedoArgs, UpArgs};
pub(crate) use create::CreateArgs;
pub(crate) use fleet::FleetArgs;
pub(crate) use inspect::{GraphArgs, GraphFormat, HistoryArgs, PlanArgs, StatusArgs};
pub(crate) use lock::LockCommand;
pub(crate) use record::{AdoptArgs, BaselineArgs, VersionArg};
pub(crate) use review::{LintArgs, SqlArgs};
pub(crate) use schema::{DriftArgs, VerifyArgs};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    version,
    about = "Apply, revert and inspect the migrations linked into this program",
    after_help = "The database: --database-url, else the URL of --env NAME from the config file, else DATABASE_URL \
                  (also read from a .env file in the working directory), else the SQLite file migrations.db in the working directory.\n\
                  Exit codes: 0 success; 1 failure (reason on standard error); 2 wrong arguments; \
                  3 `status` or `validate` found the database not up to date or not valid, `verify` found a \
                  down that does not reverse its up, or `drift` found the live schema drifted. Over targets \
                  (--target, --targets, --targets-query, --schema, --schemas-query): 0 only if every target is \
                  up to date (and, for `drift`, not drifted), 1 if a target failed or was not started, else 3."
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
    pub limits: StatementLimitArgs,
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
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS", value_parser = values::parse_stale_after)]
    pub stale_lock_after: u64,
}

/// How long the statements of `up`, `down` and `redo` may wait for locks and run.
#[derive(Debug, Args)]
pub(crate) struct StatementLimitArgs {
    /// How long each statement of a migration waits for a lock another session holds before it
    /// gives up and its migration is rolled back and tried again, such as 300ms or 5s (default 5s,
    /// or `lock_wait` of the environment)
    #[arg(long, global = true, value_name = "DURATION", value_parser = values::parse_wait)]
    pub lock_wait: Option<std::time::Duration>,
    /// How many more times a migration is tried after a statement gave up on a lock
    /// (default 4, or `lock_retries` of the environment)
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub lock_retries: Option<u32>,
    /// How long each statement may run before the database cancels it, such as 30s
    /// (off by default, or `statement_timeout` of the environment)
    #[arg(long, global = true, value_name = "DURATION", value_parser = values::parse_wait)]
    pub statement_timeout: Option<std::time::Duration>,
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

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Apply pending migrations in dependency order
    #[command(
        after_help = "Examples:\n  migrate up\n  migrate up --to 20240115093000\n  migrate up --module billing\n  \
                            migrate up --dry-run\n  migrate up --keep-going\n  migrate up --strict\n  \
                            migrate up --allow-destructive\n  \
                            migrate up --targets tenants.txt --parallel 8 --canary 2 --keep-going\n  \
                            migrate up --schemas-query \"SELECT name FROM tenants\" --shard 0/4"
    )]
    Up(UpArgs),
    /// Revert applied migrations, dependents first (one step by default)
    #[command(
        after_help = "Examples:\n  migrate down\n  migrate down --steps 2\n  migrate down --to 20240115093000\n  \
                            migrate down --last-batch --dry-run\n  migrate down --to 20240115093000 --revert-modified"
    )]
    Down(DownArgs),
    /// Revert the last N applied migrations and apply them again
    #[command(after_help = "Examples:\n  migrate redo\n  migrate redo --steps 3")]
    Redo(RedoArgs),
    /// List every migration with its state; exits 3 when the database is not up to date
    #[command(
        after_help = "Examples:\n  migrate status\n  migrate status --json\n  migrate status --module billing\n  \
                            migrate status --pending --limit 10\n  migrate status --quiet || echo 'migrations pending'\n  \
                            migrate status --target postgres://app@db1/shop --target postgres://app@db2/shop --json"
    )]
    Status(StatusArgs),
    /// The audit log, newest first
    #[command(after_help = "Examples:\n  migrate history\n  migrate history --limit 20 --action apply_failed\n  \
                            migrate history --since 2024-06-01 --json\n  migrate history --since 2h")]
    History(HistoryArgs),
    /// Check the migrations against the database: changed checksums, unfinished runs, missing code
    #[command(after_help = "Examples:\n  migrate validate\n  migrate validate --targets tenants.txt --json")]
    Validate(FleetArgs),
    /// Accept changed checksums and clear unfinished runs, once the database is put right
    #[command(after_help = "Example:\n  migrate repair")]
    Repair,
    /// Record every migration up to a version as applied without running them
    #[command(after_help = "Example:\n  migrate baseline --to 20240115093000")]
    Baseline(BaselineArgs),
    /// Take over the history of sqlx, diesel or refinery: record as applied the migrations
    /// their history table lists, so that only new ones run
    #[command(
        after_help = "Examples:\n  migrate adopt --dry-run\n  migrate adopt\n  migrate adopt --from diesel --json"
    )]
    Adopt(AdoptArgs),
    /// Record a migration as applied without running it (after fixing a dirty one by hand)
    #[command(after_help = "Example:\n  migrate mark-applied 20240115093000")]
    MarkApplied(VersionArg),
    /// Record a migration as not applied without running its down (after undoing it by hand)
    #[command(after_help = "Example:\n  migrate mark-reverted 20240115093000")]
    MarkReverted(VersionArg),
    /// The steps `up` would take, in order, and why each is there
    #[command(
        after_help = "Examples:\n  migrate plan\n  migrate plan --to 20240115093000 --json\n  migrate plan --module billing"
    )]
    Plan(PlanArgs),
    /// The dependency graph, applied and pending marked; `--format dot` for Graphviz
    #[command(after_help = "Examples:\n  migrate graph\n  migrate graph --format dot | dot -Tsvg > migrations.svg")]
    Graph(GraphArgs),
    /// The risk analysis of every migration (or the pending ones), without changing anything;
    /// exits 1 when it finds errors
    #[command(
        after_help = "Examples:\n  migrate lint\n  migrate lint --backend postgres --json\n  migrate lint --pending"
    )]
    Lint(LintArgs),
    /// The SQL each pending migration would run, rendered offline
    #[command(after_help = "Examples:\n  migrate sql\n  migrate sql --backend postgres --to 20240115093000")]
    Sql(SqlArgs),
    /// Write a new migration file and wire it into the module tree; with --sql-dir,
    /// write V<version>__NAME.sql and its .down.sql there instead
    #[command(after_help = "Examples:\n  migrate create add_user_avatars --dir src/migrations\n  \
                            migrate create backfill_avatars --depends-on 20240115093000 --risk data\n  \
                            migrations-rs create add_user_avatars --sql-dir migrations")]
    Create(CreateArgs),
    /// Check on a scratch database that each migration's down reverses its up and that
    /// up runs again after it; exits 3 on any finding
    #[command(after_help = "Examples:\n  migrate verify\n  migrate verify --from 20240115093000 --json\n  \
                            migrate verify --seed-sql seed.sql\n  \
                            migrate verify --scratch-url postgres://app@db/app_scratch")]
    Verify(VerifyArgs),
    /// Compare the live schema with the one the applied migrations produce; exits 3 on drift
    #[command(after_help = "Examples:\n  migrate drift\n  migrate drift --write\n  migrate drift --scratch --json\n  \
                            migrate drift --exclude-table sessions\n  migrate drift --targets tenants.txt --parallel 8")]
    Drift(DriftArgs),
    /// Inspect or free the migration lock
    #[command(subcommand)]
    Lock(LockCommand),
}
