//! The arguments of the verbs that show what the migrations would do before
//! they run, in a chosen SQL dialect: `lint` and `sql`.

use super::values::parse_version;
use clap::{Args, ValueEnum};
use migrations_rs_runtime::{Backend, Version};

#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// The dialect to analyse for (default: the configured database's)
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Only the migrations not applied yet (reads the database); with targets, the
    /// migrations pending on any of them
    #[arg(long)]
    pub pending: bool,
    #[command(flatten)]
    pub fleet: super::FleetArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The dialect to render (default: the database's)
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    #[arg(long, value_parser = parse_version)]
    pub to: Option<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    Postgres,
    Mysql,
    Sqlite,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Postgres => Backend::Postgres,
            BackendArg::Mysql => Backend::MySql,
            BackendArg::Sqlite => Backend::Sqlite,
        }
    }
}
