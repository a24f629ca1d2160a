//! Each verb: the library call that does the work, the confirmation a
//! protected environment asks for, and how the result is shown.

use crate::cli::args::{BackendArg, Cli, Command, CompatTool, GraphFormat, LockCommand, LockKind};
use crate::cli::config::{self, Settings, confirm};
use crate::cli::output::{Output, Progress, Tone};
use crate::cli::{adopt, create, render, safety};
use migrations_rs_runtime::engine::{Progress as StepProgress, StepAction};
use migrations_rs_runtime::sql;
use migrations_rs_runtime::sqlx::sqlite::SqliteConnectOptions;
use migrations_rs_runtime::{
    Backend, BackupOptions, Compat, Connection, Error, Hooks, LockOptions, LockStrategy, LogQuery, Migrator, Preview,
    Registry, RevertScope, Risk, Scope, Version,
};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

/// Exit code of `status` and `validate` when the database is not up to date or not valid.
pub(crate) const NOT_UP_TO_DATE: u8 = 3;

pub(crate) struct Context<'a> {
    pub cli: &'a Cli,
    pub settings: &'a Settings,
    pub out: &'a Output,
    pub err: &'a Output,
}

impl Context<'_> {
    pub(crate) fn print<T: serde::Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) {
        if self.cli.json {
            self.out.line_always(render::json(value));
        } else {
            self.out.line(text(value));
        }
    }

    /// In a protected environment, a change needs a yes.
    pub(crate) fn confirm_change(&self, what: &str) -> Result<(), Error> {
        if self.settings.protected {
            confirm(&format!("{what} on {} (protected environment). Go ahead?", self.settings.url), self.cli.yes)?;
        }
        Ok(())
    }
}

