//! `up`, `status`, `validate`, `drift` and `lint --pending` over a fleet: the targets the command line
//! names (URLs, a file, a query on the control database, schemas), the share
//! `--shard` takes of them, and the run with `--parallel`, `--canary` and
//! `--keep-going`. Each target's report is printed as it finishes (a JSON
//! line with `--json`), then a table and the summary. The exit code is 0
//! only when every target ends up to date: 1 when a target failed or was
//! not started, else 3 when `status`, `validate` or `drift` found a target
//! behind, invalid or drifted.

use super::inspect::NOT_UP_TO_DATE;
use crate::cli::args::{DriftArgs, FleetArgs, LintArgs, StatusArgs, UpArgs};
use crate::cli::context::{Context, RunRules};
use crate::cli::output::Tone;
use crate::cli::report::{show_fleet, show_lint};
use migrations_rs_runtime::engine::DriftOptions;
use migrations_rs_runtime::fleet::{DEFAULT_PARALLEL, Fleet, FleetReport, Target, Targets};
use migrations_rs_runtime::{Backend, DatabaseUrl, Error, Version};
use std::process::ExitCode;

pub(super) async fn up(args: &UpArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    for (given, flag) in [(args.dry_run, "--dry-run"), (args.refuse_drift, "--refuse-drift")] {
        if given {
            return Err(Error::msg(format!(
                "{flag} works on one database at a time: run it without the targets (--target, --targets, \
                 --targets-query, --schema, --schemas-query), once per database"
            )));
        }
    }
    let rules = super::apply::up_rules(args);
    let targets = targets(&args.fleet, ctx).await?;
    ctx.confirm_change(&format!("up on {} target(s)", targets.len()))?;
    let fleet = fleet(targets, &args.fleet, rules, ctx).keep_going(args.keep_going);
    let report = fleet.up(args.scope()).await;
    Ok(finish(&report, ctx))
}

pub(super) async fn status(args: &StatusArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    if args.pending || args.limit.is_some() || args.module.is_some() {
        return Err(Error::msg(
            "--pending, --limit and --module list one database's migrations: over targets, `status` reports \
             each target's state and how many migrations it has pending; run it on one database to list them",
        ));
    }
    let targets = targets(&args.fleet, ctx).await?;
    let report = fleet(targets, &args.fleet, RunRules::default(), ctx).status().await;
    Ok(finish(&report, ctx))
}

pub(super) async fn validate(args: &FleetArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let targets = targets(args, ctx).await?;
    let report = fleet(targets, args, RunRules::default(), ctx).validate().await;
    Ok(finish(&report, ctx))
}

/// Each target's live schema against the one its applied migrations
/// produce, read from the schema file when it records the target's applied
/// state, else built on a scratch database beside the target.
pub(super) async fn drift(args: &DriftArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let options = DriftOptions::default()
        .schema_file(&args.schema_file)
        .rebuild(args.scratch)
        .exclude(ctx.settings.drift_exclude.iter().chain(&args.exclude_tables).cloned().collect());
    let targets = targets(&args.fleet, ctx).await?;
    let report = fleet(targets, &args.fleet, RunRules::default(), ctx).drift(&options).await?;
    Ok(finish(&report, ctx))
}

/// The risk analysis of every migration pending on any target, in each
/// target backend's dialect (or `--backend`'s); targets that cannot be read
/// are reported and fail the command.
pub(super) async fn lint(args: &LintArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    if !args.pending {
        return Err(Error::msg(
            "`lint` over targets analyses what is pending on them: add --pending, or leave out the targets \
             to analyse every migration",
        ));
    }
    let targets = targets(&args.fleet, ctx).await?;
    let backends: Vec<Backend> = targets.iter().map(|t| t.database_url().backend()).collect();
    let report = Fleet::new(targets)
        .migrator(|| ctx.quiet_migrator(RunRules::default()))
        .parallel(args.fleet.parallel.unwrap_or(DEFAULT_PARALLEL))
        .init_sql(ctx.settings.init_sql.clone())
        .status()
        .await;
    // Each backend of the targets, in the order first met, with the versions pending on any of its targets.
    let mut pending: Vec<(Backend, Vec<Version>)> = Vec::new();
    for (target, backend) in report.targets.iter().zip(backends) {
        let backend = args.backend.map_or(backend, Backend::from);
        let at = pending.iter().position(|(b, _)| *b == backend).unwrap_or_else(|| {
            pending.push((backend, Vec::new()));
            pending.len() - 1
        });
        for version in &target.pending_versions {
            if !pending[at].1.contains(version) {
                pending[at].1.push(*version);
            }
        }
        if let Some(error) = &target.error {
            ctx.say(Tone::Bad, &format!("{} ({}): {}", target.name, target.location, error.message));
        }
    }
    let migrator = ctx.quiet_migrator(RunRules::default())?;
    let mut code = ExitCode::SUCCESS;
    for (backend, mut versions) in pending {
        let order: Vec<Version> = migrator.registry().in_order().map(|m| m.version).collect();
        versions.sort_by_key(|v| order.iter().position(|o| o == v));
        let shown = show_lint(ctx, &migrator.analyze(backend, &versions).await?, backend);
        if shown != ExitCode::SUCCESS {
            code = shown;
        }
    }
    Ok(if report.has_failures() { ExitCode::FAILURE } else { code })
}

