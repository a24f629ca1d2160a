//! Building, cloning and dropping template databases, backend by backend.
//!
//! A template is built under a lock so that parallel tests build it once:
//! PostgreSQL's advisory lock and MySQL's named lock on the server, an atomic
//! rename of a finished file on SQLite. A template appears only once it is
//! complete: on PostgreSQL it is migrated under another name and renamed; on
//! MySQL/MariaDB an empty `<template>_ok` database marks it complete; on SQLite
//! a finished file is renamed into place. On PostgreSQL a clone is a spare
//! copy renamed when one is ready (see `spares`). The statements each backend
//! runs for it are in its `databases` module in `backend/`.

#[cfg(feature = "postgres")]
use super::spares;
use super::{TemplateKey, TestDatabaseError};
use crate::backend::{self, Backend, Connection};
use crate::engine::{Migrator, Scope};
use crate::url::DatabaseUrl;
use crate::version::Version;
#[cfg(feature = "mysql")]
use backend::mysql::databases as mysql;
#[cfg(feature = "postgres")]
use backend::postgres::databases as postgres;
#[cfg(feature = "sqlite")]
use {
    backend::sqlite::databases as sqlite,
    std::path::{Path, PathBuf},
};

/// The prefix of every template's name.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const TEMPLATES: &str = "mrs_tpl_";

/// Makes sure the template for `key` exists, building it if needed.
/// Returns whether it already existed.
pub(super) async fn ensure(
    server: &DatabaseUrl,
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    match key.backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => ensure_sqlite(key, migrator, target).await,
        #[cfg(feature = "postgres")]
        Backend::Postgres => ensure_postgres(server, key, migrator, target).await,
        #[cfg(feature = "mysql")]
        Backend::MySql => ensure_mysql(server, key, migrator, target).await,
        #[allow(unreachable_patterns)]
        _ => Err(not_built(server)),
    }
}

/// A new database made from a template.
pub(super) struct Cloned {
    /// Its URL.
    pub(super) url: DatabaseUrl,
    /// The name [`drop_database`] takes (a path on SQLite).
    pub(super) name: String,
    /// Whether it was a spare copy renamed (PostgreSQL), not a copy made now.
    pub(super) from_spare: bool,
}

/// Clones the template of `key` into a new database `name`. On PostgreSQL a
/// spare copy is renamed when there is one, and the spares are topped up to
/// `spares` in the background.
pub(super) async fn clone(
    server: &DatabaseUrl,
    key: &TemplateKey,
    name: &str,
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))] spares: usize,
) -> Result<Cloned, TestDatabaseError> {
    match key.backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => {
            let template = sqlite_dir().join(format!("{}.db", key.template_name()));
            let copy = sqlite_dir().join(format!("{name}.db"));
            std::fs::copy(&template, &copy).map_err(|cause| TestDatabaseError::File {
                action: "cannot copy the template to",
                path: copy.clone(),
                cause,
            })?;
            Ok(Cloned { url: sqlite_url(&copy, "rw")?, name: copy.display().to_string(), from_spare: false })
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let mut admin = postgres::admin(server).await.map_err(|cause| server_error("connecting", server, cause))?;
            let from_spare = spares::take(&mut admin, key, name)
                .await
                .map_err(|cause| server_error("ALTER DATABASE … RENAME (taking a spare copy)", server, cause))?;
            if !from_spare {
                postgres::copy(&mut admin, &key.template_name(), name)
                    .await
                    .map_err(|cause| server_error("CREATE DATABASE … TEMPLATE", server, cause))?;
            }
            let _ = sqlx::Connection::close(admin).await;
            spares::refill(server, key, spares);
            Ok(Cloned { url: database_url(server, name)?, name: name.to_owned(), from_spare })
        }
        #[cfg(feature = "mysql")]
        Backend::MySql => {
            let mut admin = mysql::admin(server).await.map_err(|cause| server_error("connecting", server, cause))?;
            let created =
                mysql::create(&mut admin, name).await.map_err(|cause| server_error("CREATE DATABASE", server, cause));
            let copied = match created {
                Ok(()) => mysql::copy(server, &mut admin, &key.template_name(), name)
                    .await
                    .map_err(|(what, cause)| server_error(&format!("copying the template ({what})"), server, cause)),
                Err(error) => Err(error),
            };
            if let Err(error) = copied {
                let _ = mysql::drop_database(&mut admin, name).await;
                return Err(error);
            }
            let _ = sqlx::Connection::close(admin).await;
            Ok(Cloned { url: database_url(server, name)?, name: name.to_owned(), from_spare: false })
        }
        #[allow(unreachable_patterns)]
        _ => Err(not_built(server)),
    }
}

