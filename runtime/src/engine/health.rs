//! The health report: what a health check needs to know about migrations,
//! read in one statement that takes no lock and changes nothing.
//!
//! The statement is the history rows, `UNION ALL` one more row holding the
//! lock table's record, the newest audit log entry and, for a session lock,
//! whether the server says a session holds it, `UNION ALL` the cursors of
//! backfills that have not finished (running now, or interrupted).

use crate::backend::{Backend, Connection, is_missing_column, missing_table_as_none};
use crate::db::{Db, Row};
use crate::engine::Migrator;
use crate::engine::drift::{Drift, DriftOptions};
use crate::error::{Error, Result};
use crate::history::{self, Action, RowState};
use crate::lock::{self, LockStatus};
use crate::version::Version;
use sea_query::{Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use std::collections::HashSet;

/// The migration state of a database, cheap enough for every health check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// Nothing dirty (unless the lock is held: then it is most likely
    /// running), no failure since the last change, no applied migration modified.
    pub healthy: bool,
    /// Healthy, and nothing pending.
    pub up_to_date: bool,
    /// The newest applied version.
    pub current_version: Option<Version>,
    /// How many migrations are applied.
    pub applied: usize,
    /// How many migrations of this program are not recorded at all.
    pub pending: usize,
    /// Migrations a run started and did not finish; nothing runs until they are resolved.
    pub dirty: Vec<DirtyMigration>,
    /// The newest audit log entry, when it is a failure: the last run failed
    /// and nothing has been applied, reverted or marked since.
    pub last_failure: Option<FailedMigration>,
    /// Applied migrations whose code changed since they were applied.
    pub modified: Vec<Version>,
    /// Applied migrations this program does not have (a newer release may have applied them).
    pub missing_from_code: usize,
    /// The migration applied last, if any.
    pub last_applied: Option<LastApplied>,
    /// Who holds the migration lock, if anyone.
    pub lock: LockStatus,
    /// Backfills of dirty migrations (as a migration running a backfill is)
    /// that have not walked their whole range: running now while the lock is
    /// held, else interrupted. Read in the same statement; a database whose
    /// cursor table an older version did not create costs a second one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backfills: Vec<crate::backfill::BackfillCursor>,
    /// The live schema against the one the applied migrations produce, when
    /// asked for with [`Migrator::health_with_drift`]; absent otherwise. It
    /// does not change [`Health::healthy`]: a changed schema is a finding for
    /// people, not a reason to take a service out of rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftCheck>,
}

/// What [`Migrator::health_with_drift`] found of drift: the comparison, or
/// why it could not be made (such as no privilege to create the scratch
/// database), so that the rest of the report still arrives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum DriftCheck {
    /// The comparison was made.
    Checked(Drift),
    /// The comparison could not be made.
    Failed {
        /// Why, in words (URLs without their password).
        error: String,
    },
}

/// A migration a run started and did not finish.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirtyMigration {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// When the unfinished run started it.
    pub since: String,
    /// A revert, rather than an apply, did not finish.
    pub reverting: bool,
}

/// The failure the newest audit log entry records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedMigration {
    /// The version of the migration that failed.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// `apply_failed` or `revert_failed`.
    pub action: String,
    /// When it failed.
    pub at: String,
    /// The error, as the audit log recorded it.
    pub error: Option<String>,
}

/// The migration applied last.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastApplied {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// When it was applied.
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub execution_ms: i64,
}

/// One history row, with only what the report needs.
struct HistoryRow {
    version: Version,
    name: String,
    checksum: String,
    applied_at: String,
    execution_ms: i64,
    seq: i64,
    state: RowState,
}

const HISTORY: [&str; 7] = ["version", "name", "checksum", "applied_at", "execution_ms", "seq", "state"];
const LOCK: [(&str, &str); 5] = [
    ("lock_id", "lock_id"),
    ("pid", "lock_pid"),
    ("host", "lock_host"),
    ("since", "lock_since"),
    ("stale_after_ms", "lock_stale_after_ms"),
];
/// The heartbeat's age, computed by the database's clock in the statement.
const LOCK_AGE: &str = "lock_age_ms";
/// Before the cursor table's columns in the statement.
const CURSOR: &str = "backfill_";
/// The cursor table's integer columns.
const CURSOR_INTEGERS: [&str; 6] = ["version", "last_key", "upper_key", "rows_done", "total_rows", "batches"];
const FAILURE: [(&str, &str); 5] = [
    ("version", "log_version"),
    ("name", "log_name"),
    ("action", "log_action"),
    ("at", "log_at"),
    ("error", "log_error"),
];

