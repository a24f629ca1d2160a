//! The command line's side of the safety checks: `lint`, rehearsals shown
//! as a table of outcomes, the backup a run took, and the confirmation each
//! risky step needs in a protected environment.

use crate::cli::commands::Context;
use crate::cli::config::confirm;
use crate::cli::output::Tone;
use migrations_rs_runtime::{
    Backend, Backup, Error, Finding, Level, MigrationAnalysis, Migrator, Preview, Rehearsal, RehearsalOutcome, Risk,
};
use std::process::ExitCode;

/// Prints the analysis; exit 1 when it holds errors that are not acknowledged.
pub(crate) fn lint(ctx: &Context<'_>, analyses: &[MigrationAnalysis], backend: Backend) -> ExitCode {
    let errors: usize = analyses.iter().map(MigrationAnalysis::lint_errors).sum();
    let warnings: usize = analyses.iter().map(MigrationAnalysis::warnings).sum();
    if ctx.cli.json {
        let value = serde_json::json!({
            "backend": backend.name(),
            "errors": errors,
            "warnings": warnings,
            "migrations": analyses,
        });
        ctx.out.line_always(crate::cli::render::json(&value));
    } else {
        ctx.out.line(render_lint(ctx, analyses, backend, errors, warnings));
    }
    if errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn render_lint(
    ctx: &Context<'_>,
    analyses: &[MigrationAnalysis],
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
            lines.push(finding_lines(ctx, finding));
        }
        if let Some(why) = &analysis.incomplete {
            lines.push(format!("  {}     {why}", out.paint(Tone::Dim, "note")));
        }
    }
    let allowed: usize = analyses.iter().map(|a| a.findings.iter().filter(|f| f.allowed).count()).sum();
    lines.push(format!(
        "{} migration(s) analysed for {backend}: {errors} error(s), {warnings} warning(s), {allowed} acknowledged",
        analyses.len()
    ));
    lines.join("\n")
}

fn finding_lines(ctx: &Context<'_>, finding: &Finding) -> String {
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
            text.push_str(&format!(
                "\n           if intended: `allow = [{}]` in its #[migration]",
                finding.rule.allow_name()
            ));
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
            RehearsalOutcome::Failed { error } => {
                lines.push(format!("{} {label}: {error}", out.paint(Tone::Bad, "FAILS  ")))
            }
            RehearsalOutcome::Skipped { reason } => {
                lines.push(format!("{} {label}: {reason}", out.paint(Tone::Warning, "skipped")))
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
        (_, true, false) => format!(
            "rehearsal: {} step(s) would {}; everything was rolled back",
            rehearsal.steps.len(),
            rehearsal.action
        ),
    };
    lines.push(verdict);
    lines.join("\n")
}

/// Says which backup the run took, on standard error.
pub(crate) fn report_backup(ctx: &Context<'_>, backup: Option<&Backup>) {
    let Some(backup) = backup else { return };
    let line = match backup {
        Backup::Snapshot { path, reason } => ctx.err.paint(
            Tone::Dim,
            &format!(
                "backup: {}, a snapshot taken before this run changed anything; the run includes {reason}",
                path.display()
            ),
        ),
        Backup::Command { reason } => ctx.err.paint(
            Tone::Dim,
            &format!(
                "backup: the backup command succeeded before this run changed anything; the run includes {reason}"
            ),
        ),
        Backup::Skipped { reason } => ctx.err.paint(Tone::Warning, &format!("warning: no backup taken: {reason}")),
    };
    ctx.err.line(line);
}

/// In a protected environment, asks about each risky step on its own.
pub(crate) async fn confirm_risky_steps(
    ctx: &Context<'_>,
    migrator: &Migrator,
    preview: &Preview,
    backend: Backend,
) -> Result<(), Error> {
    if !ctx.settings.protected {
        return Ok(());
    }
    let versions: Vec<_> = preview.steps.iter().map(|s| s.version).collect();
    let analyses = migrator.analyze(backend, &versions).await?;
    for (step, analysis) in preview.steps.iter().zip(&analyses) {
        let mut reasons: Vec<String> =
            step.risk.iter().filter(|r| **r == Risk::Data).map(|r| format!("risk: {r}")).collect();
        if step.irreversible {
            reasons.push("irreversible".to_owned());
        }
        reasons.extend(analysis.findings.iter().map(|f| format!("{}: {}", f.rule, f.detail)));
        if reasons.is_empty() {
            continue;
        }
        confirm(
            &format!(
                "{} {} {} on {} (protected environment): {}. Go ahead?",
                if preview.action == "apply" { "Apply" } else { "Revert" },
                step.version,
                step.name,
                ctx.settings.url,
                reasons.join("; ")
            ),
            ctx.cli.yes,
        )?;
    }
    Ok(())
}
