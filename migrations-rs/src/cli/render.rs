//! Turns what the runtime returns into text for people.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrations_rs_runtime::{
    Backend, GraphNode, LockStatus, LogRecord, Mechanism, MigrationState, MigrationStatus, Preview, Status, StepSql,
};

/// The status as an aligned table followed by a summary line; with several
/// modules, one table per module under a heading with its own counts.
pub(crate) fn status(status: &Status) -> String {
    let mut modules: Vec<&str> = Vec::new();
    let names =
        status.migrations.iter().map(|m| m.module).chain(status.missing_from_code.iter().map(|m| m.module.as_str()));
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
    let all: Vec<&MigrationStatus> = status.migrations.iter().collect();
    if modules.len() <= 1 {
        return format!("{}\n{}: {verdict}", status_table(status, None), summary(&all));
    }
    let mut out = Vec::new();
    for module in &modules {
        let own: Vec<&MigrationStatus> = all.iter().copied().filter(|m| m.module == *module).collect();
        out.push(format!("module {module}: {}\n{}", summary(&own), status_table(status, Some(module))));
    }
    out.push(format!("{} modules, {}: {verdict}", modules.len(), summary(&all)));
    out.join("\n\n")
}

/// The rows of `module`, or of every module with a module column.
fn status_table(status: &Status, module: Option<&str>) -> Table {
    let mut header = vec!["version", "name", "module", "risk", "state", "applied at", "took", "batch"];
    if module.is_some() {
        header.remove(2);
    }
    let mut table = table(&header);
    let mut add = |mut row: Vec<String>| {
        if module.is_some() {
            row.remove(2);
        }
        table.add_row(row);
    };
    for migration in status.migrations.iter().filter(|m| module.is_none_or(|module| m.module == module)) {
        let risk = migration.risk.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        let (state, applied_at, took, batch) = match &migration.state {
            MigrationState::Applied { applied_at, execution_ms, batch, checksum_matches, .. } => (
                if *checksum_matches { "applied" } else { "applied, modified since" },
                applied_at.clone(),
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
                since.clone(),
                String::new(),
                String::new(),
            ),
        };
        add(vec![
            migration.version.to_string(),
            migration.name.to_owned(),
            migration.module.to_owned(),
            risk,
            state.to_owned(),
            applied_at,
            took,
            batch,
        ]);
    }
    for missing in status.missing_from_code.iter().filter(|m| module.is_none_or(|module| m.module == module)) {
        add(vec![
            missing.version.to_string(),
            missing.name.clone(),
            missing.module.clone(),
            missing.risk.clone(),
            "applied, missing from code".to_owned(),
            missing.applied_at.clone(),
            format!("{} ms", missing.execution_ms),
            missing.batch.to_string(),
        ]);
    }
    table
}

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
    format!("lock: {}\nmechanism: {}", holder, status.mechanism)
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(header.iter().copied());
    table
}

pub(crate) fn history(records: &[LogRecord]) -> String {
    if records.is_empty() {
        return "the audit log has no matching entries".to_owned();
    }
    let mut out = table(&["at", "action", "version", "name", "by", "took", "batch", "error"]);
    for record in records {
        out.add_row([
            record.at.clone(),
            record.action.clone(),
            record.version.to_string(),
            record.name.clone(),
            record.performed_by.clone(),
            format!("{} ms", record.duration_ms),
            record.batch.to_string(),
            record.error.clone().unwrap_or_default(),
        ]);
    }
    out.to_string()
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
