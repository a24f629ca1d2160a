//! The hooks of a run: SQL a project runs around every run and every step
//! (Flyway's callbacks), as read from a folder or set through the `Migrator`.

use crate::sql::layout::HookPoint;

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