/// The fleet over `targets` with the command line's options, printing each
/// target's report as it finishes.
fn fleet<'a>(targets: Targets, args: &FleetArgs, rules: RunRules, ctx: &'a Context<'a>) -> Fleet<'a> {
    let (json, out, err) = (ctx.cli.json, ctx.out.clone(), ctx.err.clone());
    Fleet::new(targets)
        .migrator(move || ctx.quiet_migrator(rules))
        .parallel(args.parallel.unwrap_or(DEFAULT_PARALLEL))
        .canary(args.canary.unwrap_or(0))
        .init_sql(ctx.settings.init_sql.clone())
        .on_target(move |report| {
            if json {
                out.line_always(json_line(report));
            } else {
                err.line(crate::cli::report::fleet_progress_line(&err, report));
            }
        })
}

/// Prints the table (or the JSON summary line) and returns the exit code.
fn finish(report: &FleetReport, ctx: &Context<'_>) -> ExitCode {
    if ctx.cli.json {
        ctx.out.line_always(json_line(&serde_json::json!({
            "operation": report.operation,
            "up_to_date": report.is_up_to_date(),
            "summary": report.summary,
        })));
    } else {
        show_fleet(ctx, report);
    }
    if report.has_failures() {
        ExitCode::FAILURE
    } else if !report.is_up_to_date() {
        ExitCode::from(NOT_UP_TO_DATE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every target the command line names, without duplicates, then the share `--shard` takes.
async fn targets(args: &FleetArgs, ctx: &Context<'_>) -> Result<Targets, Error> {
    let control = &ctx.settings.url;
    let mut list: Vec<Target> = Vec::new();
    let mut flags: Vec<&str> = Vec::new();
    for url in &args.target {
        let url = DatabaseUrl::parse(url.trim()).map_err(|e| flag_error("--target", &e))?;
        list.push(Target::url(url));
        flags.push("--target");
    }
    if let Some(file) = &args.targets_file {
        list.extend(Targets::from_file(file).map_err(|e| flag_error("--targets", &e))?);
        flags.push("--targets");
    }
    if let Some(sql) = &args.targets_query {
        list.extend(Targets::from_url_query(control, sql).await.map_err(|e| flag_error("--targets-query", &e))?);
        flags.push("--targets-query");
    }
    for schema in &args.schema {
        list.push(Target::schema(control.clone(), schema).map_err(|e| flag_error("--schema", &e))?);
        flags.push("--schema");
    }
    if let Some(sql) = &args.schemas_query {
        list.extend(Targets::from_schema_query(control, sql).await.map_err(|e| flag_error("--schemas-query", &e))?);
        flags.push("--schemas-query");
    }
    flags.dedup();
    let targets = Targets::new(list).map_err(|e| flag_error(&flags.join(", "), &e))?;
    let targets = match args.shard {
        Some(shard) => {
            let all = targets.len();
            let share = targets.shard(shard);
            ctx.say(Tone::Dim, &format!("shard {shard}: {} of {all} target(s)", share.len()));
            share
        }
        None => targets,
    };
    Ok(targets)
}

/// `value` as JSON on one line: a line per target, then the summary's.
fn json_line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("{{\"error\":\"cannot write JSON: {error}\"}}"))
}

/// A target list's error, saying which flag gave the list.
fn flag_error(flag: &str, error: &Error) -> Error {
    Error::msg(format!("{flag}: {error}"))
}
