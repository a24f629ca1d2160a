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
//! own SQL is in its module below: `postgres`, `mysql`, `sqlite`.

use crate::backend::{Backend, ConnRef, Connection, dispatch};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::history::{self, Tables};
use sea_query::{ColumnDef, Expr, ExprTrait, Query, Table};
use sqlx::AssertSqlSafe;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
    pub strategy: LockStrategy,
    /// Give up after waiting this long for another process.
    pub wait: Duration,
    /// A lease whose heartbeat is older than this may be taken over. At least
    /// [`MIN_STALE_AFTER`]; the holder's value is stored with its lease, and
    /// waiting processes judge the lease by it rather than by their own.
    pub stale_after: Duration,
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
            return Err(Error::StaleAfterTooShort {
                option: "LockOptions::stale_after",
                given_ms: u64::try_from(self.stale_after.as_millis()).unwrap_or(u64::MAX),
                minimum_ms: u64::try_from(MIN_STALE_AFTER.as_millis()).unwrap_or(u64::MAX),
            });
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
    PostgresAdvisory,
    MySqlNamedLock,
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
    pub pid: i64,
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
    pub mechanism: Mechanism,
    pub held: bool,
    /// The recorded holder; with `held` false, the last one, if its record remains.
    pub holder: Option<LockHolder>,
}

/// Reported while waiting for another process's lock.
#[derive(Debug, Clone, Copy)]
pub struct LockWait<'a> {
    pub holder: Option<&'a LockHolder>,
    pub waited: Duration,
    pub limit: Duration,
}

/// A held lock. Release it with [`LockGuard::release`]; dropped instead, an
/// advisory or named lock goes with its connection, and a lease is deleted in
/// the background or, failing that, goes stale.
///
/// A heartbeat checks the lock on its own connection every
/// [`LockOptions::heartbeat_interval`]: a session lock must still be held by
/// that connection's session, a lease row must still name this holder (and
/// is renewed). The engine checks it again before every step.
pub(crate) struct LockGuard {
    id: String,
    tables: Tables,
    held: Option<Held>,
    lost: Lost,
}

struct Held {
    conn: Arc<tokio::sync::Mutex<Connection>>,
    kind: Kind,
    stop: oneshot::Sender<()>,
    heartbeat: JoinHandle<()>,
}

#[derive(Clone)]
enum Kind {
    Session(SessionKey),
    Lease,
}

#[derive(Clone)]
enum SessionKey {
    Postgres(i64),
    MySql(String),
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

impl LockGuard {
    /// Why the lock was lost, if a check found it lost.
    pub(crate) fn lost_reason(&self) -> Option<String> {
        self.lost.reason()
    }

    fn lost_error(&self, label: &str) -> Result<()> {
        match self.lost.reason() {
            Some(reason) => Err(Error::LockLost { label: label.to_owned(), reason }),
            None => Ok(()),
        }
    }

