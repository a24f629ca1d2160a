//! What the lock holder's run waits on in the database: the session that
//! runs its steps, which the holder records with the lock, as the server
//! shows it, and the sessions that keep it waiting.

use super::table::read_step_session;
use crate::backend::{Backend, ConnRef, SessionWaits};
use crate::error::Result;
use crate::history::Tables;

/// What the lock holder's steps wait on, as [`LockStatus::waits`](super::LockStatus::waits) reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepWaits {
    /// The backend shows no other connection's locks (SQLite).
    Unavailable {
        /// Why, and what a waiting step waits for there.
        reason: String,
    },
    /// No session to show: nobody holds the lock, the holder recorded none,
    /// or its session is gone.
    NoSession {
        /// Which of these it is.
        reason: String,
    },
    /// The session that runs the holder's steps, and the sessions it waits for.
    Session(SessionWaits),
}

/// What the run holding the lock waits on, read on `conn` (not the run's).
pub(super) async fn step_waits(mut conn: ConnRef<'_>, tables: &Tables, held: bool) -> Result<StepWaits> {
    if conn.backend() == Backend::Sqlite {
        return Ok(StepWaits::Unavailable {
            reason: "SQLite shows no other connection's locks: a waiting step waits for the database's write \
                     lock, up to its lock wait (the busy timeout)"
                .to_owned(),
        });
    }
    if !held {
        return Ok(StepWaits::NoSession { reason: "nobody holds the migration lock".to_owned() });
    }
    let Some(session) = read_step_session(conn.reborrow(), tables).await? else {
        return Ok(StepWaits::NoSession {
            reason: "the holder recorded no session (it runs an older version of migrations-rs)".to_owned(),
        });
    };
    Ok(match conn.session_waits(session).await? {
        Some(waits) => StepWaits::Session(waits),
        None => StepWaits::NoSession { reason: format!("the holder's session {session} is no longer on the server") },
    })
}
