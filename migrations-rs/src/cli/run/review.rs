//! The verbs that show what the migrations would do before they run, in a
//! chosen SQL dialect: `lint` (the risk analysis) and `sql` (the statements).
//! Both work offline, without a database, unless they need to know what is
//! pending.

use crate::cli::args::{LintArgs, SqlArgs};
use crate::cli::context::{Access, Context, RunRules};
use crate::cli::render;
use crate::cli::report::show_lint;
use migrations_rs_runtime::{Backend, Error, Migrator, Scope, Version};
use std::process::ExitCode;

pub(super) async fn lint(args: &LintArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    if !args.pending {
        let migrator = Migrator::new(ctx.registry()?);
        let backend = args.backend.map_or_else(|| ctx.settings.url.backend(), Backend::from);
        return Ok(show_lint(ctx, &migrator.analyze_all(backend).await, backend));
    }
    ctx.on_database(Access::Reads("lint --pending"), RunRules::default(), async |migrator, conn| {
        let backend = args.backend.map_or_else(|| conn.backend(), Backend::from);
        let pending: Vec<_> = migrator.preview_up(conn, Scope::All).await?.steps.iter().map(|s| s.version).collect();
        Ok(show_lint(ctx, &migrator.analyze(backend, &pending).await?, backend))
    })
    .await
}

pub(super) async fn sql(args: &SqlArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    if let Some(backend) = args.backend
        && ctx.settings.is_default
    {
        // No database named: every migration (up to --to) is pending, and no SQLite file is opened.
        let migrator = Migrator::new(ctx.registry()?);
        let planned = migrator.registry().graph().plan_apply(&[], args.to).map_err(|_| match args.to {
            Some(version) => Error::UnknownVersion { version },
            None => Error::msg("the migrations cannot be planned"),
        })?;
        let versions: Vec<Version> = planned.iter().map(|step| step.version).collect();
        return show_sql(ctx, &migrator, backend.into(), &versions).await;
    }
    ctx.on_database(Access::Reads("sql"), RunRules::default(), async |migrator, conn| {
        let backend = args.backend.map_or_else(|| conn.backend(), Backend::from);
        let pending: Vec<_> =
            migrator.preview_up(conn, Scope::from(args.to)).await?.steps.iter().map(|s| s.version).collect();
        show_sql(ctx, migrator, backend, &pending).await
    })
    .await
}

/// The SQL of `versions`, in `backend`'s dialect.
async fn show_sql(
    ctx: &Context<'_>,
    migrator: &Migrator,
    backend: Backend,
    versions: &[Version],
) -> Result<ExitCode, Error> {
    let steps = migrator.sql(backend, versions).await?;
    ctx.print(&steps, |s| render::sql(s, backend));
    Ok(ExitCode::SUCCESS)
}
