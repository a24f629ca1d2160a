//! `verify`: whether each migration's `down` reverses its `up`, checked on a
//! scratch database, never on the target.
//!
//! For each migration in plan order: a snapshot of the schema, `up`, a
//! snapshot, `down`, a snapshot compared with the one before `up`, `up`
//! again, a snapshot compared with the one after the first `up`. What differs
//! is reported in words, as are a `down` that fails and an `up` that cannot
//! run again after its `down`. Irreversible migrations are applied once and
//! skipped, with the reason. After a failure the run goes on: the migrations
//! that depend on one a failure left unapplied are skipped, the others checked.
//!
//! Data: an optional seed, SQL run before each checked migration's `up`, one
//! statement at a time (a statement that fails, such as one that writes a
//! table not created yet at that point, is skipped). The tables whose row
//! count the seed changed are the tables it touched; after `down` and `up`
//! again, each must hold as many rows as after the first `up`, or the
//! migration is reported as losing (or adding) rows.

use crate::backend::Connection;
use crate::db::Db;
use crate::engine::{Migrator, RevertScope, Scope, on_scratch};
use crate::error::{Error, Result};
use crate::history::{self, RowState};

use crate::url::DatabaseUrl;
use crate::version::Version;
use migrations_rs_core::schema::SchemaDiff;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// What [`Migrator::verify`] checks, and where.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    from: Option<Version>,
    seed_sql: Option<String>,
    scratch_url: Option<DatabaseUrl>,
    init_sql: Vec<String>,
}

impl VerifyOptions {
    /// Checks only the migrations from `version` on in plan order; the
    /// earlier ones are applied once, unchecked.
    pub fn from(mut self, version: Version) -> Self {
        self.from = Some(version);
        self
    }

    /// SQL run before each checked migration's `up`, whose tables must keep
    /// their row counts through `down` and `up` again (see the module's documentation).
    pub fn seed_sql(mut self, sql: impl Into<String>) -> Self {
        self.seed_sql = Some(sql.into());
        self
    }

    /// Uses this existing, empty database instead of creating a scratch
    /// database beside the target (for a user that may not create
    /// databases). It is emptied again when done.
    pub fn scratch_url(mut self, url: DatabaseUrl) -> Self {
        self.scratch_url = Some(url);
        self
    }

    /// Session settings to run on the scratch database's connections, as on the target's.
    pub fn init_sql(mut self, statements: Vec<String>) -> Self {
        self.init_sql = statements;
        self
    }
}

/// What [`Migrator::verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The backend it ran on.
    pub backend: &'static str,
    /// The scratch database it ran on (dropped, or emptied, since).
    pub scratch: String,
    /// Applied once without a check, being before the version to check from.
    pub unchecked: Vec<Version>,
    /// Every migration from the first one checked, in plan order.
    pub migrations: Vec<MigrationCheck>,
    /// No finding.
    pub passed: bool,
}

impl Verification {
    /// How many findings there are, over every migration.
    pub fn findings(&self) -> usize {
        self.migrations.iter().map(|m| m.findings.len()).sum()
    }
}

/// One migration's check.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationCheck {
    /// The migration's version.
    pub version: Version,
    /// The migration's name.
    pub name: &'static str,
    /// Where the migration is defined, or its SQL file.
    pub location: String,
    /// Why it was not checked: it is irreversible (it was applied once), or
    /// it depends on a migration a failure left unapplied.
    pub skipped: Option<String>,
    /// What is wrong with it; empty when its down reverses its up.
    pub findings: Vec<VerifyFinding>,
}

/// Something wrong with a migration's `up` and `down`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerifyFinding {
    /// The first `up` failed: the migrations after it cannot be checked.
    UpFailed {
        /// The error, in words.
        error: String,
    },
    /// `down` failed.
    DownFailed {
        /// The error, in words.
        error: String,
    },
    /// After `down`, the schema is not what it was before `up`.
    DownDoesNotReverse {
        /// Each difference, in words.
        differences: Vec<String>,
    },
    /// `up` failed when run again after `down`.
    UpFailsAfterDown {
        /// The error, in words.
        error: String,
    },
    /// `up` run again after `down` left another schema than the first `up`.
    UpAgainDiffers {
        /// Each difference, in words.
        differences: Vec<String>,
    },
    /// A table the seed wrote holds another number of rows after `down` and
    /// `up` again than after the first `up`.
    RowCountChanged {
        /// The table.
        table: String,
        /// Rows after the first `up`.
        after_up: i64,
        /// Rows after `down` and `up` again.
        after_down_and_up: i64,
    },
}

