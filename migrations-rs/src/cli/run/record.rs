//! The verbs that change the history without running migrations: `repair`,
//! `baseline`, `adopt` (taking over the history of sqlx, diesel or
//! refinery), `mark-applied` and `mark-reverted`. Each asks first in a
//! protected environment; `baseline` and `adopt` then record the cut-off
//! before which `lint` reports findings as history.

use crate::cli::args::{AdoptArgs, BaselineArgs, VersionArg};
use crate::cli::config::{self, CutOff};
use crate::cli::context::{Access, Context, RunRules};
use crate::cli::output::Tone;
use migrations_rs_runtime::{AdoptReport, AdoptedMigration, Error, MatchedBy, Migrator, Source, Version};
use std::process::ExitCode;

pub(super) async fn repair(ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        ctx.confirm_change("Repairing the history")?;
        let report = migrator.repair(conn).await?;
        ctx.print(&report, |r| {
            let changes =
                r.checksums_accepted.len() + r.unfinished_applies_cleared.len() + r.unfinished_reverts_cleared.len();
            if changes == 0 {
                return "nothing to repair".to_owned();
            }
            let mut lines = Vec::new();
            for version in &r.checksums_accepted {
                lines.push(format!("{version}: current checksum accepted"));
            }
            for version in &r.unfinished_applies_cleared {
                lines.push(format!("{version}: unfinished apply cleared; `up` will run it again"));
            }
            for version in &r.unfinished_reverts_cleared {
                lines.push(format!("{version}: unfinished revert cleared; it counts as applied"));
            }
            lines.join("\n")
        });
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn baseline(args: &BaselineArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        let to = args.to;
        ctx.confirm_change(&format!("Recording everything up to {to} as applied without running it"))?;
        let recorded = migrator.baseline(conn, to).await?;
        ctx.print(&recorded, |r| format!("{} migration(s) recorded as applied, without running them", r.len()));
        record_cut_off(ctx, migrator, to)?;
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn adopt(args: &AdoptArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        let source = Source::from(args.from);
        let plan = migrator.plan_adoption(conn, source).await?;
        if args.dry_run {
            ctx.print(&plan, adoption);
            return Ok(ExitCode::SUCCESS);
        }
        if !plan.recorded.is_empty() {
            ctx.confirm_change(&format!(
                "Recording {} migration(s) as applied, without running them, from {}'s history",
                plan.recorded.len(),
                plan.tool
            ))?;
        }
        let report = migrator.adopt(conn, source).await?;
        ctx.print(&report, adoption);
        // The newest migration their history covers: the cut-off of `lint`.
        if let Some(newest) = report.recorded.iter().chain(&report.already_recorded).map(|m| m.version).max() {
            record_cut_off(ctx, migrator, newest)?;
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn mark_applied(args: &VersionArg, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        let version = args.version;
        ctx.confirm_change(&format!("Recording {version} as applied without running it"))?;
        migrator.mark_applied(conn, version).await?;
        ctx.print(&version, |v| format!("{v} recorded as applied, without running it"));
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn mark_reverted(args: &VersionArg, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        let version = args.version;
        ctx.confirm_change(&format!("Recording {version} as not applied without running its down"))?;
        migrator.mark_reverted(conn, version).await?;
        ctx.print(&version, |v| format!("{v} recorded as not applied, without running its down"));
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// After `adopt` or `baseline` up to `newest`: `lint` treats the migrations
/// up to it as history, through `checks_from` in the config file.
fn record_cut_off(ctx: &Context<'_>, migrator: &Migrator, newest: Version) -> Result<(), Error> {
    let next = migrator
        .registry()
        .in_order()
        .map(|m| m.version)
        .filter(|v| *v > newest)
        .min()
        .unwrap_or(Version::from_checked(newest.as_u64() + 1));
    let config = &ctx.cli.config;
    let said = match config::record_checks_from(config, next)? {
        CutOff::Written => {
            format!("{config}: checks_from = {next}: `lint` reports the findings of older migrations as history")
        }
        CutOff::Kept => return Ok(()),
        CutOff::NoFile => format!(
            "note: put `checks_from = {next}` in {config} so that `lint` reports the findings of older \
             migrations as history"
        ),
    };
    ctx.say(Tone::Dim, &said);
    Ok(())
}

/// What `adopt` found and recorded, or would record.
fn adoption(report: &AdoptReport) -> String {
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