    /// Before a step: checks on the lock's own connection that this process
    /// still holds the lock, and fails naming `label` if it does not.
    pub(crate) async fn check(&self, label: &str) -> Result<()> {
        if let Some(held) = &self.held
            && self.lost.reason().is_none()
        {
            let mut conn = held.conn.lock().await;
            if let Some(reason) = still_held(&mut conn, &held.kind, &self.tables, &self.id).await {
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
    pub(crate) async fn confirm_in_step(&self, conn: ConnRef<'_>, label: &str, atomic: bool) -> Result<()> {
        let Some(held) = &self.held else { return Ok(()) };
        match &held.kind {
            Kind::Lease => {
                let mut conn = conn;
                if self.lost.reason().is_none() && renew(conn.reborrow(), &self.tables, &self.id).await? == 0 {
                    self.lost.set(lease_lost_reason(conn, &self.tables).await?);
                }
            }
            Kind::Session(_) if atomic => return self.check(label).await,
            Kind::Session(_) => {}
        }
        if atomic { self.lost_error(label) } else { Ok(()) }
    }

    pub(crate) async fn release(mut self) -> Result<()> {
        let Some(held) = self.held.take() else { return Ok(()) };
        let _ = held.stop.send(());
        let _ = held.heartbeat.await;
        let mut conn = held.conn.lock().await;
        let cleared = clear_holder(conn.as_ref(), &self.tables, &self.id).await;
        let unlocked = match &held.kind {
            Kind::Session(key) => unlock_session(&mut conn, key).await,
            Kind::Lease => Ok(()),
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
        if matches!(held.kind, Kind::Lease) {
            let (tables, id) = (self.tables.clone(), self.id.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = held.heartbeat.await;
                    let mut conn = held.conn.lock().await;
                    let _ = clear_holder(conn.as_ref(), &tables, &id).await;
                });
            }
        }
        // A session lock goes with its connection, closed when the heartbeat ends.
    }
}

/// `None` while this process holds the lock, else why it does not.
async fn still_held(conn: &mut Connection, kind: &Kind, tables: &Tables, id: &str) -> Option<String> {
    let checked = match kind {
        Kind::Session(key) => session_still_held(conn, key).await,
        Kind::Lease => lease_still_held(conn, tables, id).await,
    };
    match checked {
        Ok(reason) => reason,
        // SQLite: another connection writes, most likely this process's own migration.
        Err(error) if crate::backend::is_busy(&error) => None,
        Err(error) => Some(format!(
            "the lock's own database connection failed ({error}): it was closed on the server \
             (killed, or freed by `lock release`) or lost on the network"
        )),
    }
}

/// Renews the lease; `Some` with the reason when the row no longer names this holder.
async fn lease_still_held(conn: &mut Connection, tables: &Tables, id: &str) -> Result<Option<String>> {
    if renew(conn.as_ref(), tables, id).await? == 1 {
        return Ok(None);
    }
    Ok(Some(lease_lost_reason(conn.as_ref(), tables).await?))
}

/// Why a lease that no longer names this holder was lost.
async fn lease_lost_reason(conn: ConnRef<'_>, tables: &Tables) -> Result<String> {
    Ok(match read_holder(conn, tables, Duration::ZERO).await? {
        Some(holder) => format!("the lease is now held by {holder}: it was taken over as stale"),
        None => "the lease row was deleted (`lock release` from another process)".to_owned(),
    })
}

/// Takes the lock on `conn`, a connection of its own, waiting for another
/// holder up to `options.wait`.
pub(crate) async fn acquire(
    mut conn: Connection,
    tables: &Tables,
    options: &LockOptions,
    on_wait: &(dyn Fn(LockWait<'_>) + Send + Sync),
) -> Result<LockGuard> {
    options.validate()?;
    let me = LockHolder {
        id: unique_id(),
        pid: i64::from(std::process::id()),
        host: history::host(),
        since: history::now_rfc3339(),
        heartbeat_age: Duration::ZERO,
        stale_after: options.stale_after,
    };
    let mechanism = mechanism(conn.backend(), options.strategy);
    let started = Instant::now();
    tracing::debug!(%mechanism, id = %me.id, "taking the migration lock");
    let kind = match mechanism {
        Mechanism::PostgresAdvisory | Mechanism::MySqlNamedLock => {
            let key = session_key(&mut conn, tables).await?;
            while !try_lock_session(&mut conn, &key).await? {
                let holder = read_holder_if_table(&mut conn, tables, options.stale_after).await?;
                wait_or_give_up(holder.as_ref(), started, options, on_wait).await?;
            }
            // Under the lock: the table cannot be created twice at once.
            ensure_table(conn.as_ref(), tables).await?;
            record_holder(conn.as_ref(), tables, &me).await?;
            Kind::Session(key)
        }
        Mechanism::LeaseRow => {
            if conn.backend() == Backend::Sqlite {
                sqlite::short_busy_timeout(&mut conn).await?;
            }
            let mut last_seen = None;
            loop {
                match try_lease(&mut conn, tables, &me).await {
                    Ok(LeaseAttempt::Taken) => break,
                    Ok(LeaseAttempt::Again) => continue,
                    Ok(LeaseAttempt::HeldBy(holder)) => last_seen = Some(holder),
                    // SQLite: a writer holds the database, most likely the holder's migration.
                    Err(error) if crate::backend::is_busy(&error) => {}
                    Err(error) => return Err(error),
                }
                wait_or_give_up(last_seen.as_ref(), started, options, on_wait).await?;
            }
            Kind::Lease
        }
    };
    let conn = Arc::new(tokio::sync::Mutex::new(conn));
    let lost = Lost::default();
    let (stop, heartbeat) = spawn_heartbeat(
        conn.clone(),
        kind.clone(),
        tables.clone(),
        me.id.clone(),
        options.heartbeat_interval(),
        lost.clone(),
    );
    tracing::info!(%mechanism, id = %me.id, waited_ms = started.elapsed().as_millis() as u64, "migration lock taken");
    Ok(LockGuard { id: me.id, tables: tables.clone(), held: Some(Held { conn, kind, stop, heartbeat }), lost })
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
async fn try_lease(conn: &mut Connection, tables: &Tables, me: &LockHolder) -> Result<LeaseAttempt> {
    ensure_table(conn.as_ref(), tables).await?;
    let Some(holder) = read_holder(conn.as_ref(), tables, me.stale_after).await? else {
        return Ok(if insert_lease(conn.as_ref(), tables, me).await? {
            LeaseAttempt::Taken
        } else {
            LeaseAttempt::Again
        });
    };
    if holder.heartbeat_age <= holder.stale_after {
        return Ok(LeaseAttempt::HeldBy(holder));
    }
    match take_over(conn.as_ref(), tables, me, &holder).await {
        Ok(true) => {
            tracing::warn!(previous = %holder, "took over a stale migration lock");
            Ok(LeaseAttempt::Taken)
        }
        Ok(false) => Ok(LeaseAttempt::Again),
        // SQLite: a writer holds the database, the holder's migration most likely:
        // its heartbeat waits for it, and so does this process.
        Err(error) if crate::backend::is_busy(&error) => Ok(LeaseAttempt::HeldBy(holder)),
        Err(error) => Err(error),
    }
}

/// Who holds the lock, read without taking it.
pub(crate) async fn status(conn: &mut Connection, tables: &Tables, options: &LockOptions) -> Result<LockStatus> {
    let holder = read_holder_if_table(conn, tables, options.stale_after).await?;
    let session_held = match mechanism(conn.backend(), options.strategy) {
        // SQLite: a lease whose heartbeat waits behind the holder's own migration
        // looks stale, but nobody can take it over while that migration writes.
        Mechanism::LeaseRow if conn.backend() == Backend::Sqlite => {
            let looks_stale = holder.as_ref().is_some_and(|h| h.heartbeat_age > h.stale_after);
            if looks_stale && sqlite::write_locked(conn).await? {
                return Ok(LockStatus { mechanism: Mechanism::LeaseRow, held: true, holder });
            }
            false
        }
        Mechanism::LeaseRow => false,
        Mechanism::PostgresAdvisory | Mechanism::MySqlNamedLock => {
            let key = session_key(conn, tables).await?;
            session_holder_connection(conn, &key).await?.is_some()
        }
    };
    Ok(status_from(conn.backend(), options, holder, session_held))
}

/// Frees the lock whoever holds it, and returns the holder it freed.
/// A session lock is freed by ending the session that holds it.
pub(crate) async fn force_release(
    conn: &mut Connection,
    tables: &Tables,
    options: &LockOptions,
) -> Result<Option<LockHolder>> {
    let holder = read_holder_if_table(conn, tables, options.stale_after).await?;
    if mechanism(conn.backend(), options.strategy) != Mechanism::LeaseRow {
        let key = session_key(conn, tables).await?;
        if let Some(session) = session_holder_connection(conn, &key).await? {
            let sql = match conn.backend() {
                Backend::Postgres => postgres::end_session_sql(session),
                _ => mysql::end_session_sql(session),
            };
            // `session` is a number read from the server, not user input.
            dispatch_raw(conn, &sql).await?;
        }
    }
    if holder.is_some() {
        let delete = Query::delete().from_table(tables.lock.sea()).and_where(Expr::col("id").eq(1)).to_owned();
        Db::new(conn.as_ref()).exec(&delete).await?;
    }
    Ok(holder)
}

async fn dispatch_raw(conn: &mut Connection, sql: &str) -> Result<()> {
    let sql = sql.to_owned();
    dispatch!(conn.as_ref(), ConnRef, c => { sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *c).await?; });
    Ok(())
}

async fn wait_or_give_up(
    holder: Option<&LockHolder>,
    started: Instant,
    options: &LockOptions,
    on_wait: &(dyn Fn(LockWait<'_>) + Send + Sync),
) -> Result<()> {
    let waited = started.elapsed();
    on_wait(LockWait { holder, waited, limit: options.wait });
    if waited >= options.wait {
        return Err(Error::LockTimeout {
            waited_secs: waited.as_secs(),
            holder: holder.map_or_else(|| "another process".to_owned(), ToString::to_string),
        });
    }
    tokio::time::sleep(options.poll_interval.min(options.wait - waited)).await;
    Ok(())
}

/// Creates the lock table, or adds to one an older version created the
/// columns it lacks.
async fn ensure_table(mut conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
    let create = Table::create()
        .table(tables.lock.sea())
        .if_not_exists()
        .col(ColumnDef::new("id").integer().not_null().primary_key())
        .col(ColumnDef::new("lock_id").string_len(64).not_null())
        .col(ColumnDef::new("pid").big_integer().not_null())
        .col(ColumnDef::new("host").string_len(255).not_null())
        .col(ColumnDef::new("since").string_len(32).not_null())
        .col(ColumnDef::new("heartbeat_ms").big_integer().not_null())
        .col(ColumnDef::new("stale_after_ms").big_integer().null())
        .to_owned();
    // Two processes creating the table at once can collide in PostgreSQL's
    // catalogue; the second attempt then finds the table there.
    if Db::new(conn.reborrow()).exec(&create).await.is_err() {
        Db::new(conn.reborrow()).exec(&create).await?;
    }
    add_missing_columns(conn, tables).await
}

/// `stale_after_ms` came after the first version of the lock table.
async fn add_missing_columns(mut conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
    // Qualified: SQLite reads an unknown unqualified "name" as a string.
    let probe = Query::select()
        .column(("l", "stale_after_ms"))
        .from_as(tables.lock.sea(), "l")
        .and_where(Expr::col(("l", "id")).eq(0))
        .to_owned();
    match Db::new(conn.reborrow()).fetch_all(&probe).await {
        Ok(_) => return Ok(()),
        Err(error) if crate::backend::is_missing_column(&error) => {}
        Err(error) => return Err(error),
    }
    let alter = Table::alter()
        .table(tables.lock.sea())
        .add_column(ColumnDef::new("stale_after_ms").big_integer().null())
        .to_owned();
    tracing::info!(table = %tables.lock, "adding the column stale_after_ms to the lock table");
    match Db::new(conn.reborrow()).exec(&alter).await {
        Ok(()) => Ok(()),
        // Another process may have added it meanwhile.
        Err(error) => Db::new(conn).fetch_all(&probe).await.map(drop).map_err(|_| error),
    }
}

/// The database's clock, in milliseconds since 1970, as SQL: every lease time
/// is written and compared by it, never by a client's clock.
fn now_ms_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => postgres::NOW_MS,
        Backend::MySql => mysql::NOW_MS,
        Backend::Sqlite => sqlite::NOW_MS,
    }
}

const LOCK_COLUMNS: [&str; 7] = ["id", "lock_id", "pid", "host", "since", "heartbeat_ms", "stale_after_ms"];

fn holder_values(backend: Backend, me: &LockHolder) -> [sea_query::Expr; 7] {
    [
        1.into(),
        me.id.clone().into(),
        me.pid.into(),
        me.host.clone().into(),
        me.since.clone().into(),
        Expr::cust(now_ms_sql(backend)),
        millis(me.stale_after).into(),
    ]
}

/// Inserts the lease row; false if another process holds it.
async fn insert_lease(conn: ConnRef<'_>, tables: &Tables, me: &LockHolder) -> Result<bool> {
    let insert = Query::insert()
        .into_table(tables.lock.sea())
        .columns(LOCK_COLUMNS)
        .values_panic(holder_values(conn.backend(), me))
        .to_owned();
    match Db::new(conn).exec(&insert).await {
        Ok(()) => Ok(true),
        Err(Error::Database(error)) if error.as_database_error().is_some_and(|e| e.is_unique_violation()) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Replaces a stale holder, unless it renewed its lease or someone else
/// replaced it first. Staleness is judged again in the statement, by the
/// database's clock and the holder's own stale-after.
async fn take_over(conn: ConnRef<'_>, tables: &Tables, me: &LockHolder, stale: &LockHolder) -> Result<bool> {
    let now = now_ms_sql(conn.backend());
    let [_, id, pid, host, since, heartbeat, stale_after] = holder_values(conn.backend(), me);
    let update = Query::update()
        .table(tables.lock.sea())
        .values([
            ("lock_id", id),
            ("pid", pid),
            ("host", host),
            ("since", since),
            ("heartbeat_ms", heartbeat),
            ("stale_after_ms", stale_after),
        ])
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(stale.id.clone()))
        .and_where(Expr::cust(format!(
            "heartbeat_ms < {now} - COALESCE(stale_after_ms, {})",
            millis(stale.stale_after)
        )))
        .to_owned();
    Ok(Db::new(conn).execute(&update).await? == 1)
}

/// Renews the heartbeat; 0 when this process no longer holds the lease.
async fn renew(conn: ConnRef<'_>, tables: &Tables, id: &str) -> Result<u64> {
    let update = Query::update()
        .table(tables.lock.sea())
        .value("heartbeat_ms", Expr::cust(now_ms_sql(conn.backend())))
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(id))
        .to_owned();
    Db::new(conn).execute(&update).await
}

/// Records the holder of a session lock for waiting processes to read,
/// replacing the record a crashed holder may have left.
async fn record_holder(conn: ConnRef<'_>, tables: &Tables, me: &LockHolder) -> Result<()> {
    let backend = conn.backend();
    let mut db = Db::new(conn);
    db.exec(Query::delete().from_table(tables.lock.sea()).and_where(Expr::col("id").eq(1))).await?;
    db.exec(
        Query::insert().into_table(tables.lock.sea()).columns(LOCK_COLUMNS).values_panic(holder_values(backend, me)),
    )
    .await
}

async fn clear_holder(conn: ConnRef<'_>, tables: &Tables, id: &str) -> Result<()> {
    let delete = Query::delete()
        .from_table(tables.lock.sea())
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(id))
        .to_owned();
    Db::new(conn).exec(&delete).await
}

/// The recorded holder, its heartbeat's age by the database's clock, and its
/// stale-after (`fallback` for a record of an older version, which has none).
async fn read_holder(mut conn: ConnRef<'_>, tables: &Tables, fallback: Duration) -> Result<Option<LockHolder>> {
    let age = Expr::cust(format!("{} - heartbeat_ms", now_ms_sql(conn.backend())));
    let select = |with_stale_after: bool| {
        let mut select = Query::select();
        select.columns(["lock_id", "pid", "host", "since"]).expr_as(age.clone(), "age_ms");
        if with_stale_after {
            // Qualified: SQLite reads an unknown unqualified "name" as a string.
            select.expr_as(Expr::col(("l", "stale_after_ms")), "stale_after_ms");
        }
        select.from_as(tables.lock.sea(), "l").and_where(Expr::col("id").eq(1)).to_owned()
    };
    let (rows, with_stale_after) = match Db::new(conn.reborrow()).fetch_all(&select(true)).await {
        Err(error) if crate::backend::is_missing_column(&error) => {
            (Db::new(conn).fetch_all(&select(false)).await?, false)
        }
        rows => (rows?, true),
    };
    let Some(row) = rows.first() else { return Ok(None) };
    let stale_after = if with_stale_after { row.get("stale_after_ms")? } else { None };
    Ok(Some(recorded_holder(
        row.get("lock_id")?,
        row.get("pid")?,
        row.get("host")?,
        row.get("since")?,
        row.get("age_ms")?,
        stale_after,
        fallback,
    )))
}

/// Like [`read_holder`], but `None` when the lock table does not exist yet.
async fn read_holder_if_table(
    conn: &mut Connection,
    tables: &Tables,
    fallback: Duration,
) -> Result<Option<LockHolder>> {
    Ok(crate::backend::missing_table_as_none(read_holder(conn.as_ref(), tables, fallback).await)?.flatten())
}

fn spawn_heartbeat(
    conn: Arc<tokio::sync::Mutex<Connection>>,
    kind: Kind,
    tables: Tables,
    id: String,
    interval: Duration,
    lost: Lost,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let heartbeat = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep(interval) => {
                    let mut conn = conn.lock().await;
                    if let Some(reason) = still_held(&mut conn, &kind, &tables, &id).await {
                        tracing::error!(lock = %id, %reason, "the migration lock was lost");
                        lost.set(reason);
                        break;
                    }
                    if matches!(kind, Kind::Session(_)) {
                        // The record's heartbeat shows waiting processes that the holder is alive.
                        let _ = renew(conn.as_ref(), &tables, &id).await;
                    }
                }
            }
        }
    });
    (stop, heartbeat)
}

