//! `drift`: the live schema against the schema the code produces at the same
//! applied state, to find changes made outside the migrations.
//!
//! The expected schema is built by applying the same applied migrations to a
//! scratch database (never the target), or read from a schema file (by
//! default `migrations.schema.json`) that an earlier run wrote: the file
//! records the backend, each applied version with its code's checksum, and
//! the schema. It is used only when it records the same backend and the same
//! applied migrations with the same code; otherwise the schema is built on a
//! scratch database again, and the report says why.

use crate::backend::Connection;
use crate::engine::{Migrator, Scope, on_scratch, verify::differences};
use crate::error::{Error, Result};
use crate::history::{self, AppliedMigration};
use crate::url::DatabaseUrl;
use crate::version::Version;
use migrations_rs_core::schema::Schema;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The schema file's name when none is given.
pub const DEFAULT_SCHEMA_FILE: &str = "migrations.schema.json";

/// Where [`Migrator::drift`] takes the expected schema from, and what it leaves out.
#[derive(Debug, Clone, Default)]
pub struct DriftOptions {
    schema_file: Option<PathBuf>,
    rebuild: bool,
    write: bool,
    scratch_url: Option<DatabaseUrl>,
    exclude: Vec<String>,
}

impl DriftOptions {
    /// Reads the expected schema from this file when it exists and records
    /// the same applied state (see the module's documentation).
    pub fn schema_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.schema_file = Some(path.into());
        self
    }

    /// Builds the expected schema on a scratch database even when the schema file could be used.
    pub fn rebuild(mut self, rebuild: bool) -> Self {
        self.rebuild = rebuild;
        self
    }

    /// Builds the expected schema on a scratch database and writes it to the
    /// schema file, for later runs to compare against.
    pub fn write(mut self, write: bool) -> Self {
        self.write = write;
        self
    }

    /// Uses this existing, empty database instead of creating a scratch
    /// database beside the target. It is emptied again when done.
    pub fn scratch_url(mut self, url: DatabaseUrl) -> Self {
        self.scratch_url = Some(url);
        self
    }

    /// Tables to leave out of the comparison, besides the bookkeeping tables:
    /// tables the application manages itself, such as a session store.
    pub fn exclude(mut self, tables: Vec<String>) -> Self {
        self.exclude = tables;
        self
    }

    /// Whether the schema file is to be written.
    pub(crate) fn writes(&self) -> bool {
        self.write
    }

    /// Whether an existing scratch database was given.
    pub(crate) fn has_scratch_url(&self) -> bool {
        self.scratch_url.is_some()
    }

    fn file(&self) -> Option<&Path> {
        self.schema_file.as_deref()
    }
}

/// Where the expected schema came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedFrom {
    /// Built by applying the applied migrations to a scratch database.
    Scratch,
    /// Read from the schema file.
    File,
}

/// What [`Migrator::drift`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The backend it ran on.
    pub backend: &'static str,
    /// How many migrations the live database has applied.
    pub applied: usize,
    /// Where the expected schema came from.
    pub expected_from: ExpectedFrom,
    /// The schema file read or written, if any.
    pub schema_file: Option<PathBuf>,
    /// Why the schema file was not used, when there is one.
    pub note: Option<String>,
    /// Whether the schema file was written.
    pub written: bool,
    /// The live schema differs from the expected one.
    pub drifted: bool,
    /// Each difference in words, the live schema compared with the expected one.
    pub changes: Vec<String>,
}

/// The schema file: the applied state it was built at, and the schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SchemaRecord {
    /// What wrote it, for a reader of the file.
    comment: String,
    backend: String,
    migrations: Vec<RecordedMigration>,
    schema: Schema,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecordedMigration {
    version: String,
    checksum: String,
}

