//! Resumable batched backfills: a data change a migration body applies to a
//! table in key order, a range of rows at a time, each range committed in a
//! transaction of its own together with a cursor row, so that a run that is
//! killed resumes after the last committed batch and redoes none.
//!
//! ```no_run
//! # use migrations_rs::{Db, Result};
//! # use migrations_rs::sea_query::{Expr, ExprTrait, Query};
//! async fn up(db: &mut Db<'_>) -> Result<()> {
//!     // Raw SQL: `$lo` and `$hi` become the batch's bounds, `key > $lo AND key <= $hi`.
//!     db.backfill("users")
//!         .batch(1000)
//!         .rows_per_second(5000)
//!         .sql("UPDATE users SET active = TRUE WHERE id > $lo AND id <= $hi")
//!         .await?;
//!     // sea-query: a statement built for each range.
//!     db.backfill("orders")
//!         .key("id")
//!         .statement(|range| {
//!             Query::update()
//!                 .table("orders")
//!                 .value("total_cents", Expr::col("price_cents").mul(Expr::col("quantity")))
//!                 .and_where(Expr::col("id").gt(range.after))
//!                 .and_where(Expr::col("id").lte(range.through))
//!                 .to_owned()
//!         })
//!         .await?;
//!     Ok(())
//! }
//! ```

mod cursor;

pub use cursor::{BackfillCursor, TABLE};
pub(crate) use cursor::{COLUMNS, DONE, cursor_from_row, ensure_table, forget, unfinished};

use crate::backend::{Backend, cast_to_integer, quote_table};
use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Rows each batch covers unless told otherwise.
const DEFAULT_BATCH: i64 = 1000;

/// The keys one batch covers: `after < key <= through`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    /// The last key of the batch before (exclusive).
    pub after: i64,
    /// The last key of this batch (inclusive).
    pub through: i64,
}

/// How far a backfill got, reported after every batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BackfillProgress {
    /// The backfill's name within its migration.
    pub name: String,
    /// Rows done, by this run and the runs before it.
    pub rows_done: i64,
    /// Rows in the range when the backfill started.
    pub total_rows: i64,
    /// Batches committed, by this run and the runs before it.
    pub batches: i64,
    /// The last key of the last committed batch.
    pub last_key: i64,
    /// The largest key when the backfill started.
    pub upper_key: i64,
    /// Rows per second over this run.
    pub rows_per_second: f64,
    /// Time left at that rate.
    #[serde(serialize_with = "optional_millis")]
    pub eta: Option<Duration>,
}

fn optional_millis<S: serde::Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => crate::serialize::millis(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// What a finished backfill did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BackfillReport {
    /// The backfill's name within its migration.
    pub name: String,
    /// Rows done in all, by this run and the runs before it.
    pub rows_done: i64,
    /// Rows this run did.
    pub rows_this_run: i64,
    /// Batches committed in all.
    pub batches: i64,
    /// Batches this run committed.
    pub batches_this_run: i64,
    /// The run continued from a cursor an earlier run left.
    pub resumed: bool,
}

type ProgressFn<'a> = Box<dyn FnMut(&BackfillProgress) + Send + 'a>;

/// A backfill being described; run it with [`Backfill::sql`] or [`Backfill::statement`].
///
/// Each batch runs in a transaction of its own, so the migration must be
/// declared with `transaction = false`. The largest key is read when the
/// backfill starts: rows added later are not touched and the run always ends.
pub struct Backfill<'d, 'c> {
    db: &'d mut Db<'c>,
    table: String,
    name: Option<String>,
    key: Option<String>,
    batch: i64,
    rows_per_second: Option<u64>,
    pause: Duration,
    busy: Option<(String, Duration)>,
    restart_if_changed: bool,
    progress: Option<ProgressFn<'d>>,
}

