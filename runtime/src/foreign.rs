//! The history tables other migration tools keep (sqlx's `_sqlx_migrations`,
//! diesel's `__diesel_schema_migrations`, refinery's `refinery_schema_history`):
//! which of them a database has, and what each says is applied. Read only;
//! adoption (`Migrator::adopt`) decides what to record from it.

use crate::backend::{Connection, cast_to_integer, cast_to_text, missing_table_as_none};
use crate::db::{Db, Row};
use crate::error::{AdoptError, Error, Result};
pub use migrations_rs_core::tool::{ForeignTable, Tool};

/// Where to adopt history from: one tool's table, or whichever one the database has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// The one tool whose table exists; refused when there are none or several.
    #[default]
    Auto,
    /// sqlx's `sqlx migrate`.
    Sqlx,
    /// diesel's `diesel migration`.
    Diesel,
    /// refinery.
    Refinery,
}

impl Source {
    fn tools(self) -> &'static [Tool] {
        match self {
            Source::Auto => &Tool::ALL,
            Source::Sqlx => &[Tool::Sqlx],
            Source::Diesel => &[Tool::Diesel],
            Source::Refinery => &[Tool::Refinery],
        }
    }
}

/// One row of another tool's history table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForeignMigration {
    /// The version as the table holds it: `20240115093000`, `2024-01-15-093000`, `3`.
    pub version: String,
    /// The tool's name for it: sqlx's description, refinery's name; diesel keeps none.
    pub name: Option<String>,
    /// When the tool applied it, as the table shows it.
    pub applied_at: Option<String>,
    /// False for a migration sqlx recorded as failed part-way (`success = false`).
    pub succeeded: bool,
}

impl ForeignMigration {
    /// `3 create users`, the way a person would name the row.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.version),
            None => self.version.clone(),
        }
    }
}

/// Another tool's history, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignHistory {
    /// The tool.
    pub tool: Tool,
    /// Its rows, in the order the tool applied them.
    pub migrations: Vec<ForeignMigration>,
}

/// The other tools' history tables this database holds that record at least one migration.
pub async fn tables_with_rows(conn: &mut Connection) -> Result<Vec<ForeignTable>> {
    let mut found = Vec::new();
    for tool in Tool::ALL {
        let sql = format!("SELECT count(*) AS n FROM {}", tool.table());
        let Some(rows) = missing_table_as_none(Db::new(conn.as_ref()).fetch_all(sql).await)? else { continue };
        let count: i64 = rows.first().map(|row| row.get("n")).transpose()?.unwrap_or(0);
        if count > 0 {
            found.push(ForeignTable { tool, table: tool.table(), rows: count });
        }
    }
    Ok(found)
}

/// Reads the history of the tool `source` names, or finds the one tool
/// whose table this database has.
pub async fn read(conn: &mut Connection, source: Source) -> Result<ForeignHistory> {
    let mut found = Vec::new();
    for &tool in source.tools() {
        if let Some(migrations) = read_tool(conn, tool).await? {
            found.push(ForeignHistory { tool, migrations });
        }
    }
    match (source, found.len()) {
        (_, 1) => Ok(found.remove(0)),
        (Source::Auto, 0) => Err(Error::Adopt(AdoptError::NoForeignHistory {
            looked_for: Tool::ALL.iter().map(|t| format!("{} ({})", t.table(), t.name())).collect(),
        })),
        (_, 0) => {
            let tool = source.tools()[0];
            Err(Error::Adopt(AdoptError::ForeignHistoryMissing { tool: tool.name(), table: tool.table() }))
        }
        _ => Err(Error::Adopt(AdoptError::SeveralForeignHistories {
            found: found.iter().map(|h| format!("{} ({})", h.tool.table(), h.tool.name())).collect(),
        })),
    }
}

/// Every row of `tool`'s table in version order; `None` when it has no table here.
async fn read_tool(conn: &mut Connection, tool: Tool) -> Result<Option<Vec<ForeignMigration>>> {
    let backend = conn.backend();
    let text = |column: &str| cast_to_text(backend, column);
    let integer = |column: &str| cast_to_integer(backend, column);
    let sql = match tool {
        Tool::Sqlx => format!(
            "SELECT {} AS version, description, {} AS succeeded, {} AS applied_at FROM _sqlx_migrations ORDER BY version",
            integer("version"),
            integer("CASE WHEN success THEN 1 ELSE 0 END"),
            text("installed_on")
        ),
        Tool::Diesel => {
            format!("SELECT version, {} AS applied_at FROM __diesel_schema_migrations ORDER BY version", text("run_on"))
        }
        Tool::Refinery => format!(
            "SELECT {} AS version, name, applied_on AS applied_at FROM refinery_schema_history ORDER BY version",
            integer("version")
        ),
    };
    let Some(rows) = missing_table_as_none(Db::new(conn.as_ref()).fetch_all(sql).await)? else { return Ok(None) };
    let unreadable = |error: Error| {
        Error::Adopt(AdoptError::ForeignHistoryUnreadable { table: tool.table(), detail: error.to_string() })
    };
    rows.iter().map(|row| decode(tool, row).map_err(unreadable)).collect::<Result<_>>().map(Some)
}

fn decode(tool: Tool, row: &Row) -> Result<ForeignMigration> {
    Ok(match tool {
        Tool::Sqlx => ForeignMigration {
            version: row.get::<i64>("version")?.to_string(),
            name: Some(row.get("description")?),
            applied_at: row.get("applied_at")?,
            succeeded: row.get::<i64>("succeeded")? != 0,
        },
        Tool::Diesel => ForeignMigration {
            version: row.get("version")?,
            name: None,
            applied_at: row.get("applied_at")?,
            succeeded: true,
        },
        Tool::Refinery => ForeignMigration {
            version: row.get::<i64>("version")?.to_string(),
            name: row.get("name")?,
            applied_at: row.get("applied_at")?,
            succeeded: true,
        },
    })
}
