//! A fleet run for people: a line per target as it finishes, then a table
//! of every target, the errors with what to do about them, and the counts.

use crate::cli::context::Context;
use crate::cli::output::{Output, Tone};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrations_rs_runtime::engine::ExpectedFrom;
use migrations_rs_runtime::fleet::{FleetReport, TargetOutcome, TargetReport, TargetState};

/// One line, as a target finishes: its name, how it ended and how long it took.
pub(crate) fn fleet_progress_line(out: &Output, report: &TargetReport) -> String {
    let (tone, word) = outcome(report.outcome);
    let applied = match report.applied.len() {
        0 => String::new(),
        n => format!(", {n} applied"),
    };
    let differences = match report.differences.len() {
        0 => String::new(),
        n => format!(", {n} difference(s)"),
    };
    let expected = match report.expected_from {
        Some(ExpectedFrom::File) => ", expected schema from the schema file",
        Some(ExpectedFrom::Scratch) => ", expected schema built on a scratch database",
        None => "",
    };
    format!(
        "{} {}{applied}{differences}{expected} ({} ms)",
        out.paint(tone, word),
        report.name,
        report.duration.as_millis()
    )
}

/// The table of every target, the errors under it, and the summary line.
pub(crate) fn show_fleet(ctx: &Context<'_>, report: &FleetReport) {
    if report.targets.is_empty() {
        ctx.out.line("no targets: the list (or this shard of it) is empty");
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["target", "outcome", "before", "after", "applied", "pending", "lock", "ms"]);
    for target in &report.targets {
        table.add_row([
            target.name.clone(),
            outcome(target.outcome).1.to_owned(),
            state(target.before).to_owned(),
            state(target.after).to_owned(),
            target.applied.len().to_string(),
            target.pending.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            if target.took_lock { "taken" } else { "-" }.to_owned(),
            target.duration.as_millis().to_string(),
        ]);
    }
    let mut text = table.to_string();
    for target in &report.targets {
        if let Some(error) = &target.error {
            let line = format!("{} ({}): {}", target.name, target.location, error.message);
            text.push_str(&format!("\n{}", ctx.out.paint(Tone::Bad, &line)));
            if target.outcome != TargetOutcome::Skipped {
                text.push_str(&crate::cli::remedy::help_lines(&error.remedies));
            }
        }
        for problem in &target.problems {
            text.push_str(&format!("\n{}: {problem}", target.name));
        }
        if let Some(note) = &target.expected_note {
            text.push_str(&format!("\n{}: {note}", target.name));
        }
        for difference in &target.differences {
            text.push_str(&format!("\n{}: {difference}", target.name));
        }
    }
    let summary = &report.summary;
    let counts: Vec<String> = [
        (summary.migrated, "migrated"),
        (summary.up_to_date, "up to date"),
        (summary.pending, "not up to date"),
        (summary.invalid, "invalid"),
        (summary.drifted, "drifted"),
        (summary.failed, "failed"),
        (summary.skipped, "not started"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    text.push_str(&format!(
        "\n{} {} target(s): {} ({} ms)",
        report.operation,
        summary.targets,
        counts.join(", "),
        summary.duration.as_millis()
    ));
    ctx.out.line(text);
}

fn outcome(outcome: TargetOutcome) -> (Tone, &'static str) {
    match outcome {
        TargetOutcome::UpToDate => (Tone::Good, "up to date"),
        TargetOutcome::Migrated => (Tone::Good, "migrated"),
        TargetOutcome::Pending => (Tone::Warning, "not up to date"),
        TargetOutcome::Invalid => (Tone::Warning, "invalid"),
        TargetOutcome::Drifted => (Tone::Warning, "drifted"),
        TargetOutcome::Failed => (Tone::Bad, "failed"),
        TargetOutcome::Skipped => (Tone::Warning, "not started"),
    }
}

fn state(state: TargetState) -> &'static str {
    match state {
        TargetState::UpToDate => "up to date",
        TargetState::Pending => "pending",
        TargetState::Dirty => "dirty",
        TargetState::Invalid => "invalid",
        TargetState::Drifted => "drifted",
        TargetState::Unknown => "-",
    }
}