impl std::fmt::Debug for Backfill<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backfill")
            .field("table", &self.table)
            .field("name", &self.name)
            .field("key", &self.key)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl<'d, 'c> Backfill<'d, 'c> {
    pub(crate) fn new(db: &'d mut Db<'c>, table: &str) -> Self {
        Backfill {
            db,
            table: table.to_owned(),
            name: None,
            key: None,
            batch: DEFAULT_BATCH,
            rows_per_second: None,
            pause: Duration::ZERO,
            busy: None,
            restart_if_changed: false,
            progress: None,
        }
    }

    /// The integer column to walk the table by; by default its integer
    /// primary key, else an integer column that is NOT NULL and unique.
    pub fn key(mut self, column: &str) -> Self {
        self.key = Some(column.to_owned());
        self
    }

    /// The name the cursor is kept under, when a migration backfills one table twice; the table's by default.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Rows per batch (1000 by default); less than 1 is refused before anything runs.
    pub fn batch(mut self, rows: i64) -> Self {
        self.batch = rows;
        self
    }

    /// At most this many rows per second: the run sleeps between batches to keep to it.
    pub fn rows_per_second(mut self, rows: u64) -> Self {
        self.rows_per_second = Some(rows);
        self
    }

    /// Sleeps this long after every batch.
    pub fn pause_between(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    /// Before every batch, runs `query`; while it returns a row (the database
    /// is busy, by the query's measure), waits `interval` and asks again.
    pub fn pause_while(mut self, query: &str, interval: Duration) -> Self {
        self.busy = Some((query.to_owned(), interval));
        self
    }

    /// When the statement differs from the one an interrupted run started
    /// with, starts over from the first key instead of refusing.
    pub fn restart_if_changed(mut self) -> Self {
        self.restart_if_changed = true;
        self
    }

    /// Calls `report` after every committed batch.
    pub fn on_progress(mut self, report: impl FnMut(&BackfillProgress) + Send + 'd) -> Self {
        self.progress = Some(Box::new(report));
        self
    }

    /// Runs `template`, raw SQL, for each batch, with `$lo` replaced by the
    /// key the batch starts after and `$hi` by its last key: write
    /// `WHERE key > $lo AND key <= $hi`.
    pub async fn sql(self, template: &str) -> Result<BackfillReport> {
        if !template.contains("$lo") || !template.contains("$hi") {
            return Err(Error::msg(format!(
                "the backfill of `{}` runs a statement without `$lo` and `$hi`: bound its key with \
                 `WHERE key > $lo AND key <= $hi` so each batch changes its own rows",
                self.table
            )));
        }
        let template = template.to_owned();
        let describe = template.clone();
        self.run(describe, move |range: KeyRange| {
            template.replace("$lo", &range.after.to_string()).replace("$hi", &range.through.to_string())
        })
        .await
    }

    /// Runs the statement `build` makes for each batch's range of keys.
    pub async fn statement<S: Statement>(self, build: impl FnMut(KeyRange) -> S + Send) -> Result<BackfillReport> {
        let mut build = build;
        let describe = build(KeyRange { after: 0, through: 1 }).to_inline_sql(self.db.backend());
        self.run(describe, build).await
    }

    fn name_or_table(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.table.clone())
    }

    async fn run<S: Statement>(
        mut self,
        describe: String,
        mut build: impl FnMut(KeyRange) -> S + Send,
    ) -> Result<BackfillReport> {
        let name = self.name_or_table();
        if self.batch < 1 {
            return Err(Error::msg(format!(
                "the backfill `{name}` has a batch size of {}: a batch needs at least 1 row",
                self.batch
            )));
        }
        let nothing = BackfillReport {
            name: name.clone(),
            rows_done: 0,
            rows_this_run: 0,
            batches: 0,
            batches_this_run: 0,
            resumed: false,
        };
        if self.db.recorded().is_some() {
            // Written down once, as one batch of it, for the risk analysis and `sql` to show.
            self.db.exec(build(KeyRange { after: 0, through: self.batch })).await?;
            return Ok(nothing);
        }
        let Some(migration) = self.db.migration().cloned() else {
            return Err(Error::msg(format!(
                "the backfill `{name}` runs only in the body of a migration being applied, which keeps its cursor"
            )));
        };
        if migration.transaction {
            return Err(Error::msg(format!(
                "the backfill `{name}` commits each batch on its own, so migration {} cannot run in one \
                 transaction: declare it with `transaction = false`",
                migration.version
            )));
        }
        // A `down` keeps its cursors apart from those of `up`, which stay until the revert is recorded.
        let name = if migration.reverting { format!("{name} (down)") } else { name };
        let backend = self.db.backend();
        let key = self.usable_key().await?;
        let checksum = checksum(&self.table, &key, &describe);
        let cursors = migration.backfills.clone();
        let version = migration.version;
        cursor::ensure_table(self.db.live_conn("a backfill")?, &cursors).await?;

        let existing = cursor::read(self.db.live_conn("a backfill")?, &cursors, version, &name).await?;
        let (mut state, resumed) = match existing {
            Some(found) if found.checksum != checksum && !self.restart_if_changed => {
                return Err(Error::msg(format!(
                    "the backfill `{name}` of migration {version} changed since it started (it has done {} of {} \
                     rows with checksum {}, and would now run checksum {}): restore its statement to resume it, \
                     or call `restart_if_changed()` on it to start over from the first key",
                    found.rows_done,
                    found.total_rows,
                    &found.checksum[..12.min(found.checksum.len())],
                    &checksum[..12]
                )));
            }
            Some(found) if found.checksum == checksum => (found, true),
            _ => {
                let started = self.start(backend, &key, &name, version, &checksum).await?;
                cursor::write_start(self.db.live_conn("a backfill")?, &cursors, &started).await?;
                (started, false)
            }
        };
        if resumed {
            tracing::info!(
                target: "migrations_rs::backfill",
                backfill = %name, rows_done = state.rows_done, total_rows = state.total_rows, last_key = state.last_key,
                "resuming the backfill after its last committed batch"
            );
        }

        let table_sql = quote_table(backend, &self.table);
        let key_sql = quote_table(backend, &key);
        let started = Instant::now();
        let (mut rows_this_run, mut batches_this_run) = (0i64, 0i64);
        while !state.is_done() {
            self.wait_while_busy(&name).await?;
            let begin = if backend == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
            Db::new(self.db.live_conn("a backfill")?).exec(begin).await?;
            let batch = run_batch(
                self.db,
                &mut build,
                Batch { backend, table_sql: &table_sql, key_sql: &key_sql, size: self.batch },
                &cursors,
                &state,
            )
            .await;
            let (through, rows, done) = match batch {
                Ok(batch) => {
                    Db::new(self.db.live_conn("a backfill")?).exec("COMMIT").await?;
                    batch
                }
                Err(error) => {
                    if let Ok(conn) = self.db.live_conn("a backfill")
                        && let Err(rollback_error) = Db::new(conn).exec("ROLLBACK").await
                    {
                        tracing::error!(%rollback_error, "rollback of a backfill batch failed");
                    }
                    return Err(error);
                }
            };
            state.last_key = through;
            state.rows_done += rows;
            state.batches += 1;
            if done {
                state.state = cursor::DONE.to_owned();
            }
            rows_this_run += rows;
            batches_this_run += 1;
            let elapsed = started.elapsed();
            let rate = if elapsed.is_zero() { 0.0 } else { rows_this_run as f64 / elapsed.as_secs_f64() };
            let left = (state.total_rows - state.rows_done).max(0);
            let progress = BackfillProgress {
                name: name.clone(),
                rows_done: state.rows_done,
                total_rows: state.total_rows,
                batches: state.batches,
                last_key: state.last_key,
                upper_key: state.upper_key,
                rows_per_second: rate,
                eta: (rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / rate)),
            };
            tracing::info!(
                target: "migrations_rs::backfill",
                backfill = %name, rows_done = progress.rows_done, total_rows = progress.total_rows,
                batches = progress.batches, last_key = progress.last_key,
                rows_per_second = progress.rows_per_second.round() as i64,
                eta_ms = progress.eta.map_or(-1, |eta| i64::try_from(eta.as_millis()).unwrap_or(i64::MAX)),
                "backfill batch committed"
            );
            if let Some(report) = &mut self.progress {
                report(&progress);
            }
            let sleep = if done { Duration::ZERO } else { self.sleep_after_batch(started, rows_this_run) };
            if !sleep.is_zero() {
                tokio::time::sleep(sleep).await;
            }
        }
        Ok(BackfillReport {
            name,
            rows_done: state.rows_done,
            rows_this_run,
            batches: state.batches,
            batches_this_run,
            resumed,
        })
    }

    /// The key column to walk the table by, checked to be one that can.
    async fn usable_key(&mut self) -> Result<String> {
        let table = self.table.clone();
        let mut conn = self.db.live_conn("a backfill")?;
        if !conn.table_exists(&table).await? {
            return Err(Error::msg(format!("the backfill of `{table}` cannot run: there is no table `{table}`")));
        }
        let keys = conn.integer_keys(&table).await?;
        let usable = || keys.iter().map(|(column, _)| format!("`{column}`")).collect::<Vec<_>>().join(", ");
        match &self.key {
            Some(key) if keys.iter().any(|(column, _)| column == key) => Ok(key.clone()),
            Some(key) => Err(Error::msg(format!(
                "the backfill of `{table}` cannot walk it by `{key}`: a backfill key is an integer column that is \
                 the primary key, or NOT NULL with a unique index of its own{}",
                if keys.is_empty() { ", and the table has none".to_owned() } else { format!("; usable: {}", usable()) }
            ))),
            None => keys.first().map(|(column, _)| column.clone()).ok_or_else(|| {
                Error::msg(format!(
                    "the backfill of `{table}` cannot walk it: the table has no integer primary key and no integer \
                     column that is NOT NULL with a unique index of its own, so its rows have no order to resume in"
                ))
            }),
        }
    }

    /// A new cursor: the range of keys present now.
    async fn start(
        &mut self,
        backend: Backend,
        key: &str,
        name: &str,
        version: crate::version::Version,
        checksum: &str,
    ) -> Result<BackfillCursor> {
        let key_sql = quote_table(backend, key);
        let query = format!(
            "SELECT {} AS low, {} AS high, {} AS total FROM {}",
            cast_to_integer(backend, &format!("MIN({key_sql})")),
            cast_to_integer(backend, &format!("MAX({key_sql})")),
            cast_to_integer(backend, "COUNT(*)"),
            quote_table(backend, &self.table),
        );
        let rows = Db::new(self.db.live_conn("a backfill")?).fetch_all(query).await?;
        let row = rows.first().ok_or_else(|| Error::msg("the bounds of a backfill's table read no row"))?;
        let (low, high, total) =
            (row.get::<Option<i64>>("low")?, row.get::<Option<i64>>("high")?, row.get::<i64>("total")?);
        let now = cursor::now();
        let (last_key, upper_key, state) = match (low, high) {
            (Some(low), Some(high)) => (low.saturating_sub(1), high, cursor::RUNNING),
            _ => (0, 0, cursor::DONE),
        };
        tracing::info!(
            target: "migrations_rs::backfill",
            backfill = %name, table = %self.table, key, total_rows = total, upper_key, "backfill starting"
        );
        Ok(BackfillCursor {
            version,
            name: name.to_owned(),
            table: self.table.clone(),
            key_column: key.to_owned(),
            last_key,
            upper_key,
            rows_done: 0,
            total_rows: total,
            batches: 0,
            checksum: checksum.to_owned(),
            state: state.to_owned(),
            started_at: now.clone(),
            updated_at: now,
        })
    }

    /// Waits while the query given to [`Backfill::pause_while`] returns a row.
    async fn wait_while_busy(&mut self, name: &str) -> Result<()> {
        let Some((query, interval)) = self.busy.clone() else { return Ok(()) };
        loop {
            let rows = Db::new(self.db.live_conn("a backfill")?).fetch_all(query.as_str()).await?;
            if rows.is_empty() {
                return Ok(());
            }
            tracing::info!(target: "migrations_rs::backfill", backfill = %name, "the database is busy: backfill paused");
            tokio::time::sleep(interval).await;
        }
    }

    /// How long to sleep after a batch: the fixed pause, or as long as keeps the run to its rate.
    fn sleep_after_batch(&self, started: Instant, rows_this_run: i64) -> Duration {
        let mut sleep = self.pause;
        if let Some(rate) = self.rows_per_second.filter(|rate| *rate > 0) {
            let due = Duration::from_secs_f64(rows_this_run as f64 / rate as f64);
            sleep = sleep.max(due.saturating_sub(started.elapsed()));
        }
        sleep
    }
}