impl Migrator {
    /// The health report, read in one statement; takes no lock and changes
    /// nothing. On a database that has never been migrated the statement
    /// finds no tables; the history and the lock are then read apart (one
    /// more statement for the history, one to three for the lock by backend).
    ///
    /// ```no_run
    /// # async fn check(migrator: &migrations_rs::Migrator, conn: &mut migrations_rs::Connection)
    /// # -> migrations_rs::Result<()> {
    /// let health = migrator.health(conn).await?;
    /// if !health.healthy {
    ///     eprintln!("migrations need attention: {} dirty, last failure {:?}", health.dirty.len(), health.last_failure);
    /// }
    /// println!("{} applied, {} pending, at {:?}", health.applied, health.pending, health.current_version);
    /// # Ok(()) }
    /// ```
    pub async fn health(&self, conn: &mut Connection) -> Result<Health> {
        let conn = &mut self.bind(conn)?;
        let session_lock = lock::held_in_sql(conn.backend(), &self.tables, &self.lock);
        let reads_session = session_lock.is_some();
        let statement = self.health_statement(conn.backend(), session_lock.clone(), true);
        let fetched = match Db::new(conn.as_ref()).fetch_all(&statement).await {
            // No cursor table: no backfill ever ran here, or an older version made the tables.
            Err(error) if names_cursor_table(&error) => {
                let statement = self.health_statement(conn.backend(), session_lock, false);
                Db::new(conn.as_ref()).fetch_all(&statement).await
            }
            result => result,
        };
        // Never migrated: no history to read apart.
        let mut history_missing = false;
        let fetched = match fetched {
            // A lock table of an older version, without the holder's stale-after: read apart.
            Err(error) if is_missing_column(&error) => None,
            Err(error) if crate::backend::is_missing_named_table(&error, &self.tables.history.name) => {
                history_missing = true;
                None
            }
            result => missing_table_as_none(result)?,
        };
        let mut backfills = Vec::new();
        let fetched_apart = fetched.is_none();
        let (history, failure, lock) = match fetched {
            Some(rows) => self.read_health_rows(conn, &rows, reads_session, &mut backfills)?,
            None => {
                let rows = match history_missing {
                    true => Vec::new(),
                    false => history::read_applied(conn.as_ref(), &self.tables).await?.unwrap_or_default(),
                };
                let history = rows
                    .into_iter()
                    .map(|a| HistoryRow {
                        version: a.version,
                        name: a.name,
                        checksum: a.checksum,
                        applied_at: a.applied_at,
                        execution_ms: a.execution_ms,
                        seq: a.seq,
                        state: a.state,
                    })
                    .collect();
                (history, None, lock::status(conn, &self.tables, &self.lock).await?)
            }
        };
        let mut health = self.health_from(history, failure, lock);
        if fetched_apart && !health.dirty.is_empty() {
            backfills = crate::backfill::unfinished(conn.as_ref(), &self.tables.backfills().sea()).await?;
        }
        // A cursor left by a migration no longer dirty (marked by hand) says nothing of now.
        backfills.retain(|cursor| health.dirty.iter().any(|dirty| dirty.version == cursor.version));
        health.backfills = backfills;
        Ok(health)
    }

