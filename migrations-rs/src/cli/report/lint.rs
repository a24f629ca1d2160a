//! `lint`'s report: each migration's findings with the safer way and how to
//! acknowledge an intended one, and a count; migrations before `checks_from`
//! are history, summarised, never errors.

use crate::cli::context::Context;
use crate::cli::output::Tone;
use crate::cli::render;
use migrations_rs_runtime::analysis::acknowledge_advice;
use migrations_rs_runtime::{Backend, Finding, Level, MigrationAnalysis};
use std::process::ExitCode;

/// Prints the analysis; exit 1 when it holds errors that are not acknowledged
/// in migrations from `checks_from` on (older ones are history: their
/// findings are summarised, never errors).
pub(crate) fn show_lint(ctx: &Context<'_>, analyses: &[MigrationAnalysis], backend: Backend) -> ExitCode {
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
        ctx.out.line_always(render::json(&value));
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
