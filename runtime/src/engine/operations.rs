//! What an operator does besides applying and reverting: record by hand,
//! repair, baseline and validate. Every change takes the lock and is written
//! to the audit log with who made it.

use crate::backend::Connection;
use crate::compat;
use crate::engine::bound::Bound;
use crate::engine::step::Step;
use crate::engine::{Migrator, StepAction, next_batch};
use crate::error::{Error, Result};
use crate::foreign;
use crate::history::{self, Action, AppliedMigration, LogEntry, RowState};
use crate::lock::LockGuard;
use crate::remedy::Remedy;
use crate::version::Version;

/// What `repair` changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Applied migrations whose recorded checksum now matches the code.
    pub checksums_accepted: Vec<Version>,
    /// Migrations left `applying` by a failed run, now recorded as not applied
    /// so that `up` runs them again.
    pub unfinished_applies_cleared: Vec<Version>,
    /// Migrations left `reverting` by a failed run, now recorded as applied
    /// again so that `down` can run them again.
    pub unfinished_reverts_cleared: Vec<Version>,
}

/// Everything `validate` found wrong; empty when the code and the database agree.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Validation {
    /// Each problem, in words.
    pub problems: Vec<String>,
    /// What can be done about the problems, each once.
    pub remedies: Vec<Remedy>,
}

