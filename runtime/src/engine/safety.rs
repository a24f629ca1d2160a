//! Safety around a run: the risk analysis of what is about to run, the
//! refusal of destructive statements nobody acknowledged, and the backup
//! before risky migrations. All of it happens before the first step, so a
//! refusal or a failed backup leaves the database as it was.
//!
//! The analysis runs each `up` body against a handle that writes its
//! statements down instead of sending them, so a body should keep its side
//! effects inside the `Db` it is given.

use crate::analysis::{Analyzer, MigrationAnalysis, Refusal, Rule, Transcript, acknowledgements};
use crate::backend::{Backend, Connection};
use crate::backup::{self, Backup};
use crate::db::Db;
use crate::engine::Migrator;
use crate::engine::analyses::{Analysed, RunAnalyses};
use crate::error::{Error, Result};
use crate::record::{Body, Migration, Risk};
use crate::table_rows::all_without_rows;
use crate::version::Version;
use std::sync::Arc;

impl Migrator {
    /// The risk analysis of the `up` of every migration, in migration order, for `backend`.
    pub async fn analyze_all(&self, backend: Backend) -> Vec<MigrationAnalysis> {
        let mut out = Vec::with_capacity(self.registry.len());
        for migration in self.registry.in_order() {
            out.push(analysis_of_up(migration, backend).await);
        }
        out
    }

