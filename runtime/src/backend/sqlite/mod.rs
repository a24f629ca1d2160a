//! What SQLite does its own way: connecting (the file is created if
//! missing), its result codes and messages, busy waits on another writer,
//! its type names in casts, its clock in SQL, no schemas and no session lock
//! (the lock is a lease row here), and backups that are copies of its file.
//!
//! The SQL of the dialect is here whatever the build; what opens a database
//! needs the `sqlite` feature.

#[cfg(feature = "sqlite")]
use {
    crate::error::{Error, Result},
    crate::url::DatabaseUrl,
    sqlx::error::DatabaseError,
    sqlx::sqlite::{SqliteConnectOptions, SqliteConnection},
    sqlx::{AssertSqlSafe, Connection as _},
    std::path::{Path, PathBuf},
    std::str::FromStr,
    std::time::Duration,
};

#[cfg(feature = "sqlite")]
pub(super) async fn connect(url: &DatabaseUrl) -> Result<SqliteConnection> {
    let connect_error = |cause| Error::Connect { url: url.redacted(), cause };
    let options = SqliteConnectOptions::from_str(url.expose())
        .map_err(connect_error)?
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(30));
    SqliteConnection::connect_with(&options).await.map_err(connect_error)
}

/// An attached database is not a schema: a name qualified with one is refused.
pub(super) const SCHEMAS: bool = false;

/// The database library's clock in milliseconds since 1970.
pub(super) const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// The types a column is cast to for reading it as text and as a 64-bit integer.
pub(super) const TEXT: &str = "TEXT";
pub(super) const INTEGER: &str = "INTEGER";

/// SQLite has one code for most errors: the message says what it was.
#[cfg(feature = "sqlite")]
pub(super) fn is_missing_table(error: &dyn DatabaseError) -> bool {
    error.message().contains("no such table")
}

#[cfg(feature = "sqlite")]
pub(super) fn is_missing_column(error: &dyn DatabaseError) -> bool {
    error.message().contains("no such column")
}

/// SQLITE_BUSY, SQLITE_LOCKED and their extended codes: another connection
/// writes, and the busy timeout ran out waiting for it.
#[cfg(feature = "sqlite")]
pub(super) fn is_busy(error: &dyn DatabaseError) -> bool {
    matches!(error.code().as_deref(), Some("5") | Some("6") | Some("261") | Some("517"))
        || error.message().contains("database is locked")
}

/// SQLITE_BUSY and its extended codes (recovery, snapshot, timeout): another
/// connection held the database's lock longer than the busy timeout.
pub(super) fn is_lock_timeout(code: &str) -> bool {
    matches!(code, "5" | "261" | "517" | "773")
}

/// Limits how long each statement waits for another connection's lock (the
/// busy timeout). SQLite has no statement timeout. Returns the busy timeout
/// to put back.
#[cfg(feature = "sqlite")]
pub(super) async fn limit_waits(c: &mut SqliteConnection, lock_wait: Duration) -> Result<Vec<(&'static str, String)>> {
    let current: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *c).await?;
    sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA busy_timeout = {}", lock_wait.as_millis()))).execute(&mut *c).await?;
    Ok(vec![("busy_timeout", current.to_string())])
}

/// Sets how long each statement waits for another connection's lock (the
/// busy timeout), without reading what it was.
#[cfg(feature = "sqlite")]
pub(super) async fn set_lock_wait(c: &mut SqliteConnection, lock_wait: Duration) -> Result<()> {
    sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA busy_timeout = {}", lock_wait.as_millis()))).execute(&mut *c).await?;
    Ok(())
}

/// Puts back the busy timeout that [`limit_waits`] changed.
#[cfg(feature = "sqlite")]
pub(super) async fn restore_settings(c: &mut SqliteConnection, before: Vec<(&'static str, String)>) -> Result<()> {
    for (name, value) in before {
        let value: i64 = value.trim().parse().unwrap_or_default();
        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA {name} = {value}"))).execute(&mut *c).await?;
    }
    Ok(())
}

/// Whether `table` (`name`, or `schema.name` for an attached database) exists;
/// unqualified, in `main`. Names are matched without regard to case, as SQLite does.
#[cfg(feature = "sqlite")]
pub(super) async fn table_exists(c: &mut SqliteConnection, table: &str) -> Result<bool> {
    let (schema, name) = match table.split('.').collect::<Vec<_>>().as_slice() {
        [schema, name] => (*schema, *name),
        _ => ("main", table),
    };
    let catalogue = format!(
        "SELECT count(*) FROM {}.sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
        super::quote_standard(schema)
    );
    Ok(sqlx::query_scalar::<_, i64>(AssertSqlSafe(catalogue)).bind(name).fetch_one(c).await? > 0)
}

/// The integer columns of `table` that are its only primary key column, or
/// that a single-column unique index over NOT NULL values covers: `(column, is the primary key)`.
#[cfg(feature = "sqlite")]
pub(super) async fn integer_keys(c: &mut SqliteConnection, table: &str) -> Result<Vec<(String, bool)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, 1 FROM pragma_table_info(?1) WHERE pk = 1 AND upper(type) LIKE '%INT%' \
           AND (SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1 \
         UNION ALL \
         SELECT t.name, 0 FROM pragma_index_list(?1) l JOIN pragma_index_info(l.name) i \
           JOIN pragma_table_info(?1) t ON t.name = i.name \
         WHERE l.\"unique\" = 1 AND l.partial = 0 AND t.\"notnull\" = 1 AND t.pk = 0 AND upper(t.type) LIKE '%INT%' \
           AND (SELECT count(*) FROM pragma_index_info(l.name)) = 1",
    )
    .bind(table)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(column, primary)| (column, primary != 0)).collect())
}