    /// [`Migrator::health`], and then [`Migrator::drift`] with `options`: the
    /// live schema against the one the applied migrations produce, in
    /// [`Health::drift`]. The comparison costs a reading of the schema and,
    /// unless the schema file records the same applied state, a scratch
    /// database migrated beside the target: give
    /// [`DriftOptions::schema_file`] to keep health checks cheap. A failed
    /// comparison is reported in [`DriftCheck::Failed`], not as an error.
    ///
    /// ```no_run
    /// # async fn example(conn: &mut migrations_rs_runtime::Connection) -> migrations_rs_runtime::Result<()> {
    /// use migrations_rs_runtime::{DriftCheck, DriftOptions, Migrator};
    ///
    /// let options = DriftOptions::default().schema_file("migrations.schema.json");
    /// let health = Migrator::from_linked()?.health_with_drift(conn, &options).await?;
    /// if let Some(DriftCheck::Checked(drift)) = &health.drift {
    ///     for change in &drift.changes {
    ///         eprintln!("changed outside the migrations: {change}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn health_with_drift(&self, conn: &mut Connection, options: &DriftOptions) -> Result<Health> {
        let mut health = self.health(conn).await?;
        health.drift = Some(match self.drift(conn, options).await {
            Ok(drift) => DriftCheck::Checked(drift),
            Err(error) => DriftCheck::Failed { error: error.to_string() },
        });
        Ok(health)
    }

    /// The health statement; with `cursors`, the unfinished backfills' cursors too.
    fn health_statement(&self, backend: Backend, held: Option<Expr>, cursors: bool) -> SelectStatement {
        let null = || Expr::cust("NULL");
        // Typed: PostgreSQL reads two untyped NULLs in a union as text, which no later bigint matches.
        let no_cursor = |select: &mut SelectStatement| {
            if cursors {
                for column in crate::backfill::COLUMNS {
                    let value = match CURSOR_INTEGERS.contains(&column) {
                        true => Expr::cust(crate::backend::cast_to_integer(backend, "NULL")),
                        false => null(),
                    };
                    select.expr_as(value, format!("{CURSOR}{column}"));
                }
            }
        };
        let mut rows = Query::select();
        for column in HISTORY {
            rows.expr_as(Expr::col(column), column);
        }
        for (_, alias) in LOCK.iter().chain(&FAILURE) {
            rows.expr_as(null(), *alias);
        }
        rows.expr_as(null(), LOCK_AGE);
        if held.is_some() {
            rows.expr_as(null(), "lock_held");
        }
        no_cursor(&mut rows);
        rows.from(self.tables.history.sea());

        let mut meta = Query::select();
        for column in HISTORY {
            meta.expr_as(null(), column);
        }
        for (column, alias) in LOCK {
            meta.expr_as(Expr::col(("l", column)), alias);
        }
        for (column, alias) in FAILURE {
            meta.expr_as(Expr::col(("f", column)), alias);
        }
        meta.expr_as(lock::heartbeat_age_sql(backend, "l.heartbeat_ms"), LOCK_AGE);
        let reads_session = held.is_some();
        if let Some(held) = held {
            meta.expr_as(held, "lock_held");
        }
        no_cursor(&mut meta);
        let newest_log_entry = Query::select()
            .columns(FAILURE.map(|(column, _)| column))
            .from(self.tables.log.sea())
            .order_by("id", Order::Desc)
            .limit(1)
            .to_owned();
        meta.from_subquery(Query::select().expr_as(Expr::cust("1"), "one").to_owned(), "k")
            .join_as(JoinType::LeftJoin, self.tables.lock.sea(), "l", Expr::col(("l", "id")).eq(Expr::cust("1")))
            .join_subquery(JoinType::LeftJoin, newest_log_entry, "f", Expr::cust("1 = 1"));
        let mut branches = vec![rows, meta];
        if cursors {
            let mut unfinished = Query::select();
            for column in HISTORY {
                unfinished.expr_as(null(), column);
            }
            for (_, alias) in LOCK.iter().chain(&FAILURE) {
                unfinished.expr_as(null(), *alias);
            }
            unfinished.expr_as(null(), LOCK_AGE);
            if reads_session {
                unfinished.expr_as(null(), "lock_held");
            }
            // Qualified: SQLite reads an unknown unqualified quoted name as a string.
            for column in crate::backfill::COLUMNS {
                unfinished.expr_as(Expr::col(("b", column)), format!("{CURSOR}{column}"));
            }
            unfinished
                .from_as(self.tables.backfills().sea(), "b")
                .and_where(Expr::col(("b", "state")).ne(crate::backfill::DONE));
            branches.push(unfinished);
        }
        // A database names the first missing table it meets: PostgreSQL and MySQL/MariaDB
        // read a union from its first select, SQLite from its last. The history goes where
        // it is met first, so that a database never migrated is told by its history table.
        if backend == Backend::Sqlite {
            branches.reverse();
        }
        let mut branches = branches.into_iter();
        let mut statement = branches.next().expect("the history and the lock");
        for branch in branches {
            statement.union(sea_query::UnionType::All, branch);
        }
        statement
    }

    fn read_health_rows(
        &self,
        conn: &Connection,
        rows: &[Row],
        reads_session: bool,
        backfills: &mut Vec<crate::backfill::BackfillCursor>,
    ) -> Result<(Vec<HistoryRow>, Option<FailedMigration>, LockStatus)> {
        let corrupt = |detail: String| Error::CorruptHistory { table: self.tables.history.to_string(), detail };
        let mut history = Vec::with_capacity(rows.len());
        let mut failure = None;
        let mut lock = None;
        let with_cursors = rows.first().is_some_and(|row| row.get::<Option<i64>>(&format!("{CURSOR}version")).is_ok());
        for row in rows {
            if with_cursors && row.get::<Option<i64>>(&format!("{CURSOR}version"))?.is_some() {
                backfills.push(crate::backfill::cursor_from_row(row, CURSOR)?);
                continue;
            }
            if let Some(version) = row.get::<Option<i64>>("version")? {
                let state: String = row.get("state")?;
                history.push(HistoryRow {
                    version: Version::try_from(version).map_err(|e| corrupt(e.to_string()))?,
                    name: row.get("name")?,
                    checksum: row.get("checksum")?,
                    applied_at: row.get("applied_at")?,
                    execution_ms: row.get("execution_ms")?,
                    seq: row.get("seq")?,
                    state: RowState::parse(&state).ok_or_else(|| corrupt(format!("unknown state `{state}`")))?,
                });
                continue;
            }
            let action: Option<String> = row.get("log_action")?;
            let failed = [Action::ApplyFailed, Action::RevertFailed, Action::LockLost].map(Action::as_str);
            if let Some(action) = action.filter(|a| failed.contains(&a.as_str())) {
                failure = Some(FailedMigration {
                    version: Version::try_from(row.get::<i64>("log_version")?)?,
                    name: row.get("log_name")?,
                    action,
                    at: row.get("log_at")?,
                    error: row.get("log_error")?,
                });
            }
            let holder = match row.get::<Option<String>>("lock_id")? {
                Some(id) => Some(lock::recorded_holder(
                    id,
                    row.get("lock_pid")?,
                    row.get("lock_host")?,
                    row.get("lock_since")?,
                    row.get(LOCK_AGE)?,
                    row.get("lock_stale_after_ms")?,
                    self.lock.stale_after,
                )),
                None => None,
            };
            let held = reads_session && session_held(row)?;
            lock = Some(lock::status_from(conn.backend(), &self.lock, holder, held));
        }
        let lock = lock.ok_or_else(|| Error::msg("the health statement returned no lock row"))?;
        Ok((history, failure, lock))
    }

    fn health_from(&self, history: Vec<HistoryRow>, last_failure: Option<FailedMigration>, lock: LockStatus) -> Health {
        let recorded: HashSet<Version> = history.iter().map(|r| r.version).collect();
        let applied: Vec<&HistoryRow> = history.iter().filter(|r| r.state == RowState::Applied).collect();
        let dirty: Vec<DirtyMigration> = history
            .iter()
            .filter(|r| r.state != RowState::Applied)
            .map(|r| DirtyMigration {
                version: r.version,
                name: r.name.clone(),
                since: r.applied_at.clone(),
                reverting: r.state == RowState::Reverting,
            })
            .collect();
        let modified: Vec<Version> = applied
            .iter()
            .filter(|r| self.registry.get(r.version).is_some_and(|m| !m.matches_recorded(&r.checksum)))
            .map(|r| r.version)
            .collect();
        let pending = self.registry.in_order().filter(|m| !recorded.contains(&m.version)).count();
        // While the lock is held, an unfinished step is most likely the one running.
        let healthy = (dirty.is_empty() || lock.held) && last_failure.is_none() && modified.is_empty();
        Health {
            healthy,
            up_to_date: healthy && pending == 0,
            current_version: applied.iter().map(|r| r.version).max(),
            applied: applied.len(),
            pending,
            dirty,
            last_failure,
            modified,
            missing_from_code: history.iter().filter(|r| self.registry.get(r.version).is_none()).count(),
            last_applied: applied.iter().max_by_key(|r| r.seq).map(|r| LastApplied {
                version: r.version,
                name: r.name.clone(),
                applied_at: r.applied_at.clone(),
                execution_ms: r.execution_ms,
            }),
            lock,
            backfills: Vec::new(),
            drift: None,
        }
    }
}

/// Whether `error` says the backfills' cursor table is missing.
fn names_cursor_table(error: &Error) -> bool {
    crate::backend::is_missing_named_table(error, crate::backfill::TABLE)
}

/// The `lock_held` column of a session lock: a nonzero integer while held.
fn session_held(row: &Row) -> Result<bool> {
    Ok(row.get::<Option<i64>>("lock_held")?.is_some_and(|held| held != 0))
}
