//! Moving over from sqlx, diesel or refinery: their history table says what
//! is applied, each of their migrations is matched to one of ours (by
//! version, else by name), and the matches are recorded as applied without
//! running them, so that `up` runs only what is new. Their table is read and
//! left as it was.

use crate::backend::Connection;
use crate::engine::bound::Bound;
use crate::engine::step::Step;
use crate::engine::{Migrator, StepAction, next_batch};
use crate::error::{AdoptError, Error, Result};
use crate::foreign::{self, ForeignHistory, ForeignMigration, Source, Tool};
use crate::history::{self, Action, LogEntry, RowState};
use crate::lock::LockGuard;
use crate::registry::Registry;
use crate::version::Version;
use std::collections::{HashMap, HashSet};

/// What adoption found in the other tool's table and what it recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdoptReport {
    /// The tool whose history was read.
    pub tool: Tool,
    /// Its history table.
    pub table: &'static str,
    /// Nothing was recorded: this is what adoption would do.
    pub dry_run: bool,
    /// How many rows their table holds.
    pub found: usize,
    /// Matched to one of ours and recorded as applied by this adoption (or, in a dry run, to be).
    pub recorded: Vec<AdoptedMigration>,
    /// Matched to one of ours that our history already records as applied; left as it was.
    pub already_recorded: Vec<AdoptedMigration>,
    /// Their migrations that match none of ours: not recorded. Restore them
    /// as migrations of ours and adopt again, or accept that they are history.
    pub unknown: Vec<ForeignMigration>,
    /// Ours that match none of theirs and are not applied: the next `up` runs them.
    pub pending: Vec<OurMigration>,
    /// Recorded migrations that depend on one that stays pending.
    pub warnings: Vec<String>,
}

/// One of their migrations and the migration of ours it matched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdoptedMigration {
    /// Our migration's version.
    pub version: Version,
    /// Our migration's name.
    pub name: &'static str,
    /// The module (crate) that defines our migration.
    pub module: &'static str,
    /// How their row was matched to it.
    pub matched_by: MatchedBy,
    /// Their row.
    pub theirs: ForeignMigration,
}

/// How a row of their table was matched to a migration of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchedBy {
    /// Their version, without `-` and `_`, is our version.
    Version,
    /// Their name (sqlx's description, refinery's name), lowercased with
    /// runs of other characters as `_`, is the name of exactly one of ours.
    Name,
}

/// A migration of ours, by version, name and module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OurMigration {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: &'static str,
    /// The module (crate) that defines it.
    pub module: &'static str,
}

impl Migrator {
    /// Records as applied, without running them, our migrations that another
    /// tool's history table says are applied, under the lock and in one
    /// transaction, each with an `adopt` entry in the audit log. Refused when
    /// their table records a failed migration. Adopting twice records nothing new.
    pub async fn adopt(&self, conn: &mut Connection, source: Source) -> Result<AdoptReport> {
        let conn = &mut self.bind(conn)?;
        let history = foreign::read(conn, source).await?;
        refuse_failed(&history)?;
        self.locked(conn, async |conn: &mut Bound<'_>, _guard: &LockGuard| {
            let rows = self.read_state(conn).await?;
            self.refuse_dirty(&rows)?;
            let applied: HashSet<Version> = rows.iter().map(|r| r.version).collect();
            let report = adoption(&self.registry, &history, &applied, false);
            let (batch, last_seq) =
                (next_batch(conn, &self.tables, &rows).await?, rows.iter().map(|r| r.seq).max().unwrap_or(0));
            let mut tx = conn.begin().await?;
            for (offset, adopted) in report.recorded.iter().enumerate() {
                let migration = self.registry.get(adopted.version).expect("matched versions are registered");
                let step = Step::new(migration, StepAction::Apply, batch, last_seq + 1 + offset as i64);
                history::insert_applied(tx.conn(), &self.tables, &step.history_row(RowState::Applied, 0)).await?;
                let entry = LogEntry {
                    version: adopted.version,
                    name: migration.name.to_owned(),
                    action: Action::Adopt,
                    duration_ms: 0,
                    batch,
                    error: Some(note(history.tool, &adopted.theirs)),
                };
                history::append_log(tx.conn(), &self.tables, &entry).await?;
            }
            tx.commit().await?;
            Ok(report)
        })
        .await
    }

    /// What [`Migrator::adopt`] would record, without the lock and without changing anything.
    pub async fn plan_adoption(&self, conn: &mut Connection, source: Source) -> Result<AdoptReport> {
        let conn = &mut self.bind(conn)?;
        let history = foreign::read(conn, source).await?;
        refuse_failed(&history)?;
        let rows = history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default();
        self.refuse_dirty(&rows)?;
        let applied: HashSet<Version> = rows.iter().map(|r| r.version).collect();
        Ok(adoption(&self.registry, &history, &applied, true))
    }
}

