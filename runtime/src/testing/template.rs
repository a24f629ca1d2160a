//! Building, cloning and dropping template databases, backend by backend.
//!
//! A template is built under a lock so that parallel tests build it once:
//! PostgreSQL's advisory lock and MySQL's named lock on the server, an atomic
//! rename of a finished file on SQLite. A template appears only once it is
//! complete: on PostgreSQL it is migrated under another name and renamed; on
//! MySQL/MariaDB an empty `<template>_ok` database marks it complete; on SQLite
//! a finished file is renamed into place.

use super::{TemplateKey, TestDatabaseError};
use crate::backend::{Backend, Connection};
use crate::engine::{Migrator, Scope};
use crate::url::DatabaseUrl;
use crate::version::Version;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, MySqlConnection, PgConnection, Row as _, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Makes sure the template for `key` exists, building it if needed.
/// Returns whether it already existed.
pub(super) async fn ensure(
    server: &DatabaseUrl,
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    match key.backend {
        Backend::Sqlite => ensure_sqlite(key, migrator, target).await,
        Backend::Postgres => ensure_postgres(server, key, migrator, target).await,
        Backend::MySql => ensure_mysql(server, key, migrator, target).await,
    }
}

/// Clones the template of `key` into a new database `name`, returning its
/// URL and the name [`drop_database`] takes (a path on SQLite).
pub(super) async fn clone(
    server: &DatabaseUrl,
    key: &TemplateKey,
    name: &str,
) -> Result<(DatabaseUrl, String), TestDatabaseError> {
    match key.backend {
        Backend::Sqlite => {
            let template = sqlite_dir().join(format!("{}.db", key.template_name()));
            let copy = sqlite_dir().join(format!("{name}.db"));
            std::fs::copy(&template, &copy).map_err(|cause| TestDatabaseError::File {
                action: "cannot copy the template to",
                path: copy.clone(),
                cause,
            })?;
            Ok((sqlite_url(&copy, "rw")?, copy.display().to_string()))
        }
        Backend::Postgres => {
            let mut admin = pg_admin(server).await?;
            let sql = format!("CREATE DATABASE {name} TEMPLATE {}", key.template_name());
            let mut tries = 0;
            loop {
                match admin.execute(AssertSqlSafe(sql.as_str())).await {
                    Ok(_) => break,
                    // 55006: the template is still in use, such as by a connection of the build that is closing.
                    Err(error) if sqlstate(&error).as_deref() == Some("55006") && tries < 50 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(cause) => return Err(server_error("CREATE DATABASE … TEMPLATE", server, cause)),
                }
            }
            let _ = admin.close().await;
            Ok((database_url(server, name)?, name.to_owned()))
        }
        Backend::MySql => {
            let mut admin = mysql_admin(server).await?;
            let created = create_mysql(&mut admin, name, server).await;
            let copied = match created {
                Ok(()) => copy_mysql(&mut admin, &key.template_name(), name, server).await,
                Err(error) => Err(error),
            };
            if let Err(error) = copied {
                let _ = admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`"))).await;
                return Err(error);
            }
            let _ = admin.close().await;
            Ok((database_url(server, name)?, name.to_owned()))
        }
    }
}

/// Drops a test database (deletes the file on SQLite).
pub(super) async fn drop_database(server: &DatabaseUrl, name: &str) -> Result<(), TestDatabaseError> {
    match server.backend() {
        Backend::Sqlite => remove_sqlite_files(name),
        Backend::Postgres => {
            let mut admin = pg_admin(server).await?;
            admin
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .await
                .map_err(|cause| server_error("DROP DATABASE", server, cause))?;
            let _ = admin.close().await;
            Ok(())
        }
        Backend::MySql => {
            let mut admin = mysql_admin(server).await?;
            admin
                .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                .await
                .map_err(|cause| server_error("DROP DATABASE", server, cause))?;
            let _ = admin.close().await;
            Ok(())
        }
    }
}

/// Deletes a SQLite database file and the journal files beside it.
fn remove_sqlite_files(path: &str) -> Result<(), TestDatabaseError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{path}{suffix}"));
        match std::fs::remove_file(&path) {
            Err(cause) if cause.kind() != std::io::ErrorKind::NotFound => {
                return Err(TestDatabaseError::File { action: "cannot delete", path, cause });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies the migrations to the database at `url`.
async fn migrate(
    url: &DatabaseUrl,
    template: &str,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<(), TestDatabaseError> {
    let failed = |cause| TestDatabaseError::Migrate { template: template.to_owned(), cause: Box::new(cause) };
    let mut conn = Connection::connect(url).await.map_err(failed)?;
    let applied = migrator.up(&mut conn, Scope::from(target)).await.map(drop).map_err(failed);
    let _ = conn.close().await;
    applied
}

// SQLite

/// `<temporary directory>/migrations-rs-testing`.
fn sqlite_dir() -> PathBuf {
    std::env::temp_dir().join("migrations-rs-testing")
}

fn sqlite_url(path: &Path, mode: &str) -> Result<DatabaseUrl, TestDatabaseError> {
    DatabaseUrl::parse(&format!("sqlite://{}?mode={mode}", path.display()))
        .map_err(|e| TestDatabaseError::Url(Box::new(e)))
}

async fn ensure_sqlite(
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    let dir = sqlite_dir();
    let template = dir.join(format!("{}.db", key.template_name()));
    if template.exists() {
        return Ok(true);
    }
    std::fs::create_dir_all(&dir).map_err(|cause| TestDatabaseError::File {
        action: "cannot create the directory",
        path: dir.clone(),
        cause,
    })?;
    let building = dir.join(key.clone_name());
    let building_db = building.with_extension("building.db");
    let finished = building.with_extension("finished.db");
    let result = async {
        migrate(&sqlite_url(&building_db, "rwc")?, &key.template_name(), migrator, target).await?;
        // One self-contained file, whatever journal mode the migrations chose.
        let file_error = |cause| TestDatabaseError::Server {
            action: "VACUUM INTO".to_owned(),
            server: building_db.display().to_string(),
            cause,
            needs_create_privilege: false,
        };
        let mut conn = SqliteConnection::connect(sqlite_url(&building_db, "rw")?.expose()).await.map_err(file_error)?;
        let vacuum = format!("VACUUM INTO '{}'", finished.display().to_string().replace('\'', "''"));
        conn.execute(AssertSqlSafe(vacuum)).await.map_err(file_error)?;
        let _ = conn.close().await;
        std::fs::rename(&finished, &template).map_err(|cause| TestDatabaseError::File {
            action: "cannot move the template into place at",
            path: template.clone(),
            cause,
        })
    }
    .await;
    for leftover in [&building_db, &finished] {
        let _ = remove_sqlite_files(&leftover.display().to_string());
    }
    result?;
    // Templates of the same crates for an older graph.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".db")
                && is_other_template(stem, key)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(false)
}

/// Whether `name` is a finished template of `key`'s family for another graph.
fn is_other_template(name: &str, key: &TemplateKey) -> bool {
    name.strip_prefix(&key.family_prefix()).is_some_and(|graph| {
        graph.len() == key.graph.len() && graph.bytes().all(|b| b.is_ascii_hexdigit()) && graph != key.graph
    })
}

// PostgreSQL

async fn pg_admin(server: &DatabaseUrl) -> Result<PgConnection, TestDatabaseError> {
    PgConnection::connect(server.expose()).await.map_err(|cause| server_error("connecting", server, cause))
}

async fn ensure_postgres(
    server: &DatabaseUrl,
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    let template = key.template_name();
    let mut admin = pg_admin(server).await?;
    let lock_key = i64::from_str_radix(&key.graph[..15], 16).unwrap_or_default();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key)
        .execute(&mut admin)
        .await
        .map_err(|cause| server_error("pg_advisory_lock", server, cause))?;
    let result = async {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&template)
            .fetch_optional(&mut admin)
            .await
            .map_err(|cause| server_error("reading pg_database", server, cause))?;
        if exists.is_some() {
            return Ok(true);
        }
        let building = format!("{template}_b");
        for sql in [format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"), format!("CREATE DATABASE {building}")] {
            admin.execute(AssertSqlSafe(sql)).await.map_err(|cause| server_error("CREATE DATABASE", server, cause))?;
        }
        migrate(&database_url(server, &building)?, &template, migrator, target).await?;
        let rename = format!("ALTER DATABASE {building} RENAME TO {template}");
        admin
            .execute(AssertSqlSafe(rename))
            .await
            .map_err(|cause| server_error("ALTER DATABASE … RENAME", server, cause))?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'mrs\\_tpl\\_%'")
                .fetch_all(&mut admin)
                .await
                .map_err(|cause| server_error("reading pg_database", server, cause))?;
        for old in names.iter().filter(|name| is_other_template(name, key)) {
            let _ = admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"))).await;
        }
        Ok(false)
    }
    .await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(lock_key).execute(&mut admin).await;
    let _ = admin.close().await;
    result
}

// MySQL / MariaDB

async fn mysql_admin(server: &DatabaseUrl) -> Result<MySqlConnection, TestDatabaseError> {
    MySqlConnection::connect(server.expose()).await.map_err(|cause| server_error("connecting", server, cause))
}

async fn create_mysql(admin: &mut MySqlConnection, name: &str, server: &DatabaseUrl) -> Result<(), TestDatabaseError> {
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .await
        .map(drop)
        .map_err(|cause| server_error("CREATE DATABASE", server, cause))
}

async fn ensure_mysql(
    server: &DatabaseUrl,
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    let template = key.template_name();
    let marker = format!("{template}_ok");
    let mut admin = mysql_admin(server).await?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 300) AS SIGNED)")
        .bind(&template)
        .fetch_one(&mut admin)
        .await
        .map_err(|cause| server_error("GET_LOCK", server, cause))?;
    if locked != Some(1) {
        return Err(TestDatabaseError::Server {
            action: format!("waiting for another process to build the template {template}"),
            server: server.redacted(),
            cause: sqlx::Error::Protocol("GET_LOCK timed out after 300 s".to_owned()),
            needs_create_privilege: false,
        });
    }
    let result = async {
        let found: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?, ?)")
                .bind(&template)
                .bind(&marker)
                .fetch_one(&mut admin)
                .await
                .map_err(|cause| server_error("reading information_schema", server, cause))?;
        if found == 2 {
            return Ok(true);
        }
        admin
            .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{template}`")))
            .await
            .map_err(|cause| server_error("DROP DATABASE", server, cause))?;
        create_mysql(&mut admin, &template, server).await?;
        migrate(&database_url(server, &template)?, &template, migrator, target).await?;
        create_mysql(&mut admin, &marker, server).await?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mrs\\_tpl\\_%'",
        )
        .fetch_all(&mut admin)
        .await
        .map_err(|cause| server_error("reading information_schema", server, cause))?;
        for old in &names {
            let stem = old.strip_suffix("_ok").unwrap_or(old);
            if is_other_template(stem, key) {
                let _ = admin.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{old}`"))).await;
            }
        }
        Ok(false)
    }
    .await;
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)").bind(&template).execute(&mut admin).await;
    let _ = admin.close().await;
    result
}

/// Copies every table (definition and rows), view, trigger and routine of
/// database `from` into the empty database `to` on the same server.
async fn copy_mysql(
    admin: &mut MySqlConnection,
    from: &str,
    to: &str,
    server: &DatabaseUrl,
) -> Result<(), TestDatabaseError> {
    let failed = |what: &str| {
        let what = what.to_owned();
        move |cause| server_error(&format!("copying the template ({what})"), server, cause)
    };
    let names = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).bind(from.to_owned());
    for sql in ["SET FOREIGN_KEY_CHECKS = 0".to_owned(), format!("USE `{to}`")] {
        admin.execute(AssertSqlSafe(sql)).await.map_err(failed("session"))?;
    }
    let tables = names(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut *admin)
    .await
    .map_err(failed("tables"))?;
    if tables.is_empty() {
        let gone =
            sqlx::Error::Protocol(format!("the template {from} has no tables: it was dropped, or never migrated"));
        return Err(failed("tables")(gone));
    }
    for table in &tables {
        let create =
            show_create(admin, &format!("SHOW CREATE TABLE `{from}`.`{table}`"), 1).await.map_err(failed(table))?;
        admin.execute(AssertSqlSafe(create)).await.map_err(failed(table))?;
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COALESCE(GENERATION_EXPRESSION, '') = '' ORDER BY ORDINAL_POSITION",
        )
        .bind(from)
        .bind(table)
        .fetch_all(&mut *admin)
        .await
        .map_err(failed(table))?;
        let columns = columns.iter().map(|c| format!("`{}`", c.replace('`', "``"))).collect::<Vec<_>>().join(", ");
        let copy = format!("INSERT INTO `{to}`.`{table}` ({columns}) SELECT {columns} FROM `{from}`.`{table}`");
        admin.execute(AssertSqlSafe(copy)).await.map_err(failed(table))?;
    }
    // Views may read other views: create them in rounds until none is left.
    let mut views = names(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut *admin)
    .await
    .map_err(failed("views"))?;
    let qualified_from = format!("`{from}`.");
    let qualified_to = format!("`{to}`.");
    while !views.is_empty() {
        let mut left = Vec::new();
        let mut last_error = None;
        for view in views.iter() {
            let create =
                show_create(admin, &format!("SHOW CREATE VIEW `{from}`.`{view}`"), 1).await.map_err(failed(view))?;
            if let Err(error) = admin.execute(AssertSqlSafe(create.replace(&qualified_from, &qualified_to))).await {
                last_error = Some(error);
                left.push(view.clone());
            }
        }
        if left.len() == views.len() {
            return Err(failed("views")(last_error.expect("a view failed")));
        }
        views = left;
    }
    let triggers = names("SELECT CAST(TRIGGER_NAME AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME")
        .fetch_all(&mut *admin)
        .await
        .map_err(failed("triggers"))?;
    for trigger in &triggers {
        let create = show_create(admin, &format!("SHOW CREATE TRIGGER `{from}`.`{trigger}`"), 2)
            .await
            .map_err(failed(trigger))?;
        admin.execute(AssertSqlSafe(create)).await.map_err(failed(trigger))?;
    }
    let routines: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(ROUTINE_TYPE AS CHAR), CAST(ROUTINE_NAME AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME",
    )
    .bind(from)
    .fetch_all(&mut *admin)
    .await
    .map_err(failed("routines"))?;
    for (kind, routine) in &routines {
        let create = show_create(admin, &format!("SHOW CREATE {kind} `{from}`.`{routine}`"), 2)
            .await
            .map_err(failed(routine))?;
        admin.execute(AssertSqlSafe(create)).await.map_err(failed(routine))?;
    }
    admin.execute("SET FOREIGN_KEY_CHECKS = 1").await.map_err(failed("session"))?;
    Ok(())
}

/// The `column`th field of a `SHOW CREATE …` row, as text.
async fn show_create(admin: &mut MySqlConnection, sql: &str, column: usize) -> Result<String, sqlx::Error> {
    let row = sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).fetch_one(&mut *admin).await?;
    match row.try_get::<String, _>(column) {
        Ok(text) => Ok(text),
        Err(_) => row.try_get::<Vec<u8>, _>(column).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    }
}

// Shared

/// `server` with its database replaced by `name`.
fn database_url(server: &DatabaseUrl, name: &str) -> Result<DatabaseUrl, TestDatabaseError> {
    crate::scratch::database_url(server, name).map_err(|e| TestDatabaseError::Url(Box::new(e)))
}

fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned())
}

fn server_error(action: &str, server: &DatabaseUrl, cause: sqlx::Error) -> TestDatabaseError {
    // PostgreSQL 42501 insufficient_privilege; MySQL 1044 access denied to a database.
    let code = sqlstate(&cause);
    let needs_create_privilege =
        action.contains("DATABASE") && matches!(code.as_deref(), Some("42501" | "1044" | "42000"));
    TestDatabaseError::Server { action: action.to_owned(), server: server.redacted(), cause, needs_create_privilege }
}
