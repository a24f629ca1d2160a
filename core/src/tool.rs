//! The migration tools a project may come from: their names, the history
//! tables they keep, and such a table as found in a database.

use std::fmt;

/// A migration tool whose history can be adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Tool {
    /// sqlx's `sqlx migrate`.
    Sqlx,
    /// diesel's `diesel migration`.
    Diesel,
    /// refinery.
    Refinery,
}

impl Tool {
    /// Every tool whose history can be adopted.
    pub const ALL: [Tool; 3] = [Tool::Sqlx, Tool::Diesel, Tool::Refinery];

    /// The tool's name, such as `sqlx`.
    pub const fn name(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Refinery => "refinery",
        }
    }

    /// The table the tool keeps its history in, by default.
    pub const fn table(self) -> &'static str {
        match self {
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Diesel => "__diesel_schema_migrations",
            Tool::Refinery => "refinery_schema_history",
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Another tool's history table found in a database, with how many rows it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ForeignTable {
    /// The tool that keeps the table.
    pub tool: Tool,
    /// The table's name.
    pub table: &'static str,
    /// How many rows it holds.
    pub rows: i64,
}

impl fmt::Display for ForeignTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}'s history table {} ({} row(s))", self.tool, self.table, self.rows)
    }
}
