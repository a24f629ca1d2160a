//! The command line's side of the safety checks: `lint`, rehearsals shown
//! as a table of outcomes, the backup a run took, and the question a
//! protected environment asks about a plan before it runs.

use crate::cli::commands::Context;
use crate::cli::output::{Output, Tone};
use migrations_rs_runtime::analysis::acknowledge_advice;
use migrations_rs_runtime::{
    Backend, Backup, Finding, Level, MigrationAnalysis, PlanApproval, Rehearsal, RehearsalOutcome, Risk,
};
use std::process::ExitCode;

/// Prints the analysis; exit 1 when it holds errors that are not acknowledged
/// in migrations from `checks_from` on (older ones are history: their
/// findings are summarised, never errors).
pub(crate) fn lint(ctx: &Context<'_>, analyses: &[MigrationAnalysis], backend: Backend) -> ExitCode {
    let checks_from = ctx.settings.checks_from;
    let is_history = |analysis: &MigrationAnalysis| checks_from.is_some_and(|from| analysis.version < from);
    let (history, checked): (Vec<&MigrationAnalysis>, Vec<&MigrationAnalysis>) =
        analyses.iter().partition(|a| is_history(a));
    let errors: usize = checked.iter().map(|a| a.lint_errors()).sum();
    let warnings: usize = checked.iter().map(|a| a.warnings()).sum();
    let history_findings: usize = history.iter().map(|a| a.findings.iter().filter(|f| !f.allowed).count()).sum();
    if ctx.cli.json {
        let migrations: Vec<serde_json::Value> = analyses
            .iter()
            .map(|analysis| {
                let mut value = serde_json::to_value(analysis).unwrap_or_default();
                value["history"] = serde_json::json!(is_history(analysis));
                value
            })
            .collect();
        let value = serde_json::json!({
            "backend": backend.name(),
            "errors": errors,
            "warnings": warnings,
            "checks_from": checks_from,
            "history_findings": history_findings,
            "migrations": migrations,
        });
        ctx.out.line_always(crate::cli::render::json(&value));
    } else {
        let mut text = render_lint(ctx, &checked, analyses.len(), backend, errors, warnings);
        if let Some(from) = checks_from.filter(|_| !history.is_empty()) {
            text.push_str(&format!(
                "\n{} migration(s) before {from} (checks_from) are history: {history_findings} finding(s) there \
                 are not errors{}",
                history.len(),
                history_summary(&history)
            ));
        }
        ctx.out.line(text);
    }
    if errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The rules found in history and how often, such as ` (drop-column ×3, truncate ×1)`.
fn history_summary(history: &[&MigrationAnalysis]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for finding in history.iter().flat_map(|a| &a.findings).filter(|f| !f.allowed) {
        match counts.iter_mut().find(|(rule, _)| *rule == finding.rule.id()) {
            Some((_, count)) => *count += 1,
            None => counts.push((finding.rule.id().to_owned(), 1)),
        }
    }
    if counts.is_empty() {
        return String::new();
    }
    format!(" ({})", counts.iter().map(|(rule, n)| format!("{rule} ×{n}")).collect::<Vec<_>>().join(", "))
}

fn render_lint(
    ctx: &Context<'_>,
    analyses: &[&MigrationAnalysis],
    total: usize,
    backend: Backend,
    errors: usize,
    warnings: usize,
) -> String {
    let out = ctx.out;
    let mut lines = Vec::new();
    for analysis in analyses.iter().filter(|a| !a.findings.is_empty() || a.incomplete.is_some()) {
        let risk = analysis.declared.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        lines.push(format!(
            "{} ({}), risk: [{risk}], {} statement(s)",
            out.paint(Tone::Strong, &analysis.label()),
            analysis.location,
            analysis.statements
        ));
        for finding in &analysis.findings {
            lines.push(finding_lines(ctx, finding, analysis.sql_file));
        }
        if let Some(why) = &analysis.incomplete {
            lines.push(format!("  {}     {why}", out.paint(Tone::Dim, "note")));
        }
    }
    let allowed: usize = analyses.iter().map(|a| a.findings.iter().filter(|f| f.allowed).count()).sum();
    lines.push(format!(
        "{total} migration(s) analysed for {backend}: {errors} error(s), {warnings} warning(s), {allowed} acknowledged"
    ));
    lines.join("\n")
}

fn finding_lines(ctx: &Context<'_>, finding: &Finding, sql_file: bool) -> String {
    let out = ctx.out;
    let level = match (finding.allowed, finding.level) {
        (true, _) => out.paint(Tone::Dim, "allowed"),
        (false, Level::Error) => out.paint(Tone::Bad, "error  "),
        (false, Level::Warning) => out.paint(Tone::Warning, "warning"),
    };
    let mut text = format!("  {level}  {}: {}", finding.rule, finding.detail);
    if !finding.severities.is_empty() {
        text.push_str(&format!(" ({})", finding.severity_text()));
    }
    if !finding.statement.is_empty() {
        text.push_str(&format!("\n           statement: {}", shorten(&finding.statement)));
    }
    if !finding.allowed {
        text.push_str(&format!("\n           safer: {}", finding.safe_alternative));
        if finding.rule.refused_unless_allowed() {
            text.push_str(&format!("\n           if intended: {}", acknowledge_advice(finding.rule, sql_file)));
        }
    }
    text
}

/// One line of at most 160 characters.
fn shorten(statement: &str) -> String {
    let flat = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 160 { flat } else { format!("{}…", flat.chars().take(159).collect::<String>()) }
}

/// Prints a rehearsal; exit 1 when the real run would fail.
pub(crate) fn rehearsal(ctx: &Context<'_>, rehearsal: &Rehearsal) -> ExitCode {
    if ctx.cli.json {
        ctx.out.line_always(crate::cli::render::json(rehearsal));
    } else {
        ctx.out.line(render_rehearsal(ctx, rehearsal));
    }
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

/// Says which backup the run took, on standard error.
pub(crate) fn report_backup(err: &Output, backup: &Backup) {
    let line = match backup {
        Backup::Snapshot { path, reason } => err.paint(
            Tone::Dim,
            &format!(
                "backup: {}, a snapshot taken before this run changed anything; the run includes {reason}",
                path.display()
            ),
        ),
        Backup::Command { reason } => err.paint(
            Tone::Dim,
            &format!(
                "backup: the backup command succeeded before this run changed anything; the run includes {reason}"
            ),
        ),
        Backup::Skipped { reason } => err.paint(Tone::Warning, &format!("warning: no backup taken: {reason}")),
        Backup::Disabled => err.paint(Tone::Dim, "backup: none, as --no-backup asks"),
    };
    err.line(line);
}

/// The question a protected environment asks about a plan, naming every
/// migration it covers and why each risky one is; `None` for an `apply` with
/// nothing risky in it, which runs unasked.
pub(crate) fn plan_question(plan: PlanApproval<'_>, url: &str) -> Option<String> {
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
