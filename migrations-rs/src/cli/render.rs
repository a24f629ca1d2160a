//! Turns what the runtime returns into text for people.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrations_rs_runtime::{
    Backend, GraphNode, LockStatus, LogRecord, Mechanism, MigrationState, MigrationStatus, Preview, Status, StepSql,
    StepWaits, Version,
};

/// Which migrations `status` shows: all, or only pending (and dirty) ones
/// with `--pending`, at most `--limit` of them.
pub(crate) struct StatusView {
    shown: Vec<Version>,
    /// How many of the listed migrations are left out.
    pub hidden: usize,
    pending_only: bool,
}

impl StatusView {
    pub(crate) fn new(status: &Status, pending_only: bool, limit: Option<usize>) -> Self {
        let candidates: Vec<Version> = status
            .migrations
            .iter()
            .filter(|m| !pending_only || !matches!(m.state, MigrationState::Applied { .. }))
            .map(|m| m.migration.version)
            .collect();
        let shown = match limit {
            // The next to apply, or the newest.
            Some(limit) if pending_only => candidates.iter().copied().take(limit).collect(),
            Some(limit) => candidates.iter().copied().skip(candidates.len().saturating_sub(limit)).collect(),
            None => candidates,
        };
        let listed = status.migrations.len() + if pending_only { 0 } else { status.missing_from_code.len() };
        let missing_shown = if pending_only { 0 } else { status.missing_from_code.len() };
        StatusView { hidden: listed - shown.len() - missing_shown, shown, pending_only }
    }

    fn shows(&self, entry: &MigrationStatus) -> bool {
        self.shown.contains(&entry.migration.version)
    }

    /// The status with only what is shown.
    pub(crate) fn filtered(&self, status: &Status) -> Status {
        let mut filtered = status.clone();
        filtered.migrations.retain(|m| self.shows(m));
        if self.pending_only {
            filtered.missing_from_code.clear();
        }
        filtered
    }
}

/// The status as compact tables (columns that say nothing are left out)
/// followed by a summary line; with several modules, one table per module
/// under a heading with its own counts.
pub(crate) fn status(status: &Status, view: &StatusView) -> String {
    let mut modules: Vec<&str> = Vec::new();
    let names = status
        .migrations
        .iter()
        .map(|m| m.migration.module)
        .chain(status.missing_from_code.iter().map(|m| m.module.as_str()));
    for module in names {
        if !modules.contains(&module) {
            modules.push(module);
        }
    }
    let summary = |migrations: &[&MigrationStatus]| {
        let count = |wanted: fn(&MigrationState) -> bool| migrations.iter().filter(|m| wanted(&m.state)).count();
        let applied = count(|s| matches!(s, MigrationState::Applied { .. }));
        let pending = count(|s| matches!(s, MigrationState::Pending { .. }));
        let dirty = count(|s| matches!(s, MigrationState::Dirty { .. }));
        let dirty = if dirty > 0 { format!(", {dirty} dirty") } else { String::new() };
        format!("{applied} applied, {pending} pending{dirty}")
    };
    let verdict = if status.is_up_to_date() { "up to date" } else { "not up to date" };
    let hidden = match view.hidden {
        0 => String::new(),
        n => format!(" ({n} not shown)"),
    };
    let all: Vec<&MigrationStatus> = status.migrations.iter().collect();
    if modules.len() <= 1 {
        let table = status_table(status, view, modules.first().copied());
        return format!("{}{}: {verdict}{hidden}", table_or_nothing(table), summary(&all));
    }
    let mut out = Vec::new();
    for module in &modules {
        let own: Vec<&MigrationStatus> = all.iter().copied().filter(|m| m.migration.module == *module).collect();
        let table = status_table(status, view, Some(module));
        out.push(format!("module {module}: {}\n{}", summary(&own), table_or_nothing(table).trim_end()));
    }
    out.push(format!("{} modules, {}: {verdict}{hidden}", modules.len(), summary(&all)));
    out.join("\n\n")
}

