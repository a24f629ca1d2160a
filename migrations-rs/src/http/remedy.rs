//! The HTTP API's wording of what to do about an error: each [`Remedy`] of
//! [`Error::remedies`] as the route and body field to send, or, for what no
//! route does, the [`Migrator`](migrations_rs_runtime::Migrator) method the
//! service calls. Never a command-line flag: the caller may have no command
//! line at all.

use migrations_rs_runtime::remedy::versions_text;
use migrations_rs_runtime::{Error, Remedy};
use serde_json::{Value, json};

/// The `remedies` of an error body: each remedy's `kind`, its data and its `text`.
pub(crate) fn remedies_json(error: &Error) -> Vec<Value> {
    error
        .remedies()
        .iter()
        .map(|remedy| {
            let mut value = serde_json::to_value(remedy).unwrap_or_else(|_| json!({ "kind": remedy.kind() }));
            value["text"] = json!(text(remedy));
            value
        })
        .collect()
}

/// `remedy` as a client of the HTTP API acts on it.
pub(crate) fn text(remedy: &Remedy) -> String {
    if let Some(text) = remedy.face_independent_text() {
        return text;
    }
    match remedy {
        Remedy::ListStatus => "GET /status lists the known versions and what is applied".to_owned(),
        Remedy::RevertFewer { migration } => {
            format!("POST /down with fewer `steps`, or with `to` set to a version that comes after {migration}")
        }
        Remedy::RevertModified { versions } => format!(
            "if the database should get the new code of {} (it was applied before it was finished, and only \
             here), revert it with POST /down (`steps` or `to` reaching it; the new `down` runs) from a service \
             whose Migrator is built with `revert_modified(true)`, then POST /up",
            versions_text(versions)
        ),
        Remedy::AcceptModified { versions } => format!(
            "if the database already matches the new code of {}, accept it with `Migrator::repair` in the \
             service (no route of this API does it)",
            versions_text(versions)
        ),
        Remedy::ResolveDirty { version } => format!(
            "either finish its change by hand and record it with `Migrator::mark_applied({version})`, or undo what \
             it did by hand and record it with `Migrator::mark_reverted({version})` (no route of this API does it; \
             GET /health lists it under `dirty`), then POST /up"
        ),
        Remedy::AllowOutOfOrder => "the service's Migrator uses strict ordering: build it with \
                                    `strict_order(false)` to apply them in graph order with POST /up, or give them \
                                    versions newer than the applied migrations"
            .to_owned(),
        Remedy::FixAndRetry => "fix the migration and send the request again".to_owned(),
        Remedy::RetryWhenTableFree { lock_wait_ms } => format!(
            "send the request again once the session holding the lock has ended its transaction; each statement \
             waits {lock_wait_ms} ms, as the service's Migrator's `StatementLimits` say"
        ),
        Remedy::RetryWhenLockFree => "send the request again once the lock is free (GET /lock)".to_owned(),
        Remedy::ReleaseLock => "if that process is gone, POST /lock/release".to_owned(),
        Remedy::WaitLonger { .. } => "otherwise wait for it (GET /lock names the holder) and send the request \
                                      again; the service waits as long as its Migrator's `LockOptions::wait`"
            .to_owned(),
        Remedy::Adopt { tool } => format!(
            "record what {tool} applied with `Migrator::adopt` in the service first (no route of this API does it)"
        ),
        Remedy::IgnoreForeignHistory => "if that table is unrelated, give the service a Migrator built with \
                                         `ignore_foreign_history(true)`"
            .to_owned(),
        Remedy::OverrideRefusal => "or run it anyway from a service whose Migrator is built with `force(true)`; \
                                    no request field overrides the refusal"
            .to_owned(),
        Remedy::RestoreOrForget { version } => format!(
            "restore it to the service's code, or record it as reverted with `Migrator::mark_reverted({version})` \
             (no route of this API does it)"
        ),
        Remedy::GiveScratchDatabase { missing_privilege } => format!(
            "{}or give the service an existing empty database to use instead: `DriftOptions::scratch_url` in \
             `HttpApi::drift_options`",
            migrations_rs_runtime::remedy::grant_text(missing_privilege.as_deref())
        ),
        // No route adopts, baselines, connects or backs up: the service's own calls, in the library's words.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrations_rs_runtime::Version;

    #[test]
    fn the_http_api_names_routes_and_no_command_line_flag() {
        let version = Version::parse("20240102000000").unwrap();
        let every = Remedy::one_of_each();
        for remedy in &every {
            let text = text(remedy);
            assert!(!text.contains("--"), "{}: {text}", remedy.kind());
        }
        assert!(text(&Remedy::ReleaseLock).contains("POST /lock/release"));
        assert!(text(&Remedy::ResolveDirty { version }).contains("mark_applied(20240102000000)"));
    }
}
