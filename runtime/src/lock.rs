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
//!   over once stale. Every step verifies the lease in the transaction that
//!   records it, so a process that lost its lease commits nothing.
//!
//! The lock table also records who holds an advisory or named lock, so a
//! waiting process can say who it waits for and since when.

use crate::backend::{Backend, ConnRef, Connection, dispatch};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::history::{self, Tables};
use sea_query::{ColumnDef, Expr, ExprTrait, Query, Table};
use sqlx::AssertSqlSafe;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// A lease whose heartbeat is older than this may be taken over.
    pub stale_after: Duration,
    pub poll_interval: Duration,
}

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
    /// How long ago the holder last proved it is alive.
    #[serde(rename = "heartbeat_age_ms", serialize_with = "crate::serialize::millis")]
    pub heartbeat_age: Duration,
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
pub(crate) struct LockGuard {
    id: String,
    tables: Tables,
    held: Option<Held>,
    lost: Arc<AtomicBool>,
}

enum Held {
    Session { conn: Connection, key: SessionKey },
    Lease { stop: oneshot::Sender<()>, heartbeat: JoinHandle<Connection> },
}

#[derive(Clone)]
enum SessionKey {
    Postgres(i64),
    MySql(String),
}

impl LockGuard {
    pub(crate) fn mechanism_is_lease(&self) -> bool {
        matches!(self.held, Some(Held::Lease { .. }))
    }

    /// Whether a heartbeat found the lease taken over by another process.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Inside the step's transaction: renews the lease, or fails if it was lost.
    pub(crate) async fn verify(&self, conn: ConnRef<'_>, label: &str) -> Result<()> {
        if !self.mechanism_is_lease() {
            return Ok(());
        }
        if self.is_lost() || renew(conn, &self.tables, &self.id).await? == 0 {
            self.lost.store(true, Ordering::SeqCst);
            return Err(Error::LockLost { label: label.to_owned() });
        }
        Ok(())
    }

    pub(crate) async fn release(mut self) -> Result<()> {
        match self.held.take() {
            None => Ok(()),
            Some(Held::Session { mut conn, key }) => {
                let cleared = clear_holder(conn.as_ref(), &self.tables, &self.id).await;
                let unlocked = unlock_session(&mut conn, &key).await;
                let _ = conn.close().await;
                cleared.and(unlocked)
            }
            Some(Held::Lease { stop, heartbeat }) => {
                let _ = stop.send(());
                let mut conn =
                    heartbeat.await.map_err(|e| Error::msg(format!("the lock heartbeat task failed: {e}")))?;
                let cleared = clear_holder(conn.as_ref(), &self.tables, &self.id).await;
                let _ = conn.close().await;
                cleared
            }
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(Held::Lease { stop, heartbeat }) = self.held.take() {
            let _ = stop.send(());
            let (tables, id) = (self.tables.clone(), self.id.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Ok(mut conn) = heartbeat.await {
                        let _ = clear_holder(conn.as_ref(), &tables, &id).await;
                    }
                });
            }
        }
        // A session lock goes with its connection, dropped here.
    }
}

