//! The filters of the audit log as people type them, read the same way by
//! the command line (`history --since 2h --action apply`) and the HTTP API
//! (`GET /history?since=2h&action=apply`): each face words its own refusal
//! around what is shared here.

use migrations_rs_runtime::{Action, Error};
use std::time::SystemTime;

/// `since`: an age such as `2h` or `7d`, an RFC 3339 time, or a date, as
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

/// An action name that is none of [`Action::ALL`].
#[derive(Debug)]
pub(crate) struct UnknownAction;

impl UnknownAction {
    /// Every action's name, comma-separated, for the refusal.
    pub(crate) fn names(&self) -> String {
        Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// `action`: one of the names of [`Action::ALL`].
pub(crate) fn parse_action(input: &str) -> Result<Action, UnknownAction> {
    Action::parse(input).ok_or(UnknownAction)
}
