//! Turns what the runtime returns into text for people.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrations_rs_runtime::{LockStatus, MigrationState, Status};

/// The status as an aligned table followed by a summary line.
pub(crate) fn status(status: &Status) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["version", "name", "module", "risk", "state", "applied at", "took", "batch"]);
    for migration in &status.migrations {
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
        table.add_row([
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
    for missing in &status.missing_from_code {
        table.add_row([
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
    let count = |wanted: fn(&MigrationState) -> bool| status.migrations.iter().filter(|m| wanted(&m.state)).count();
    let applied = count(|s| matches!(s, MigrationState::Applied { .. }));
    let pending = count(|s| matches!(s, MigrationState::Pending { .. }));
    let dirty = count(|s| matches!(s, MigrationState::Dirty { .. }));
    let verdict = if status.is_up_to_date() { "up to date" } else { "not up to date" };
    let dirty = if dirty > 0 { format!(", {dirty} dirty") } else { String::new() };
    format!("{table}\n{applied} applied, {pending} pending{dirty}: {verdict}")
}

pub(crate) fn lock_status(status: &LockStatus) -> String {
    let holder = match (&status.holder, status.held) {
        (Some(holder), true) => format!("held by {holder}, last heartbeat {} s ago", holder.heartbeat_age.as_secs()),
        (Some(holder), false) => format!("free (last held by {holder})"),
        (None, true) => "held by a process that left no record".to_owned(),
        (None, false) => "free".to_owned(),
    };
    format!("lock: {}\nmechanism: {}", holder, status.mechanism)
}