/// Takes the lock on `conn`, a connection of its own, waiting for another
/// holder up to `options.wait`.
pub(crate) async fn acquire(
    mut conn: Connection,
    tables: &Tables,
    options: &LockOptions,
    on_wait: &(dyn Fn(LockWait<'_>) + Send + Sync),
) -> Result<LockGuard> {
    let me = LockHolder {
        id: unique_id(),
        pid: i64::from(std::process::id()),
        host: history::host(),
        since: history::now_rfc3339(),
        heartbeat_age: Duration::ZERO,
    };
    let mechanism = mechanism(conn.backend(), options.strategy);
    let started = Instant::now();
    let lost = Arc::new(AtomicBool::new(false));
    tracing::debug!(%mechanism, id = %me.id, "taking the migration lock");
    let held = match mechanism {
        Mechanism::PostgresAdvisory | Mechanism::MySqlNamedLock => {
            let key = session_key(&mut conn, tables).await?;
            while !try_lock_session(&mut conn, &key).await? {
                let holder = read_holder_if_table(&mut conn, tables).await?;
                wait_or_give_up(holder.as_ref(), started, options, on_wait).await?;
            }
            // Under the lock: the table cannot be created twice at once.
            ensure_table(conn.as_ref(), tables).await?;
            record_holder(conn.as_ref(), tables, &me).await?;
            Held::Session { conn, key }
        }
        Mechanism::LeaseRow => {
            ensure_table(conn.as_ref(), tables).await?;
            loop {
                if insert_lease(conn.as_ref(), tables, &me).await? {
                    break;
                }
                let Some(holder) = read_holder(conn.as_ref(), tables).await? else { continue };
                if holder.heartbeat_age > options.stale_after {
                    if take_over(conn.as_ref(), tables, &me, &holder, options.stale_after).await? {
                        tracing::warn!(previous = %holder, "took over a stale migration lock");
                        break;
                    }
                    continue;
                }
                wait_or_give_up(Some(&holder), started, options, on_wait).await?;
            }
            let (stop, heartbeat) = spawn_heartbeat(conn, tables.clone(), me.id.clone(), options, lost.clone());
            Held::Lease { stop, heartbeat }
        }
    };
    tracing::info!(%mechanism, id = %me.id, waited_ms = started.elapsed().as_millis() as u64, "migration lock taken");
    Ok(LockGuard { id: me.id, tables: tables.clone(), held: Some(held), lost })
}

/// Who holds the lock, read without taking it.
pub(crate) async fn status(conn: &mut Connection, tables: &Tables, options: &LockOptions) -> Result<LockStatus> {
    let holder = read_holder_if_table(conn, tables).await?;
    let session_held = match mechanism(conn.backend(), options.strategy) {
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
    let holder = read_holder_if_table(conn, tables).await?;
    if mechanism(conn.backend(), options.strategy) != Mechanism::LeaseRow {
        let key = session_key(conn, tables).await?;
        if let Some(session) = session_holder_connection(conn, &key).await? {
            let sql = match conn.backend() {
                Backend::Postgres => format!("SELECT pg_terminate_backend({session})"),
                _ => format!("KILL {session}"),
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

async fn ensure_table(conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
    let mut db = Db::new(conn);
    let create = Table::create()
        .table(tables.lock.sea())
        .if_not_exists()
        .col(ColumnDef::new("id").integer().not_null().primary_key())
        .col(ColumnDef::new("lock_id").string_len(64).not_null())
        .col(ColumnDef::new("pid").big_integer().not_null())
        .col(ColumnDef::new("host").string_len(255).not_null())
        .col(ColumnDef::new("since").string_len(32).not_null())
        .col(ColumnDef::new("heartbeat_ms").big_integer().not_null())
        .to_owned();
    // Two processes creating the table at once can collide in PostgreSQL's
    // catalogue; the second attempt then finds the table there.
    match db.exec(&create).await {
        Ok(()) => Ok(()),
        Err(_) => db.exec(&create).await,
    }
}

fn holder_values(me: &LockHolder) -> [sea_query::Expr; 6] {
    [1.into(), me.id.clone().into(), me.pid.into(), me.host.clone().into(), me.since.clone().into(), now_ms().into()]
}

const LOCK_COLUMNS: [&str; 6] = ["id", "lock_id", "pid", "host", "since", "heartbeat_ms"];

/// Inserts the lease row; false if another process holds it.
async fn insert_lease(conn: ConnRef<'_>, tables: &Tables, me: &LockHolder) -> Result<bool> {
    let insert =
        Query::insert().into_table(tables.lock.sea()).columns(LOCK_COLUMNS).values_panic(holder_values(me)).to_owned();
    match Db::new(conn).exec(&insert).await {
        Ok(()) => Ok(true),
        Err(Error::Database(error)) if error.as_database_error().is_some_and(|e| e.is_unique_violation()) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Replaces a stale holder, unless it renewed its lease or someone else replaced it first.
async fn take_over(
    conn: ConnRef<'_>,
    tables: &Tables,
    me: &LockHolder,
    stale: &LockHolder,
    stale_after: Duration,
) -> Result<bool> {
    let [_, id, pid, host, since, heartbeat] = holder_values(me);
    let update = Query::update()
        .table(tables.lock.sea())
        .values([("lock_id", id), ("pid", pid), ("host", host), ("since", since), ("heartbeat_ms", heartbeat)])
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(stale.id.clone()))
        .and_where(Expr::col("heartbeat_ms").lt(now_ms() - millis(stale_after)))
        .to_owned();
    Ok(Db::new(conn).execute(&update).await? == 1)
}

/// Renews the lease; 0 when this process no longer holds it.
async fn renew(conn: ConnRef<'_>, tables: &Tables, id: &str) -> Result<u64> {
    let update = Query::update()
        .table(tables.lock.sea())
        .value("heartbeat_ms", now_ms())
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(id))
        .to_owned();
    Db::new(conn).execute(&update).await
}

/// Records the holder of a session lock for waiting processes to read,
/// replacing the record a crashed holder may have left.
async fn record_holder(conn: ConnRef<'_>, tables: &Tables, me: &LockHolder) -> Result<()> {
    let mut db = Db::new(conn);
    db.exec(Query::delete().from_table(tables.lock.sea()).and_where(Expr::col("id").eq(1))).await?;
    db.exec(Query::insert().into_table(tables.lock.sea()).columns(LOCK_COLUMNS).values_panic(holder_values(me))).await
}

async fn clear_holder(conn: ConnRef<'_>, tables: &Tables, id: &str) -> Result<()> {
    let delete = Query::delete()
        .from_table(tables.lock.sea())
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(id))
        .to_owned();
    Db::new(conn).exec(&delete).await
}

async fn read_holder(conn: ConnRef<'_>, tables: &Tables) -> Result<Option<LockHolder>> {
    let select = Query::select()
        .columns(["lock_id", "pid", "host", "since", "heartbeat_ms"])
        .from(tables.lock.sea())
        .and_where(Expr::col("id").eq(1))
        .to_owned();
    let rows = Db::new(conn).fetch_all(&select).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    Ok(Some(recorded_holder(
        row.get("lock_id")?,
        row.get("pid")?,
        row.get("host")?,
        row.get("since")?,
        row.get("heartbeat_ms")?,
    )))
}

/// Like [`read_holder`], but `None` when the lock table does not exist yet.
async fn read_holder_if_table(conn: &mut Connection, tables: &Tables) -> Result<Option<LockHolder>> {
    Ok(crate::backend::missing_table_as_none(read_holder(conn.as_ref(), tables).await)?.flatten())
}

fn spawn_heartbeat(
    mut conn: Connection,
    tables: Tables,
    id: String,
    options: &LockOptions,
    lost: Arc<AtomicBool>,
) -> (oneshot::Sender<()>, JoinHandle<Connection>) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let interval = (options.stale_after / 3).max(Duration::from_millis(100));
    let heartbeat = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep(interval) => match renew(conn.as_ref(), &tables, &id).await {
                    Ok(1) => {}
                    Ok(_) => {
                        tracing::error!(lock = %id, "the migration lock was taken over by another process");
                        lost.store(true, Ordering::SeqCst);
                    }
                    Err(error) => tracing::warn!(%error, "could not renew the migration lock; retrying"),
                },
            }
        }
        conn
    });
    (stop, heartbeat)
}

/// The key of the session lock: one per database and history table.
async fn session_key(conn: &mut Connection, tables: &Tables) -> Result<SessionKey> {
    let name = lock_name(tables);
    Ok(match &mut conn.as_ref() {
        ConnRef::MySql(c) => {
            let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()").fetch_one(&mut **c).await?;
            // GET_LOCK names are at most 64 characters, as `LEFT(..., 64)` cuts them in `held_in_sql`.
            SessionKey::MySql(format!("{name}@{}", database.unwrap_or_default()).chars().take(64).collect())
        }
        _ => SessionKey::Postgres(fnv1a(name.as_bytes()) as i64),
    })
}

fn lock_name(tables: &Tables) -> String {
    format!("migrations-rs:{}", tables.history)
}

/// The two 32-bit halves `pg_locks` shows of an advisory lock key.
fn advisory_parts(key: i64) -> (i64, i64) {
    ((key as u64 >> 32) as i64, (key as u64 & 0xffff_ffff) as i64)
}

/// A SQL expression, true while some session holds the session lock, for
/// reading the lock in the same statement as the history; `None` for a
/// lease, whose row says everything.
pub(crate) fn held_in_sql(backend: Backend, tables: &Tables, options: &LockOptions) -> Option<sea_query::Expr> {
    match mechanism(backend, options.strategy) {
        Mechanism::LeaseRow => None,
        Mechanism::PostgresAdvisory => {
            let (class_id, object_id) = advisory_parts(fnv1a(lock_name(tables).as_bytes()) as i64);
            Some(Expr::cust_with_values(
                "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)",
                [class_id, object_id],
            ))
        }
        Mechanism::MySqlNamedLock => Some(Expr::cust_with_values(
            "(IS_USED_LOCK(LEFT(CONCAT(?, '@', COALESCE(DATABASE(), '')), 64)) IS NOT NULL)",
            [lock_name(tables)],
        )),
    }
}

/// A holder as recorded in the lock table.
pub(crate) fn recorded_holder(id: String, pid: i64, host: String, since: String, heartbeat_ms: i64) -> LockHolder {
    let heartbeat_age = Duration::from_millis(u64::try_from(now_ms() - heartbeat_ms).unwrap_or(0));
    LockHolder { id, pid, host, since, heartbeat_age }
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
        Mechanism::LeaseRow => holder.as_ref().is_some_and(|h| h.heartbeat_age <= options.stale_after),
        Mechanism::PostgresAdvisory | Mechanism::MySqlNamedLock => session_held,
    };
    LockStatus { mechanism, held, holder }
}

