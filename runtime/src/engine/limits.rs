//! How long a migration's statements may wait for locks and run, and how
//! often a step that gave up on a lock is tried again: [`StatementLimits`].
//!
//! Without a lock wait, an `ALTER TABLE` queued behind a long transaction
//! holds every later reader of the table in the queue behind it. With one,
//! the statement gives up instead, its step is rolled back, and the step is
//! tried again after a pause that doubles each time (with jitter).

use std::hash::BuildHasher;
use std::time::Duration;

/// The limits on each statement of a run. A migration can ask for its own
/// lock wait (`lock_wait` of `#[migration]`, or a SQL file's header), which
/// wins over the run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementLimits {
    /// How long one statement waits for a lock another session holds before
    /// it gives up: PostgreSQL's `lock_timeout`, MySQL/MariaDB's
    /// `lock_wait_timeout` and `innodb_lock_wait_timeout` (whole seconds,
    /// rounded up), SQLite's busy timeout. 5 seconds by default; never zero.
    pub lock_wait: Duration,
    /// How many times a step is tried in all when a statement gives up on a
    /// lock (5 by default; at least 1). Only a step that ran in a transaction
    /// and is wholly undone by its rollback is tried again.
    pub lock_tries: u32,
    /// How long one statement may run before the database cancels it
    /// (PostgreSQL's `statement_timeout`, MariaDB's `max_statement_time`,
    /// MySQL's `max_execution_time`, which limits `SELECT` only; SQLite has
    /// none). Off by default. A statement cancelled so is not tried again.
    pub statement_timeout: Option<Duration>,
}

impl StatementLimits {
    /// The lock wait when none is given.
    pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);
    /// The tries when none are given.
    pub const DEFAULT_LOCK_TRIES: u32 = 5;

    /// The pause before try `next` (2 for the first retry): 100 ms doubling
    /// with each try, at most 5 s, between half and all of it at random.
    pub(crate) fn pause_before(next: u32) -> Duration {
        let full =
            Duration::from_millis(100).saturating_mul(1 << next.saturating_sub(2).min(6)).min(Duration::from_secs(5));
        let random = std::collections::hash_map::RandomState::new().hash_one(next);
        let half = full / 2;
        half + Duration::from_millis(random % (u64::try_from(half.as_millis()).unwrap_or(1).max(1)))
    }
}

impl Default for StatementLimits {
    fn default() -> Self {
        StatementLimits {
            lock_wait: Self::DEFAULT_LOCK_WAIT,
            lock_tries: Self::DEFAULT_LOCK_TRIES,
            statement_timeout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_with_jitter_and_stay_bounded() {
        for next in 2..40 {
            let pause = StatementLimits::pause_before(next);
            let full = Duration::from_millis(100 << (next - 2).min(6)).min(Duration::from_secs(5));
            assert!(pause >= full / 2 && pause <= full, "try {next}: {pause:?} of {full:?}");
        }
    }
}
