//! The parsers clap runs on argument values that need more than `FromStr`:
//! versions, lease lengths, waits and audit-log actions, each refused with a
//! sentence that says what to give instead.

use crate::history_filter;
use migrations_rs_runtime::lock::MIN_STALE_AFTER;
use migrations_rs_runtime::{Action, Version};

pub(super) fn parse_version(input: &str) -> Result<Version, String> {
    Version::parse(input).map_err(|e| e.to_string())
}

/// `--stale-lock-after`: whole seconds, at least [`MIN_STALE_AFTER`].
pub(super) fn parse_stale_after(input: &str) -> Result<u64, String> {
    let minimum = MIN_STALE_AFTER.as_secs();
    let seconds: u64 = input.parse().map_err(|_| format!("`{input}` is not a whole number of seconds"))?;
    if seconds < minimum {
        return Err(format!(
            "{seconds} s is too short: a lease must outlive several heartbeats (one every quarter of it), \
             so it must be at least {minimum} s"
        ));
    }
    Ok(seconds)
}

/// `--lock-wait` and `--statement-timeout`: a duration with a unit, never zero.
pub(super) fn parse_wait(input: &str) -> Result<std::time::Duration, String> {
    migrations_rs_runtime::wait::parse_wait(input)
}

/// `history --action`.
pub(super) fn parse_action(input: &str) -> Result<Action, String> {
    history_filter::parse_action(input)
        .map_err(|known| format!("unknown action `{input}`; known actions are {}", known.names()))
}