    /// The risk analysis of the `up` of each migration in `versions`, for `backend`.
    pub async fn analyze(&self, backend: Backend, versions: &[Version]) -> Result<Vec<MigrationAnalysis>> {
        let migrations = versions
            .iter()
            .map(|version| self.registry.get(*version).ok_or(Error::UnknownVersion { version: *version }))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.analyze_records(backend, &migrations).await)
    }

    /// The risk analysis of the `up` of each of `migrations`, for `backend`.
    pub(crate) async fn analyze_records(
        &self,
        backend: Backend,
        migrations: &[&'static Migration],
    ) -> Vec<MigrationAnalysis> {
        let mut out = Vec::with_capacity(migrations.len());
        for migration in migrations {
            out.push(analysis_of_up(migration, backend).await);
        }
        out
    }

    /// Refuses, unless forced, to apply migrations with destructive statements
    /// they do not acknowledge; then backs up if any of them is risky.
    pub(crate) async fn prepare_apply(
        &self,
        conn: &mut Connection,
        migrations: &[&'static Migration],
        made: &RunAnalyses,
    ) -> Result<Option<Backup>> {
        let analyses = self.refuse_unacknowledged(conn, migrations, made).await?;
        match analyses.iter().find(|made| made.analysis.is_risky()) {
            Some(first) => self.backup_before(conn, &first.analysis.label()).await,
            None => Ok(None),
        }
    }

    /// The analyses of `migrations` (made once per run, in `made`), or,
    /// unless forced, the refusal of the
    /// destructive statements among them that they do not acknowledge. A
    /// statement that destroys only the rows of tables that hold none now
    /// (or do not exist yet) is not refused here: it is checked again against
    /// the live database when it is sent, after the steps before it have run.
    pub(crate) async fn refuse_unacknowledged(
        &self,
        conn: &mut Connection,
        migrations: &[&'static Migration],
        made: &RunAnalyses,
    ) -> Result<Vec<Arc<Analysed>>> {
        let mut analyses = Vec::with_capacity(migrations.len());
        for migration in migrations {
            analyses.push(made.up_of(migration, conn.backend()).await);
        }
        refuse_transaction_control(analyses.iter().map(|made| &made.analysis))?;
        if self.force {
            return Ok(analyses);
        }
        let mut refusals = Vec::new();
        for (migration, made) in migrations.iter().zip(&analyses) {
            for finding in made.analysis.refusals() {
                let loses_nothing_now = finding.loses_only_rows()
                    && all_without_rows(&mut conn.as_ref(), &finding.tables).await.unwrap_or(false);
                if !loses_nothing_now {
                    refusals.push(migration.origin().refusal(finding));
                }
            }
        }
        if refusals.is_empty() { Ok(analyses) } else { Err(Error::Refused { refusals, before_run: true }) }
    }

    /// Refuses to revert migrations whose `down` controls the transaction the
    /// runner opens for it, before anything runs.
    pub(crate) async fn refuse_transaction_control_in_downs(
        &self,
        backend: Backend,
        migrations: &[&'static Migration],
    ) -> Result<()> {
        let mut analyses = Vec::with_capacity(migrations.len());
        for migration in migrations {
            if let Some(down) = migration.down {
                analyses.push(analyze_body(migration, down, backend, false, false).await.0);
            }
        }
        refuse_transaction_control(&analyses)
    }

    /// Backs up before reverting a `data` migration, whose revert may lose data.
    pub(crate) async fn prepare_revert(
        &self,
        conn: &mut Connection,
        migrations: &[&'static Migration],
    ) -> Result<Option<Backup>> {
        self.refuse_transaction_control_in_downs(conn.backend(), migrations).await?;
        let first_risky = migrations.iter().find(|migration| migration.risk.contains(&Risk::Data));
        match first_risky {
            Some(migration) => self.backup_before(conn, &format!("reverting {}", migration.label())).await,
            None => Ok(None),
        }
    }

    /// The backup before `reason`; `None` when the database holds nothing to back up.
    async fn backup_before(&self, conn: &mut Connection, reason: &str) -> Result<Option<Backup>> {
        let bookkeeping = [
            self.tables.history.name.as_str(),
            self.tables.log.name.as_str(),
            self.tables.lock.name.as_str(),
            crate::backfill::TABLE,
        ];
        let backup = backup::take(conn, &self.backup, reason, &bookkeeping).await?;
        match &backup {
            Some(Backup::Snapshot { path, .. }) => {
                tracing::info!(path = %path.display(), reason, "database snapshot taken")
            }
            Some(Backup::Command { .. }) => tracing::info!(reason, "backup command succeeded"),
            Some(Backup::Skipped { reason: why, .. }) => tracing::warn!(reason, why = why.as_str(), "no backup taken"),
            Some(Backup::Disabled) => tracing::info!(reason, "no backup taken: backups are turned off"),
            None => tracing::info!(reason, "no backup taken: the database holds no data yet"),
        }
        if let (Some(report), Some(backup)) = (&self.backup_taken, &backup) {
            report(backup);
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

/// Refuses, whatever `--force` and `allow` say, statements that begin, commit
/// or roll back a transaction inside the one the runner opens for a migration:
/// the runner would record a change the migration itself committed early,
/// rolled back or left half-done. The way out is `transaction = false`.
pub(crate) fn refuse_transaction_control<'a>(analyses: impl IntoIterator<Item = &'a MigrationAnalysis>) -> Result<()> {
    let refusals: Vec<Refusal> = analyses
        .into_iter()
        .flat_map(|analysis| {
            analysis.findings.iter().filter(|f| f.rule == Rule::TransactionControl).map(|finding| Refusal {
                migration: analysis.label(),
                location: analysis.location.clone(),
                finding: finding.clone(),
                sql_file: analysis.sql_file,
            })
        })
        .collect();
    if refusals.is_empty() { Ok(()) } else { Err(Error::TransactionControl { refusals, before_run: true }) }
}

/// Analyses one migration's `up` offline, keeping the transcript of what it
/// read for the guard of the step that runs it.
pub(super) async fn analyze_up(migration: &'static Migration, backend: Backend) -> Analysed {
    let (analysis, transcript) = analyze_body(migration, migration.up, backend, migration.empty_up, true).await;
    Analysed { analysis, transcript }
}

/// Analyses one migration's `up` offline, for a report: no transcript.
async fn analysis_of_up(migration: &'static Migration, backend: Backend) -> MigrationAnalysis {
    analyze_body(migration, migration.up, backend, migration.empty_up, false).await.0
}

/// Analyses one body of a migration (its `up` or its `down`) offline: the
/// analysis, and, with `keep`, the transcript of the statements it read
/// (without the finding of an empty body, which is about no statement).
async fn analyze_body(
    migration: &'static Migration,
    body: Body,
    backend: Backend,
    empty: bool,
    keep: bool,
) -> (MigrationAnalysis, Transcript) {
    let mut analyzer = migration.analyzer(backend);
    if keep {
        analyzer.keep_transcript();
    }
    let incomplete = match body {
        // A SQL file is read with its comments, which can acknowledge statements.
        Body::Sql(script) => {
            analyze_script(&mut analyzer, backend, script);
            None
        }
        Body::Rust(_) => {
            let mut statements = Vec::new();
            let outcome = body.run(&mut Db::recording(backend, &mut statements)).await;
            for statement in &statements {
                analyzer.sql(statement);
            }
            match outcome {
                Ok(()) => None,
                Err(Error::NeedsDatabase { what }) => {
                    Some(format!("its up needs {what}; the statements after that are checked as they run"))
                }
                Err(error) => {
                    Some(format!("its up failed without a database ({error}); the rest is checked as it runs"))
                }
            }
        }
    };
    let transcript = analyzer.take_transcript();
    if empty {
        analyzer.empty_migration();
    }
    let (mut findings, detected, statements) = analyzer.finish(migration.risk);
    if matches!(body, Body::Sql(_)) {
        // A SQL file declares its tags in its header comment.
        for finding in findings.iter_mut().filter(|f| f.rule == crate::analysis::Rule::UndeclaredRisk) {
            finding.detail = finding
                .detail
                .replace(
                    "which the attribute does not declare: write",
                    "which its header comment does not declare: write `-- migrations-rs:",
                )
                .replacen("`risk = [", "risk = [", 1);
        }
    }
    let analysis = MigrationAnalysis {
        version: migration.version,
        name: migration.name,
        module: migration.module,
        location: migration.location().to_string(),
        backend,
        declared: migration.risk,
        detected,
        allow: migration.allow,
        statements,
        findings,
        incomplete,
        sql_file: matches!(body, Body::Sql(_)),
    };
    (analysis, transcript)
}

/// Analyses the statements of a SQL script, each with what the comments before it acknowledge.
fn analyze_script(analyzer: &mut Analyzer, backend: Backend, script: &str) {
    let Ok(statements) = crate::sql::split(backend, script) else {
        // The analyzer reports why the text cannot be read.
        analyzer.sql(script);
        return;
    };
    match acknowledgements(script, &statements) {
        Ok(acknowledged) => {
            for (statement, acknowledged) in statements.iter().zip(&acknowledged) {
                analyzer.sql_acknowledged(statement.sql, acknowledged);
            }
        }
        Err(unknown) => {
            analyzer.unreadable(format!(
                "line {}: `-- migrations-rs: allow {}` names no rule; `lint` lists the rules",
                unknown.line, unknown.name
            ));
            for statement in &statements {
                analyzer.sql(statement.sql);
            }
        }
    }
}
