//! Taking the lock: a session lock polled without waiting on the server, or
//! a lease row inserted when free and taken over once stale, either way
//! waiting for another holder up to the configured limit and reporting whom
//! it waits for.

use super::guard::{LockConnection, LockGuard};
use super::table::{Me, ensure_table, insert_lease, read_holder, read_holder_if_table, record_holder, take_over};
use super::{LockHolder, LockOptions, LockStrategy, LockWait, lock_name, mechanism};
use crate::backend::{self, ConnRef, Connection, SessionLockConnection, is_busy};
use crate::error::{Error, LockError, Result};
use crate::history::{self, Tables};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a statement of the lock's own connection waits on SQLite for
/// another writer, such as the holder's migration, before the lock goes on
/// polling (and reporting whom it waits for) or the heartbeat tries again.
#[cfg(feature = "sqlite")]
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_millis(1000);

/// Reports each wait for another process's lock.
pub(crate) type OnWait<'a> = &'a (dyn Fn(LockWait<'_>) + Send + Sync);

/// Takes the lock on `conn`, a connection of its own, waiting for another
/// holder up to `options.wait`. `step_session` is the server session that
/// will run the steps, recorded with the holder so that `lock status` can
/// show what they wait on.
pub(crate) async fn acquire(
    conn: Connection,
    tables: &Tables,
    options: &LockOptions,
    on_wait: OnWait<'_>,
    step_session: Option<i64>,
) -> Result<LockGuard> {
    options.validate()?;
    let holder = LockHolder {
        id: unique_id(),
        pid: i64::from(std::process::id()),
        host: history::host(),
        since: history::now_rfc3339(),
        heartbeat_age: Duration::ZERO,
        stale_after: options.stale_after,
    };
    let me = Me { holder: &holder, session: step_session };
    let backend = conn.backend();
    let mechanism = mechanism(backend, options.strategy);
    let waiting = Waiting { started: Instant::now(), options, on_wait };
    tracing::debug!(%mechanism, id = %me.holder.id, "taking the migration lock");
    let session = match options.strategy {
        LockStrategy::Native => conn.into_session_lock(&lock_name(tables)).await?,
        LockStrategy::Lease => Err(conn),
    };
    let (conn, held_by_us) = match session {
        Ok(conn) => {
            let mut conn = take_session_lock(conn, tables, me, &waiting).await?;
            // The session that took it: its steps' records check that it still holds it.
            #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
            let held_by_us = match conn.lock().holder_session().await? {
                Some(session) => backend::session_lock_held_by_sql(backend, &lock_name(tables), session),
                None => None,
            };
            (LockConnection::Session(conn), held_by_us)
        }
        Err(conn) => (LockConnection::Lease(take_lease(conn, tables, me, &waiting).await?), None),
    };
    let waited_ms = waiting.started.elapsed().as_millis() as u64;
    tracing::info!(%mechanism, id = %me.holder.id, waited_ms, "migration lock taken");
    Ok(LockGuard::held(me.holder.id.clone(), tables, conn, options.heartbeat_interval(), held_by_us))
}

// Never called without a server backend, whose session lock it takes.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(unused_variables))]
async fn take_session_lock(
    mut conn: SessionLockConnection,
    tables: &Tables,
    me: Me<'_>,
    waiting: &Waiting<'_>,
) -> Result<SessionLockConnection> {
    while !conn.lock().try_lock().await? {
        let holder = read_holder_if_table(conn.as_ref(), tables, waiting.options.stale_after).await?;
        waiting.wait_or_give_up(holder.as_ref()).await?;
    }
    // Under the lock: the table cannot be created twice at once.
    ensure_table(conn.as_ref(), tables).await?;
    record_holder(conn.as_ref(), tables, me).await?;
    Ok(conn)
}

async fn take_lease(mut conn: Connection, tables: &Tables, me: Me<'_>, waiting: &Waiting<'_>) -> Result<Connection> {
    #[cfg(feature = "sqlite")]
    if let Some(mut sqlite) = conn.sqlite() {
        sqlite.set_busy_timeout(SQLITE_BUSY_TIMEOUT).await?;
    }
    let mut last_seen = None;
    loop {
        match try_lease(conn.as_ref(), tables, me).await {
            Ok(LeaseAttempt::Taken) => return Ok(conn),
            Ok(LeaseAttempt::Again) => continue,
            Ok(LeaseAttempt::HeldBy(holder)) => last_seen = Some(holder),
            // SQLite: a writer holds the database, most likely the holder's migration.
            Err(error) if is_busy(&error) => {}
            Err(error) => return Err(error),
        }
        waiting.wait_or_give_up(last_seen.as_ref()).await?;
    }
}

enum LeaseAttempt {
    Taken,
    HeldBy(LockHolder),
    /// The row changed between reading and writing it: look again at once.
    Again,
}

/// One attempt at the lease: insert it when free, take it over when its
/// holder's heartbeat is older than the holder's own stale-after, by the
/// database's clock.
async fn try_lease(mut conn: ConnRef<'_>, tables: &Tables, me: Me<'_>) -> Result<LeaseAttempt> {
    ensure_table(conn.reborrow(), tables).await?;
    let Some(holder) = read_holder(conn.reborrow(), tables, me.holder.stale_after).await? else {
        return Ok(if insert_lease(conn, tables, me).await? { LeaseAttempt::Taken } else { LeaseAttempt::Again });
    };
    if holder.heartbeat_age <= holder.stale_after {
        return Ok(LeaseAttempt::HeldBy(holder));
    }
    match take_over(conn, tables, me, &holder).await {
        Ok(true) => {
            tracing::warn!(previous = %holder, "took over a stale migration lock");
            Ok(LeaseAttempt::Taken)
        }
        Ok(false) => Ok(LeaseAttempt::Again),
        // SQLite: a writer holds the database, the holder's migration most likely:
        // its heartbeat waits for it, and so does this process.
        Err(error) if is_busy(&error) => Ok(LeaseAttempt::HeldBy(holder)),
        Err(error) => Err(error),
    }
}

/// Waiting for another holder: since when, for how long at most, and whom to tell.
struct Waiting<'a> {
    started: Instant,
    options: &'a LockOptions,
    on_wait: OnWait<'a>,
}

impl Waiting<'_> {
    /// Reports the wait, then sleeps one poll interval, or gives up once the limit is reached.
    async fn wait_or_give_up(&self, holder: Option<&LockHolder>) -> Result<()> {
        let (options, waited) = (self.options, self.started.elapsed());
        (self.on_wait)(LockWait { holder, waited, limit: options.wait });
        if waited >= options.wait {
            return Err(Error::Lock(LockError::Timeout {
                waited_secs: waited.as_secs(),
                holder: holder.map_or_else(|| "another process".to_owned(), ToString::to_string),
            }));
        }
        tokio::time::sleep(options.poll_interval.min(options.wait - waited)).await;
        Ok(())
    }
}

/// Unique per acquisition: pid, time and a per-process counter.
fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{:x}-{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}
