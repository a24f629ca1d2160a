//! The arguments that turn `up`, `status`, `validate`, `drift` and `lint --pending` into a fleet run:
//! which targets (URLs, a file of them, a query on the control database, or
//! schemas of a PostgreSQL database), how many at once, a canary wave, and
//! which shard of the list this process takes.

use clap::{ArgGroup, Args};
use migrations_rs_runtime::fleet::Shard;
use std::path::PathBuf;

#[derive(Debug, Default, Args)]
#[command(group = ArgGroup::new("fleet_targets").multiple(true))]
pub(crate) struct FleetArgs {
    /// Run on this database instead of --database-url; repeat for a fleet of databases
    #[arg(long = "target", value_name = "URL", group = "fleet_targets")]
    pub target: Vec<String>,
    /// Run on the databases this file lists, one URL per line (`#` comments and blank lines skipped)
    #[arg(long = "targets", value_name = "FILE", group = "fleet_targets")]
    pub targets_file: Option<PathBuf>,
    /// Run on the databases whose URLs this query returns (first column) on the control
    /// database, --database-url / DATABASE_URL
    #[arg(long, value_name = "SQL", group = "fleet_targets")]
    pub targets_query: Option<String>,
    /// Run on this schema of the PostgreSQL database --database-url, its history and
    /// migrations in that schema; repeat for a schema per tenant
    #[arg(long = "schema", value_name = "NAME", group = "fleet_targets")]
    pub schema: Vec<String>,
    /// Run on the schemas this query returns (first column) on the PostgreSQL database --database-url
    #[arg(long, value_name = "SQL", group = "fleet_targets")]
    pub schemas_query: Option<String>,
    /// How many targets to work on at once (default 4)
    #[arg(long, value_name = "N", requires = "fleet_targets", value_parser = parse_parallel)]
    pub parallel: Option<usize>,
    /// Bring the first K targets up first, and the rest only if all of them succeeded
    #[arg(long, value_name = "K", requires = "fleet_targets")]
    pub canary: Option<usize>,
    /// Take only share K of N of the targets (K from 0 to N-1): N processes given the same
    /// list and each its own K cover every target exactly once
    #[arg(long, value_name = "K/N", requires = "fleet_targets", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

impl FleetArgs {
    /// Whether any target was named: the verb then runs over the fleet.
    pub(crate) fn is_fleet(&self) -> bool {
        !self.target.is_empty()
            || self.targets_file.is_some()
            || self.targets_query.is_some()
            || !self.schema.is_empty()
            || self.schemas_query.is_some()
    }
}

/// `--parallel`: a whole number from 1 to 1024.
fn parse_parallel(input: &str) -> Result<usize, String> {
    match input.parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        Ok(_) => Err(format!("{input} targets at once: give a number from 1 to 1024")),
        Err(_) => Err(format!("`{input}` is not a whole number: give a number from 1 to 1024")),
    }
}

/// `--shard`: `K/N` with `K < N`.
fn parse_shard(input: &str) -> Result<Shard, String> {
    input.parse::<Shard>().map_err(|error| error.to_string())
}