/// Drops a test database (deletes the file on SQLite).
pub(super) async fn drop_database(server: &DatabaseUrl, name: &str) -> Result<(), TestDatabaseError> {
    match server.backend() {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => remove_sqlite_files(name),
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let mut admin = postgres::admin(server).await.map_err(|cause| server_error("connecting", server, cause))?;
            postgres::drop_database(&mut admin, name)
                .await
                .map_err(|cause| server_error("DROP DATABASE", server, cause))?;
            let _ = sqlx::Connection::close(admin).await;
            Ok(())
        }
        #[cfg(feature = "mysql")]
        Backend::MySql => {
            let mut admin = mysql::admin(server).await.map_err(|cause| server_error("connecting", server, cause))?;
            mysql::drop_database(&mut admin, name)
                .await
                .map_err(|cause| server_error("DROP DATABASE", server, cause))?;
            let _ = sqlx::Connection::close(admin).await;
            Ok(())
        }
        #[allow(unreachable_patterns)]
        _ => Err(not_built(server)),
    }
}

/// The error for a server whose backend this program is built without.
fn not_built(server: &DatabaseUrl) -> TestDatabaseError {
    TestDatabaseError::Url(Box::new(backend::not_built(server)))
}

/// Deletes a SQLite database file and the journal files beside it.
#[cfg(feature = "sqlite")]
fn remove_sqlite_files(path: &str) -> Result<(), TestDatabaseError> {
    sqlite::remove(path).map_err(|(path, cause)| TestDatabaseError::File { action: "cannot delete", path, cause })
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
#[cfg(feature = "sqlite")]
fn sqlite_dir() -> PathBuf {
    std::env::temp_dir().join("migrations-rs-testing")
}

#[cfg(feature = "sqlite")]
fn sqlite_url(path: &Path, mode: &str) -> Result<DatabaseUrl, TestDatabaseError> {
    DatabaseUrl::parse(&format!("sqlite://{}?mode={mode}", path.display()))
        .map_err(|e| TestDatabaseError::Url(Box::new(e)))
}

#[cfg(feature = "sqlite")]
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
        sqlite::copy(&sqlite_url(&building_db, "rw")?, &finished).await.map_err(|cause| TestDatabaseError::Server {
            action: "VACUUM INTO".to_owned(),
            server: building_db.display().to_string(),
            cause,
            needs_create_privilege: false,
        })?;
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

#[cfg(feature = "postgres")]
async fn ensure_postgres(
    server: &DatabaseUrl,
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    let template = key.template_name();
    let mut admin = postgres::admin(server).await.map_err(|cause| server_error("connecting", server, cause))?;
    let lock_key = i64::from_str_radix(&key.graph[..15], 16).unwrap_or_default();
    postgres::lock(&mut admin, lock_key).await.map_err(|cause| server_error("pg_advisory_lock", server, cause))?;
    let result = async {
        let exists = postgres::exists(&mut admin, &template)
            .await
            .map_err(|cause| server_error("reading pg_database", server, cause))?;
        if exists {
            return Ok(true);
        }
        let building = format!("{template}_b");
        postgres::recreate(&mut admin, &building)
            .await
            .map_err(|cause| server_error("CREATE DATABASE", server, cause))?;
        migrate(&database_url(server, &building)?, &template, migrator, target).await?;
        postgres::rename(&mut admin, &building, &template)
            .await
            .map_err(|cause| server_error("ALTER DATABASE … RENAME", server, cause))?;
        let names = postgres::named_like(&mut admin, TEMPLATES)
            .await
            .map_err(|cause| server_error("reading pg_database", server, cause))?;
        for old in names.iter().filter(|name| is_other_template(name, key)) {
            let _ = postgres::drop_database(&mut admin, old).await;
        }
        let spares = postgres::named_like(&mut admin, &spares::family_prefix(key))
            .await
            .map_err(|cause| server_error("reading pg_database", server, cause))?;
        for old in spares.iter().filter(|name| spares::is_other_graph(name, key)) {
            let _ = postgres::drop_database(&mut admin, old).await;
        }
        Ok(false)
    }
    .await;
    let _ = postgres::unlock(&mut admin, lock_key).await;
    let _ = sqlx::Connection::close(admin).await;
    result
}

// MySQL / MariaDB

#[cfg(feature = "mysql")]
async fn ensure_mysql(
    server: &DatabaseUrl,
    key: &TemplateKey,
    migrator: &Migrator,
    target: Option<Version>,
) -> Result<bool, TestDatabaseError> {
    let template = key.template_name();
    let marker = format!("{template}_ok");
    let mut admin = mysql::admin(server).await.map_err(|cause| server_error("connecting", server, cause))?;
    let locked =
        mysql::lock(&mut admin, &template, 300).await.map_err(|cause| server_error("GET_LOCK", server, cause))?;
    if !locked {
        return Err(TestDatabaseError::Server {
            action: format!("waiting for another process to build the template {template}"),
            server: server.redacted(),
            cause: sqlx::Error::Protocol("GET_LOCK timed out after 300 s".to_owned()),
            needs_create_privilege: false,
        });
    }
    let result = async {
        let found = mysql::count_existing(&mut admin, [&template, &marker])
            .await
            .map_err(|cause| server_error("reading information_schema", server, cause))?;
        if found == 2 {
            return Ok(true);
        }
        mysql::drop_database(&mut admin, &template)
            .await
            .map_err(|cause| server_error("DROP DATABASE", server, cause))?;
        mysql::create(&mut admin, &template).await.map_err(|cause| server_error("CREATE DATABASE", server, cause))?;
        migrate(&database_url(server, &template)?, &template, migrator, target).await?;
        mysql::create(&mut admin, &marker).await.map_err(|cause| server_error("CREATE DATABASE", server, cause))?;
        let names = mysql::named_like(&mut admin, TEMPLATES)
            .await
            .map_err(|cause| server_error("reading information_schema", server, cause))?;
        for old in &names {
            let stem = old.strip_suffix("_ok").unwrap_or(old);
            if is_other_template(stem, key) {
                let _ = mysql::drop_database(&mut admin, old).await;
            }
        }
        Ok(false)
    }
    .await;
    let _ = mysql::unlock(&mut admin, &template).await;
    let _ = sqlx::Connection::close(admin).await;
    result
}

// Shared by the servers

/// `server` with its database replaced by `name`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn database_url(server: &DatabaseUrl, name: &str) -> Result<DatabaseUrl, TestDatabaseError> {
    crate::scratch::database_url(server, name).map_err(|e| TestDatabaseError::Url(Box::new(e)))
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error.as_database_error().and_then(|e| e.code()).map(|code| code.into_owned())
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server_error(action: &str, server: &DatabaseUrl, cause: sqlx::Error) -> TestDatabaseError {
    // PostgreSQL 42501 insufficient_privilege; MySQL 1044 access denied to a database.
    let code = sqlstate(&cause);
    let needs_create_privilege =
        action.contains("DATABASE") && matches!(code.as_deref(), Some("42501" | "1044" | "42000"));
    TestDatabaseError::Server { action: action.to_owned(), server: server.redacted(), cause, needs_create_privilege }
}
