//! The verbs that run migrations: `up`, `down` and `redo`, with their
//! rehearsals and the warnings a revert gives before it loses data.

use crate::cli::args::{DownArgs, RedoArgs, UpArgs};
use crate::cli::context::{Access, Context, RunRules};
use crate::cli::output::Tone;
use crate::cli::report::show_rehearsal;
use migrations_rs_runtime::{Error, Preview, RevertScope, Risk};
use std::process::ExitCode;

/// The rules `up`'s flags set, on one database or over targets.
pub(super) fn up_rules(args: &UpArgs) -> RunRules {
    RunRules {
        strict_order: args.strict,
        ignore_foreign_history: args.ignore_foreign_history,
        allow_destructive: args.allow_destructive,
        keep_going: args.keep_going,
        ..RunRules::default()
    }
}

pub(super) async fn up(args: &UpArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let rules = up_rules(args);
    ctx.on_database(Access::Changes, rules, async |migrator, conn| {
        if args.refuse_drift || ctx.settings.refuse_drift {
            super::schema::refuse_drift(ctx, migrator, conn).await?;
        }
        let scope = args.scope();
        if args.dry_run {
            return Ok(show_rehearsal(ctx, &migrator.rehearse_up(conn, scope).await?));
        }
        // In a protected environment the plan is confirmed under the lock (see `context::approval`).
        let report = migrator.up(conn, scope).await?;
        for step in &report.applied {
            for note in &step.notes {
                ctx.say(Tone::Dim, &format!("note: {} {}: {note}", step.version, step.name));
            }
        }
        for missing in &report.missing_from_code {
            ctx.say(
                Tone::Warning,
                &format!(
                    "warning: {} {} (module {}) is applied but no longer in the code",
                    missing.version, missing.name, missing.module
                ),
            );
        }
        ctx.print(&report, |r| {
            let out_of_order = r.applied.iter().filter(|s| s.out_of_order).count();
            match r.applied.len() {
                0 => "nothing to apply: the database is up to date".to_owned(),
                n => format!(
                    "{n} migration(s) applied in batch {}{}",
                    r.batch.unwrap_or_default(),
                    if out_of_order > 0 { format!(", {out_of_order} out of order") } else { String::new() }
                ),
            }
        });
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn down(args: &DownArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let rules = RunRules { strict_revert: args.strict, revert_modified: args.revert_modified, ..RunRules::default() };
    ctx.on_database(Access::Changes, rules, async |migrator, conn| {
        let target = match (args.to, args.last_batch) {
            (Some(version), _) => RevertScope::To(version),
            (None, true) => RevertScope::LastBatch,
            (None, false) => RevertScope::Steps(args.steps.unwrap_or(1)),
        };
        if args.dry_run {
            return Ok(show_rehearsal(ctx, &migrator.rehearse_down(conn, target).await?));
        }
        warn_data_loss(ctx, &migrator.preview_down(conn, target.clone()).await?);
        let report = migrator.down(conn, target).await?;
        ctx.print(&report, |r| match r.reverted.len() {
            0 => "nothing to revert".to_owned(),
            n => format!("{n} migration(s) reverted"),
        });
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn redo(args: &RedoArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        warn_data_loss(ctx, &migrator.preview_down(conn, RevertScope::Steps(args.steps)).await?);
        let (reverted, applied) = migrator.redo(conn, args.steps).await?;
        ctx.print(&serde_json::json!({ "reverted": reverted, "applied": applied }), |_| {
            format!("{} migration(s) reverted and applied again", applied.applied.len())
        });
        Ok(ExitCode::SUCCESS)
    })
    .await
}

fn warn_data_loss(ctx: &Context<'_>, preview: &Preview) {
    for step in preview.steps.iter().filter(|s| s.risk.contains(&Risk::Data)) {
        ctx.say(
            Tone::Warning,
            &format!(
                "warning: reverting data migration {} {} may lose data written since it ran",
                step.version, step.name
            ),
        );
    }
}
