//! A held lock: its own connection, the heartbeat that proves on it that
//! the lock is still held (and renews a lease), the checks around each step,
//! and releasing it.

use super::table::{clear_holder, lease_held_by, read_holder, renew, renew_statement};
use crate::backend::{Backend, ConnRef, Connection, SessionLockConnection, is_busy};
use crate::error::{Error, LockError, Result};
use crate::history::Tables;
use sea_query::{Expr, UpdateStatement};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A held lock. Release it with [`LockGuard::release`]; dropped instead, an
/// advisory or named lock goes with its connection, and a lease is deleted in
/// the background or, failing that, goes stale.
///
/// A heartbeat checks the lock on its own connection every
/// [`LockOptions::heartbeat_interval`](super::LockOptions::heartbeat_interval):
/// a session lock must still be held by that connection's session, a lease
/// row must still name this holder (and is renewed). The engine checks it
/// again before every step that is not atomic, and in the transaction that
/// records every step.
pub(crate) struct LockGuard {
    id: String,
    tables: Tables,
    held: Option<Held>,
    lost: Lost,
    /// SQL true while the session that took the session lock holds it, for a
    /// step's record to check on the step's own connection.
    held_by_us: Option<Expr>,
}

struct Held {
    conn: Arc<tokio::sync::Mutex<LockConnection>>,
    lease: bool,
    /// When the lease was last renewed, and how often the heartbeat renews it.
    renewed: Renewed,
    interval: Duration,
    stop: oneshot::Sender<()>,
    heartbeat: JoinHandle<()>,
}

/// The lock's own connection: the one holding a session lock, or the one
/// that renews a lease.
pub(super) enum LockConnection {
    Session(SessionLockConnection),
    Lease(Connection),
}

impl LockConnection {
    fn as_ref(&mut self) -> ConnRef<'_> {
        match self {
            LockConnection::Session(c) => c.as_ref(),
            LockConnection::Lease(c) => c.as_ref(),
        }
    }

    async fn close(self) -> Result<()> {
        match self {
            LockConnection::Session(c) => c.close().await,
            LockConnection::Lease(c) => c.close().await,
        }
    }
}

/// Why the lock was lost, once a check found it lost.
#[derive(Clone, Default)]
struct Lost(Arc<std::sync::Mutex<Option<String>>>);

impl Lost {
    fn set(&self, reason: String) {
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.get_or_insert(reason);
    }

    fn reason(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// When this process last renewed its lease: by the heartbeat, a check, or a step's record.
#[derive(Clone)]
struct Renewed(Arc<std::sync::Mutex<Instant>>);

impl Renewed {
    fn now() -> Self {
        Renewed(Arc::new(std::sync::Mutex::new(Instant::now())))
    }

    fn touch(&self) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
    }

    fn age(&self) -> Duration {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).elapsed()
    }
}

impl LockGuard {
    /// Guards the lock `id`, taken on `conn`, with a heartbeat every `interval`.
    pub(super) fn held(
        id: String,
        tables: &Tables,
        conn: LockConnection,
        interval: Duration,
        held_by_us: Option<Expr>,
    ) -> Self {
        let lease = matches!(conn, LockConnection::Lease(_));
        let conn = Arc::new(tokio::sync::Mutex::new(conn));
        let lost = Lost::default();
        let renewed = Renewed::now();
        let (stop, heartbeat) =
            spawn_heartbeat(conn.clone(), tables.clone(), id.clone(), interval, lost.clone(), renewed.clone());
        let held = Held { conn, lease, renewed, interval, stop, heartbeat };
        LockGuard { id, tables: tables.clone(), held: Some(held), lost, held_by_us }
    }

    /// Why the lock was lost, if a check found it lost.
    pub(crate) fn lost_reason(&self) -> Option<String> {
        self.lost.reason()
    }

    fn lost_error(&self, label: &str) -> Result<()> {
        match self.lost.reason() {
            Some(reason) => Err(Error::Lock(LockError::Lost { label: label.to_owned(), reason })),
            None => Ok(()),
        }
    }

    /// Before an atomic step: fails naming `label` if the heartbeat or an
    /// earlier check found the lock lost, without asking the database; the
    /// step's own transaction checks it before it commits
    /// ([`LockGuard::confirm_in_step`]).
    /// Whether the lock is confirmed in the transaction that records every
    /// step, atomic or not: a lease is renewed there
    /// ([`LockGuard::confirm_in_step`]), MySQL/MariaDB's named lock is read
    /// there ([`LockGuard::held_with_record`]).
    pub(crate) fn confirmed_in_every_step(&self, backend: Backend) -> bool {
        self.is_lease() || self.checked_by_every_record(backend)
    }

