//! The lock table: one row naming the holder, its heartbeat by the
//! database's clock, its stale-after and the server session that runs its
//! steps. A lease is this row alone; a session lock records its holder here
//! for waiting processes to read.

use super::LockHolder;
use crate::backend::{Backend, ConnRef, is_missing_column, missing_table_as_none, now_ms_sql};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::history::Tables;
use sea_query::{ColumnDef, Expr, ExprTrait, JoinType, Query, Table, UpdateStatement};
use std::time::Duration;

/// Creates the lock table, or adds to one an older version created the
/// columns it lacks.
pub(super) async fn ensure_table(mut conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
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
        .col(ColumnDef::new("session_id").big_integer().null())
        .to_owned();
    // Two processes creating the table at once can collide in PostgreSQL's
    // catalogue; the second attempt then finds the table there.
    if Db::new(conn.reborrow()).exec(&create).await.is_err() {
        Db::new(conn.reborrow()).exec(&create).await?;
    }
    add_missing_columns(conn, tables).await
}

/// The columns that came after the first version of the lock table, oldest first.
const LATER_COLUMNS: [&str; 2] = ["stale_after_ms", "session_id"];

/// Adds the [`LATER_COLUMNS`] an older version's lock table lacks: one
/// statement finds them all there.
async fn add_missing_columns(mut conn: ConnRef<'_>, tables: &Tables) -> Result<()> {
    // Qualified: SQLite reads an unknown unqualified "name" as a string.
    let probe = |columns: &[&'static str]| {
        let mut probe = Query::select();
        for column in columns {
            probe.column(("l", *column));
        }
        probe.from_as(tables.lock.sea(), "l").and_where(Expr::col(("l", "id")).eq(0)).to_owned()
    };
    match Db::new(conn.reborrow()).fetch_all(&probe(&LATER_COLUMNS)).await {
        Ok(_) => return Ok(()),
        Err(error) if is_missing_column(&error) => {}
        Err(error) => return Err(error),
    }
    for column in LATER_COLUMNS {
        match Db::new(conn.reborrow()).fetch_all(&probe(&[column])).await {
            Ok(_) => continue,
            Err(error) if is_missing_column(&error) => {}
            Err(error) => return Err(error),
        }
        let alter =
            Table::alter().table(tables.lock.sea()).add_column(ColumnDef::new(column).big_integer().null()).to_owned();
        tracing::info!(table = %tables.lock, column, "adding a column to the lock table");
        if let Err(error) = Db::new(conn.reborrow()).exec(&alter).await {
            // Another process may have added it meanwhile.
            Db::new(conn.reborrow()).fetch_all(&probe(&[column])).await.map_err(|_| error)?;
        }
    }
    Ok(())
}

const LOCK_COLUMNS: [&str; 8] =
    ["id", "lock_id", "pid", "host", "since", "heartbeat_ms", "stale_after_ms", "session_id"];

/// The holder `me`, and the server session that runs its steps (`None` on SQLite).
#[derive(Clone, Copy)]
pub(super) struct Me<'a> {
    pub holder: &'a LockHolder,
    pub session: Option<i64>,
}

fn holder_values(conn: &ConnRef<'_>, me: Me<'_>) -> [sea_query::Expr; 8] {
    let Me { holder: me, session } = me;
    [
        1.into(),
        me.id.clone().into(),
        me.pid.into(),
        me.host.clone().into(),
        me.since.clone().into(),
        Expr::cust(now_ms_sql(conn.backend())),
        millis(me.stale_after).into(),
        session.into(),
    ]
}

