//! The verbs that check the schema the migrations produce: `verify`, on a
//! scratch database beside the target, and `drift`, the live schema against
//! the migrations'; and `up`'s refusal to run on a drifted schema. Both
//! verbs exit 3 when they find something.

use crate::cli::args::{DriftArgs, VerifyArgs};
use crate::cli::context::{Access, Context, RunRules};
use crate::cli::output::Tone;
use crate::cli::report::{show_drift, show_verification};
use migrations_rs_runtime::engine::{DEFAULT_SCHEMA_FILE, DriftOptions, VerifyOptions};
use migrations_rs_runtime::{Connection, DatabaseUrl, Error, Migrator};
use std::process::ExitCode;

pub(super) async fn verify(args: &VerifyArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let migrator = ctx.scratch_migrator()?;
    let mut options = VerifyOptions::default().init_sql(ctx.settings.init_sql.clone());
    if let Some(version) = args.from {
        options = options.from(version);
    }
    if let Some(url) = &args.scratch_url {
        options = options.scratch_url(DatabaseUrl::parse(url)?);
    }
    if let Some(path) = &args.seed_sql {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| Error::msg(format!("cannot read the seed SQL {}: {e}", path.display())))?;
        options = options.seed_sql(seed);
    }
    let beside = match &args.scratch_url {
        Some(url) => format!("on the scratch database {}", redacted(url)),
        None => format!("on a scratch database beside {} (from {})", ctx.settings.url, ctx.settings.source),
    };
    ctx.say(Tone::Dim, &format!("verifying {beside}; the target itself is not changed"));
    let report = migrator.verify(&ctx.settings.url, &options).await?;
    Ok(show_verification(ctx, &report))
}

pub(super) async fn drift(args: &DriftArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let mut options = DriftOptions::default()
        .schema_file(&args.schema_file)
        .rebuild(args.scratch)
        .write(args.write)
        .exclude(ctx.settings.drift_exclude.iter().chain(&args.exclude_tables).cloned().collect());
    if let Some(url) = &args.scratch_url {
        options = options.scratch_url(DatabaseUrl::parse(url)?);
    }
    ctx.on_database(Access::Reads("drift"), RunRules::default(), async |migrator, conn| {
        let drift = migrator.drift(conn, &options).await?;
        Ok(show_drift(ctx, &drift))
    })
    .await
}

/// `up --refuse-drift`: the refusal, when the live schema drifted.
pub(super) async fn refuse_drift(ctx: &Context<'_>, migrator: &Migrator, conn: &mut Connection) -> Result<(), Error> {
    let options = DriftOptions::default().schema_file(DEFAULT_SCHEMA_FILE).exclude(ctx.settings.drift_exclude.clone());
    let drift = migrator.drift(conn, &options).await?;
    if drift.drifted {
        return Err(Error::Drifted { changes: drift.changes });
    }
    Ok(())
}

fn redacted(url: &str) -> String {
    migrations_rs_runtime::url::redact(url)
}
