//! The lock's errors: the migration lock could not be taken, or was lost
//! while a step ran.

/// Why the migration lock could not be taken or kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process held the lock longer than the run would wait.
    #[error("gave up waiting for the migration lock after {waited_secs} s: it is held by {holder}")]
    Timeout {
        /// How long the run waited.
        waited_secs: u64,
        /// Who holds the lock.
        holder: String,
    },

    /// The lock was lost while a step ran; the step was not committed.
    #[error(
        "the migration lock was lost: {reason}. The run stopped at {label}: nothing of it was committed and no \
         later step ran. Another process may hold the lock now"
    )]
    Lost {
        /// The step that was running.
        label: String,
        /// How the lock was lost.
        reason: String,
    },

    /// A lease time too short for the lock's heartbeat.
    #[error("{option} is {given_ms} ms: it must be at least {minimum_ms} ms, several heartbeats of the lock")]
    StaleAfterTooShort {
        /// The option that was given.
        option: &'static str,
        /// Its value.
        given_ms: u64,
        /// The least it may be.
        minimum_ms: u64,
    },
}
