//! The arguments of `create`, which writes a new migration.

use super::values::parse_version;
use clap::Args;
use migrations_rs_runtime::Version;

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The migration's name: lowercase letters, digits and underscores
    pub name: String,
    /// The folder of migration files, holding their mod.rs
    #[arg(long, default_value = "src/migrations")]
    pub dir: String,
    #[arg(long = "depends-on", value_parser = parse_version)]
    pub depends_on: Vec<Version>,
    #[arg(long, value_parser = ["schema", "data", "index", "constraint"])]
    pub risk: Vec<String>,
}