    /// Whether the lock is a lease (a row renewed by its holder) rather than a session lock.
    pub(crate) fn is_lease(&self) -> bool {
        self.held.as_ref().is_some_and(|held| held.lease)
    }

    pub(crate) fn known_lost(&self, label: &str) -> Result<()> {
        self.lost_error(label)
    }

    /// Before a step: checks on the lock's own connection that this process
    /// still holds the lock, and fails naming `label` if it does not.
    pub(crate) async fn check(&self, label: &str) -> Result<()> {
        if let Some(held) = &self.held
            && self.lost.reason().is_none()
        {
            let mut conn = held.conn.lock().await;
            if let Some(reason) = still_held(&mut conn, &self.tables, &self.id, &held.renewed).await {
                tracing::error!(lock = %self.id, %reason, "the migration lock was lost");
                self.lost.set(reason);
            }
        }
        self.lost_error(label)
    }

    /// In the transaction that records a step, before it commits: a lease is
    /// renewed there, so a process that lost its lease commits nothing. An
    /// `atomic` step whose lock is gone fails and rolls back; a step that was
    /// not atomic has already changed the database, so its record is written
    /// as it happened, and the check before the next step stops the run.
    pub(crate) async fn confirm_in_step(&self, mut conn: ConnRef<'_>, label: &str, atomic: bool) -> Result<()> {
        let Some(held) = &self.held else { return Ok(()) };
        if held.lease {
            if self.lost.reason().is_none() {
                let renewed = renew(conn.reborrow(), &self.tables, &self.id).await? != 0;
                return self.after_renewal(conn, label, atomic, renewed).await;
            }
        } else if atomic {
            return self.check(label).await;
        }
        if atomic { self.lost_error(label) } else { Ok(()) }
    }

    /// What a step's record checks of the lock instead of
    /// [`LockGuard::confirm_in_step`], on the step's own connection.
    /// On PostgreSQL (an atomic step) whether the session that took the lock
    /// still holds it, and on SQLite (an atomic step whose lease needs no
    /// renewal yet, see [`LockGuard::renewal_with_record`]) whether the
    /// lease still names this holder: a condition of the step's writes,
    /// which write nothing unless it holds. On MySQL/MariaDB whether the
    /// session holds it, a value read with every step's record.
    /// [`LockGuard::after_held_check`] acts on the answer.
    pub(crate) fn held_with_record(&self, backend: Backend, atomic: bool) -> Option<Expr> {
        let held = self.held.as_ref()?;
        if self.lost.reason().is_some() {
            return None;
        }
        match backend {
            Backend::Postgres if atomic && !held.lease => self.held_by_us.clone(),
            Backend::MySql if !held.lease => self.held_by_us.clone(),
            Backend::Sqlite if atomic && held.lease => Some(lease_held_by(&self.tables, &self.id)),
            _ => None,
        }
    }

    /// What [`LockGuard::confirm_in_step`] does once a record that checked
    /// [`LockGuard::held_with_record`] says whether the lock was `held`:
    /// when it was not, the lock's own connection says why, and an `atomic`
    /// step fails; one that was not is recorded as it happened, and the
    /// next step stops the run.
    ///
    /// A lease's reason is read on `conn`, the step's own connection, whose
    /// transaction the lock's connection would wait for.
    pub(crate) async fn after_held_check(
        &self,
        conn: ConnRef<'_>,
        label: &str,
        atomic: bool,
        held: bool,
    ) -> Result<()> {
        if !held {
            if self.is_lease() {
                self.lost.set(lease_lost_reason(conn, &self.tables).await?);
            } else {
                // Finds the reason, unless the lock's connection still answers for it.
                let _ = self.check(label).await;
                self.lost.set("the lock's session no longer held the lock when the step was recorded".to_owned());
            }
        }
        if atomic { self.lost_error(label) } else { Ok(()) }
    }

    /// Whether every step's record confirms the lock where
    /// [`LockGuard::held_with_record`] answers for it: MySQL/MariaDB's named lock.
    fn checked_by_every_record(&self, backend: Backend) -> bool {
        backend == Backend::MySql && self.held_by_us.is_some()
    }

    /// On SQLite, the renewal of the lease for a step to send with its
    /// record, in the transaction [`LockGuard::confirm_in_step`] would
    /// otherwise renew it in: it returns the holder's id when it renewed.
    /// An `atomic` step renews only once half a heartbeat interval has
    /// passed since the last renewal; before that its record checks the
    /// lease instead ([`LockGuard::held_with_record`]), which writes no page
    /// of the lock's table. `None` where the step confirms the lock otherwise.
    pub(crate) fn renewal_with_record(&self, backend: Backend, atomic: bool) -> Option<UpdateStatement> {
        let held = self.held.as_ref()?;
        let due = !atomic || held.renewed.age() >= held.interval / 2;
        (held.lease && backend == Backend::Sqlite && due && self.lost.reason().is_none()).then(|| {
            let mut renewal = renew_statement(&self.tables, backend, &self.id);
            renewal.returning_col("lock_id");
            renewal
        })
    }