/// Where a batch runs.
struct Batch<'a> {
    backend: Backend,
    table_sql: &'a str,
    key_sql: &'a str,
    size: i64,
}

/// One batch after the cursor `state`, in the transaction the caller opened:
/// its range, the statement, the cursor moved past it. Returns the range's
/// last key, its rows, and whether it was the last batch.
async fn run_batch<S: Statement>(
    db: &mut Db<'_>,
    build: &mut (impl FnMut(KeyRange) -> S + Send),
    batch: Batch<'_>,
    cursors: &sea_query::TableName,
    state: &BackfillCursor,
) -> Result<(i64, i64, bool)> {
    let after = state.last_key;
    let (through, rows) =
        next_range(db, batch.backend, batch.table_sql, batch.key_sql, after, state.upper_key, batch.size).await?;
    db.execute(build(KeyRange { after, through })).await?;
    let done = through >= state.upper_key;
    cursor::advance(db.live_conn("a backfill")?, cursors, state.version, &state.name, through, rows, done).await?;
    Ok((through, rows, done))
}

/// The last key of the batch after `after` and how many rows it holds: the
/// `batch`-th key, or the upper bound with the rows left.
async fn next_range(
    db: &mut Db<'_>,
    backend: Backend,
    table_sql: &str,
    key_sql: &str,
    after: i64,
    upper: i64,
    batch: i64,
) -> Result<(i64, i64)> {
    // The bounds are bound, not written in: the text stays the same from batch to batch, so
    // the server prepares it once (a new prepared statement per batch would fill the
    // connection's cache, and closing the oldest costs MySQL/MariaDB a delayed ACK per batch).
    let (low, high) = match backend {
        Backend::Postgres => ("$1", "$2"),
        Backend::MySql | Backend::Sqlite => ("?", "?"),
    };
    let within = format!("FROM {table_sql} WHERE {key_sql} > {low} AND {key_sql} <= {high}");
    let bounds = || sea_query::Values(vec![after.into(), upper.into()]);
    let key = cast_to_integer(backend, key_sql);
    let boundary = format!("SELECT {key} AS k {within} ORDER BY {key_sql} LIMIT 1 OFFSET {}", batch - 1);
    let rows = Db::new(db.live_conn("a backfill")?).fetch_all(WithValues(boundary, bounds())).await?;
    if let Some(row) = rows.first() {
        return Ok((row.get::<i64>("k")?, batch));
    }
    let count = format!("SELECT {} AS n {within}", cast_to_integer(backend, "COUNT(*)"));
    let rows = Db::new(db.live_conn("a backfill")?).fetch_all(WithValues(count, bounds())).await?;
    let rows = match rows.first() {
        Some(row) => row.get::<i64>("n")?,
        None => 0,
    };
    Ok((upper, rows))
}

/// SQL with the values bound to its placeholders.
struct WithValues(String, sea_query::Values);

impl Statement for WithValues {
    fn to_sql(&self, _: Backend) -> (String, sea_query::Values) {
        (self.0.clone(), self.1.clone())
    }
}

/// SHA-256 of what identifies a backfill's work, lowercase hex.
fn checksum(table: &str, key: &str, statement: &str) -> String {
    let digest = Sha256::digest(format!("{table}\n{key}\n{statement}").as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}
