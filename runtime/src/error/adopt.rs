//! Adoption's errors: another tool's history that is missing, ambiguous,
//! unreadable or failed, or that must be adopted before migrations-rs runs.

use super::list;
use migrations_rs_core::tool::ForeignTable;

/// Why another tool's history could not be adopted, or must be first.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdoptError {
    /// The database holds another tool's history but none of ours: applying would run everything again.
    #[error(
        "this database holds {} but no history of migrations-rs: applying would run every migration again, \
         over what {tool} applied",
        found.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    NotAdopted {
        /// The tool whose history is there.
        tool: &'static str,
        /// Its tables, with their rows.
        found: Vec<ForeignTable>,
    },

    /// No other tool's history table exists.
    #[error(
        "this database has no history table of another tool to adopt: looked for{}\ncheck the database URL",
        list(looked_for)
    )]
    NoForeignHistory {
        /// The tables looked for.
        looked_for: Vec<String>,
    },

    /// The chosen tool's history table does not exist.
    #[error("this database has no {table} table, so there is no {tool} history to adopt; check the database URL")]
    ForeignHistoryMissing {
        /// The tool chosen.
        tool: &'static str,
        /// Its table.
        table: &'static str,
    },

    /// Several tools' history tables exist, so which to adopt is not clear.
    #[error("this database has the history tables of several tools, so which to adopt is not clear:{}", list(found))]
    SeveralForeignHistories {
        /// The tables found.
        found: Vec<String>,
    },

    /// The other tool recorded migrations as failed.
    #[error(
        "{tool} recorded migrations in {table} as failed:{}\nnothing was adopted: a failed migration may have been \
         applied in part. Put it right with {tool} first (finish or undo it by hand, then re-run it or delete its row), \
         and adopt again",
        list(failed)
    )]
    ForeignDirty {
        /// The tool.
        tool: &'static str,
        /// Its table.
        table: &'static str,
        /// The failed migrations.
        failed: Vec<String>,
    },

    /// The table cannot be read as that tool writes it.
    #[error("the table {table} cannot be read as that tool writes it ({detail}); check that it is that tool's history")]
    ForeignHistoryUnreadable {
        /// The table.
        table: &'static str,
        /// What could not be read.
        detail: String,
    },
}