    /// What [`LockGuard::confirm_in_step`] does once it knows whether the
    /// lease was `renewed`: by itself, or by the record that carried
    /// [`LockGuard::renewal_with_record`].
    pub(crate) async fn after_renewal(
        &self,
        conn: ConnRef<'_>,
        label: &str,
        atomic: bool,
        renewed: bool,
    ) -> Result<()> {
        if !renewed {
            self.lost.set(lease_lost_reason(conn, &self.tables).await?);
        } else if let Some(held) = &self.held {
            held.renewed.touch();
        }
        if atomic { self.lost_error(label) } else { Ok(()) }
    }

    pub(crate) async fn release(mut self) -> Result<()> {
        let Some(held) = self.held.take() else { return Ok(()) };
        let _ = held.stop.send(());
        let _ = held.heartbeat.await;
        let mut conn = held.conn.lock().await;
        let cleared = clear_holder(conn.as_ref(), &self.tables, Some(&self.id)).await;
        let unlocked = match &mut *conn {
            LockConnection::Session(c) => c.lock().unlock().await,
            LockConnection::Lease(_) => Ok(()),
        };
        drop(conn);
        if let Ok(conn) = Arc::try_unwrap(held.conn) {
            let _ = conn.into_inner().close().await;
        }
        if self.lost.reason().is_some() {
            // Nothing left to free, and the connection may be gone with it.
            return Ok(());
        }
        cleared.and(unlocked)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        let _ = held.stop.send(());
        if held.lease {
            let (tables, id) = (self.tables.clone(), self.id.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = held.heartbeat.await;
                    let mut conn = held.conn.lock().await;
                    let _ = clear_holder(conn.as_ref(), &tables, Some(&id)).await;
                });
            }
        }
        // A session lock goes with its connection, closed when the heartbeat ends.
    }
}

/// `None` while this process holds the lock, else why it does not. A lease
/// is renewed, and `renewed` touched when it was.
async fn still_held(conn: &mut LockConnection, tables: &Tables, id: &str, renewed: &Renewed) -> Option<String> {
    let checked = match conn {
        LockConnection::Session(c) => c.lock().still_held().await,
        LockConnection::Lease(c) => {
            let checked = lease_still_held(c.as_ref(), tables, id).await;
            if matches!(checked, Ok(None)) {
                renewed.touch();
            }
            checked
        }
    };
    match checked {
        Ok(reason) => reason,
        // SQLite: another connection writes, most likely this process's own migration.
        Err(error) if is_busy(&error) => None,
        Err(error) => Some(format!(
            "the lock's own database connection failed ({error}): it was closed on the server \
             (killed, or freed by a forced release of the lock) or lost on the network"
        )),
    }
}

/// Renews the lease; `Some` with the reason when the row no longer names this holder.
async fn lease_still_held(mut conn: ConnRef<'_>, tables: &Tables, id: &str) -> Result<Option<String>> {
    if renew(conn.reborrow(), tables, id).await? == 1 {
        return Ok(None);
    }
    Ok(Some(lease_lost_reason(conn, tables).await?))
}

/// Why a lease that no longer names this holder was lost.
async fn lease_lost_reason(conn: ConnRef<'_>, tables: &Tables) -> Result<String> {
    Ok(match read_holder(conn, tables, Duration::ZERO).await? {
        Some(holder) => format!("the lease is now held by {holder}: it was taken over as stale"),
        None => "the lease row was deleted (the lock was released by force from another process)".to_owned(),
    })
}

fn spawn_heartbeat(
    conn: Arc<tokio::sync::Mutex<LockConnection>>,
    tables: Tables,
    id: String,
    interval: Duration,
    lost: Lost,
    renewed: Renewed,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let heartbeat = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep(interval) => {
                    let mut conn = conn.lock().await;
                    if let Some(reason) = still_held(&mut conn, &tables, &id, &renewed).await {
                        tracing::error!(lock = %id, %reason, "the migration lock was lost");
                        lost.set(reason);
                        break;
                    }
                    if let LockConnection::Session(c) = &mut *conn {
                        // The record's heartbeat shows waiting processes that the holder is alive.
                        let _ = renew(c.as_ref(), &tables, &id).await;
                    }
                }
            }
        }
    });
    (stop, heartbeat)
}