fn refuse_failed(history: &ForeignHistory) -> Result<()> {
    let failed: Vec<String> = history.migrations.iter().filter(|m| !m.succeeded).map(ForeignMigration::label).collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::Adopt(AdoptError::ForeignDirty { tool: history.tool.name(), table: history.tool.table(), failed }))
}

/// The audit log's note on an adopted migration: where it came from.
fn note(tool: Tool, theirs: &ForeignMigration) -> String {
    let applied = theirs.applied_at.as_deref().map(|at| format!(", applied there at {at}")).unwrap_or_default();
    format!("adopted from {tool} ({}): their {}{applied}", tool.table(), theirs.label())
}

/// Matches their rows to our migrations. Pure: `applied` is what our history records.
fn adoption(registry: &Registry, history: &ForeignHistory, applied: &HashSet<Version>, dry_run: bool) -> AdoptReport {
    let mut by_name: HashMap<String, Vec<Version>> = HashMap::new();
    for migration in registry.in_order() {
        by_name.entry(normalized(migration.name)).or_default().push(migration.version);
    }
    let mut taken: HashSet<Version> = HashSet::new();
    let (mut recorded, mut already_recorded, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for theirs in &history.migrations {
        let by_version =
            version_of(&theirs.version).filter(|v| registry.get(*v).is_some()).map(|v| (v, MatchedBy::Version));
        let by_name = || match theirs.name.as_deref().map(normalized).and_then(|name| by_name.get(&name)) {
            Some(versions) if versions.len() == 1 => Some((versions[0], MatchedBy::Name)),
            _ => None,
        };
        let Some((version, matched_by)) = by_version.or_else(by_name).filter(|(v, _)| !taken.contains(v)) else {
            unknown.push(theirs.clone());
            continue;
        };
        taken.insert(version);
        let migration = registry.get(version).expect("matched versions are registered");
        let adopted = AdoptedMigration {
            version,
            name: migration.name,
            module: migration.module,
            matched_by,
            theirs: theirs.clone(),
        };
        if applied.contains(&version) { already_recorded.push(adopted) } else { recorded.push(adopted) }
    }
    // Recorded in our migration order, so what a migration depends on is recorded before it.
    let order: HashMap<Version, usize> = registry.in_order().enumerate().map(|(i, m)| (m.version, i)).collect();
    recorded.sort_by_key(|a: &AdoptedMigration| order[&a.version]);
    already_recorded.sort_by_key(|a: &AdoptedMigration| order[&a.version]);
    let pending: Vec<OurMigration> = registry
        .in_order()
        .filter(|m| !taken.contains(&m.version) && !applied.contains(&m.version))
        .map(|m| OurMigration { version: m.version, name: m.name, module: m.module })
        .collect();
    let warnings = recorded
        .iter()
        .flat_map(|adopted| {
            registry.graph().ancestors(adopted.version).filter(|a| pending.iter().any(|p| p.version == *a)).map(
                move |dependency| {
                    format!(
                        "{} {} is recorded as applied, but {dependency}, which it depends on, is not: `up` will \
                         apply {dependency} after it",
                        adopted.version, adopted.name
                    )
                },
            )
        })
        .collect();
    AdoptReport {
        tool: history.tool,
        table: history.tool.table(),
        dry_run,
        found: history.migrations.len(),
        recorded,
        already_recorded,
        unknown,
        pending,
        warnings,
    }
}

/// Their version as one of ours: `20240115093000` and diesel's `2024-01-15-093000`
/// alike; diesel's 18-digit `202401150930000000` (a `-0000` folder) is its own
/// version, as the SQL-folder loader reads it.
fn version_of(theirs: &str) -> Option<Version> {
    let digits: String = theirs.chars().filter(|c| !matches!(c, '-' | '_')).collect();
    Version::parse(&digits).ok()
}

/// `Create users` and `create_users` alike: lowercase, with runs of anything
/// but letters and digits as one `_`.
fn normalized(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Migration;

    fn record(version: u64, name: &'static str, depends_on: &'static [Version]) -> &'static Migration {
        let version = Version::from_checked(version);
        Box::leak(Box::new(Migration { depends_on, ..Migration::placeholder(version, name) }))
    }

    fn theirs(version: &str, name: Option<&str>) -> ForeignMigration {
        ForeignMigration {
            version: version.to_owned(),
            name: name.map(str::to_owned),
            applied_at: None,
            succeeded: true,
        }
    }

    const FIRST: Version = Version::from_checked(20240101000000);

    #[test]
    fn matches_by_version_then_by_name_and_reports_the_rest() {
        let registry = Registry::new([
            record(20240101000000, "create_users", &[]),
            record(20240102000000, "create_orders", &[FIRST]),
            record(20240103000000, "add_index", &[]),
            record(20240104000000, "new_one", &[]),
        ])
        .unwrap();
        let history = ForeignHistory {
            tool: Tool::Refinery,
            migrations: vec![
                theirs("2024-01-02-000000", None),
                theirs("3", Some("Add index")),
                theirs("4", Some("dropped long ago")),
            ],
        };
        let report = adoption(&registry, &history, &HashSet::new(), false);
        let recorded: Vec<(u64, MatchedBy)> =
            report.recorded.iter().map(|a| (a.version.as_u64(), a.matched_by)).collect();
        assert_eq!(recorded, [(20240102000000, MatchedBy::Version), (20240103000000, MatchedBy::Name)]);
        assert_eq!(report.unknown, [theirs("4", Some("dropped long ago"))]);
        let pending: Vec<&str> = report.pending.iter().map(|p| p.name).collect();
        assert_eq!(pending, ["create_users", "new_one"]);
        assert_eq!(
            report.warnings.len(),
            1,
            "create_orders is recorded but create_users is not: {:?}",
            report.warnings
        );

        let applied: HashSet<Version> = [Version::from_checked(20240102000000)].into();
        let again = adoption(&registry, &history, &applied, false);
        assert_eq!(again.recorded.len(), 1);
        assert_eq!(again.already_recorded[0].version.as_u64(), 20240102000000);
    }

    #[test]
    fn a_migration_of_ours_is_matched_once() {
        let registry = Registry::new([record(20240101000000, "create_users", &[])]).unwrap();
        let history = ForeignHistory {
            tool: Tool::Sqlx,
            migrations: vec![theirs("20240101000000", Some("create users")), theirs("7", Some("create users"))],
        };
        let report = adoption(&registry, &history, &HashSet::new(), false);
        assert_eq!(report.recorded.len(), 1);
        assert_eq!(report.unknown, [theirs("7", Some("create users"))]);
    }

    #[test]
    fn diesel_versions_with_a_zero_suffix_are_their_own_versions() {
        assert_eq!(version_of("202401150930000000"), Some(Version::from_checked(202401150930000000)));
        assert_eq!(version_of("2024-01-15-093000-0000"), Some(Version::from_checked(202401150930000000)));
        assert_eq!(version_of("20240313"), Some(Version::from_checked(20240313)));
        assert_eq!(version_of("99999999999999999999"), None, "larger than the history holds");
    }

    #[test]
    fn names_are_compared_loosely() {
        assert_eq!(normalized("Create users"), "create_users");
        assert_eq!(normalized("  add--Index (users) "), "add_index_users");
        assert_eq!(version_of("2024-01-15-093000"), Some(Version::from_checked(20240115093000)));
        assert_eq!(version_of("00000000000000"), Some(Version::from_checked(0)));
        assert_eq!(version_of("initial"), None);
    }
}