/// A SQLite database, for what only SQLite has: its write lock and busy
/// timeout, and its file.
#[cfg(feature = "sqlite")]
pub(crate) struct SqliteDatabase<'c> {
    pub(super) conn: &'c mut SqliteConnection,
    pub(super) url: &'c DatabaseUrl,
}

#[cfg(feature = "sqlite")]
impl SqliteDatabase<'_> {
    /// How long a statement on this connection waits for another writer.
    pub(crate) async fn set_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        let sql = format!("PRAGMA busy_timeout = {}", timeout.as_millis());
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *self.conn).await?;
        Ok(())
    }

    /// Whether another connection holds the database's write lock right now:
    /// tries to take it without waiting, and gives it back at once.
    pub(crate) async fn write_locked(&mut self) -> Result<bool> {
        let c = &mut *self.conn;
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *c).await?;
        sqlx::raw_sql("PRAGMA busy_timeout = 0").execute(&mut *c).await?;
        let began = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *c).await;
        if began.is_ok() {
            sqlx::raw_sql("ROLLBACK").execute(&mut *c).await?;
        }
        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA busy_timeout = {timeout}"))).execute(&mut *c).await?;
        match began {
            Ok(_) => Ok(false),
            Err(sqlx::Error::Database(error)) if is_busy(&*error) => Ok(true),
            Err(error) => Err(error.into()),
        }
    }

    /// The names of the tables and views, SQLite's own left out.
    pub(crate) async fn tables(&mut self) -> Result<Vec<String>> {
        let sql = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'";
        Ok(sqlx::query_scalar(sql).fetch_all(&mut *self.conn).await?)
    }

    /// The database's file; `None` for a database in memory.
    pub(crate) fn file(&self) -> Result<Option<PathBuf>> {
        let options = SqliteConnectOptions::from_str(self.url.expose())
            .map_err(|cause| Error::Backup { detail: format!("cannot read the SQLite URL: {cause}") })?;
        let file = options.get_filename().to_path_buf();
        Ok(file.is_file().then_some(file))
    }

    /// Writes a copy of the database to `path`, consistent as of one moment.
    pub(crate) async fn copy_to(&mut self, path: &Path) -> Result<()> {
        let sql = format!("VACUUM INTO '{}'", path.display().to_string().replace('\'', "''"));
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *self.conn)
            .await
            .map(drop)
            .map_err(|cause| Error::Backup { detail: format!("VACUUM INTO {} failed: {cause}", path.display()) })
    }
}

/// One `DROP` statement, as `statement`, for each view, trigger and table of
/// the connected database, views and triggers first.
pub(super) const DROP_EVERYTHING: &str = "SELECT 'DROP ' || upper(type) || ' IF EXISTS \"' || replace(name, '\"', '\"\"') || '\"' AS statement \
             FROM sqlite_master WHERE type IN ('view', 'trigger', 'table') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             ORDER BY CASE type WHEN 'view' THEN 0 WHEN 'trigger' THEN 1 ELSE 2 END";

#[cfg(feature = "sqlite")]
pub(super) use introspection::schema;

#[cfg(feature = "sqlite")]
mod introspection;

/// Test databases and their templates, which are files here.
#[cfg(feature = "sqlite")]
pub(crate) mod databases {
    use crate::url::DatabaseUrl;
    use sqlx::{AssertSqlSafe, Connection as _, Executor as _, SqliteConnection};
    use std::path::{Path, PathBuf};

    /// Writes the database at `from` to the file `to` as one self-contained
    /// file, whatever journal mode it uses: `VACUUM INTO`.
    pub(crate) async fn copy(from: &DatabaseUrl, to: &Path) -> sqlx::Result<()> {
        let mut c = SqliteConnection::connect(from.expose()).await?;
        let vacuum = format!("VACUUM INTO '{}'", to.display().to_string().replace('\'', "''"));
        c.execute(AssertSqlSafe(vacuum)).await?;
        let _ = c.close().await;
        Ok(())
    }

    /// Deletes the database file `path` and the journal files beside it; a
    /// failure names the file that could not be deleted.
    pub(crate) fn remove(path: &str) -> Result<(), (PathBuf, std::io::Error)> {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = PathBuf::from(format!("{path}{suffix}"));
            match std::fs::remove_file(&path) {
                Err(cause) if cause.kind() != std::io::ErrorKind::NotFound => return Err((path, cause)),
                _ => {}
            }
        }
        Ok(())
    }
}