/// The key of the session lock: one per database and history table.
async fn session_key(conn: &mut Connection, tables: &Tables) -> Result<SessionKey> {
    let name = lock_name(tables);
    Ok(match conn.as_ref() {
        ConnRef::MySql(c) => SessionKey::MySql(mysql::lock_name(c, &name).await?),
        _ => SessionKey::Postgres(fnv1a(name.as_bytes()) as i64),
    })
}

fn lock_name(tables: &Tables) -> String {
    format!("migrations-rs:{}", tables.history)
}

/// A SQL expression, true while some session holds the session lock, for
/// reading the lock in the same statement as the history; `None` for a
/// lease, whose row says everything.
pub(crate) fn held_in_sql(backend: Backend, tables: &Tables, options: &LockOptions) -> Option<sea_query::Expr> {
    match mechanism(backend, options.strategy) {
        Mechanism::LeaseRow => None,
        Mechanism::PostgresAdvisory => Some(postgres::held_in_sql(fnv1a(lock_name(tables).as_bytes()) as i64)),
        Mechanism::MySqlNamedLock => Some(mysql::held_in_sql(&lock_name(tables))),
    }
}

/// The age of the recorded heartbeat by the database's clock, as SQL over
/// the lock table's `heartbeat_ms` column, for reading the lock in one
/// statement with other tables.
pub(crate) fn heartbeat_age_sql(backend: Backend, heartbeat_column: &str) -> sea_query::Expr {
    Expr::cust(format!("{} - {heartbeat_column}", now_ms_sql(backend)))
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
    LockStatus { mechanism, held, holder }
}

