//! The `lock` verbs: who holds the migration lock, and freeing the lock of
//! a process that died holding it, after a yes.

use crate::cli::args::LockCommand;
use crate::cli::config::confirm;
use crate::cli::context::{Access, Context, RunRules};
use crate::cli::render;
use migrations_rs_runtime::Error;
use std::process::ExitCode;

pub(super) async fn lock(command: &LockCommand, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    match command {
        LockCommand::Status => status(ctx).await,
        LockCommand::Release => release(ctx).await,
    }
}

async fn status(ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Reads("lock status"), RunRules::default(), async |migrator, conn| {
        let status = migrator.lock_status(conn).await?;
        ctx.print(&status, render::lock_status);
        Ok(ExitCode::SUCCESS)
    })
    .await
}

async fn release(ctx: &Context<'_>) -> Result<ExitCode, Error> {
    ctx.on_database(Access::Changes, RunRules::default(), async |migrator, conn| {
        let status = migrator.lock_status(conn).await?;
        if !status.held && status.holder.is_none() {
            ctx.print(&status, |_| "the migration lock is free; nothing to release".to_owned());
            return Ok(ExitCode::SUCCESS);
        }
        confirm(
            &format!("{}\nRelease it? Only do so if that process is gone.", render::lock_status(&status)),
            ctx.cli.yes,
        )?;
        let freed = migrator.release_lock(conn).await?;
        ctx.print(&freed, |f| match f {
            Some(holder) => format!("released the migration lock held by {holder}"),
            None => "released the migration lock".to_owned(),
        });
        Ok(ExitCode::SUCCESS)
    })
    .await
}
