//! The `lock` verbs: who holds the migration lock, and freeing it.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum LockCommand {
    /// Who holds the migration lock, since when, and what its steps wait on in the database
    #[command(after_help = "Example:\n  migrate lock status")]
    Status,
    /// Free the lock of a process that died holding it (asks first unless --yes)
    #[command(after_help = "Examples:\n  migrate lock release\n  migrate lock release --yes")]
    Release,
}