impl Validation {
    /// Whether nothing was found wrong.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Migrator {
    /// Records `version` as applied without running it: for a database fixed
    /// by hand after a failed run, or one that already has the change.
    pub async fn mark_applied(&self, conn: &mut Connection, version: Version) -> Result<()> {
        self.registry.get(version).ok_or(Error::UnknownVersion { version })?;
        let conn = &mut self.bind(conn)?;
        self.locked(conn, async |conn: &mut Bound<'_>, _guard: &LockGuard| {
            let rows = self.read_state(conn).await?;
            self.record_applied(conn, &rows, version, Action::MarkApplied).await
        })
        .await
    }

    /// Records `version` as not applied without running its `down`: for a
    /// database whose change was undone by hand.
    pub async fn mark_reverted(&self, conn: &mut Connection, version: Version) -> Result<()> {
        let conn = &mut self.bind(conn)?;
        self.locked(conn, async |conn: &mut Bound<'_>, _guard: &LockGuard| {
            let rows = self.read_state(conn).await?;
            let row = rows.iter().find(|r| r.version == version).ok_or(Error::NotApplied { version })?;
            history::delete_applied(conn.as_ref(), &self.tables, version).await?;
            if let (Some(compat), Some(migration)) = (self.compat, self.registry.get(version)) {
                compat::record_reverted(conn.as_ref(), compat, migration).await?;
            }
            self.log_manual(conn, version, &row.name, Action::MarkReverted, None).await
        })
        .await
    }

    /// Records `target` and every migration before it in the migration order
    /// as applied without running them: for adopting a database that already
    /// has that schema. Returns the versions it recorded.
    pub async fn baseline(&self, conn: &mut Connection, target: Version) -> Result<Vec<Version>> {
        self.registry.get(target).ok_or(Error::UnknownVersion { version: target })?;
        let conn = &mut self.bind(conn)?;
        self.locked(conn, async |conn: &mut Bound<'_>, _guard: &LockGuard| {
            let mut rows = self.read_state(conn).await?;
            self.refuse_dirty(&rows)?;
            let mut recorded = Vec::new();
            for version in self.registry.graph().order() {
                if !rows.iter().any(|r| r.version == version) {
                    self.record_applied(conn, &rows, version, Action::Baseline).await?;
                    rows = self.read_state(conn).await?;
                    recorded.push(version);
                }
                if version == target {
                    break;
                }
            }
            Ok(recorded)
        })
        .await
    }

    /// Accepts the current checksum of every modified applied migration and
    /// clears unfinished runs, once the operator has put the database right.
    pub async fn repair(&self, conn: &mut Connection) -> Result<RepairReport> {
        let conn = &mut self.bind(conn)?;
        self.locked(conn, async |conn: &mut Bound<'_>, _guard: &LockGuard| {
            let rows = self.read_state(conn).await?;
            let mut report = RepairReport::default();
            for row in &rows {
                match row.state {
                    RowState::Applying => {
                        history::delete_applied(conn.as_ref(), &self.tables, row.version).await?;
                        let note = "unfinished apply cleared: the migration will run again";
                        self.log_manual(conn, row.version, &row.name, Action::Repair, Some(note)).await?;
                        report.unfinished_applies_cleared.push(row.version);
                    }
                    RowState::Reverting => {
                        history::set_state(conn.as_ref(), &self.tables, row.version, RowState::Applied).await?;
                        let note = "unfinished revert cleared: the migration counts as applied";
                        self.log_manual(conn, row.version, &row.name, Action::Repair, Some(note)).await?;
                        report.unfinished_reverts_cleared.push(row.version);
                    }
                    RowState::Applied => {}
                }
                let Some(migration) = self.registry.get(row.version) else { continue };
                let current = migration.checksum.to_hex();
                if row.state == RowState::Applied && row.checksum != current {
                    history::set_checksum(conn.as_ref(), &self.tables, row.version, &current).await?;
                    let note = format!("checksum {} accepted in place of {}", current, row.checksum);
                    self.log_manual(conn, row.version, &row.name, Action::Repair, Some(&note)).await?;
                    report.checksums_accepted.push(row.version);
                }
            }
            Ok(report)
        })
        .await
    }

    /// Checks the registry against the database: changed checksums, unfinished
    /// runs, and applied migrations missing from the code. Pending migrations
    /// are not problems. Takes no lock and changes nothing.
    pub async fn validate(&self, conn: &mut Connection) -> Result<Validation> {
        let conn = &mut self.bind(conn)?;
        let rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        let (mut problems, mut remedies) = (Vec::new(), Vec::new());
        if let Err(error) = self.refuse_dirty(&rows) {
            problems.push(error.to_string());
            remedies.extend(error.remedies());
        }
        if let Err(error @ Error::ChecksumMismatch { .. }) = self.verify_checksums(&rows) {
            if let Error::ChecksumMismatch { mismatches } = &error {
                problems.extend(mismatches.iter().map(ToString::to_string));
            }
            remedies.extend(error.remedies());
        }
        if rows.is_empty() {
            for table in foreign::tables_with_rows(conn).await? {
                problems.push(format!("this database holds {table} but no history of migrations-rs"));
                remedies.push(Remedy::Adopt { tool: table.tool.name() });
            }
        }
        for missing in self.missing_from_code(&rows) {
            // Recorded by a release that read diesel's `-0000` folders as 14 digits.
            let renamed = missing
                .version
                .as_u64()
                .checked_mul(10_000)
                .map(Version::from_checked)
                .filter(|v| *v <= Version::MAX && self.registry.get(*v).is_some_and(|m| m.name == missing.name))
                .filter(|v| !rows.iter().any(|r| r.version == *v));
            problems.push(match renamed {
                Some(now) => format!(
                    "{} {} (module {}) is recorded under its 14-digit version, but its diesel folder's version is \
                     {now}",
                    missing.version, missing.name, missing.module
                ),
                None => format!(
                    "{} {} (module {}) is applied but no longer in the code",
                    missing.version, missing.name, missing.module
                ),
            });
            remedies.push(match renamed {
                Some(now) => Remedy::Rerecord { recorded: missing.version, version: now },
                None => Remedy::RestoreOrForget { version: missing.version },
            });
        }
        crate::remedy::dedup(&mut remedies);
        Ok(Validation { problems, remedies })
    }

    /// Writes (or completes) the history row of `version` without running it.
    async fn record_applied(
        &self,
        conn: &mut Connection,
        rows: &[AppliedMigration],
        version: Version,
        action: Action,
    ) -> Result<()> {
        let migration = self.registry.get(version).ok_or(Error::UnknownVersion { version })?;
        match rows.iter().find(|r| r.version == version) {
            Some(row) if row.state == RowState::Applied => return Err(Error::AlreadyApplied { version }),
            Some(_) => history::set_state(conn.as_ref(), &self.tables, version, RowState::Applied).await?,
            None => {
                let batch = next_batch(conn, &self.tables, rows).await?;
                let step =
                    Step::new(migration, StepAction::Apply, batch, rows.iter().map(|r| r.seq).max().unwrap_or(0) + 1);
                history::insert_applied(conn.as_ref(), &self.tables, &step.history_row(RowState::Applied, 0)).await?;
            }
        }
        if let Some(compat) = self.compat {
            compat::record_applied(conn.as_ref(), compat, migration, 0).await?;
        }
        self.log_manual(conn, version, migration.name, action, None).await
    }

    /// Records the current checksum of every applied migration whose row
    /// holds the checksum earlier versions computed for the same code, and
    /// says so in the audit log.
    pub(super) async fn upgrade_legacy_checksums(
        &self,
        conn: &mut Connection,
        rows: &mut [AppliedMigration],
    ) -> Result<()> {
        for row in rows.iter_mut() {
            let Some(migration) = self.registry.get(row.version) else { continue };
            if !migration.is_legacy_record(&row.checksum) {
                continue;
            }
            let current = migration.checksum.to_hex();
            history::set_checksum(conn.as_ref(), &self.tables, row.version, &current).await?;
            let note = format!(
                "checksum {current} recorded in place of {}, the same code's checksum in the form earlier versions computed",
                row.checksum
            );
            tracing::info!(version = %row.version, "{note}");
            self.log_manual(conn, row.version, &row.name, Action::Repair, Some(&note)).await?;
            row.checksum = current;
        }
        Ok(())
    }

    async fn log_manual(
        &self,
        conn: &mut Connection,
        version: Version,
        name: &str,
        action: Action,
        note: Option<&str>,
    ) -> Result<()> {
        let entry = LogEntry {
            version,
            name: name.to_owned(),
            action,
            duration_ms: 0,
            batch: 0,
            error: note.map(str::to_owned),
        };
        history::append_log(conn.as_ref(), &self.tables, &entry).await
    }
}
