//! The migration lock: one migrator at a time per database.
//!
//! - PostgreSQL: a session advisory lock, taken with polled
//!   `pg_try_advisory_lock` on a connection of its own, never on the
//!   connection that runs migrations. A process blocked inside
//!   `pg_advisory_lock` would hold a snapshot, and `CREATE INDEX
//!   CONCURRENTLY` in the lock holder would wait for it forever.
//! - MySQL/MariaDB: a named lock (`GET_LOCK`) on a connection of its own.
//! - SQLite, and PostgreSQL or MySQL when [`LockStrategy::Lease`] is chosen
//!   (for connection poolers in transaction mode, where session locks do not
//!   work): a lease row with its owner, kept alive by a heartbeat and taken
//!   over once stale by the holder's own stale-after. Lease times are the
//!   database's clock, read in the statement that writes or compares them.
//!   Every step renews the lease in the transaction that records it, so a
//!   process that lost its lease commits nothing atomic.
//!
//! Whatever the mechanism, the holder checks before every step and at every
//! heartbeat that it still holds the lock (its own session holds the advisory
//! or named lock; the lease row names it), and a run that lost it stops.
//!
//! The lock table also records who holds an advisory or named lock, so a
//! waiting process can say who it waits for and since when. Each backend's
//! own SQL is in its file under `backend`; here are the options, the
//! status, and the modules that take the lock (`acquire`), hold it
//! (`guard`), keep its table (`table`) and show what the holder's steps
//! wait on in the database (`waits`).

mod acquire;
mod guard;
mod table;
mod waits;

pub(crate) use acquire::acquire;
pub(crate) use guard::LockGuard;
pub use waits::StepWaits;

use crate::backend::{self, Backend, Connection};
use crate::error::{Error, LockError, Result};
use crate::history::Tables;
use sea_query::Expr;
use std::fmt;
use std::time::Duration;

/// How the lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockStrategy {
    /// The database's own lock: advisory on PostgreSQL, `GET_LOCK` on
    /// MySQL/MariaDB; a lease row on SQLite, which has none.
    #[default]
    Native,
    /// A lease row everywhere, for poolers in transaction mode. Every process
    /// migrating one database must use the same strategy.
    Lease,
}

/// How long to wait for the lock and when a lease counts as abandoned.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// How the lock is taken.
    pub strategy: LockStrategy,
    /// Give up after waiting this long for another process.
    pub wait: Duration,
    /// A lease whose heartbeat is older than this may be taken over. At least
    /// [`MIN_STALE_AFTER`]; the holder's value is stored with its lease, and
    /// waiting processes judge the lease by it rather than by their own.
    pub stale_after: Duration,
    /// How often a waiting run looks again.
    pub poll_interval: Duration,
}

/// The shortest [`LockOptions::stale_after`]: [`HEARTBEATS_PER_STALE_AFTER`] heartbeats
/// of half a second. Anything shorter lets a waiter take over a live lease
/// between two heartbeats.
pub const MIN_STALE_AFTER: Duration = Duration::from_secs(2);

/// How many heartbeats a holder sends within its stale-after period.
pub const HEARTBEATS_PER_STALE_AFTER: u32 = 4;

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            strategy: LockStrategy::Native,
            wait: Duration::from_secs(120),
            stale_after: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl LockOptions {
    /// Refuses a [`LockOptions::stale_after`] shorter than [`MIN_STALE_AFTER`].
    pub fn validate(&self) -> Result<()> {
        if self.stale_after < MIN_STALE_AFTER {
            return Err(Error::Lock(LockError::StaleAfterTooShort {
                option: "LockOptions::stale_after",
                given_ms: u64::try_from(self.stale_after.as_millis()).unwrap_or(u64::MAX),
                minimum_ms: u64::try_from(MIN_STALE_AFTER.as_millis()).unwrap_or(u64::MAX),
            }));
        }
        Ok(())
    }

    /// How often the holder proves it still holds the lock.
    pub fn heartbeat_interval(&self) -> Duration {
        self.stale_after / HEARTBEATS_PER_STALE_AFTER
    }
}

/// Which mechanism guards a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// PostgreSQL's session advisory lock.
    PostgresAdvisory,
    /// MySQL/MariaDB's `GET_LOCK`.
    MySqlNamedLock,
    /// A row in our lock table, renewed by a heartbeat.
    LeaseRow,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::PostgresAdvisory => "PostgreSQL advisory lock",
            Mechanism::MySqlNamedLock => "MySQL named lock (GET_LOCK)",
            Mechanism::LeaseRow => "lease row with heartbeat",
        })
    }
}

fn mechanism(backend: Backend, strategy: LockStrategy) -> Mechanism {
    match (backend, strategy) {
        (Backend::Postgres, LockStrategy::Native) => Mechanism::PostgresAdvisory,
        (Backend::MySql, LockStrategy::Native) => Mechanism::MySqlNamedLock,
        _ => Mechanism::LeaseRow,
    }
}

/// Who holds (or last held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockHolder {
    /// Unique for each acquisition.
    pub id: String,
    /// The holder's process id.
    pub pid: i64,
    /// The holder's host.
    pub host: String,
    /// RFC 3339 UTC time the lock was taken.
    pub since: String,
    /// How long ago the holder last proved it is alive, by the database's clock.
    #[serde(rename = "heartbeat_age_ms", serialize_with = "crate::serialize::millis")]
    pub heartbeat_age: Duration,
    /// After how long without a heartbeat its lease counts as abandoned: the
    /// holder's own setting (the reader's for a record an older version wrote).
    #[serde(rename = "stale_after_ms", serialize_with = "crate::serialize::millis")]
    pub stale_after: Duration,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} on {} (lock {}) since {}", self.pid, self.host, self.id, self.since)
    }
}

