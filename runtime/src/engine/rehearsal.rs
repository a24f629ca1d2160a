//! Dry runs as rehearsals: on PostgreSQL and SQLite, where DDL is
//! transactional, the plan runs for real inside one transaction that is then
//! rolled back, so the rehearsal meets the errors the real run would meet.
//! MySQL/MariaDB commit DDL implicitly, so there the rehearsal only shows the
//! SQL and says why it cannot run it.

use crate::analysis::{Finding, Replay};
use crate::backend::{self, Backend, Connection};
use crate::db::Db;
use crate::engine::bound::Bound;
use crate::engine::safety::refuse_transaction_control;
use crate::engine::{Migrator, RevertScope, Scope, StepAction};
use crate::error::{Error, Result};
use crate::record::Migration;
use crate::version::Version;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What a rehearsal found. Nothing it did was kept.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// `apply` or `revert`.
    pub action: &'static str,
    /// The backend it ran on.
    pub backend: &'static str,
    /// Whether the steps ran (and were rolled back); false on MySQL/MariaDB.
    pub rehearsed: bool,
    /// Why the steps did not run, when they did not.
    pub not_rehearsed_because: Option<String>,
    /// Each step of the plan, in order.
    pub steps: Vec<RehearsedStep>,
}

impl Rehearsal {
    /// Whether the real run would fail, as far as the rehearsal can tell.
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| matches!(s.outcome, RehearsalOutcome::Failed { .. }))
    }
}

/// One step of a rehearsal.
#[derive(Debug, Clone, Serialize)]
pub struct RehearsedStep {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: &'static str,
    /// How the step went.
    #[serde(flatten)]
    pub outcome: RehearsalOutcome,
    /// The risk analysis of an applied step.
    pub findings: Vec<Finding>,
}

/// How one step of a rehearsal went.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RehearsalOutcome {
    /// The step ran, and was rolled back with the rest.
    Succeeded {
        /// How many statements it sent.
        statements: usize,
        /// How long it took.
        #[serde(serialize_with = "crate::serialize::millis")]
        duration: Duration,
    },
    /// The error the real run would stop at.
    Failed {
        /// The error, with where in the migration it happened.
        error: String,
        /// The database's error, whole, when a statement was refused.
        database: Option<Box<crate::database_error::StatementError>>,
    },
    /// A `transaction = false` step, which cannot run inside the rehearsal's transaction.
    Skipped {
        /// Why it was skipped.
        reason: String,
    },
    /// After a failure: the transaction is aborted, so nothing more runs.
    NotReached,
    /// The step could not be rehearsed faithfully, and its failure here says
    /// nothing about the real run: it uses an enum value added earlier in the
    /// rehearsal's one transaction (PostgreSQL forbids that; the real run
    /// commits each migration on its own), or it met a missing or existing
    /// object that a skipped or unrehearsed step before it would have dealt with.
    NotRehearsed {
        /// Why it could not be rehearsed.
        reason: String,
    },
    /// On MySQL/MariaDB: the SQL the step would send.
    NotRun {
        /// The statements, in order.
        statements: Vec<String>,
    },
}

impl Migrator {
    /// Rehearses [`Migrator::up`] of `scope`: runs the plan inside one
    /// transaction, then rolls it back.
    ///
    /// It takes no lock: taking it writes the holder's row, and a rehearsal
    /// must leave the database exactly as it was. The rehearsal's
    /// transaction meets a concurrent run's locks instead.
    pub async fn rehearse_up(&self, conn: &mut Connection, scope: Scope) -> Result<Rehearsal> {
        let conn = &mut self.bind(conn)?;
        let rows = self.rows(conn).await?;
        self.refuse_dirty(&rows)?;
        let plan = self.plan_scope(&rows, &scope)?;
        let migrations: Vec<&'static Migration> = plan.iter().map(|s| s.migration).collect();
        self.rehearse_steps(conn, StepAction::Apply, &migrations).await
    }

    /// Rehearses [`Migrator::down`] of `scope` the same way: runs the
    /// reverts inside one transaction, then rolls them back.
    pub async fn rehearse_down(&self, conn: &mut Connection, scope: RevertScope) -> Result<Rehearsal> {
        let conn = &mut self.bind(conn)?;
        let rows = self.rows(conn).await?;
        self.refuse_dirty(&rows)?;
        let plan = self.plan_revert(&rows, &scope, true)?;
        self.rehearse_steps(conn, StepAction::Revert, &plan.steps).await
    }

