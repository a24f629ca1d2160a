//! A rehearsal (`up --dry-run`, `down --dry-run`) shown as a table of
//! outcomes, one step a line, and a verdict.

use crate::cli::context::Context;
use crate::cli::output::Tone;
use migrations_rs_runtime::{Rehearsal, RehearsalOutcome};
use std::process::ExitCode;

/// Prints a rehearsal; exit 1 when the real run would fail.
pub(crate) fn show_rehearsal(ctx: &Context<'_>, rehearsal: &Rehearsal) -> ExitCode {
    ctx.print(rehearsal, |r| render_rehearsal(ctx, r));
    if rehearsal.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn render_rehearsal(ctx: &Context<'_>, rehearsal: &Rehearsal) -> String {
    let out = ctx.out;
    let mut lines = Vec::new();
    if let Some(why) = &rehearsal.not_rehearsed_because {
        lines.push(format!("{} {why}", out.paint(Tone::Warning, "not rehearsed:")));
    }
    for step in &rehearsal.steps {
        let label = format!("{} {}", step.version, step.name);
        match &step.outcome {
            RehearsalOutcome::Succeeded { statements, duration } => lines.push(format!(
                "{} {label}: {statements} statement(s), {} ms",
                out.paint(Tone::Good, "ok     "),
                duration.as_millis()
            )),
            RehearsalOutcome::Failed { error, .. } => {
                lines.push(format!("{} {label}: {error}", out.paint(Tone::Bad, "FAILS  ")))
            }
            RehearsalOutcome::Skipped { reason } => {
                lines.push(format!("{} {label}: {reason}", out.paint(Tone::Warning, "skipped")))
            }
            RehearsalOutcome::NotRehearsed { reason } => {
                lines.push(format!("{} {label}: cannot rehearse: {reason}", out.paint(Tone::Warning, "-      ")))
            }
            RehearsalOutcome::NotReached => {
                lines.push(format!("{} {label}: not reached after the failure", out.paint(Tone::Dim, "-      ")))
            }
            RehearsalOutcome::NotRun { statements } => {
                lines.push(format!("{label}:"));
                lines.extend(
                    statements.iter().map(
                        |s| {
                            if s.starts_with("--") { format!("    {s}") } else { format!("    {s};") }
                        },
                    ),
                );
            }
        }
        for finding in step.findings.iter().filter(|f| !f.allowed) {
            lines.push(format!("         {}: {}", finding.rule, finding.detail));
        }
    }
    let verdict = match (rehearsal.steps.is_empty(), rehearsal.rehearsed, rehearsal.failed()) {
        (true, _, _) => format!("nothing to {}", rehearsal.action),
        (_, false, _) => "dry run: nothing was run and nothing was changed".to_owned(),
        (_, true, true) => {
            "rehearsal: the real run would fail at the step marked FAILS; everything was rolled back".to_owned()
        }
        (_, true, false) => {
            let unrehearsed = rehearsal
                .steps
                .iter()
                .filter(|s| {
                    matches!(s.outcome, RehearsalOutcome::NotRehearsed { .. } | RehearsalOutcome::Skipped { .. })
                })
                .count();
            let caveat = match unrehearsed {
                0 => String::new(),
                n => format!(", {n} of them not rehearsed (see above)"),
            };
            format!(
                "rehearsal: {} step(s) would {}{caveat}; everything was rolled back",
                rehearsal.steps.len(),
                rehearsal.action
            )
        }
    };
    lines.push(verdict);
    lines.join("\n")
}
