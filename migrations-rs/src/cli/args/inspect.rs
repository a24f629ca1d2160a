//! The arguments of the verbs that read the database's state: `status`,
//! `history`, `plan` and `graph` (`validate` takes only the targets of a fleet run).

use super::values::{parse_action, parse_version};
use clap::{Args, ValueEnum};
use migrations_rs_runtime::{Action, Scope, Version};

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Only the migrations of this module (crate)
    #[arg(long)]
    pub module: Option<String>,
    /// Only the migrations not applied yet (and any left dirty), in the order `up` runs them
    #[arg(long)]
    pub pending: bool,
    /// Show at most N migrations: the newest N, or with --pending the next N to apply
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub fleet: super::FleetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// At most this many entries, 1 to 9223372036854775807
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    pub limit: Option<u64>,
    /// An RFC 3339 time or date (2024-06-01), or an age such as 2h or 7d
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, value_parser = parse_version)]
    pub version: Option<Version>,
    #[arg(long, value_parser = parse_action)]
    pub action: Option<Action>,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[arg(long, value_parser = parse_version)]
    pub to: Option<Version>,
    /// Only this module's migrations and what they depend on in other modules
    #[arg(long, conflicts_with = "to")]
    pub module: Option<String>,
}

impl PlanArgs {
    pub(crate) fn scope(&self) -> Scope {
        super::apply::scope(self.to, self.module.as_ref())
    }
}

#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormat {
    Text,
    Dot,
}