pub(crate) async fn execute(ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let cli = ctx.cli;
    if let Command::Create { name, dir, depends_on, risk } = &cli.command {
        let registry = registry(ctx)?;
        if let Some(folder) = &cli.sql_dir {
            let created = create::create_sql(&registry, folder, name, depends_on, risk, SystemTime::now())?;
            ctx.print(&created, |c| {
                format!(
                    "created {} and {} with version {}",
                    c.file.display(),
                    c.down_file.as_deref().unwrap_or(&c.file).display(),
                    c.version
                )
            });
            return Ok(ExitCode::SUCCESS);
        }
        let created = create::create(&registry, dir.as_ref(), name, depends_on, risk, SystemTime::now())?;
        ctx.print(&created, |c| {
            let mut text = format!(
                "created {} with version {}\nwired into {}",
                c.file.display(),
                c.version,
                c.module_file.as_deref().unwrap_or(&c.file).display()
            );
            if c.new_folder {
                text.push_str(&format!("\n{} is new: add `mod {};` to your crate root once", dir, folder_name(dir)));
            }
            text
        });
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Lint { backend, pending: false } = &cli.command {
        let migrator = Migrator::new(registry(ctx)?);
        let backend = backend.map_or_else(|| ctx.settings.url.backend(), backend_of);
        return Ok(safety::lint(ctx, &migrator.analyze_all(backend).await, backend));
    }
    if let Command::Sql { backend: Some(backend), to } = &cli.command
        && ctx.settings.is_default
    {
        // No database named: every migration (up to --to) is pending, and no SQLite file is opened.
        let migrator = Migrator::new(registry(ctx)?);
        let planned = migrator.registry().graph().plan_apply(&[], *to).map_err(|_| match to {
            Some(version) => Error::UnknownVersion { version: *version },
            None => Error::msg("the migrations cannot be planned"),
        })?;
        let versions: Vec<Version> = planned.iter().map(|step| step.version).collect();
        let backend = backend_of(*backend);
        let steps = migrator.sql(backend, &versions).await?;
        ctx.print(&steps, |s| render::sql(s, backend));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(verb) = read_only_verb(&cli.command) {
        refuse_to_create(ctx, verb)?;
    }
    ctx.err.line(ctx.err.paint(Tone::Dim, &format!("database: {} (from {})", ctx.settings.url, ctx.settings.source)));
    let progress = Progress::new(ctx.err.is_terminal_with_color() && !cli.json && !cli.quiet);
    ctx.err.share_with(&progress);
    let migrator = migrator(ctx, &progress)?;
    let mut conn = Connection::connect(&ctx.settings.url).await?.with_init_sql(ctx.settings.init_sql.clone()).await?;
    let result = run(ctx, &migrator, &mut conn).await;
    progress.clear();
    let _ = conn.close().await;
    result
}

/// The verbs that only read the database, by name.
fn read_only_verb(command: &Command) -> Option<&'static str> {
    match command {
        Command::Status { .. } => Some("status"),
        Command::History { .. } => Some("history"),
        Command::Validate => Some("validate"),
        Command::Plan { .. } => Some("plan"),
        Command::Graph { .. } => Some("graph"),
        Command::Lint { .. } => Some("lint --pending"),
        Command::Sql { .. } => Some("sql"),
        Command::Lock(LockCommand::Status) => Some("lock status"),
        _ => None,
    }
}

/// A verb that only reads does not create a SQLite file that is not there
/// (`mode=rwc` would): it says so instead, and which verb creates it.
fn refuse_to_create(ctx: &Context<'_>, verb: &str) -> Result<(), Error> {
    let url = &ctx.settings.url;
    if url.backend() != Backend::Sqlite || url.expose().contains("memory") {
        return Ok(());
    }
    let options = SqliteConnectOptions::from_str(url.expose()).map_err(|e| Error::msg(e.to_string()))?;
    let file = options.get_filename();
    if file.exists() {
        return Ok(());
    }
    let file = std::env::current_dir().map_or_else(|_| file.to_path_buf(), |dir| dir.join(file));
    Err(Error::msg(format!(
        "the SQLite database {} does not exist (from {}); `{verb}` only reads and creates nothing: \
         `up` creates it, or check --database-url / DATABASE_URL",
        file.display(),
        ctx.settings.source
    )))
}

fn migrator(ctx: &Context<'_>, progress: &Progress) -> Result<Migrator, Error> {
    let cli = ctx.cli;
    let strict = matches!(cli.command, Command::Up { strict: true, .. });
    let strict_revert = matches!(cli.command, Command::Down { strict: true, .. });
    let ignore_foreign_history = matches!(cli.command, Command::Up { ignore_foreign_history: true, .. });
    let keep_going = matches!(cli.command, Command::Up { keep_going: true, .. });
    let compat = ctx.settings.compat.map(|tool| match tool {
        CompatTool::Sqlx => Compat::Sqlx,
        CompatTool::Diesel => Compat::Diesel,
    });
    let force = matches!(cli.command, Command::Down { force: true, .. });
    let run_destructive = matches!(cli.command, Command::Up { force: true, .. });
    let (out, steps) = (ctx.out.clone(), progress.clone());
    let show_steps = !cli.json;
    let err = ctx.err.clone();
    let backup_err = ctx.err.clone();
    let last_wait_report: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
    let (registry, hooks) = registry_and_hooks(ctx)?;
    let migrator = Migrator::new(registry).with_hooks(hooks);
    let migrator = if ctx.settings.protected {
        // Asked under the lock, about the plan that then runs unless the state changed meanwhile.
        let (url, yes) = (ctx.settings.url.to_string(), cli.yes);
        migrator.approve_plans_with(move |plan| {
            let question = safety::plan_question(plan, &url);
            Box::pin(async move {
                let Some(question) = question else { return Ok(()) };
                tokio::task::spawn_blocking(move || confirm(&question, yes))
                    .await
                    .map_err(|e| Error::msg(format!("cannot ask for confirmation: {e}")))?
            })
        })
    } else {
        migrator
    };
    Ok(migrator
        .with_lock_options(LockOptions {
            strategy: match ctx.settings.lock {
                LockKind::Native => LockStrategy::Native,
                LockKind::Lease => LockStrategy::Lease,
            },
            wait: Duration::from_secs(cli.lock.lock_timeout),
            stale_after: Duration::from_secs(cli.lock.stale_lock_after),
            ..LockOptions::default()
        })
        .strict_order(strict)
        .strict_revert(strict_revert)
        .keep_going(keep_going)
        .ignore_foreign_history(ignore_foreign_history)
        .compat(compat)
        .revert_modified(force)
        .force(run_destructive)
        .with_backup(BackupOptions {
            enabled: !cli.backup.no_backup,
            directory: cli.backup.backup_dir.clone(),
            command: ctx.settings.backup_command.clone(),
            timeout: Duration::from_secs(cli.backup.backup_timeout),
            keep: usize::try_from(cli.backup.keep_backups).unwrap_or(usize::MAX),
        })
        .on_progress(move |event| match event {
            StepProgress::Started { action, migration, index, total } => {
                steps.start(index, total, format!("{} {} {}", verb(action), migration.version, migration.name));
            }
            StepProgress::Finished { action, migration, duration, .. } if show_steps => {
                let done = match action {
                    StepAction::Apply => out.paint(Tone::Good, "applied "),
                    StepAction::Revert => out.paint(Tone::Warning, "reverted"),
                };
                steps.finish_step(
                    &out,
                    format!("{done} {} {} ({} ms)", migration.version, migration.name, duration.as_millis()),
                );
            }
            StepProgress::Finished { .. } => {}
        })
        .on_backup(move |backup| safety::report_backup(&backup_err, backup))
        .on_lock_wait(move |wait| {
            // Who holds the lock, when waiting starts and every ten seconds.
            let mut last = last_wait_report.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
                return;
            }
            *last = Some(Instant::now());
            let holder = wait.holder.map_or_else(|| "another process".to_owned(), ToString::to_string);
            err.line(format!(
                "waiting for the migration lock held by {holder} ({} s of {} s)",
                wait.waited.as_secs(),
                wait.limit.as_secs()
            ));
        }))
}

