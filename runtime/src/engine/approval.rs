//! Approval of a plan before it runs, bound to the plan it approves: the
//! plan is computed under the lock, shown to the approver with every step and
//! its risk analysis, and run only if the state read again after the answer
//! still gives the same plan; otherwise the approver is asked again.

use crate::analysis::MigrationAnalysis;
use crate::engine::bound::Bound;
use crate::engine::{Migrator, Preview};
use crate::error::Result;
use crate::history::{self, AppliedMigration};
use crate::record::BoxFuture;

/// A plan about to run, for approval: every step, and the risk analysis of
/// each step's `up` in the same order.
#[derive(Debug, Clone, Copy)]
pub struct PlanApproval<'a> {
    /// Every step of the plan, in order, and why it is in the plan.
    pub preview: &'a Preview,
    /// The risk analysis of each step's `up`, in the preview's order.
    pub analyses: &'a [MigrationAnalysis],
}

/// Approves a plan (`Ok`) or refuses it with the error the run then returns.
pub(crate) type ApproveCallback = Box<dyn for<'a> Fn(PlanApproval<'a>) -> BoxFuture<'a> + Send + Sync>;

impl Migrator {
    /// Calls `approve` under the lock with each plan that `up`, `down` and
    /// `redo` are about to run (the preview's action is `apply`, `revert` or
    /// `redo`), before anything changes; an error refuses the run. When the
    /// state read after the answer gives another plan, `approve` is asked
    /// again about the new one.
    pub fn approve_plans_with(
        mut self,
        approve: impl for<'a> Fn(PlanApproval<'a>) -> BoxFuture<'a> + Send + Sync + 'static,
    ) -> Self {
        self.approve = Some(Box::new(approve));
        self
    }

    /// Under the lock: the history rows to run `plan_of` on, once an approver
    /// (if any) approved the plan they give; then the tables are created if
    /// needed. Nothing is created before the answer.
    pub(crate) async fn approved_rows(
        &self,
        conn: &mut Bound<'_>,
        plan_of: impl Fn(&[AppliedMigration]) -> Result<Preview>,
    ) -> Result<Vec<AppliedMigration>> {
        let Some(approve) = &self.approve else { return self.read_state(conn).await };
        let mut rows = self.rows(conn).await?;
        loop {
            let preview = plan_of(&rows)?;
            if preview.steps.is_empty() {
                break;
            }
            let versions: Vec<_> = preview.steps.iter().map(|s| s.version).collect();
            let analyses = self.analyze(conn.backend(), &versions).await?;
            approve(PlanApproval { preview: &preview, analyses: &analyses }).await?;
            let again = self.rows(conn).await?;
            let unchanged = plan_of(&again).is_ok_and(|now| now == preview);
            rows = again;
            if unchanged {
                break;
            }
            tracing::warn!("the plan changed while it was being approved; asking about the new plan");
        }
        history::ensure_tables(conn.as_ref(), &self.tables).await?;
        Ok(rows)
    }
}
