//! The arguments of the verbs that run migrations: `up`, `down` and `redo`.

use super::values::parse_version;
use clap::Args;
use migrations_rs_runtime::{Scope, Version};

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Apply only this version and what it depends on
    #[arg(long, value_parser = parse_version)]
    pub to: Option<Version>,
    /// Apply only this module's (crate's) migrations and what they depend on in other modules
    #[arg(long, conflicts_with = "to")]
    pub module: Option<String>,
    /// Rehearse: run the plan in one transaction and roll it back (PostgreSQL, SQLite);
    /// on MySQL/MariaDB show the SQL instead. Exits 1 if the real run would fail
    #[arg(long)]
    pub dry_run: bool,
    /// Run destructive statements that their migrations do not acknowledge with `allow = [...]`
    #[arg(long, visible_alias = "force")]
    pub allow_destructive: bool,
    /// After a failure, still apply every pending migration that does not depend on it;
    /// over targets, also go on to the next targets after a failed one
    #[arg(long)]
    pub keep_going: bool,
    /// Refuse pending migrations older than applied ones instead of applying them
    #[arg(long)]
    pub strict: bool,
    /// Run even though the database holds another tool's history and none of ours
    /// (by default refused: `adopt` first, or every migration runs again)
    #[arg(long)]
    pub ignore_foreign_history: bool,
    /// Refuse to run when the live schema drifted from the one the applied migrations
    /// produce (`drift`); also `refuse_drift = true` in the environment
    #[arg(long)]
    pub refuse_drift: bool,
    #[command(flatten)]
    pub fleet: super::FleetArgs,
}

impl UpArgs {
    pub(crate) fn scope(&self) -> Scope {
        scope(self.to, self.module.as_ref())
    }
}

/// What `up` and `plan` cover: `--module`, else `--to`, else everything.
pub(super) fn scope(to: Option<Version>, module: Option<&String>) -> Scope {
    match module {
        Some(module) => Scope::Module(module.clone()),
        None => Scope::from(to),
    }
}

#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// Revert the last N applied migrations
    #[arg(long, conflicts_with_all = ["to", "last_batch"])]
    pub steps: Option<usize>,
    /// Revert every applied migration that comes after this version in the
    /// migration order; the version itself stays
    #[arg(long, value_parser = parse_version, conflicts_with = "last_batch")]
    pub to: Option<Version>,
    /// Revert what the last run applied
    #[arg(long)]
    pub last_batch: bool,
    /// Rehearse: run the reverts in one transaction and roll them back (PostgreSQL, SQLite);
    /// on MySQL/MariaDB show the SQL instead. Exits 1 if the real run would fail
    #[arg(long)]
    pub dry_run: bool,
    /// Revert migrations whose code changed since they were applied, with their new down
    #[arg(long, visible_alias = "force")]
    pub revert_modified: bool,
    /// Refuse before reverting anything when the plan meets an irreversible
    /// migration (by default everything newer is reverted and the run stops there)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RedoArgs {
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
}
