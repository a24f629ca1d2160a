//! The `adopt` verb: take over the history of sqlx, diesel or refinery, with
//! a dry run that shows what would be recorded and the confirmation a
//! protected environment asks for.

use crate::cli::args::AdoptFrom;
use crate::cli::commands::Context;
use migrations_rs_runtime::{AdoptReport, AdoptedMigration, Connection, Error, MatchedBy, Migrator, Source};

pub(crate) async fn adopt(
    ctx: &Context<'_>,
    migrator: &Migrator,
    conn: &mut Connection,
    from: AdoptFrom,
    dry_run: bool,
) -> Result<Option<migrations_rs_runtime::Version>, Error> {
    let source = match from {
        AdoptFrom::Auto => Source::Auto,
        AdoptFrom::Sqlx => Source::Sqlx,
        AdoptFrom::Diesel => Source::Diesel,
        AdoptFrom::Refinery => Source::Refinery,
    };
    let plan = migrator.plan_adoption(conn, source).await?;
    if dry_run {
        ctx.print(&plan, render);
        return Ok(None);
    }
    if !plan.recorded.is_empty() {
        ctx.confirm_change(&format!(
            "Recording {} migration(s) as applied, without running them, from {}'s history",
            plan.recorded.len(),
            plan.tool
        ))?;
    }
    let report = migrator.adopt(conn, source).await?;
    ctx.print(&report, render);
    // The newest migration their history covers: the cut-off of `lint`.
    Ok(report.recorded.iter().chain(&report.already_recorded).map(|m| m.version).max())
}

fn render(report: &AdoptReport) -> String {
    let mut lines = vec![format!("{} migration(s) found in {} ({})", report.found, report.table, report.tool)];
    let would = if report.dry_run { "to be recorded as applied" } else { "recorded as applied" };
    section(&mut lines, would, report.recorded.iter().map(adopted));
    section(&mut lines, "already recorded, left as they were", report.already_recorded.iter().map(adopted));
    section(
        &mut lines,
        "theirs only, matching none of ours, not recorded",
        report.unknown.iter().map(|theirs| theirs.label()),
    );
    section(
        &mut lines,
        "ours only, pending: the next `up` runs them",
        report.pending.iter().map(|ours| format!("{} {} ({})", ours.version, ours.name, ours.module)),
    );
    lines.extend(report.warnings.iter().map(|warning| format!("warning: {warning}")));
    lines.push(if report.dry_run {
        format!("dry run: {} migration(s) would be recorded; nothing was changed", report.recorded.len())
    } else {
        format!(
            "{} migration(s) recorded as applied from {}'s history, without running them; {} pending",
            report.recorded.len(),
            report.tool,
            report.pending.len()
        )
    });
    lines.join("\n")
}

fn section(lines: &mut Vec<String>, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.map(|item| format!("  {item}")).collect();
    if !items.is_empty() {
        lines.push(format!("{title}:"));
        lines.extend(items);
    }
}

fn adopted(adopted: &AdoptedMigration) -> String {
    let by = match adopted.matched_by {
        MatchedBy::Version => "by version",
        MatchedBy::Name => "by name",
    };
    format!("{} {} ({}) <- their {} ({by})", adopted.version, adopted.name, adopted.module, adopted.theirs.label())
}