async fn try_lock_session(conn: &mut Connection, key: &SessionKey) -> Result<bool> {
    match (conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => postgres::try_lock(c, *key).await,
        (ConnRef::MySql(c), SessionKey::MySql(name)) => mysql::try_lock(c, name).await,
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    }
}

async fn unlock_session(conn: &mut Connection, key: &SessionKey) -> Result<()> {
    match (conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => postgres::unlock(c, *key).await,
        (ConnRef::MySql(c), SessionKey::MySql(name)) => mysql::unlock(c, name).await,
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    }
}

/// The server session (backend pid or connection id) holding the session lock.
async fn session_holder_connection(conn: &mut Connection, key: &SessionKey) -> Result<Option<i64>> {
    match (conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => postgres::holder_session(c, *key).await,
        (ConnRef::MySql(c), SessionKey::MySql(name)) => mysql::holder_session(c, name).await,
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    }
}

/// `None` while this connection's own session holds the session lock, else why not.
async fn session_still_held(conn: &mut Connection, key: &SessionKey) -> Result<Option<String>> {
    match (conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => postgres::still_held(c, *key).await,
        (ConnRef::MySql(c), SessionKey::MySql(name)) => mysql::still_held(c, name).await,
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    }
}

/// PostgreSQL: a session advisory lock, seen in `pg_locks`.
mod postgres {
    use crate::error::Result;
    use sea_query::Expr;
    use sqlx::postgres::PgConnection;