/// The migrations linked into this program, and those of `--sql-dir`.
fn registry(ctx: &Context<'_>) -> Result<Registry, Error> {
    registry_and_hooks(ctx).map(|(registry, _)| registry)
}

/// [`registry`], and the hook files of `--sql-dir`.
fn registry_and_hooks(ctx: &Context<'_>) -> Result<(Registry, Hooks), Error> {
    let linked = Registry::from_linked()?;
    let Some(folder) = &ctx.cli.sql_dir else { return Ok((linked, Hooks::default())) };
    if !folder.exists() {
        if matches!(ctx.cli.command, Command::Create { .. }) {
            return Ok((linked, Hooks::default()));
        }
        return Err(Error::msg(format!(
            "the SQL migrations folder {} does not exist: create a migration with `create NAME`, \
             or point --sql-dir at the folder",
            folder.display()
        )));
    }
    if !folder.is_dir() {
        return Err(Error::msg(format!(
            "--sql-dir {} is a file, not a directory: point --sql-dir at the folder that holds the SQL migrations",
            folder.display()
        )));
    }
    let loaded = sql::folder::load(folder)?;
    // Once per run, one line each, however many files.
    if !loaded.ignored.is_empty() {
        ctx.err.line(ctx.err.paint(
            Tone::Dim,
            &format!(
                "{} not a migration, left alone: {}",
                count(loaded.ignored.len(), "file is", "files are"),
                names(folder, &loaded.ignored)
            ),
        ));
    }
    if !loaded.empty_downs.is_empty() {
        ctx.err.line(ctx.err.paint(
            Tone::Warning,
            &format!(
                "warning: {} empty, so their migrations count as irreversible (a down file holding only \
                 comments says there is nothing to undo): {}",
                count(loaded.empty_downs.len(), "down file is", "down files are"),
                names(folder, &loaded.empty_downs)
            ),
        ));
    }
    Ok((Registry::new(linked.in_order().chain(loaded.migrations))?, loaded.hooks))
}

