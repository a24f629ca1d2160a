//! The arguments of the verbs that check the schema the migrations produce:
//! `verify` (each down reverses its up) and `drift` (the live schema against
//! the migrations'), the latter also over a fleet of databases (not of
//! schemas: it reads every schema of a database).

use super::values::parse_version;
use clap::Args;
use migrations_rs_runtime::Version;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Check only the migrations from this version on; the earlier ones are applied once, unchecked
    #[arg(long, value_parser = parse_version)]
    pub from: Option<Version>,
    /// An existing empty database to work on, instead of creating a scratch database beside
    /// the target (for a user that may not create databases); it is emptied again when done
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
    /// SQL run before each checked migration's up; the tables it writes must keep their
    /// row counts through down and up again
    #[arg(long, value_name = "FILE")]
    pub seed_sql: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("schema", |arg| arg.value_parser(refuse_schema_targets).hide(true)),
    mut_arg("schemas_query", |arg| arg.value_parser(refuse_schema_targets).hide(true))
)]
pub(crate) struct DriftArgs {
    /// Build the expected schema on a scratch database and record it in the schema file
    /// (on one database: write it once, then run drift over the targets against it)
    #[arg(long, conflicts_with = "fleet_targets")]
    pub write: bool,
    /// Build the expected schema on a scratch database even when the schema file records it
    #[arg(long, conflicts_with = "write")]
    pub scratch: bool,
    /// The schema file that records the expected schema
    #[arg(long, default_value = migrations_rs_runtime::engine::DEFAULT_SCHEMA_FILE, value_name = "FILE")]
    pub schema_file: PathBuf,
    /// An existing empty database to build the expected schema on, instead of creating a
    /// scratch database beside the target; it is emptied again when done (one database only)
    #[arg(long, value_name = "URL", conflicts_with = "fleet_targets")]
    pub scratch_url: Option<String>,
    /// A table to leave out of the comparison (repeatable), besides the environment's `drift_exclude`
    #[arg(long = "exclude-table", value_name = "TABLE")]
    pub exclude_tables: Vec<String>,
    #[command(flatten)]
    pub fleet: super::FleetArgs,
}

/// `drift --schema` and `--schemas-query`: refused, as the live schema is read
/// from every schema of the database.
fn refuse_schema_targets(_: &str) -> Result<String, String> {
    Err("drift cannot run over schemas (--schema, --schemas-query): it reads the tables of every schema of the \
         database, so one tenant's schema cannot be compared alone; run drift over databases instead (--target, \
         --targets, --targets-query), or on the database itself without targets"
        .to_owned())
}