fn table_or_nothing(table: Option<String>) -> String {
    table.map_or_else(String::new, |table| format!("{table}\n"))
}

/// The rows of `module` that the view shows, without the module column.
fn status_table(status: &Status, view: &StatusView, module: Option<&str>) -> Option<String> {
    let in_module = |name: &str| module.is_none_or(|module| name == module);
    let mut rows = Vec::new();
    for entry in status.migrations.iter().filter(|m| in_module(m.migration.module) && view.shows(m)) {
        let risk = entry.migration.risk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        let (state, applied_at, took, batch) = match &entry.state {
            MigrationState::Applied { applied_at, execution_ms, batch, checksum_matches, .. } => (
                if *checksum_matches { "applied" } else { "applied, modified since" },
                short_time(applied_at),
                format!("{execution_ms} ms"),
                batch.to_string(),
            ),
            MigrationState::Pending { out_of_order } => (
                if *out_of_order { "pending, out of order" } else { "pending" },
                String::new(),
                String::new(),
                String::new(),
            ),
            MigrationState::Dirty { since, reverting } => (
                if *reverting { "DIRTY: revert did not finish" } else { "DIRTY: apply did not finish" },
                short_time(since),
                String::new(),
                String::new(),
            ),
        };
        rows.push(vec![
            entry.migration.version.to_string(),
            entry.migration.name.to_owned(),
            risk,
            state.to_owned(),
            applied_at,
            took,
            batch,
        ]);
    }
    if !view.pending_only {
        for missing in status.missing_from_code.iter().filter(|m| in_module(&m.module)) {
            rows.push(vec![
                missing.version.to_string(),
                missing.name.clone(),
                missing.risk.clone(),
                "applied, missing from code".to_owned(),
                short_time(&missing.applied_at),
                format!("{} ms", missing.execution_ms),
                missing.batch.to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        return None;
    }
    Some(aligned(&["version", "name", "risk", "state", "applied at", "took", "batch"], rows, &[1]).join("\n"))
}

/// `2024-06-01 12:00:00` of an RFC 3339 time.
fn short_time(time: &str) -> String {
    time.get(..19).map_or_else(|| time.to_owned(), |t| t.replacen('T', " ", 1))
}

/// Rows as aligned columns two spaces apart, under their header, without the
/// columns whose cells are all empty, in at most [`WIDTH`] characters: the
/// columns `shrink` (by index in `header`, in that order) are cut short with
/// `…` when needed. A cell shows its first line only.
fn aligned(header: &[&str], rows: Vec<Vec<String>>, shrink: &[usize]) -> Vec<String> {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.into_iter().map(|cell| cell.lines().next().unwrap_or_default().to_owned()).collect())
        .collect();
    let keep: Vec<usize> = (0..header.len()).filter(|&i| rows.iter().any(|row| !row[i].is_empty())).collect();
    let chars = |text: &str| text.chars().count();
    let mut widths: Vec<usize> =
        keep.iter().map(|&i| rows.iter().map(|r| chars(&r[i])).chain([chars(header[i])]).max().unwrap_or(0)).collect();
    for column in shrink {
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        if let Some(at) = keep.iter().position(|i| i == column)
            && total > WIDTH
        {
            widths[at] = widths[at].saturating_sub(total - WIDTH).max(12);
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (n, (cell, width)) in cells.into_iter().zip(&widths).enumerate() {
            let cell = if chars(cell) > *width {
                format!("{}…", cell.chars().take(width.saturating_sub(1)).collect::<String>())
            } else {
                cell.to_owned()
            };
            if n + 1 < widths.len() {
                out.push_str(&format!("{cell:<width$}  "));
            } else {
                out.push_str(&cell);
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = vec![line(keep.iter().map(|&i| header[i]).collect())];
    out.extend(rows.iter().map(|row| line(keep.iter().map(|&i| row[i].as_str()).collect())));
    out
}

/// The widest a table gets.
const WIDTH: usize = 100;

pub(crate) fn lock_status(status: &LockStatus) -> String {
    let holder = match (&status.holder, status.held) {
        (Some(holder), true) if status.mechanism == Mechanism::LeaseRow => format!(
            "held by {holder}, last heartbeat {} s ago (taken over after {} s without one)",
            holder.heartbeat_age.as_secs(),
            holder.stale_after.as_secs()
        ),
        (Some(holder), true) => format!("held by {holder}, last heartbeat {} s ago", holder.heartbeat_age.as_secs()),
        (Some(holder), false) => format!("free (last held by {holder})"),
        (None, true) => "held by a process that left no record".to_owned(),
        (None, false) => "free".to_owned(),
    };
    let mut out = format!("lock: {}\nmechanism: {}", holder, status.mechanism);
    if let Some(waits) = status.waits.as_ref().and_then(|waits| step_waits(waits, status.held)) {
        out.push('\n');
        out.push_str(&waits);
    }
    out
}

/// What the lock holder's steps wait on: their session, and the sessions
/// that block it as aligned columns, each line at most [`WIDTH`] characters.
/// Nothing while the lock is free.
fn step_waits(waits: &StepWaits, held: bool) -> Option<String> {
    let waits = match waits {
        StepWaits::Unavailable { .. } => {
            return Some("waits on: not available (SQLite shows no other connection's locks)".to_owned());
        }
        StepWaits::NoSession { .. } if !held => return None,
        StepWaits::NoSession { reason } => return Some(fit(&format!("waits on: nothing to show: {reason}"))),
        StepWaits::Session(waits) => waits,
    };
    let step = &waits.session;
    let mut line = format!("steps run in session {}", step.id);
    match &step.waiting_for {
        Some(waiting_for) => line.push_str(&format!(", waiting: {waiting_for}")),
        None => line.push_str(", not waiting"),
    }
    if let Some(age) = step.query_ms {
        line.push_str(&format!(" for {}", seconds(age)));
    }
    let mut out = vec![fit(&line)];
    if let Some(query) = &step.query {
        out.push(fit(&format!("  {}", one_line(query))));
    }
    if !waits.blockers.is_empty() {
        out.push(fit(&format!("blocked by (from {}):", waits.found_by)));
        let rows = waits
            .blockers
            .iter()
            .map(|blocker| {
                vec![
                    blocker.id.to_string(),
                    blocker.state.clone().unwrap_or_default(),
                    blocker.waiting_for.clone().unwrap_or_default(),
                    blocker.transaction_ms.map(seconds).unwrap_or_default(),
                    blocker.query_ms.map(seconds).unwrap_or_default(),
                    blocker.query.as_deref().map(one_line).unwrap_or_default(),
                ]
            })
            .collect();
        let header = ["session", "state", "waiting", "transaction", "statement", "query"];
        out.extend(aligned(&header, rows, &[5, 2, 1]).into_iter().map(|line| format!("  {line}")).map(|l| fit(&l)));
    }
    Some(out.join("\n"))
}

/// `line` cut at [`WIDTH`] characters, with `…` where it was cut.
fn fit(line: &str) -> String {
    if line.chars().count() <= WIDTH {
        return line.to_owned();
    }
    format!("{}…", line.chars().take(WIDTH - 1).collect::<String>())
}

/// Milliseconds as seconds with one decimal.
fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// `text` with its runs of whitespace, line breaks included, as single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(header.iter().copied());
    table
}

/// The audit log: one aligned row per entry, and under an entry its error
/// (a failure) or its note (anything else), indented, each line cut at the width.
pub(crate) fn history(records: &[LogRecord]) -> String {
    if records.is_empty() {
        return "the audit log has no matching entries".to_owned();
    }
    let rows = records
        .iter()
        .map(|record| {
            vec![
                short_time(&record.at),
                record.action.clone(),
                record.version.to_string(),
                record.name.clone(),
                record.performed_by.clone(),
                format!("{} ms", record.duration_ms),
                record.batch.to_string(),
            ]
        })
        .collect();
    let mut lines = aligned(&["at", "action", "version", "name", "by", "took", "batch"], rows, &[3, 4]).into_iter();
    let mut out: Vec<String> = lines.next().into_iter().collect();
    for (record, line) in records.iter().zip(lines) {
        out.push(line);
        let said = [("error", &record.error), ("note", &record.note)];
        for (label, text) in said.iter().filter_map(|(label, text)| text.as_deref().map(|t| (label, t))) {
            for (n, text_line) in text.lines().enumerate() {
                let prefix = if n == 0 { format!("    {label}: ") } else { "      ".to_owned() };
                let full = format!("{prefix}{text_line}");
                out.push(if full.chars().count() > WIDTH {
                    format!("{}…", full.chars().take(WIDTH - 1).collect::<String>())
                } else {
                    full
                });
            }
        }
    }
    out.join("\n")
}

pub(crate) fn preview(preview: &Preview) -> String {
    if preview.steps.is_empty() {
        return format!("nothing to {}", preview.action);
    }
    let mut out = table(&["#", "version", "name", "module", "risk", "transaction", "why"]);
    for (index, step) in preview.steps.iter().enumerate() {
        out.add_row([
            (index + 1).to_string(),
            step.version.to_string(),
            step.name.to_owned(),
            step.module.to_owned(),
            step.risk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
            if step.transaction { "yes" } else { "no" }.to_owned(),
            step.reason.clone(),
        ]);
    }
    format!("{out}\n{} migration(s) would {}", preview.steps.len(), preview.action)
}

pub(crate) fn graph_text(nodes: &[GraphNode]) -> String {
    let names: std::collections::HashMap<_, _> = nodes.iter().map(|n| (n.version, n.name)).collect();
    nodes
        .iter()
        .map(|node| {
            let mark = if node.applied { "[x]" } else { "[ ]" };
            let deps: Vec<String> =
                node.depends_on.iter().map(|d| format!("{d} {}", names.get(d).copied().unwrap_or("?"))).collect();
            let deps = if deps.is_empty() { String::new() } else { format!("  <- {}", deps.join(", ")) };
            format!("{mark} {} {} ({}){deps}", node.version, node.name, node.module)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Graphviz: applied migrations filled, pending ones dashed; edges point from a dependency to its dependent.
pub(crate) fn graph_dot(nodes: &[GraphNode]) -> String {
    let mut out = String::from("digraph migrations {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for node in nodes {
        let style = if node.applied { "filled\", fillcolor=\"palegreen" } else { "dashed" };
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n{}\\n{}\", style=\"{style}\"];\n",
            node.version,
            node.version,
            node.name,
            if node.applied { "applied" } else { "pending" }
        ));
    }
    for node in nodes {
        for dependency in &node.depends_on {
            out.push_str(&format!("  \"{dependency}\" -> \"{}\";\n", node.version));
        }
    }
    out.push_str("}\n");
    out
}

pub(crate) fn sql(steps: &[StepSql], backend: Backend) -> String {
    if steps.is_empty() {
        return "-- nothing pending".to_owned();
    }
    let mut out = String::new();
    for step in steps {
        out.push_str(&format!("-- {} {} ({backend})\n", step.version, step.name));
        for statement in &step.statements {
            out.push_str(statement.trim_end_matches(';'));
            out.push_str(";\n");
        }
        if let Some(reason) = &step.needs_database {
            out.push_str(&format!("-- {reason}\n"));
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}

pub(crate) fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|error| format!("{{\"error\": \"cannot serialize: {error}\"}}"))
}