    pub(super) const NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

    /// `pg_locks` rows of the advisory lock `$1`/`$2` in this database.
    const LOCK_ROWS: &str = "FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1";

    /// The two 32-bit halves `pg_locks` shows of an advisory lock key.
    fn parts(key: i64) -> (i64, i64) {
        ((key as u64 >> 32) as i64, (key as u64 & 0xffff_ffff) as i64)
    }

    pub(super) async fn try_lock(c: &mut PgConnection, key: i64) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(c).await?)
    }

    pub(super) async fn unlock(c: &mut PgConnection, key: i64) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(c).await?;
        Ok(())
    }

    pub(super) async fn holder_session(c: &mut PgConnection, key: i64) -> Result<Option<i64>> {
        let (class_id, object_id) = parts(key);
        let sql = format!("SELECT pid::bigint {LOCK_ROWS}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(class_id).bind(object_id).fetch_optional(c).await?)
    }

    pub(super) async fn still_held(c: &mut PgConnection, key: i64) -> Result<Option<String>> {
        let (class_id, object_id) = parts(key);
        let sql = format!("SELECT EXISTS (SELECT 1 {LOCK_ROWS} AND pid = pg_backend_pid())");
        let held: bool =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(class_id).bind(object_id).fetch_one(c).await?;
        Ok((!held).then(|| {
            "PostgreSQL no longer shows this process's session holding the advisory lock \
             (it was unlocked from within the session or by an administrator)"
                .to_owned()
        }))
    }

    pub(super) fn held_in_sql(key: i64) -> Expr {
        let (class_id, object_id) = parts(key);
        Expr::cust_with_values(format!("EXISTS (SELECT 1 {LOCK_ROWS})"), [class_id, object_id])
    }

    pub(super) fn end_session_sql(pid: i64) -> String {
        format!("SELECT pg_terminate_backend({pid})")
    }
}

