//! Keeping another tool's history table in step (`--compat sqlx|diesel`):
//! the table is created with the tool's own DDL if missing, and every
//! migration applied or reverted writes or deletes the tool's row in the same
//! transaction as our own history row. Migrations that read or write that
//! table (`DELETE FROM _sqlx_migrations`, a trigger on
//! `__diesel_schema_migrations`) then work on a fresh install, and the
//! project can go back to the tool at any time.

use crate::backend::{Backend, ConnRef};
use crate::db::Db;
use crate::error::Result;
use crate::foreign::Tool;
use crate::record::{Body, Migration};
use sea_query::{Expr, ExprTrait, Query};
use sha2::{Digest, Sha384};
use std::fmt;
use std::path::Path;

/// A tool whose history table a run keeps in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// sqlx's `_sqlx_migrations`.
    Sqlx,
    /// diesel's `__diesel_schema_migrations`.
    Diesel,
}

impl Compat {
    /// The tool whose table this keeps in step.
    pub const fn tool(self) -> Tool {
        match self {
            Compat::Sqlx => Tool::Sqlx,
            Compat::Diesel => Tool::Diesel,
        }
    }

    /// The name of that tool's history table.
    pub const fn table(self) -> &'static str {
        self.tool().table()
    }

    /// `sqlx` or `diesel`.
    pub fn parse(name: &str) -> Option<Compat> {
        match name {
            "sqlx" => Some(Compat::Sqlx),
            "diesel" => Some(Compat::Diesel),
            _ => None,
        }
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tool().name())
    }
}

/// Creates the tool's history table, as the tool itself would, if it is missing.
pub(crate) async fn ensure_table(conn: ConnRef<'_>, compat: Compat) -> Result<()> {
    let backend = conn.backend();
    let sql = match compat {
        // sqlx-{postgres,mysql,sqlite} `migrate.rs`.
        Compat::Sqlx => {
            let (installed_on, checksum) = match backend {
                Backend::Postgres => ("TIMESTAMPTZ NOT NULL DEFAULT now()", "BYTEA"),
                Backend::MySql | Backend::Sqlite => ("TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP", "BLOB"),
            };
            format!(
                "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
                 installed_on {installed_on}, success BOOLEAN NOT NULL, checksum {checksum} NOT NULL, \
                 execution_time BIGINT NOT NULL)"
            )
        }
        // diesel_migrations `setup_migration_table.sql`.
        Compat::Diesel => {
            "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
                           run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                .to_owned()
        }
    };
    Db::new(conn).exec(sql.as_str()).await
}

/// Writes the tool's row for `migration`, applied in `execution_ms`.
pub(crate) async fn record_applied(
    conn: ConnRef<'_>,
    compat: Compat,
    migration: &Migration,
    execution_ms: i64,
) -> Result<()> {
    let mut db = Db::new(conn);
    db.exec(&delete(compat, migration)).await?;
    let insert = match compat {
        Compat::Sqlx => Query::insert()
            .into_table(compat.table())
            .columns(["version", "description", "success", "checksum", "execution_time"])
            .values_panic([
                i64::from(migration.version).into(),
                sqlx_description(migration.name).into(),
                true.into(),
                sqlx_checksum(migration).into(),
                execution_ms.saturating_mul(1_000_000).into(),
            ])
            .to_owned(),
        Compat::Diesel => Query::insert()
            .into_table(compat.table())
            .columns(["version"])
            .values_panic([diesel_version(migration).into()])
            .to_owned(),
    };
    db.exec(&insert).await
}

/// Deletes the tool's row for `migration`.
pub(crate) async fn record_reverted(conn: ConnRef<'_>, compat: Compat, migration: &Migration) -> Result<()> {
    Db::new(conn).exec(&delete(compat, migration)).await
}

fn delete(compat: Compat, migration: &Migration) -> sea_query::DeleteStatement {
    let key = match compat {
        Compat::Sqlx => Expr::col("version").eq(i64::from(migration.version)),
        Compat::Diesel => Expr::col("version").eq(diesel_version(migration)),
    };
    Query::delete().from_table(compat.table()).and_where(key).to_owned()
}

/// sqlx's description: the file name's part after the version, `_` as spaces.
fn sqlx_description(name: &str) -> String {
    name.replace('_', " ")
}

/// sqlx's checksum: SHA-384 of the up file's text (of nothing for a Rust migration).
fn sqlx_checksum(migration: &Migration) -> Vec<u8> {
    let text = match migration.up {
        Body::Sql(text) => text,
        Body::Rust(_) => "",
    };
    Sha384::digest(text.as_bytes()).to_vec()
}

/// diesel's version string: for a diesel folder `2024-01-15-093000_name/up.sql`,
/// the folder's name before the first `_` without `-` (leading zeros kept, as
/// in `00000000000000`); otherwise the version's digits.
fn diesel_version(migration: &Migration) -> String {
    let path = Path::new(migration.file);
    let folder = path
        .file_name()
        .filter(|name| *name == "up.sql")
        .and_then(|_| path.parent()?.file_name()?.to_str())
        .and_then(|folder| folder.split_once('_'))
        .map(|(stamp, _)| stamp.replace('-', ""))
        .filter(|digits| digits.parse::<u64>().ok() == Some(migration.version.as_u64()));
    folder.unwrap_or_else(|| migration.version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Checksum;
    use crate::version::Version;

    fn record(version: u64, file: &'static str, up: &'static str) -> Migration {
        Migration {
            version: Version::from_checked(version),
            name: "create_users",
            module: "sql",
            module_version: "sql",
            file,
            line: 1,
            depends_on: &[],
            risk: &[],
            allow: &[],
            irreversible: true,
            empty_up: false,
            transaction: true,
            lock_wait: None,
            checksum: Checksum::from_bytes([0; 32]),
            legacy_checksum: None,
            up: Body::Sql(up),
            down: None,
        }
    }

    #[test]
    fn rows_are_written_as_each_tool_writes_them() {
        let initial = record(0, "/m/00000000000000_diesel_initial_setup/up.sql", "");
        assert_eq!(diesel_version(&initial), "00000000000000");
        let dashed = record(202401150930000000, "/m/2024-01-15-093000-0000_x/up.sql", "");
        assert_eq!(diesel_version(&dashed), "202401150930000000");
        assert_eq!(diesel_version(&record(3, "/m/3_create_users.sql", "")), "3");
        assert_eq!(sqlx_description("create_users_table"), "create users table");
        let checksum = sqlx_checksum(&record(1, "/m/1_a.sql", "SELECT 1;"));
        assert_eq!(checksum.len(), 48);
        assert_eq!(checksum, Sha384::digest(b"SELECT 1;").to_vec());
    }
}
