//! Database sessions as the server shows them: which one a connection is,
//! what a session runs and waits for and since when, and which sessions keep
//! it waiting (PostgreSQL's `pg_stat_activity` and `pg_blocking_pids`,
//! MySQL/MariaDB's process list, InnoDB's transactions and, where enabled,
//! `performance_schema`). SQLite has no sessions to show.

use super::ConnRef;
use crate::error::Result;

/// The longest query text a [`ServerSession`] keeps, in characters.
pub const QUERY_CHARS: usize = 200;

/// One session on the database server, as the server shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerSession {
    /// PostgreSQL's backend pid, MySQL/MariaDB's connection id.
    pub id: i64,
    /// PostgreSQL's `state` (`active`, `idle in transaction`, …);
    /// MySQL/MariaDB's `Command` (`Query`, `Sleep`, …).
    pub state: Option<String>,
    /// What it waits for: PostgreSQL's wait event (`Lock: relation`),
    /// MySQL/MariaDB's `State` (`Waiting for table metadata lock`).
    pub waiting_for: Option<String>,
    /// Its statement, cut at [`QUERY_CHARS`] characters: the running one, or
    /// on PostgreSQL the last one of a session that is idle.
    pub query: Option<String>,
    /// How long ago that statement started, in milliseconds (whole seconds on MySQL/MariaDB).
    pub query_ms: Option<i64>,
    /// How long its open transaction has run, in milliseconds (whole seconds
    /// on MySQL/MariaDB); `None` outside a transaction.
    pub transaction_ms: Option<i64>,
}

/// A session and the sessions it waits for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionWaits {
    /// The waiting session.
    pub session: ServerSession,
    /// The sessions that hold what it waits for; empty while it waits for nothing.
    pub blockers: Vec<ServerSession>,
    /// Where the server told who blocks it, such as `pg_blocking_pids`; on
    /// MySQL/MariaDB without `performance_schema`'s metadata locks, the
    /// blockers are the sessions on this database with an open transaction
    /// or a running statement, which is what can hold a table's metadata lock.
    pub found_by: String,
}

impl ConnRef<'_> {
    /// The server's id of this connection's session: PostgreSQL's backend
    /// pid, MySQL/MariaDB's connection id; `None` on SQLite.
    pub(crate) async fn session_id(&mut self) -> Result<Option<i64>> {
        match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => super::postgres::session_id(c).await.map(Some),
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => super::mysql::session_id(c).await.map(Some),
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(_) => Ok(None),
        }
    }

    /// Session `id` as the server shows it, with the sessions it waits for;
    /// `None` once the session is gone, and on SQLite.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
    pub(crate) async fn session_waits(&mut self, id: i64) -> Result<Option<SessionWaits>> {
        match self {
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => super::postgres::session_waits(c, id).await,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => super::mysql::session_waits(c, id).await,
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(_) => Ok(None),
        }
    }
}
