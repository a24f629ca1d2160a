//! The verbs that read the database's state and change nothing: `status`,
//! `history`, `validate`, `plan` and `graph`. `status` and `validate` exit
//! [`NOT_UP_TO_DATE`] when the database is behind or does not match the code.

use crate::cli::args::{GraphArgs, GraphFormat, HistoryArgs, PlanArgs, StatusArgs};
use crate::cli::context::{Access, Context, RunRules};
use crate::cli::output::Tone;
use crate::cli::render;
use crate::history_filter::parse_since;
use migrations_rs_runtime::{Error, LogQuery};
use std::process::ExitCode;

/// Exit code of `status` and `validate` when the database is not up to date or not valid.
pub(super) const NOT_UP_TO_DATE: u8 = 3;

pub(super) async fn status(args: &StatusArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Reads("status"), RunRules::default(), async |migrator, conn| {
        let mut status = migrator.status(conn).await?;
        if let Some(module) = &args.module {
            status.migrations.retain(|m| m.migration.module == module);
            status.missing_from_code.retain(|m| &m.module == module);
        }
        let up_to_date = status.is_up_to_date();
        let shown = render::StatusView::new(&status, args.pending, args.limit);
        let lock = migrator.lock_status(conn).await?;
        ctx.print(
            &serde_json::json!({
                "up_to_date": up_to_date,
                "status": shown.filtered(&status),
                "not_shown": shown.hidden,
                "lock": lock
            }),
            |_| format!("{}\n{}", render::status(&status, &shown), render::lock_status(&lock)),
        );
        if !ctx.cli.json {
            for table in &status.unadopted {
                ctx.say(
                    Tone::Warning,
                    &format!(
                        "note: this database holds {table} but no history of migrations-rs; run \
                         `adopt --from {}` to record what it applied before `up`",
                        table.tool
                    ),
                );
            }
        }
        Ok(if up_to_date { ExitCode::SUCCESS } else { ExitCode::from(NOT_UP_TO_DATE) })
    })
    .await
}

pub(super) async fn history(args: &HistoryArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Reads("history"), RunRules::default(), async |migrator, conn| {
        let query = LogQuery {
            limit: args.limit,
            since: args.since.as_deref().map(|since| parse_since(since, &format!("--since {since}"))).transpose()?,
            version: args.version,
            action: args.action,
            ..LogQuery::default()
        };
        let records = migrator.history(conn, &query).await?;
        ctx.print(&records, |r| render::history(r));
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn validate(ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Reads("validate"), RunRules::default(), async |migrator, conn| {
        let validation = migrator.validate(conn).await?;
        ctx.print(&validation, |v| {
            if v.is_valid() {
                "valid: the code and the database agree".to_owned()
            } else {
                format!(
                    "{} problem(s):\n{}{}",
                    v.problems.len(),
                    v.problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"),
                    crate::cli::remedy::help_lines(&v.remedies)
                )
            }
        });
        Ok(if validation.is_valid() { ExitCode::SUCCESS } else { ExitCode::from(NOT_UP_TO_DATE) })
    })
    .await
}

pub(super) async fn plan(args: &PlanArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Reads("plan"), RunRules::default(), async |migrator, conn| {
        let preview = migrator.preview_up(conn, args.scope()).await?;
        ctx.print(&preview, render::preview);
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub(super) async fn graph(args: &GraphArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Reads("graph"), RunRules::default(), async |migrator, conn| {
        let nodes = migrator.graph_nodes(conn).await?;
        if ctx.cli.json {
            ctx.out.line_always(render::json(&nodes));
        } else {
            ctx.out.line_always(match args.format {
                GraphFormat::Text => render::graph_text(&nodes),
                GraphFormat::Dot => render::graph_dot(&nodes),
            });
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}
