//! Safety around a run: the risk analysis of what is about to run, the
//! refusal of destructive statements nobody acknowledged, and the backup
//! before risky migrations. All of it happens before the first step, so a
//! refusal or a failed backup leaves the database as it was.
//!
//! The analysis runs each `up` body against a handle that writes its
//! statements down instead of sending them, so a body should keep its side
//! effects inside the `Db` it is given.

use crate::analysis::{Analyzer, MigrationAnalysis, Refusal};
use crate::backend::{Backend, Connection};
use crate::backup::{self, Backup};
use crate::db::Db;
use crate::engine::Migrator;
use crate::error::{Error, Result};
use crate::record::{Migration, Risk};
use crate::version::Version;

impl Migrator {
    /// The risk analysis of the `up` of every migration, in migration order, for `backend`.
    pub async fn analyze_all(&self, backend: Backend) -> Vec<MigrationAnalysis> {
        let mut out = Vec::with_capacity(self.registry.len());
        for migration in self.registry.in_order() {
            out.push(analyze(migration, backend).await);
        }
        out
    }

    /// The risk analysis of the `up` of each migration in `versions`, for `backend`.
    pub async fn analyze(&self, backend: Backend, versions: &[Version]) -> Result<Vec<MigrationAnalysis>> {
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            let migration = self.registry.get(*version).ok_or(Error::UnknownVersion { version: *version })?;
            out.push(analyze(migration, backend).await);
        }
        Ok(out)
    }

    /// Refuses, unless forced, to apply migrations with destructive statements
    /// they do not acknowledge; then backs up if any of them is risky.
    pub(crate) async fn prepare_apply(&self, conn: &mut Connection, versions: &[Version]) -> Result<Option<Backup>> {
        let analyses = self.refuse_unacknowledged(conn.backend(), versions).await?;
        match analyses.iter().find(|analysis| analysis.is_risky()) {
            Some(first) => self.backup_before(conn, &first.label()).await,
            None => Ok(None),
        }
    }

    /// The analyses of `versions`, or, unless forced, the refusal of the
    /// destructive statements among them that their migrations do not acknowledge.
    pub(crate) async fn refuse_unacknowledged(
        &self,
        backend: Backend,
        versions: &[Version],
    ) -> Result<Vec<MigrationAnalysis>> {
        let analyses = self.analyze(backend, versions).await?;
        if self.force {
            return Ok(analyses);
        }
        let refusals: Vec<Refusal> = analyses
            .iter()
            .flat_map(|analysis| {
                let migration = self.registry.get(analysis.version).expect("analysed versions are registered");
                analysis.refusals().map(move |finding| Refusal::new(migration, finding))
            })
            .collect();
        if refusals.is_empty() { Ok(analyses) } else { Err(Error::Refused { refusals, before_run: true }) }
    }

    /// Backs up before reverting a `data` migration, whose revert may lose data.
    pub(crate) async fn prepare_revert(&self, conn: &mut Connection, versions: &[Version]) -> Result<Option<Backup>> {
        let first_risky = versions
            .iter()
            .filter_map(|version| self.registry.get(*version))
            .find(|migration| migration.risk.contains(&Risk::Data));
        match first_risky {
            Some(migration) => self.backup_before(conn, &format!("reverting {}", migration.label())).await,
            None => Ok(None),
        }
    }

    /// The backup before `reason`; `None` when the database holds nothing to back up.
    async fn backup_before(&self, conn: &mut Connection, reason: &str) -> Result<Option<Backup>> {
        let bookkeeping =
            [self.tables.history.name.as_str(), self.tables.log.name.as_str(), self.tables.lock.name.as_str()];
        let backup = backup::take(conn, &self.backup, reason, &bookkeeping).await?;
        match &backup {
            Some(Backup::Snapshot { path, .. }) => {
                tracing::info!(path = %path.display(), reason, "database snapshot taken")
            }
            Some(Backup::Command { .. }) => tracing::info!(reason, "backup command succeeded"),
            Some(Backup::Skipped { reason: why }) => tracing::warn!(reason, why = why.as_str(), "no backup taken"),
            None => tracing::info!(reason, "no backup taken: the database holds no data yet"),
        }
        Ok(backup)
    }
}

/// Warnings about reverting `migration`.
pub(crate) fn revert_warnings(migration: &Migration) -> Vec<String> {
    if migration.risk.contains(&Risk::Data) {
        vec![format!(
            "{} is tagged `data`: its down may not restore the data it changed, and data written since it was \
             applied may be lost",
            migration.label()
        )]
    } else {
        Vec::new()
    }
}

/// Analyses one migration's `up` offline.
async fn analyze(migration: &'static Migration, backend: Backend) -> MigrationAnalysis {
    let mut statements = Vec::new();
    let outcome = migration.up.run(&mut Db::recording(backend, &mut statements)).await;
    let incomplete = match outcome {
        Ok(()) => None,
        Err(Error::NeedsDatabase { what }) => {
            Some(format!("its up needs {what}; the statements after that are checked as they run"))
        }
        Err(error) => Some(format!("its up failed without a database ({error}); the rest is checked as it runs")),
    };
    let mut analyzer = Analyzer::for_migration(backend, migration);
    if migration.empty_up {
        analyzer.empty_migration();
    }
    for statement in &statements {
        analyzer.sql(statement);
    }
    let (findings, detected, statements) = analyzer.finish(migration.risk);
    MigrationAnalysis {
        version: migration.version,
        name: migration.name,
        module: migration.module,
        location: migration.location(),
        backend,
        declared: migration.risk,
        detected,
        allow: migration.allow,
        statements,
        findings,
        incomplete,
    }
}
