//! Migrating when a service starts: one call that is safe when many replicas
//! start at once and cheap when there is nothing to do.
//!
//! The state is read once, without the lock. If nothing is pending, dirty or
//! modified, that single read is all a start-up costs. Otherwise the lock is
//! taken, the state read again under it (another replica may have applied
//! everything meanwhile) and what is still pending applied.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn start() -> migrations_rs::Result<()> {
//! use migrations_rs::Startup;
//! use std::time::Duration;
//!
//! let pool = migrations_rs::sqlx::PgPool::connect("postgres://app@db/shop").await?;
//! let report = Startup::new(&pool)
//!     .environment("production")
//!     .lock_timeout(Duration::from_secs(60))
//!     .run()
//!     .await?;
//! println!("{report:?}");
//! # Ok(()) }
//! ```

use crate::database::Database;
use crate::engine::{Migrator, Scope};
use crate::error::{Error, Result};
use crate::history::AppliedMigration;
use crate::remedy::Remedy;
use crate::step_report::StepReport;
use crate::version::Version;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// What a start-up does when migrating fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Return the error: the service should not start on a database it does not understand.
    #[default]
    Fail,
    /// Return a report naming the failure, and let the service start anyway
    /// (its health report then shows the failure).
    Continue,
}

/// Migrates a database when a service starts: one call that is safe when
/// many replicas start at once and cheap when there is nothing to do.
///
/// The state is read once, without the lock. If nothing is pending, dirty or
/// modified, that single read is all a start-up costs. Otherwise the lock is
/// taken, the state read again under it (another replica may have applied
/// everything meanwhile) and what is still pending applied. By default a
/// failure is returned as an error ([`OnFailure::Fail`]); with
/// [`Startup::continue_on_failure`] the report names it and the service
/// starts anyway.
///
/// ```no_run
/// # #[cfg(feature = "postgres")]
/// # async fn start() -> migrations_rs::Result<()> {
/// use migrations_rs::Startup;
/// use std::time::Duration;
///
/// let pool = migrations_rs::sqlx::PgPool::connect("postgres://app@db/shop").await?;
/// let report = Startup::new(&pool)
///     .environment("production")
///     .lock_timeout(Duration::from_secs(60))
///     .run()
///     .await?;
/// println!("{report:?}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Startup {
    database: Database,
    migrator: Option<Migrator>,
    target: Option<Version>,
    lock_wait: Option<Duration>,
    environment: Option<String>,
    on_failure: OnFailure,
}

/// What a start-up did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StartupReport {
    /// The deployment environment, when one was named.
    pub environment: Option<String>,
    /// Where the database is, without its password.
    pub database: String,
    /// Whether the start-up found the database up to date, migrated it, or failed.
    pub outcome: StartupOutcome,
    /// What this start-up applied, with how long each took, including what it
    /// applied before a failure.
    pub applied: Vec<StepReport>,
    /// Why it failed, when it did.
    pub failure: Option<StartupFailure>,
    /// Whether the migration lock was taken: only when the first read found work to do.
    pub took_lock: bool,
    /// Applied migrations this program does not have (a newer release may have applied them).
    pub missing_from_code: Vec<AppliedMigration>,
    /// How long the start-up took, connecting included.
    #[serde(rename = "total_ms", serialize_with = "crate::serialize::millis")]
    pub total: Duration,
}

/// How a start-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartupOutcome {
    /// Nothing was pending.
    UpToDate,
    /// Pending migrations were applied.
    Migrated,
    /// Migrating failed: see the report's `failure`.
    Failed,
}

/// Why a start-up failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StartupFailure {
    /// The migration that failed, when one did (not for a lock timeout or a connection error).
    pub version: Option<Version>,
    /// The error, in words.
    pub error: String,
    /// The failed migration is recorded as partly done: nothing runs until it is resolved.
    pub dirty: bool,
    /// What can be done about it ([`Error::remedies`]).
    pub remedies: Vec<Remedy>,
}

impl StartupReport {
    /// Whether the start-up did not fail.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }
}

