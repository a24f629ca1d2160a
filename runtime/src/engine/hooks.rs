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
