//! Runs the verb the command line names: one handler per verb, each taking
//! its own arguments and the shared [`Context`], grouped in files by what
//! the verbs do.

mod apply;
mod create;
mod fleet;
mod inspect;
mod lock;
mod record;
mod review;
mod schema;

use crate::cli::args::Command;
use crate::cli::context::Context;
use migrations_rs_runtime::Error;
use std::process::ExitCode;

pub(crate) async fn execute(ctx: &Context<'_>) -> Result<ExitCode, Error> {
    match &ctx.cli.command {
        Command::Up(args) if args.fleet.is_fleet() => fleet::up(args, ctx).await,
        Command::Up(args) => apply::up(args, ctx).await,
        Command::Down(args) => apply::down(args, ctx).await,
        Command::Redo(args) => apply::redo(args, ctx).await,
        Command::Status(args) if args.fleet.is_fleet() => fleet::status(args, ctx).await,
        Command::Status(args) => inspect::status(args, ctx).await,
        Command::History(args) => inspect::history(args, ctx).await,
        Command::Validate(args) if args.is_fleet() => fleet::validate(args, ctx).await,
        Command::Validate(_) => inspect::validate(ctx).await,
        Command::Plan(args) => inspect::plan(args, ctx).await,
        Command::Graph(args) => inspect::graph(args, ctx).await,
        Command::Repair => record::repair(ctx).await,
        Command::Baseline(args) => record::baseline(args, ctx).await,
        Command::Adopt(args) => record::adopt(args, ctx).await,
        Command::MarkApplied(args) => record::mark_applied(args, ctx).await,
        Command::MarkReverted(args) => record::mark_reverted(args, ctx).await,
        Command::Lint(args) if args.fleet.is_fleet() => fleet::lint(args, ctx).await,
        Command::Lint(args) => review::lint(args, ctx).await,
        Command::Sql(args) => review::sql(args, ctx).await,
        Command::Create(args) => create::create(args, ctx),
        Command::Verify(args) => schema::verify(args, ctx).await,
        Command::Drift(args) if args.fleet.is_fleet() => fleet::drift(args, ctx).await,
        Command::Drift(args) => schema::drift(args, ctx).await,
        Command::Lock(command) => lock::lock(command, ctx).await,
    }
}
