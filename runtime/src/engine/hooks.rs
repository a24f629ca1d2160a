//! Hooks: SQL a project runs around every run and every step (Flyway's
//! callbacks), such as dropping a schema of views before the migrations and
//! recreating it after. Each runs on the migrations' connection, outside the
//! step's transaction, and is recorded in the audit log as a `hook` entry
//! named by its file.

use crate::backend::Connection;
use crate::db::Db;
use crate::engine::Migrator;
use crate::engine::step::millis;
use crate::error::{Error, Result};
use crate::history::{self, Action, LogEntry};
use crate::sql::layout::HookPoint;
use crate::version::Version;
use std::time::Instant;

/// The SQL of one hook, and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The file's name, such as `afterMigrate.sql`: the audit log names the hook by it.
    pub name: String,
    /// The SQL it runs, as one script.
    pub sql: String,
}

/// The hooks of a run; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Before the first step of a run (`up`, `down`, `redo`) that has steps.
    pub before_run: Option<Hook>,
    /// After the last step of a run, when every step succeeded.
    pub after_run: Option<Hook>,
    /// Before each step.
    pub before_each: Option<Hook>,
    /// After each step that succeeded.
    pub after_each: Option<Hook>,
}

impl Hooks {
    /// The hook of `point`, if there is one.
    pub fn at(&self, point: HookPoint) -> Option<&Hook> {
        match point {
            HookPoint::BeforeRun => self.before_run.as_ref(),
            HookPoint::AfterRun => self.after_run.as_ref(),
            HookPoint::BeforeEach => self.before_each.as_ref(),
            HookPoint::AfterEach => self.after_each.as_ref(),
        }
    }

    /// Sets the hook of `point`.
    pub fn set(&mut self, point: HookPoint, hook: Hook) {
        let slot = match point {
            HookPoint::BeforeRun => &mut self.before_run,
            HookPoint::AfterRun => &mut self.after_run,
            HookPoint::BeforeEach => &mut self.before_each,
            HookPoint::AfterEach => &mut self.after_each,
        };
        *slot = Some(hook);
    }

    /// Whether there is no hook at all.
    pub fn is_empty(&self) -> bool {
        HookPoint::ALL.iter().all(|point| self.at(*point).is_none())
    }
}

impl Migrator {
    /// Runs the hook of `point`, if any, and records it in the audit log
    /// under `version` (the step it ran around, or the first or last step of the run).
    pub(crate) async fn run_hook(
        &self,
        conn: &mut Connection,
        point: HookPoint,
        version: Version,
        batch: i64,
    ) -> Result<()> {
        let Some(hook) = self.hooks.at(point) else { return Ok(()) };
        let started = Instant::now();
        let ran = Db::new(conn.as_ref()).exec_script(&hook.sql).await;
        let entry = LogEntry {
            version,
            name: hook.name.clone(),
            action: Action::Hook,
            duration_ms: millis(started.elapsed()),
            batch,
            error: ran.as_ref().err().map(ToString::to_string),
        };
        history::append_log(conn.as_ref(), &self.tables, &entry).await?;
        ran.map_err(|cause| Error::HookFailed { hook: hook.name.clone(), version, cause: Box::new(cause) })
    }
}
