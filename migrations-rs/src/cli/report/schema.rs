//! What `verify` and `drift` found, one migration or one difference a line,
//! and a verdict; exit 3 when they found something.

use crate::cli::context::Context;
use crate::cli::output::Tone;
use migrations_rs_runtime::engine::ExpectedFrom;
use migrations_rs_runtime::{Drift, Verification};
use std::process::ExitCode;

/// The exit code of a check that found something, as `status` and `validate` use it.
const FOUND: u8 = 3;

/// Prints what `verify` found; exit 3 on any finding.
pub(crate) fn show_verification(ctx: &Context<'_>, report: &Verification) -> ExitCode {
    ctx.print(report, |r| render_verification(ctx, r));
    if report.passed { ExitCode::SUCCESS } else { ExitCode::from(FOUND) }
}

fn render_verification(ctx: &Context<'_>, report: &Verification) -> String {
    let out = ctx.out;
    let mut lines = Vec::new();
    if !report.unchecked.is_empty() {
        lines.push(format!(
            "{} {} earlier migration(s) applied once, unchecked",
            out.paint(Tone::Dim, "-      "),
            report.unchecked.len()
        ));
    }
    for check in &report.migrations {
        let label = format!("{} {}", check.version, check.name);
        if let Some(reason) = &check.skipped {
            lines.push(format!("{} {label}: {reason}", out.paint(Tone::Warning, "skipped")));
        } else if check.findings.is_empty() {
            lines.push(format!("{} {label}", out.paint(Tone::Good, "ok     ")));
        } else {
            lines.push(format!("{} {label} ({})", out.paint(Tone::Bad, "WRONG  "), check.location));
        }
        for finding in &check.findings {
            lines.push(format!("    {finding}"));
        }
    }
    let checked = report.migrations.iter().filter(|m| m.skipped.is_none()).count();
    let wrong = report.migrations.iter().filter(|m| !m.findings.is_empty()).count();
    lines.push(if report.passed {
        out.paint(
            Tone::Good,
            &format!("{checked} migration(s) verified on {}: every down reverses its up", report.backend),
        )
    } else {
        out.paint(
            Tone::Bad,
            &format!(
                "{wrong} of {checked} checked migration(s) have findings ({} in all) on {}",
                report.findings(),
                report.backend
            ),
        )
    });
    lines.join("\n")
}

/// Prints what `drift` found; exit 3 when the live schema drifted.
pub(crate) fn show_drift(ctx: &Context<'_>, drift: &Drift) -> ExitCode {
    ctx.print(drift, |d| render_drift(ctx, d));
    if drift.drifted { ExitCode::from(FOUND) } else { ExitCode::SUCCESS }
}

fn render_drift(ctx: &Context<'_>, drift: &Drift) -> String {
    let out = ctx.out;
    let mut lines = Vec::new();
    if let Some(note) = &drift.note {
        lines.push(format!("{} {note}", out.paint(Tone::Warning, "note:")));
    }
    let file = drift.schema_file.as_ref().map_or_else(String::new, |path| path.display().to_string());
    if drift.written {
        lines.push(format!("{} the expected schema to {file}", out.paint(Tone::Good, "wrote")));
    }
    let source = match drift.expected_from {
        ExpectedFrom::File => format!("the schema recorded in {file}"),
        ExpectedFrom::Scratch => "the schema built on a scratch database".to_owned(),
    };
    for change in &drift.changes {
        lines.push(format!("  - {change}"));
    }
    lines.push(if drift.drifted {
        out.paint(
            Tone::Bad,
            &format!(
                "drift: the live schema differs from {source} at the same {} applied migration(s) in {} way(s)",
                drift.applied,
                drift.changes.len()
            ),
        )
    } else {
        out.paint(
            Tone::Good,
            &format!("no drift: the live schema matches {source} at the same {} applied migration(s)", drift.applied),
        )
    });
    lines.join("\n")
}