    async fn rehearse_steps(
        &self,
        conn: &mut Bound<'_>,
        action: StepAction,
        migrations: &[&'static Migration],
    ) -> Result<Rehearsal> {
        let backend = conn.backend();
        // A step that would commit or end the rehearsal's transaction is refused
        // before anything runs: the rehearsal could not roll it back.
        let mut findings = match action {
            StepAction::Apply => {
                let analyses = self.analyze_records(backend, migrations).await;
                refuse_transaction_control(&analyses)?;
                analyses.into_iter().map(|a| a.findings).collect()
            }
            StepAction::Revert => {
                self.refuse_transaction_control_in_downs(backend, migrations).await?;
                vec![Vec::new(); migrations.len()]
            }
        };
        let mut rehearsal = Rehearsal {
            action: match action {
                StepAction::Apply => "apply",
                StepAction::Revert => "revert",
            },
            backend: backend.name(),
            rehearsed: backend.transactional_ddl(),
            not_rehearsed_because: None,
            steps: Vec::with_capacity(migrations.len()),
        };
        if !backend.transactional_ddl() {
            rehearsal.not_rehearsed_because = Some(format!(
                "{backend} commits every DDL statement at once, so running the plan would change the database; \
                 the SQL each step would send is shown instead"
            ));
            for (migration, findings) in migrations.iter().zip(findings) {
                let statements = self.recorded_sql(migration, action, backend).await;
                let outcome = RehearsalOutcome::NotRun { statements };
                rehearsal.steps.push(RehearsedStep {
                    version: migration.version,
                    name: migration.name,
                    outcome,
                    findings,
                });
            }
            return Ok(rehearsal);
        }
        let mut tx = conn.begin().await?;
        let mut failed = false;
        // The first step the rehearsal could not run for real: a later step
        // whose failure it could explain is not rehearsed rather than failed.
        let mut unrehearsed: Option<String> = None;
        for (migration, findings) in migrations.iter().zip(findings.drain(..)) {
            let outcome = if failed {
                RehearsalOutcome::NotReached
            } else if !migration.transaction {
                unrehearsed.get_or_insert_with(|| format!("{} (skipped)", migration.label()));
                RehearsalOutcome::Skipped {
                    reason: "it runs with `transaction = false`, so it cannot run inside the rehearsal's transaction"
                        .to_owned(),
                }
            } else {
                // Each step in a savepoint, so one that cannot be rehearsed is undone alone.
                Db::new(tx.conn()).exec("SAVEPOINT migrations_rs_rehearsal_step").await?;
                let started = Instant::now();
                let body = match action {
                    StepAction::Apply => migration.up,
                    StepAction::Revert => migration.down.expect("the planner refuses irreversible migrations"),
                };
                let analysis = Replay::new(migration.analyzer(tx.conn().backend()), None);
                let destructive = action == StepAction::Apply && !self.force;
                let mut db = Db::guarded(tx.conn(), migration.origin(), analysis, destructive);
                let ran = body.run(&mut db).await;
                let statements = db.executed();
                drop(db);
                match ran {
                    Ok(()) => {
                        Db::new(tx.conn()).exec("RELEASE SAVEPOINT migrations_rs_rehearsal_step").await?;
                        RehearsalOutcome::Succeeded { statements, duration: started.elapsed() }
                    }
                    Err(error) if is_new_enum_value_used(&error) => {
                        Db::new(tx.conn()).exec("ROLLBACK TO SAVEPOINT migrations_rs_rehearsal_step").await?;
                        unrehearsed.get_or_insert_with(|| format!("{} (not rehearsed)", migration.label()));
                        RehearsalOutcome::NotRehearsed {
                            reason: format!(
                                "it uses an enum value that an earlier step of this rehearsal added, which PostgreSQL \
                                 forbids in the transaction that added it; the real run commits each migration on its \
                                 own ({})",
                                cause_text(&error)
                            ),
                        }
                    }
                    Err(error) if unrehearsed.is_some() && could_depend_on_an_earlier_step(&error) => {
                        Db::new(tx.conn()).exec("ROLLBACK TO SAVEPOINT migrations_rs_rehearsal_step").await?;
                        RehearsalOutcome::NotRehearsed {
                            reason: format!(
                                "it may depend on {}, which the rehearsal could not run ({})",
                                unrehearsed.as_deref().unwrap_or_default(),
                                cause_text(&error)
                            ),
                        }
                    }
                    Err(mut error) => {
                        failed = true;
                        crate::engine::location::locate(&mut error, migration, action);
                        let location = crate::engine::location::body_location(migration, action);
                        let database = match &error {
                            Error::Statement(refused) => Some(refused.clone()),
                            _ => None,
                        };
                        RehearsalOutcome::Failed { error: format!("{location}: {error}"), database }
                    }
                }
            };
            rehearsal.steps.push(RehearsedStep { version: migration.version, name: migration.name, outcome, findings });
        }
        tx.rollback().await?;
        Ok(rehearsal)
    }

    async fn recorded_sql(&self, migration: &Migration, action: StepAction, backend: Backend) -> Vec<String> {
        let body = match action {
            StepAction::Apply => Some(migration.up),
            StepAction::Revert => migration.down,
        };
        let mut statements = Vec::new();
        if let Some(body) = body
            && let Err(Error::NeedsDatabase { what }) = body.run(&mut Db::recording(backend, &mut statements)).await
        {
            statements.push(format!("-- and more: the body needs {what}"));
        }
        statements
    }
}

/// PostgreSQL's "unsafe use of new value": an enum value used in the transaction that added it.
fn is_new_enum_value_used(error: &Error) -> bool {
    matches!(error, Error::Statement(refused) if backend::is_new_enum_value_used(refused.dialect(), refused.code.as_deref()))
}

/// Whether `error` is one a step that did not run before could explain: an
/// object missing or already there, another depending on it, an enum value
/// not added.
fn could_depend_on_an_earlier_step(error: &Error) -> bool {
    let Error::Statement(refused) = error else { return false };
    backend::explained_by_earlier_step(refused.dialect(), refused.code.as_deref(), &refused.message)
}

/// The database's message, without the statement, for a reason in one line.
fn cause_text(error: &Error) -> String {
    match error {
        Error::Statement(refused) => match &refused.code {
            Some(code) => format!("{}, {code}", refused.message),
            None => refused.message.clone(),
        },
        other => other.to_string(),
    }
}
