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
/// Reading the schema of a SQLite database.
mod introspection {
    use crate::error::Result;
    use migrations_rs_core::schema::{
        Column, ForeignKey, Generated, Index, Key, Schema, Table, Trigger, View, sqlite_sql,
    };
    use sqlx::sqlite::SqliteConnection;
    use std::collections::HashMap;

    /// The schema of `main`: its tables (columns from `pragma_table_xinfo`,
    /// keys and indexes from `pragma_index_list`/`pragma_index_info`, foreign
    /// keys from `pragma_foreign_key_list`, checks, collations and generation
    /// expressions from the `CREATE TABLE` text), views and triggers, read in
    /// one query each for all tables; SQLite's own tables and those named in
    /// `exclude` (matched without regard to case) left out.
    pub(in crate::backend) async fn schema(c: &mut SqliteConnection, exclude: &[String]) -> Result<Schema> {
        let excluded = |name: &str| exclude.iter().any(|e| e.eq_ignore_ascii_case(name));
        let objects: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
             WHERE type IN ('table', 'view', 'index', 'trigger') AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut *c)
        .await?;
        let mut schema = Schema::default();
        let mut texts = HashMap::new();
        let mut index_sql = HashMap::new();
        for (kind, name, table, sql) in objects {
            let sql = sql.unwrap_or_default();
            match kind.as_str() {
                "table" if !excluded(&name) => {
                    texts.insert(name.clone(), sqlite_sql::create_table(&sql));
                    schema.tables.push(Table { name, ..Table::default() });
                }
                "view" if !excluded(&name) => {
                    schema.views.push(View { name, definition: sqlite_sql::view_query(&sql), materialized: false })
                }
                "trigger" if !excluded(&table) => schema.triggers.push(Trigger { name, table, definition: sql }),
                "index" => {
                    index_sql.insert(name, sql);
                }
                _ => {}
            }
        }
        let position: HashMap<String, usize> =
            schema.tables.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();

        type ColumnRow = (String, String, String, bool, Option<String>, i64, i64);
        let columns: Vec<ColumnRow> = sqlx::query_as(
            "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk, p.hidden \
             FROM main.sqlite_schema m, pragma_table_xinfo(m.name, 'main') p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
        )
        .fetch_all(&mut *c)
        .await?;
        let mut primary_keys: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for (table, name, data_type, not_null, default, pk, hidden) in columns {
            let Some(&i) = position.get(&table) else { continue };
            let text = texts.get(&table).and_then(|t| t.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&name)));
            let generated = match (hidden, text.and_then(|t| t.generated.clone())) {
                (2 | 3, Some((expression, _))) => Some(Generated { expression, stored: hidden == 3 }),
                _ => None,
            };
            if pk > 0 {
                primary_keys.entry(table.clone()).or_default().push((pk, name.clone()));
            }
            schema.tables[i].columns.push(Column {
                name,
                data_type,
                nullable: !not_null,
                default,
                generated,
                identity: text.filter(|t| t.autoincrement).map(|_| "AUTOINCREMENT".to_owned()),
                collation: text.and_then(|t| t.collation.clone()),
            });
        }
        for (table, mut key) in primary_keys {
            key.sort();
            let columns = key.into_iter().map(|(_, name)| name).collect();
            schema.tables[position[&table]].primary_key = Some(Key { name: None, columns });
        }
        for (table, text) in texts {
            schema.tables[position[&table]].checks = text.checks;
        }

        let keys: Vec<(String, String, bool, String, Option<String>)> = sqlx::query_as(
            "SELECT m.name, l.name, l.\"unique\", l.origin, i.name \
             FROM main.sqlite_schema m, pragma_index_list(m.name, 'main') l, pragma_index_info(l.name, 'main') i \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, l.name, i.seqno",
        )
        .fetch_all(&mut *c)
        .await?;
        let mut indexes: Vec<(String, String, bool, String, Vec<String>)> = Vec::new();
        for (table, index, unique, origin, column) in keys {
            match indexes.last_mut() {
                Some(last) if last.0 == table && last.1 == index => last.4.extend(column),
                _ => indexes.push((table, index, unique, origin, column.into_iter().collect())),
            }
        }
        for (table, name, unique, origin, columns) in indexes {
            let Some(&i) = position.get(&table) else { continue };
            match origin.as_str() {
                "u" => schema.tables[i].uniques.push(Key { name: None, columns }),
                "c" => {
                    let text = sqlite_sql::create_index(index_sql.get(&name).map_or("", String::as_str));
                    schema.tables[i].indexes.push(Index {
                        name,
                        columns: text.columns,
                        unique,
                        predicate: text.predicate,
                        method: None,
                    });
                }
                _ => {}
            }
        }

        type ForeignKeyRow = (String, i64, String, String, Option<String>, String, String);
        let foreign_keys: Vec<ForeignKeyRow> = sqlx::query_as(
            "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", f.on_update, f.on_delete \
             FROM main.sqlite_schema m, pragma_foreign_key_list(m.name, 'main') f \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, f.id, f.seq",
        )
        .fetch_all(&mut *c)
        .await?;
        let mut last: Option<(String, i64)> = None;
        for (table, id, referenced_table, from, to, on_update, on_delete) in foreign_keys {
            let Some(&i) = position.get(&table) else { continue };
            let same = last.as_ref().is_some_and(|(t, n)| *t == table && *n == id);
            if !same {
                schema.tables[i].foreign_keys.push(ForeignKey {
                    name: None,
                    referenced_table,
                    on_delete,
                    on_update,
                    ..ForeignKey::default()
                });
                last = Some((table, id));
            }
            let key = schema.tables[i].foreign_keys.last_mut().expect("pushed above");
            key.columns.push(from);
            key.referenced_columns.extend(to);
        }
        // A foreign key with no referenced columns references the primary key.
        let primary_keys: HashMap<String, Vec<String>> = schema
            .tables
            .iter()
            .filter_map(|t| Some((t.name.to_lowercase(), t.primary_key.as_ref()?.columns.clone())))
            .collect();
        for key in schema.tables.iter_mut().flat_map(|t| &mut t.foreign_keys) {
            if key.referenced_columns.is_empty() {
                key.referenced_columns =
                    primary_keys.get(&key.referenced_table.to_lowercase()).cloned().unwrap_or_default();
            }
        }
        Ok(schema.sorted())
    }
}

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