impl fmt::Display for VerifyFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[String]| items.iter().map(|item| format!("\n    - {item}")).collect::<String>();
        match self {
            VerifyFinding::UpFailed { error } => write!(f, "up failed: {error}"),
            VerifyFinding::DownFailed { error } => write!(f, "down failed: {error}"),
            VerifyFinding::DownDoesNotReverse { differences } => {
                write!(f, "down does not reverse up; after down, compared with before up:{}", list(differences))
            }
            VerifyFinding::UpFailsAfterDown { error } => write!(f, "up cannot run again after down: {error}"),
            VerifyFinding::UpAgainDiffers { differences } => {
                write!(f, "up run again after down differs from the first up:{}", list(differences))
            }
            VerifyFinding::RowCountChanged { table, after_up, after_down_and_up } => write!(
                f,
                "table {table} held {after_up} row(s) after up, but {after_down_and_up} after down and up again"
            ),
        }
    }
}

impl Migrator {
    /// Checks on a scratch database beside `target` (never on `target`
    /// itself) that each migration's `down` reverses its `up` and that `up`
    /// runs again after it (see the module's documentation). The scratch
    /// database is dropped when done.
    pub async fn verify(&self, target: &DatabaseUrl, options: &VerifyOptions) -> Result<Verification> {
        let order: Vec<Version> = self
            .registry
            .graph()
            .plan_apply(&[], None)
            .map_err(|e| self.plan_error(e, &[]))?
            .iter()
            .map(|s| s.version)
            .collect();
        let first_checked = match options.from {
            Some(version) => order.iter().position(|v| *v == version).ok_or(Error::UnknownVersion { version })?,
            None => 0,
        };
        let scratch = on_scratch::open(target, options.scratch_url.as_ref()).await?;
        let mut conn = on_scratch::connect(&scratch, &options.init_sql).await?;
        let result = self.verify_on(&mut conn, &order, first_checked, options).await;
        let _ = conn.close().await;
        let name = scratch.name();
        scratch.finish().await?;
        let (unchecked, migrations) = result?;
        let passed = migrations.iter().all(|m| m.findings.is_empty());
        Ok(Verification { backend: target.backend().name(), scratch: name, unchecked, migrations, passed })
    }

    async fn verify_on(
        &self,
        conn: &mut Connection,
        order: &[Version],
        first_checked: usize,
        options: &VerifyOptions,
    ) -> Result<(Vec<Version>, Vec<MigrationCheck>)> {
        let migrator = self.for_scratch()?;
        let exclude = self.bookkeeping_tables(&[]);
        let unchecked = order[..first_checked].to_vec();
        for version in &unchecked {
            migrator.up(conn, Scope::UpTo(*version)).await?;
        }
        let mut checks = Vec::new();
        // Migrations left unapplied by a failure: what depends on them is not checked.
        let mut blocked: Vec<Version> = Vec::new();
        for version in &order[first_checked..] {
            let migration = self.registry.get(*version).expect("planned versions are registered");
            let mut check = MigrationCheck {
                version: *version,
                name: migration.name,
                location: migration.location().to_string(),
                skipped: None,
                findings: Vec::new(),
            };
            if let Some(failed) = self.registry.graph().ancestors(*version).find(|v| blocked.contains(v)) {
                check.skipped = Some(format!("it depends on {failed}, which could not be applied"));
                blocked.push(*version);
                checks.push(check);
                continue;
            }
            let irreversible = migration.irreversible || migration.down.is_none();
            if irreversible {
                check.skipped = Some("irreversible: it has no down, so it was applied once, unchecked".to_owned());
            }
            self.check_one(&migrator, conn, *version, irreversible, &exclude, options, &mut check).await?;
            if !applied(&migrator, conn, *version).await? {
                blocked.push(*version);
            }
            checks.push(check);
        }
        Ok((unchecked, checks))
    }

