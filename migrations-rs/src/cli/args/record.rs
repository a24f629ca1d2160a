//! The arguments of the verbs that change the history without running
//! migrations: `baseline`, `adopt`, `mark-applied` and `mark-reverted`
//! (`repair` takes none).

use super::values::parse_version;
use clap::{Args, ValueEnum};
use migrations_rs_runtime::{Source, Version};

#[derive(Debug, Args)]
pub(crate) struct BaselineArgs {
    #[arg(long, value_parser = parse_version)]
    pub to: Version,
}

#[derive(Debug, Args)]
pub(crate) struct AdoptArgs {
    /// Whose history table to read; `auto` finds the one this database has
    #[arg(long, value_enum, default_value_t = AdoptFrom::Auto)]
    pub from: AdoptFrom,
    /// Show what would be recorded, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AdoptFrom {
    Auto,
    Sqlx,
    Diesel,
    Refinery,
}

impl From<AdoptFrom> for Source {
    fn from(from: AdoptFrom) -> Source {
        match from {
            AdoptFrom::Auto => Source::Auto,
            AdoptFrom::Sqlx => Source::Sqlx,
            AdoptFrom::Diesel => Source::Diesel,
            AdoptFrom::Refinery => Source::Refinery,
        }
    }
}

/// The one version `mark-applied` and `mark-reverted` take.
#[derive(Debug, Args)]
pub(crate) struct VersionArg {
    #[arg(value_parser = parse_version)]
    pub version: Version,
}