/// `1 file is` or `3 files are`.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// The first few paths, relative to the folder, and how many more.
fn names(folder: &std::path::Path, paths: &[std::path::PathBuf]) -> String {
    const SHOWN: usize = 3;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.strip_prefix(folder).unwrap_or(p).display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

fn verb(action: StepAction) -> &'static str {
    match action {
        StepAction::Apply => "applying",
        StepAction::Revert => "reverting",
    }
}

async fn run(ctx: &Context<'_>, migrator: &Migrator, conn: &mut Connection) -> Result<ExitCode, Error> {
    let cli = ctx.cli;
    match &cli.command {
        Command::Up { to, module, dry_run, .. } => {
            let scope = scope(*to, module);
            if *dry_run {
                return Ok(safety::rehearsal(ctx, &migrator.rehearse_up(conn, scope).await?));
            }
            // In a protected environment the plan is confirmed under the lock (see `migrator`).
            let report = migrator.up(conn, scope).await?;
            for step in &report.applied {
                for note in &step.notes {
                    ctx.err.line(ctx.err.paint(Tone::Dim, &format!("note: {} {}: {note}", step.version, step.name)));
                }
            }
            for missing in &report.missing_from_code {
                ctx.err.line(ctx.err.paint(
                    Tone::Warning,
                    &format!(
                        "warning: {} {} (module {}) is applied but no longer in the code",
                        missing.version, missing.name, missing.module
                    ),
                ));
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
        }
        Command::Down { steps, to, last_batch, dry_run, .. } => {
            let target = match (to, last_batch) {
                (Some(version), _) => RevertScope::To(*version),
                (None, true) => RevertScope::LastBatch,
                (None, false) => RevertScope::Steps(steps.unwrap_or(1)),
            };
            if *dry_run {
                return Ok(safety::rehearsal(ctx, &migrator.rehearse_down(conn, target).await?));
            }
            warn_data_loss(ctx, &migrator.preview_down(conn, target.clone()).await?);
            let report = migrator.down(conn, target).await?;
            ctx.print(&report, |r| match r.reverted.len() {
                0 => "nothing to revert".to_owned(),
                n => format!("{n} migration(s) reverted"),
            });
        }
        Command::Redo { steps } => {
            warn_data_loss(ctx, &migrator.preview_down(conn, RevertScope::Steps(*steps)).await?);
            let (reverted, applied) = migrator.redo(conn, *steps).await?;
            ctx.print(&serde_json::json!({ "reverted": reverted, "applied": applied }), |_| {
                format!("{} migration(s) reverted and applied again", applied.applied.len())
            });
        }
        Command::Status { module, pending, limit } => {
            let mut status = migrator.status(conn).await?;
            if let Some(module) = module {
                status.migrations.retain(|m| m.module == module);
                status.missing_from_code.retain(|m| &m.module == module);
            }
            let up_to_date = status.is_up_to_date();
            let shown = render::StatusView::new(&status, *pending, *limit);
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
            if !cli.json {
                for table in &status.unadopted {
                    ctx.err.line(ctx.err.paint(
                        Tone::Warning,
                        &format!(
                            "note: this database holds {table} but no history of migrations-rs; run \
                             `adopt --from {}` to record what it applied before `up`",
                            table.tool
                        ),
                    ));
                }
            }
            if !up_to_date {
                return Ok(ExitCode::from(NOT_UP_TO_DATE));
            }
        }
        Command::History { limit, since, version, action } => {
            let query = LogQuery {
                limit: *limit,
                since: since.as_deref().map(|since| parse_since(since, &format!("--since {since}"))).transpose()?,
                version: *version,
                action: *action,
                ..LogQuery::default()
            };
            let records = migrator.history(conn, &query).await?;
            ctx.print(&records, |r| render::history(r));
        }
        Command::Validate => {
            let validation = migrator.validate(conn).await?;
            ctx.print(&validation, |v| {
                if v.is_valid() {
                    "valid: the code and the database agree".to_owned()
                } else {
                    format!(
                        "{} problem(s):\n{}",
                        v.problems.len(),
                        v.problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
                    )
                }
            });
            if !validation.is_valid() {
                return Ok(ExitCode::from(NOT_UP_TO_DATE));
            }
        }
        Command::Repair => {
            ctx.confirm_change("Repairing the history")?;
            let report = migrator.repair(conn).await?;
            ctx.print(&report, |r| {
                let changes = r.checksums_accepted.len()
                    + r.unfinished_applies_cleared.len()
                    + r.unfinished_reverts_cleared.len();
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
        }
        Command::Baseline { to } => {
            ctx.confirm_change(&format!("Recording everything up to {to} as applied without running it"))?;
            let recorded = migrator.baseline(conn, *to).await?;
            ctx.print(&recorded, |r| format!("{} migration(s) recorded as applied, without running them", r.len()));
            record_cut_off(ctx, migrator, *to)?;
        }
        Command::Adopt { from, dry_run } => {
            if let Some(newest) = adopt::adopt(ctx, migrator, conn, *from, *dry_run).await? {
                record_cut_off(ctx, migrator, newest)?;
            }
        }
        Command::MarkApplied { version } => {
            ctx.confirm_change(&format!("Recording {version} as applied without running it"))?;
            migrator.mark_applied(conn, *version).await?;
            ctx.print(version, |v| format!("{v} recorded as applied, without running it"));
        }
        Command::MarkReverted { version } => {
            ctx.confirm_change(&format!("Recording {version} as not applied without running its down"))?;
            migrator.mark_reverted(conn, *version).await?;
            ctx.print(version, |v| format!("{v} recorded as not applied, without running its down"));
        }
        Command::Plan { to, module } => {
            let preview = migrator.preview_up(conn, scope(*to, module)).await?;
            ctx.print(&preview, render::preview);
        }
        Command::Graph { format } => {
            let nodes = migrator.graph_nodes(conn).await?;
            if cli.json {
                ctx.out.line_always(render::json(&nodes));
            } else {
                ctx.out.line_always(match format {
                    GraphFormat::Text => render::graph_text(&nodes),
                    GraphFormat::Dot => render::graph_dot(&nodes),
                });
            }
        }
        Command::Lint { backend, .. } => {
            let backend = backend.map_or_else(|| conn.backend(), backend_of);
            let pending: Vec<_> =
                migrator.preview_up(conn, Scope::All).await?.steps.iter().map(|s| s.version).collect();
            return Ok(safety::lint(ctx, &migrator.analyze(backend, &pending).await?, backend));
        }
        Command::Sql { backend, to } => {
            let backend = backend.map_or_else(|| conn.backend(), backend_of);
            let pending: Vec<_> =
                migrator.preview_up(conn, Scope::from(*to)).await?.steps.iter().map(|s| s.version).collect();
            let steps = migrator.sql(backend, &pending).await?;
            ctx.print(&steps, |s| render::sql(s, backend));
        }
        Command::Lock(LockCommand::Status) => {
            let status = migrator.lock_status(conn).await?;
            ctx.print(&status, render::lock_status);
        }
        Command::Lock(LockCommand::Release) => {
            let status = migrator.lock_status(conn).await?;
            if !status.held && status.holder.is_none() {
                ctx.print(&status, |_| "the migration lock is free; nothing to release".to_owned());
                return Ok(ExitCode::SUCCESS);
            }
            confirm(
                &format!("{}\nRelease it? Only do so if that process is gone.", render::lock_status(&status)),
                cli.yes,
            )?;
            let freed = migrator.release_lock(conn).await?;
            ctx.print(&freed, |f| match f {
                Some(holder) => format!("released the migration lock held by {holder}"),
                None => "released the migration lock".to_owned(),
            });
        }
        Command::Create { .. } => unreachable!("handled before connecting"),
    }
    Ok(ExitCode::SUCCESS)
}

/// After `adopt` or `baseline` up to `newest`: `lint` treats the migrations
/// up to it as history, through `checks_from` in the config file.
fn record_cut_off(ctx: &Context<'_>, migrator: &Migrator, newest: migrations_rs_runtime::Version) -> Result<(), Error> {
    let next = migrator
        .registry()
        .in_order()
        .map(|m| m.version)
        .filter(|v| *v > newest)
        .min()
        .unwrap_or(migrations_rs_runtime::Version::from_checked(newest.as_u64() + 1));
    let config = &ctx.cli.config;
    let said = match config::record_checks_from(config, next)? {
        config::CutOff::Written => {
            format!("{config}: checks_from = {next}: `lint` reports the findings of older migrations as history")
        }
        config::CutOff::Kept => return Ok(()),
        config::CutOff::NoFile => format!(
            "note: put `checks_from = {next}` in {config} so that `lint` reports the findings of older \
             migrations as history"
        ),
    };
    ctx.err.line(ctx.err.paint(Tone::Dim, &said));
    Ok(())
}

/// What `up` and `plan` cover: `--module`, else `--to`, else everything.
fn scope(to: Option<migrations_rs_runtime::Version>, module: &Option<String>) -> Scope {
    match module {
        Some(module) => Scope::Module(module.clone()),
        None => Scope::from(to),
    }
}

fn backend_of(arg: BackendArg) -> Backend {
    match arg {
        BackendArg::Postgres => Backend::Postgres,
        BackendArg::Mysql => Backend::MySql,
        BackendArg::Sqlite => Backend::Sqlite,
    }
}

fn warn_data_loss(ctx: &Context<'_>, preview: &Preview) {
    for step in preview.steps.iter().filter(|s| s.risk.contains(&Risk::Data)) {
        ctx.err.line(ctx.err.paint(
            Tone::Warning,
            &format!(
                "warning: reverting data migration {} {} may lose data written since it ran",
                step.version, step.name
            ),
        ));
    }
}

/// `--since`: an age such as `2h` or `7d`, an RFC 3339 time, or a date, as
/// RFC 3339 UTC. `what` names the input where it came from (`--since 2h`,
/// `since=2h`); an age reaching back before 1970 is an error, not a panic.
pub(crate) fn parse_since(input: &str, what: &str) -> Result<String, Error> {
    let moment = if let Ok(age) = humantime::parse_duration(input) {
        SystemTime::now().checked_sub(age).filter(|moment| *moment >= SystemTime::UNIX_EPOCH).ok_or_else(|| {
            Error::msg(format!(
                "{what}: that age reaches back before 1970-01-01, where no log entry can be; give a shorter age \
                 or a date such as 2024-06-01"
            ))
        })?
    } else if let Ok(moment) = humantime::parse_rfc3339_weak(input) {
        moment
    } else if let Ok(moment) = humantime::parse_rfc3339_weak(&format!("{input} 00:00:00")) {
        moment
    } else {
        return Err(Error::msg(format!(
            "{what}: give a time (2024-06-01T12:00:00Z), a date (2024-06-01) or an age (2h, 7d)"
        )));
    };
    Ok(humantime::format_rfc3339_millis(moment).to_string())
}

fn folder_name(dir: &str) -> String {
    std::path::Path::new(dir).file_name().map_or_else(|| dir.to_owned(), |n| n.to_string_lossy().into_owned())
}