    /// Applies one migration; unless it is irreversible, then reverts it and
    /// applies it again, comparing snapshots. Each failure is a finding, after
    /// which the scratch database's history is repaired so that the run goes on.
    #[allow(clippy::too_many_arguments)]
    async fn check_one(
        &self,
        migrator: &Migrator,
        conn: &mut Connection,
        version: Version,
        irreversible: bool,
        exclude: &[String],
        options: &VerifyOptions,
        check: &mut MigrationCheck,
    ) -> Result<()> {
        let seeded = match &options.seed_sql {
            Some(seed) if !irreversible => seed_tables(conn, seed, exclude).await?,
            _ => Vec::new(),
        };
        let before_up = conn.schema(exclude).await?;
        if let Err(error) = migrator.up(conn, Scope::UpTo(version)).await {
            check.findings.push(VerifyFinding::UpFailed { error: cause(&error) });
            return repair(migrator, conn).await;
        }
        if irreversible {
            return Ok(());
        }
        let after_up = conn.schema(exclude).await?;
        let rows_after_up = counts_of(conn, &seeded, exclude).await?;
        if let Err(error) = migrator.down(conn, RevertScope::Versions(vec![version])).await {
            check.findings.push(VerifyFinding::DownFailed { error: cause(&error) });
            return repair(migrator, conn).await;
        }
        let after_down = conn.schema(exclude).await?;
        let reversed = differences(&before_up.diff(&after_down));
        if !reversed.is_empty() {
            check.findings.push(VerifyFinding::DownDoesNotReverse { differences: reversed });
        }
        if let Err(error) = migrator.up(conn, Scope::UpTo(version)).await {
            check.findings.push(VerifyFinding::UpFailsAfterDown { error: cause(&error) });
            return repair(migrator, conn).await;
        }
        let again = conn.schema(exclude).await?;
        let repeated = differences(&after_up.diff(&again));
        if !repeated.is_empty() {
            check.findings.push(VerifyFinding::UpAgainDiffers { differences: repeated });
        }
        let rows_again = counts_of(conn, &seeded, exclude).await?;
        for (table, after_up) in &rows_after_up {
            let after_down_and_up = rows_again.get(table).copied().unwrap_or(0);
            if after_down_and_up != *after_up {
                check.findings.push(VerifyFinding::RowCountChanged {
                    table: table.clone(),
                    after_up: *after_up,
                    after_down_and_up,
                });
            }
        }
        Ok(())
    }
}

/// Clears what a failed step left unfinished in the scratch database's
/// history (an unfinished apply is recorded as not applied, an unfinished
/// revert as applied), so that the next migrations can run.
async fn repair(migrator: &Migrator, conn: &mut Connection) -> Result<()> {
    migrator.repair(conn).await.map(drop)
}

/// Whether `version` is recorded as applied on the scratch database.
async fn applied(migrator: &Migrator, conn: &mut Connection, version: Version) -> Result<bool> {
    Ok(history::read_applied(conn.as_ref(), &migrator.tables)
        .await?
        .unwrap_or_default()
        .iter()
        .any(|row| row.version == version && row.state == RowState::Applied))
}

/// Each change of `diff` in words.
pub(crate) fn differences(diff: &SchemaDiff) -> Vec<String> {
    diff.changes.iter().map(ToString::to_string).collect()
}

/// Runs the seed one statement at a time, skipping those that fail, and
/// returns the tables whose row count it changed.
async fn seed_tables(conn: &mut Connection, seed: &str, exclude: &[String]) -> Result<Vec<String>> {
    let before = on_scratch::row_counts(conn, exclude).await?;
    let statements = migrations_rs_core::sql::split(conn.backend(), seed)
        .map_err(|error| Error::msg(format!("the seed SQL cannot be split into statements: {error}")))?;
    let mut db = Db::new(conn.as_ref());
    for statement in statements {
        if let Err(error) = db.exec(statement.sql).await {
            tracing::debug!(%error, "a seed statement failed and was skipped");
        }
    }
    let after = on_scratch::row_counts(conn, exclude).await?;
    Ok(after.into_iter().filter(|(table, count)| before.get(table) != Some(count)).map(|(table, _)| table).collect())
}

/// The row counts of `tables`; a table that is gone counts 0.
async fn counts_of(conn: &mut Connection, tables: &[String], exclude: &[String]) -> Result<BTreeMap<String, i64>> {
    if tables.is_empty() {
        return Ok(BTreeMap::new());
    }
    let all = on_scratch::row_counts(conn, exclude).await?;
    Ok(tables.iter().map(|table| (table.clone(), all.get(table).copied().unwrap_or(0))).collect())
}

/// The database's or the body's own error, without the step's framing.
fn cause(error: &Error) -> String {
    match error {
        Error::MigrationFailed { cause, .. } => cause.to_string(),
        other => other.to_string(),
    }
}