/// Inserts the lease row; false if another process holds it.
pub(super) async fn insert_lease(conn: ConnRef<'_>, tables: &Tables, me: Me<'_>) -> Result<bool> {
    let insert = Query::insert()
        .into_table(tables.lock.sea())
        .columns(LOCK_COLUMNS)
        .values_panic(holder_values(&conn, me))
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
pub(super) async fn take_over(conn: ConnRef<'_>, tables: &Tables, me: Me<'_>, stale: &LockHolder) -> Result<bool> {
    let now = now_ms_sql(conn.backend());
    let [_, id, pid, host, since, heartbeat, stale_after, session] = holder_values(&conn, me);
    let update = Query::update()
        .table(tables.lock.sea())
        .values([
            ("lock_id", id),
            ("pid", pid),
            ("host", host),
            ("since", since),
            ("heartbeat_ms", heartbeat),
            ("stale_after_ms", stale_after),
            ("session_id", session),
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
pub(super) async fn renew(conn: ConnRef<'_>, tables: &Tables, id: &str) -> Result<u64> {
    let update = renew_statement(tables, conn.backend(), id);
    Db::new(conn).execute(&update).await
}

/// The statement that renews the heartbeat of the lease that holder `id` holds.
pub(super) fn renew_statement(tables: &Tables, backend: Backend, id: &str) -> UpdateStatement {
    Query::update()
        .table(tables.lock.sea())
        .value("heartbeat_ms", Expr::cust(now_ms_sql(backend)))
        .and_where(Expr::col("id").eq(1))
        .and_where(Expr::col("lock_id").eq(id))
        .to_owned()
}

/// SQL true while the lease names holder `id`: a condition of a step's
/// writes, read in the step's own transaction.
pub(super) fn lease_held_by(tables: &Tables, id: &str) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(tables.lock.sea())
            .and_where(Expr::col("id").eq(1))
            .and_where(Expr::col("lock_id").eq(id))
            .to_owned(),
    )
}

/// Records the holder of a session lock for waiting processes to read,
/// replacing the record a crashed holder may have left.
pub(super) async fn record_holder(conn: ConnRef<'_>, tables: &Tables, me: Me<'_>) -> Result<()> {
    let values = holder_values(&conn, me);
    let mut db = Db::new(conn);
    db.exec(Query::delete().from_table(tables.lock.sea()).and_where(Expr::col("id").eq(1))).await?;
    db.exec(Query::insert().into_table(tables.lock.sea()).columns(LOCK_COLUMNS).values_panic(values)).await
}

/// Deletes the record of the holder `id`, or of any holder with `None`.
pub(super) async fn clear_holder(conn: ConnRef<'_>, tables: &Tables, id: Option<&str>) -> Result<()> {
    let mut delete = Query::delete().from_table(tables.lock.sea()).and_where(Expr::col("id").eq(1)).to_owned();
    if let Some(id) = id {
        delete.and_where(Expr::col("lock_id").eq(id));
    }
    Db::new(conn).exec(&delete).await
}

/// The recorded holder, its heartbeat's age by the database's clock, and its
/// stale-after (`fallback` for a record of an older version, which has none).
pub(super) async fn read_holder(
    mut conn: ConnRef<'_>,
    tables: &Tables,
    fallback: Duration,
) -> Result<Option<LockHolder>> {
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
        Err(error) if is_missing_column(&error) => (Db::new(conn).fetch_all(&select(false)).await?, false),
        rows => (rows?, true),
    };
    let Some(row) = rows.first() else { return Ok(None) };
    let stale_after = if with_stale_after { row.get("stale_after_ms")? } else { None };
    Ok(Some(super::recorded_holder(
        row.get("lock_id")?,
        row.get("pid")?,
        row.get("host")?,
        row.get("since")?,
        row.get("age_ms")?,
        stale_after,
        fallback,
    )))
}

/// The recorded holder, and whether a server session holds the session
/// lock (`held`: SQL that is a nonzero integer while it does), in one
/// statement sent unprepared. The statement finds one row whether or not a
/// holder is recorded. `None` when the lock table, or a column a later
/// version added, is not there: the caller then reads the two apart.
pub(super) async fn read_holder_and_session(
    conn: ConnRef<'_>,
    tables: &Tables,
    fallback: Duration,
    held: Expr,
) -> Result<Option<(Option<LockHolder>, bool)>> {
    let one = Query::select().expr_as(Expr::val(1), "one").to_owned();
    let select = Query::select()
        .expr_as(held, "lock_held")
        .columns([("l", "lock_id"), ("l", "pid"), ("l", "host"), ("l", "since")])
        .expr_as(Expr::cust(format!("{} - heartbeat_ms", now_ms_sql(conn.backend()))), "age_ms")
        .expr_as(Expr::col(("l", "stale_after_ms")), "stale_after_ms")
        .from_subquery(one, "o")
        .join_as(JoinType::LeftJoin, tables.lock.sea(), "l", Expr::col(("l", "id")).eq(1))
        .to_owned();
    let rows = match missing_table_as_none(Db::new(conn).fetch_all_unprepared(&select).await) {
        Err(error) if is_missing_column(&error) => return Ok(None),
        rows => match rows? {
            Some(rows) => rows,
            None => return Ok(None),
        },
    };
    let Some(row) = rows.first() else { return Ok(None) };
    let session_held = row.get::<Option<i64>>("lock_held")?.is_some_and(|held| held != 0);
    let holder = match row.get::<Option<String>>("lock_id")? {
        Some(id) => Some(super::recorded_holder(
            id,
            row.get("pid")?,
            row.get("host")?,
            row.get("since")?,
            row.get("age_ms")?,
            row.get("stale_after_ms")?,
            fallback,
        )),
        None => None,
    };
    Ok(Some((holder, session_held)))
}

/// Like [`read_holder`], but `None` when the lock table does not exist yet.
pub(super) async fn read_holder_if_table(
    conn: ConnRef<'_>,
    tables: &Tables,
    fallback: Duration,
) -> Result<Option<LockHolder>> {
    Ok(missing_table_as_none(read_holder(conn, tables, fallback).await)?.flatten())
}

/// The server session that runs the recorded holder's steps; `None` when
/// the holder recorded none, or the table or its column is not there.
pub(super) async fn read_step_session(conn: ConnRef<'_>, tables: &Tables) -> Result<Option<i64>> {
    // Qualified: SQLite reads an unknown unqualified "name" as a string.
    let select = Query::select()
        .column(("l", "session_id"))
        .from_as(tables.lock.sea(), "l")
        .and_where(Expr::col(("l", "id")).eq(1))
        .to_owned();
    let rows = match missing_table_as_none(Db::new(conn).fetch_all(&select).await) {
        Err(error) if is_missing_column(&error) => return Ok(None),
        rows => rows?.unwrap_or_default(),
    };
    match rows.first() {
        Some(row) => row.get("session_id"),
        None => Ok(None),
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