impl Migrator {
    /// Compares the live schema of `conn`'s database with the schema the
    /// code produces at the same applied state (see the module's
    /// documentation). Takes no lock and changes nothing on the target.
    pub async fn drift(&self, conn: &mut Connection, options: &DriftOptions) -> Result<Drift> {
        self.tables.check_backend(conn.backend())?;
        let rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        self.refuse_dirty(&rows)?;
        let state = self.applied_state(&rows)?;
        let exclude = self.bookkeeping_tables(&options.exclude);
        let live = conn.schema(&exclude).await?;
        let backend = conn.backend().name();
        let mut note = None;
        let recorded = match options.file() {
            Some(path) if !options.rebuild && !options.write && path.exists() => match read_record(path) {
                Ok(record) if record.backend != backend => {
                    note = Some(format!(
                        "{} records a {} schema, not a {backend} one: built on a scratch database instead",
                        path.display(),
                        record.backend
                    ));
                    None
                }
                Ok(record) if record.migrations != state => {
                    note = Some(format!(
                        "{} records another applied state ({} migration(s), or other code) than the \
                             database's ({}): built on a scratch database instead",
                        path.display(),
                        record.migrations.len(),
                        state.len()
                    ));
                    None
                }
                Ok(record) => Some(record.schema),
                Err(error) => {
                    note = Some(format!("{error}: built on a scratch database instead"));
                    None
                }
            },
            _ => None,
        };
        let expected_from = if recorded.is_some() { ExpectedFrom::File } else { ExpectedFrom::Scratch };
        let expected = match recorded {
            Some(schema) => schema,
            None => self.expected_on_scratch(conn, &rows, &exclude, options).await?,
        };
        let mut written = false;
        if options.write
            && let Some(path) = options.file()
        {
            let record = SchemaRecord {
                comment: "the schema the migrations produce, written by migrations-rs drift; compared with the \
                          live schema by later runs"
                    .to_owned(),
                backend: backend.to_owned(),
                migrations: state.clone(),
                schema: expected.clone(),
            };
            write_record(path, &record)?;
            written = true;
        }
        let changes = differences(&expected.diff(&live));
        Ok(Drift {
            backend,
            applied: rows.len(),
            expected_from,
            schema_file: options.schema_file.clone(),
            note,
            written,
            drifted: !changes.is_empty(),
            changes,
        })
    }

    /// Each applied migration's version and its code's checksum, in plan
    /// order; an applied migration the code does not have is an error, as
    /// its schema cannot be built.
    fn applied_state(&self, rows: &[AppliedMigration]) -> Result<Vec<RecordedMigration>> {
        if let Some(row) = rows.iter().find(|row| self.registry.get(row.version).is_none()) {
            return Err(Error::MissingFromCode {
                version: row.version,
                name: row.name.clone(),
                module: row.module.clone(),
            });
        }
        let applied: HashSet<Version> = rows.iter().map(|row| row.version).collect();
        Ok(self
            .registry
            .in_order()
            .filter(|m| applied.contains(&m.version))
            .map(|m| RecordedMigration { version: m.version.to_string(), checksum: m.checksum.to_hex() })
            .collect())
    }

    /// The schema the applied migrations produce, built on a scratch database.
    async fn expected_on_scratch(
        &self,
        conn: &Connection,
        rows: &[AppliedMigration],
        exclude: &[String],
        options: &DriftOptions,
    ) -> Result<Schema> {
        let applied: HashSet<Version> = rows.iter().map(|row| row.version).collect();
        let order: Vec<Version> = self
            .registry
            .graph()
            .plan_apply(&[], None)
            .map_err(|e| self.plan_error(e, rows))?
            .iter()
            .map(|s| s.version)
            .filter(|v| applied.contains(v))
            .collect();
        let scratch = on_scratch::open(conn.url(), options.scratch_url.as_ref()).await?;
        let mut scratch_conn = on_scratch::connect(&scratch, conn.init_sql()).await?;
        let built = async {
            let migrator = self.for_scratch()?;
            for version in &order {
                migrator.up(&mut scratch_conn, Scope::UpTo(*version)).await?;
            }
            scratch_conn.schema(exclude).await
        }
        .await;
        let _ = scratch_conn.close().await;
        scratch.finish().await?;
        built
    }
}

fn read_record(path: &Path) -> Result<SchemaRecord> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::msg(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::msg(format!("{} is not a schema file migrations-rs wrote: {e}", path.display())))
}

fn write_record(path: &Path, record: &SchemaRecord) -> Result<()> {
    let mut text = serde_json::to_string_pretty(record)
        .map_err(|e| Error::msg(format!("cannot write the schema as JSON: {e}")))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))
}