/// MySQL/MariaDB: a named lock. Its functions return `INT` on MariaDB and
/// `BIGINT UNSIGNED` on MySQL, so every result is cast to a signed `BIGINT`.
mod mysql {
    use crate::error::Result;
    use sea_query::Expr;
    use sqlx::mysql::MySqlConnection;

    /// UTC, so no session time zone (and no daylight-saving hour) shifts it.
    pub(super) const NOW_MS: &str =
        "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6)) DIV 1000 AS SIGNED)";

    /// The lock's name: `name@database`, at most 64 characters as `GET_LOCK` allows.
    pub(super) async fn lock_name(c: &mut MySqlConnection, name: &str) -> Result<String> {
        let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()").fetch_one(c).await?;
        // `held_in_sql` cuts the name in SQL the same way.
        Ok(format!("{name}@{}", database.unwrap_or_default()).chars().take(64).collect())
    }

    pub(super) async fn try_lock(c: &mut MySqlConnection, name: &str) -> Result<bool> {
        // No wait on the server: this process polls, so it can report whom it waits for.
        let got: Option<i64> =
            sqlx::query_scalar("SELECT CAST(GET_LOCK(?, 0) AS SIGNED)").bind(name).fetch_one(c).await?;
        Ok(got == Some(1))
    }