/// The lock as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockStatus {
    /// The lock mechanism in use.
    pub mechanism: Mechanism,
    /// Whether the lock is held now.
    pub held: bool,
    /// The recorded holder; with `held` false, the last one, if its record remains.
    pub holder: Option<LockHolder>,
    /// What the holder's steps wait on in the database: read by
    /// [`Migrator::lock_status`](crate::Migrator::lock_status), not by the health report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waits: Option<StepWaits>,
}

/// Reported while waiting for another process's lock.
#[derive(Debug, Clone, Copy)]
pub struct LockWait<'a> {
    /// Who holds the lock, if it is known.
    pub holder: Option<&'a LockHolder>,
    /// How long the run has waited so far.
    pub waited: Duration,
    /// How long the run will wait in all.
    pub limit: Duration,
}

fn lock_name(tables: &Tables) -> String {
    format!("migrations-rs:{}", tables.history)
}

/// A SQL expression, a nonzero integer while some session holds the session
/// lock, for reading the lock in the same statement as the history; `None`
/// for a lease, whose row says everything.
pub(crate) fn held_in_sql(backend: Backend, tables: &Tables, options: &LockOptions) -> Option<Expr> {
    match options.strategy {
        LockStrategy::Native => backend::session_lock_held_sql(backend, &lock_name(tables)),
        LockStrategy::Lease => None,
    }
}

/// The age of the recorded heartbeat by the database's clock, as SQL over
/// the lock table's `heartbeat_ms` column, for reading the lock in one
/// statement with other tables.
pub(crate) fn heartbeat_age_sql(backend: Backend, heartbeat_column: &str) -> Expr {
    Expr::cust(format!("{} - {heartbeat_column}", backend::now_ms_sql(backend)))
}

/// A holder as recorded in the lock table, with its heartbeat's age as the
/// database computed it; a heartbeat written in the future counts as fresh.
pub(crate) fn recorded_holder(
    id: String,
    pid: i64,
    host: String,
    since: String,
    age_ms: i64,
    stale_after_ms: Option<i64>,
    fallback: Duration,
) -> LockHolder {
    let heartbeat_age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
    let stale_after = stale_after_ms.and_then(|ms| u64::try_from(ms).ok()).map_or(fallback, Duration::from_millis);
    LockHolder { id, pid, host, since, heartbeat_age, stale_after }
}

/// The lock's status from its recorded holder and, for a session lock,
/// whether the server says a session holds it.
pub(crate) fn status_from(
    backend: Backend,
    options: &LockOptions,
    holder: Option<LockHolder>,
    session_held: bool,
) -> LockStatus {
    let mechanism = mechanism(backend, options.strategy);
    let held = match mechanism {
        Mechanism::LeaseRow => holder.as_ref().is_some_and(|h| h.heartbeat_age <= h.stale_after),
        Mechanism::PostgresAdvisory | Mechanism::MySqlNamedLock => session_held,
    };
    LockStatus { mechanism, held, holder, waits: None }
}

/// Who holds the lock, read without taking it.
pub(crate) async fn status(conn: &mut Connection, tables: &Tables, options: &LockOptions) -> Result<LockStatus> {
    if let Some(held) = held_in_sql(conn.backend(), tables, options)
        && let Some((holder, session_held)) =
            table::read_holder_and_session(conn.as_ref(), tables, options.stale_after, held).await?
    {
        return Ok(status_from(conn.backend(), options, holder, session_held));
    }
    let holder = table::read_holder_if_table(conn.as_ref(), tables, options.stale_after).await?;
    let session_held = match mechanism(conn.backend(), options.strategy) {
        Mechanism::LeaseRow => {
            // SQLite: a lease whose heartbeat waits behind the holder's own migration
            // looks stale, but nobody can take it over while that migration writes.
            #[cfg(feature = "sqlite")]
            if holder.as_ref().is_some_and(|h| h.heartbeat_age > h.stale_after)
                && let Some(mut sqlite) = conn.sqlite()
                && sqlite.write_locked().await?
            {
                return Ok(LockStatus { mechanism: Mechanism::LeaseRow, held: true, holder, waits: None });
            }
            false
        }
        Mechanism::PostgresAdvisory | Mechanism::MySqlNamedLock => {
            match conn.as_ref().session_lock(&lock_name(tables)).await? {
                Some(mut lock) => lock.holder_session().await?.is_some(),
                None => false,
            }
        }
    };
    Ok(status_from(conn.backend(), options, holder, session_held))
}

/// Who holds the lock and what its steps wait on in the database, read without taking it.
pub(crate) async fn status_with_waits(
    conn: &mut Connection,
    tables: &Tables,
    options: &LockOptions,
) -> Result<LockStatus> {
    let mut status = status(conn, tables, options).await?;
    status.waits = Some(waits::step_waits(conn.as_ref(), tables, status.held).await?);
    Ok(status)
}

/// Frees the lock whoever holds it, and returns the holder it freed.
/// A session lock is freed by ending the session that holds it.
pub(crate) async fn force_release(
    conn: &mut Connection,
    tables: &Tables,
    options: &LockOptions,
) -> Result<Option<LockHolder>> {
    let holder = table::read_holder_if_table(conn.as_ref(), tables, options.stale_after).await?;
    if options.strategy == LockStrategy::Native
        && let Some(mut lock) = conn.as_ref().session_lock(&lock_name(tables)).await?
        && let Some(session) = lock.holder_session().await?
    {
        lock.end_session(session).await?;
    }
    if holder.is_some() {
        table::clear_holder(conn.as_ref(), tables, None).await?;
    }
    Ok(holder)
}