async fn try_lock_session(conn: &mut Connection, key: &SessionKey) -> Result<bool> {
    Ok(match (&mut conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut **c).await?
        }
        (ConnRef::MySql(c), SessionKey::MySql(name)) => {
            // No wait on the server: this process polls, so it can report whom it waits for.
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)").bind(name).fetch_one(&mut **c).await?;
            got == Some(1)
        }
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    })
}

async fn unlock_session(conn: &mut Connection, key: &SessionKey) -> Result<()> {
    match (&mut conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => {
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut **c).await?;
        }
        (ConnRef::MySql(c), SessionKey::MySql(name)) => {
            sqlx::query("SELECT RELEASE_LOCK(?)").bind(name).execute(&mut **c).await?;
        }
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    }
    Ok(())
}

/// The server session (backend pid or connection id) holding the session lock.
async fn session_holder_connection(conn: &mut Connection, key: &SessionKey) -> Result<Option<i64>> {
    Ok(match (&mut conn.as_ref(), key) {
        (ConnRef::Postgres(c), SessionKey::Postgres(key)) => {
            let (class_id, object_id) = advisory_parts(*key);
            sqlx::query_scalar(
                "SELECT pid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
            )
            .bind(class_id)
            .bind(object_id)
            .fetch_optional(&mut **c)
            .await?
        }
        (ConnRef::MySql(c), SessionKey::MySql(name)) => {
            let id: Option<u64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)").bind(name).fetch_one(&mut **c).await?;
            id.map(|id| id as i64)
        }
        _ => unreachable!("session locks exist on PostgreSQL and MySQL only"),
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis)
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