    pub(super) async fn unlock(c: &mut MySqlConnection, name: &str) -> Result<()> {
        sqlx::query("SELECT CAST(RELEASE_LOCK(?) AS SIGNED)").bind(name).execute(c).await?;
        Ok(())
    }

    pub(super) async fn holder_session(c: &mut MySqlConnection, name: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)").bind(name).fetch_one(c).await?)
    }

    pub(super) async fn still_held(c: &mut MySqlConnection, name: &str) -> Result<Option<String>> {
        let (holder, me): (Option<i64>, i64) =
            sqlx::query_as("SELECT CAST(IS_USED_LOCK(?) AS SIGNED), CAST(CONNECTION_ID() AS SIGNED)")
                .bind(name)
                .fetch_one(c)
                .await?;
        Ok(match holder {
            Some(holder) if holder == me => None,
            Some(holder) => {
                Some(format!("the named lock is held by connection {holder}, not by this process's connection {me}"))
            }
            None => Some("the named lock is free: it was released from within this process's session".to_owned()),
        })
    }

    pub(super) fn held_in_sql(name: &str) -> Expr {
        Expr::cust_with_values(
            "(IS_USED_LOCK(LEFT(CONCAT(?, '@', COALESCE(DATABASE(), '')), 64)) IS NOT NULL)",
            [name.to_owned()],
        )
    }

    pub(super) fn end_session_sql(connection_id: i64) -> String {
        format!("KILL {connection_id}")
    }
}

