//! The question a protected environment asks about a plan before it runs,
//! naming every migration it covers and why each risky one is.

use crate::cli::config::confirm;
use migrations_rs_runtime::{Error, Migrator, PlanApproval, Risk};

/// `migrator`, asking (or taking `--yes` for) a yes before each risky plan:
/// asked under the lock, about the plan that then runs unless the state
/// changed meanwhile.
pub(super) fn ask_before_risky_plans(migrator: Migrator, url: String, yes: bool) -> Migrator {
    migrator.approve_plans_with(move |plan| {
        let question = plan_question(plan, &url);
        Box::pin(async move {
            let Some(question) = question else { return Ok(()) };
            tokio::task::spawn_blocking(move || confirm(&question, yes))
                .await
                .map_err(|e| Error::msg(format!("cannot ask for confirmation: {e}")))?
        })
    })
}

/// The question about `plan`; `None` for an `apply` with nothing risky in
/// it, which runs unasked.
fn plan_question(plan: PlanApproval<'_>, url: &str) -> Option<String> {
    let preview = plan.preview;
    let mut risky = false;
    let lines: Vec<String> = preview
        .steps
        .iter()
        .zip(plan.analyses)
        .map(|(step, analysis)| {
            let mut reasons: Vec<String> =
                step.risk.iter().filter(|r| **r == Risk::Data).map(|r| format!("risk: {r}")).collect();
            if step.irreversible {
                reasons.push("irreversible".to_owned());
            }
            reasons.extend(analysis.findings.iter().map(|f| format!("{}: {}", f.rule, f.detail)));
            risky |= !reasons.is_empty();
            if reasons.is_empty() {
                format!("  {} {}", step.version, step.name)
            } else {
                format!("  {} {}: {}", step.version, step.name, reasons.join("; "))
            }
        })
        .collect();
    let verb = match preview.action {
        "apply" if !risky => return None,
        "apply" => "Apply",
        "redo" => "Revert and apply again",
        _ => "Revert",
    };
    Some(format!(
        "{verb} {} migration(s) on {url} (protected environment):\n{}\nGo ahead?",
        preview.steps.len(),
        lines.join("\n")
    ))
}