impl Startup {
    /// A start-up with the migrations linked into this program, waiting up
    /// to two minutes for another replica's lock, failing on any error.
    pub fn new(database: impl Into<Database>) -> Self {
        Startup {
            database: database.into(),
            migrator: None,
            target: None,
            lock_wait: None,
            environment: None,
            on_failure: OnFailure::Fail,
        }
    }

    /// Uses this migrator (its registry, tables and lock options) instead of
    /// one over every linked migration.
    pub fn migrator(mut self, migrator: Migrator) -> Self {
        self.migrator = Some(migrator);
        self
    }

    /// Applies only `version` and what it depends on.
    pub fn target(mut self, version: Version) -> Self {
        self.target = Some(version);
        self
    }

    /// Gives up waiting for another replica's lock after `wait`.
    pub fn lock_timeout(mut self, wait: Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }

    /// Names the deployment environment in the report and the logs.
    pub fn environment(mut self, name: impl Into<String>) -> Self {
        self.environment = Some(name.into());
        self
    }

    /// What to do when migrating fails (by default, [`OnFailure::Fail`]).
    pub fn on_failure(mut self, on_failure: OnFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// Reports a failure in the returned report instead of returning it as an error.
    pub fn continue_on_failure(self) -> Self {
        self.on_failure(OnFailure::Continue)
    }

    /// Migrates. With [`OnFailure::Fail`], any failure is the error returned
    /// (a failed migration's error lists what was applied before it); with
    /// [`OnFailure::Continue`], it is in the report.
    pub async fn run(self) -> Result<StartupReport> {
        let started = Instant::now();
        let mut migrator = match self.migrator {
            Some(migrator) => migrator,
            None => Migrator::from_linked()?,
        };
        if let Some(wait) = self.lock_wait {
            migrator.lock.wait = wait;
        }
        let database = self.database.redacted();
        let span = tracing::info_span!(
            "migrations_rs::startup",
            environment = self.environment.as_deref().unwrap_or(""),
            database = %database,
        );
        let mut report = StartupReport {
            environment: self.environment,
            database,
            outcome: StartupOutcome::UpToDate,
            applied: Vec::new(),
            failure: None,
            took_lock: false,
            missing_from_code: Vec::new(),
            total: Duration::ZERO,
        };
        async {
            let outcome = migrate(&migrator, &self.database, self.target, &mut report).await;
            report.total = started.elapsed();
            let total_ms = report.total.as_millis() as u64;
            match outcome {
                Ok(()) => {
                    tracing::info!(
                        applied = report.applied.len(),
                        took_lock = report.took_lock,
                        total_ms,
                        "migrations up to date"
                    );
                    Ok(report)
                }
                Err(error) => {
                    tracing::error!(%error, applied = report.applied.len(), total_ms, "migrating at start-up failed");
                    report.outcome = StartupOutcome::Failed;
                    report.failure = Some(failure_of(&error));
                    if let Error::MigrationFailed { completed, .. } = &error {
                        report.applied = completed.clone();
                    }
                    match self.on_failure {
                        OnFailure::Fail => Err(error),
                        OnFailure::Continue => Ok(report),
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

async fn migrate(
    migrator: &Migrator,
    database: &Database,
    target: Option<Version>,
    report: &mut StartupReport,
) -> Result<()> {
    let mut conn = database.connect().await?;
    let outcome = migrator.apply(&mut conn, &Scope::from(target)).await;
    let _ = conn.close().await;
    let (applied, took_lock) = outcome?;
    report.took_lock = took_lock;
    report.outcome = if applied.applied.is_empty() { StartupOutcome::UpToDate } else { StartupOutcome::Migrated };
    report.applied = applied.applied;
    report.missing_from_code = applied.missing_from_code;
    Ok(())
}

fn failure_of(error: &Error) -> StartupFailure {
    let (version, dirty) = match error {
        Error::MigrationFailed { version, dirty, .. } => (Some(*version), *dirty),
        Error::Dirty { version, .. } => (Some(*version), true),
        _ => (None, false),
    };
    StartupFailure { version, error: error.to_string(), dirty, remedies: error.remedies() }
}