/// SQLite: a lease row only; its clock is the database library's own.
mod sqlite {
    use super::dispatch_raw;
    use crate::backend::{ConnRef, Connection};
    use crate::error::{Error, Result};

    pub(super) const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

    /// How long a statement of the lock's own connection waits for another
    /// writer, such as the holder's migration, before the lock goes on
    /// polling (and reporting whom it waits for) or the heartbeat tries again.
    pub(super) const LOCK_BUSY_TIMEOUT_MS: u64 = 1000;

    pub(super) async fn short_busy_timeout(conn: &mut Connection) -> Result<()> {
        dispatch_raw(conn, &format!("PRAGMA busy_timeout = {LOCK_BUSY_TIMEOUT_MS}")).await
    }

    /// Whether another connection holds the database's write lock right now:
    /// tries to take it without waiting, and gives it back at once.
    pub(super) async fn write_locked(conn: &mut Connection) -> Result<bool> {
        let ConnRef::Sqlite(c) = conn.as_ref() else { return Ok(false) };
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *c).await?;
        sqlx::raw_sql("PRAGMA busy_timeout = 0").execute(&mut *c).await?;
        let began = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *c).await;
        if began.is_ok() {
            sqlx::raw_sql("ROLLBACK").execute(&mut *c).await?;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {timeout}"))).execute(&mut *c).await?;
        match began.map_err(Error::from) {
            Ok(_) => Ok(false),
            Err(error) if crate::backend::is_busy(&error) => Ok(true),
            Err(error) => Err(error),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Unique per acquisition: pid, time and a per-process counter.
fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{:x}-{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}
