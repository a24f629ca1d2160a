//! Running this migrator's migrations on a scratch database, for `verify`
//! and `drift`: the migrator that does it, the database and connection it
//! runs on, the tables a schema snapshot leaves out, and the row counts a
//! data check compares.

use crate::backend::{Backend, Connection, quote_table};
use crate::backup::BackupOptions;
use crate::db::Db;
use crate::engine::Migrator;
use crate::error::Result;
use crate::foreign::Tool;
use crate::registry::Registry;
use crate::scratch::ScratchDatabase;
use crate::url::DatabaseUrl;
use std::collections::BTreeMap;

impl Migrator {
    /// The same migrations, tables, hooks and kept-in-step history, for a
    /// scratch database: no backup, no approval, no progress reports, and
    /// destructive statements run (nothing on a scratch database is worth keeping).
    pub(crate) fn for_scratch(&self) -> Result<Migrator> {
        Ok(Migrator::new(Registry::new(self.registry.in_order())?)
            .with_tables(self.tables.clone())
            .with_hooks(self.hooks.clone())
            .compat(self.compat)
            .ignore_foreign_history(true)
            .force(true)
            .with_backup(BackupOptions { enabled: false, ..BackupOptions::default() }))
    }

    /// The tables a schema snapshot leaves out: ours (history, log, lock, backfill cursors),
    /// the history tables of the tools we adopt from or keep in step, and `more`.
    pub(crate) fn bookkeeping_tables(&self, more: &[String]) -> Vec<String> {
        let mut tables: Vec<String> = [&self.tables.history, &self.tables.log, &self.tables.lock]
            .into_iter()
            .map(|table| table.name.clone())
            .chain([self.tables.backfills().name])
            .chain(Tool::ALL.iter().map(|tool| tool.table().to_owned()))
            .collect();
        tables.extend(more.iter().cloned());
        tables
    }
}

/// A scratch database beside `target`, or the existing empty one `given`.
pub(crate) async fn open(target: &DatabaseUrl, given: Option<&DatabaseUrl>) -> Result<ScratchDatabase> {
    match given {
        Some(url) => ScratchDatabase::existing(url, target).await,
        None => ScratchDatabase::beside(target).await,
    }
}

/// A connection to `scratch` running `init_sql` first, as the target's connections do.
pub(crate) async fn connect(scratch: &ScratchDatabase, init_sql: &[String]) -> Result<Connection> {
    Connection::connect(scratch.url()).await?.with_init_sql(init_sql.to_vec()).await
}

/// The row count of every table of the connection's schema, but `exclude`.
pub(crate) async fn row_counts(conn: &mut Connection, exclude: &[String]) -> Result<BTreeMap<String, i64>> {
    let backend = conn.backend();
    let list = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        Backend::MySql => {
            "SELECT CAST(TABLE_NAME AS CHAR) AS name FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        }
    };
    let mut db = Db::new(conn.as_ref());
    let mut counts = BTreeMap::new();
    for row in db.fetch_all(list).await? {
        let table: String = row.get("name")?;
        if exclude.contains(&table) {
            continue;
        }
        let sql =
            format!("SELECT CAST(COUNT(*) AS {}) AS n FROM {}", count_type(backend), quote_table(backend, &table));
        let rows = db.fetch_all(sql).await?;
        let count: i64 = rows.first().map(|row| row.get("n")).transpose()?.unwrap_or(0);
        counts.insert(table, count);
    }
    Ok(counts)
}

fn count_type(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "SIGNED",
        Backend::Postgres => "BIGINT",
        Backend::Sqlite => "INTEGER",
    }
}
