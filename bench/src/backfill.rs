//! A backfill of a large table in batches against one `UPDATE` of the whole
//! table, on PostgreSQL and MySQL/MariaDB: rows per second of each, and the
//! latency of an application's point reads and point writes of the same
//! table meanwhile, against the same loop on the idle database.
//!
//! The table `accounts (id BIGINT PRIMARY KEY, balance BIGINT, touched INT)`
//! is filled with `rows` rows in one statement. Three phases follow, each
//! with the loop running on a connection and a thread of its own (one read
//! of a random row's balance, one write adding to a random row's balance,
//! each a prepared statement committed on its own, then a pause of
//! [`LOOP_PAUSE`], over and over):
//!
//! 1. idle: the loop alone for [`IDLE`];
//! 2. backfill: `Migrator::up` of one migration whose body runs
//!    `db.backfill("accounts").batch(BATCH)` with
//!    `UPDATE accounts SET touched = touched + 1 WHERE id > $lo AND id <= $hi`,
//!    unthrottled (each batch its own transaction, the cursor written in it);
//! 3. single update: `UPDATE accounts SET touched = touched + 1`, one
//!    statement and one transaction, on a plain connection.
//!
//! PostgreSQL's table is vacuumed between the phases, so the single update
//! does not meet the dead rows the backfill left.

use crate::scratch::{Scratch, Servers};
use migrations_rs::backup::BackupOptions;
use migrations_rs::{Backend, Connection, DatabaseUrl, Db, Migrator, Scope, Version, registry::Registry};
use migrations_rs_runtime::{Body, BoxFuture, Migration, Risk};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection as _, MySqlConnection, PgConnection};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Rows per batch of the backfill.
pub const BATCH: i64 = 1000;
/// How long the loop runs on the idle database.
pub const IDLE: Duration = Duration::from_secs(10);
/// The pause after each read and write of the loop.
pub const LOOP_PAUSE: Duration = Duration::from_millis(2);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The figures of one backend.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillFigures {
    pub backend: String,
    pub rows: i64,
    pub batch: i64,
    /// The backfill's wall time, its migration's bookkeeping included, in seconds.
    pub backfill_secs: f64,
    pub backfill_rows_per_second: f64,
    /// The single `UPDATE`'s wall time, in seconds.
    pub update_secs: f64,
    pub update_rows_per_second: f64,
    pub idle: Latency,
    pub during_backfill: Latency,
    pub during_update: Latency,
}

/// The loop's latencies in one phase, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub reads: usize,
    pub writes: usize,
    pub read_p50_ms: f64,
    pub read_p99_ms: f64,
    pub write_p50_ms: f64,
    pub write_p99_ms: f64,
    /// The slowest read or write.
    pub max_ms: f64,
}

/// Measures each server backend of `backends` (SQLite is left out: one
/// writer at a time, no concurrent writes to compare), prints a Markdown
/// table and writes the figures to `backfill.json` and `backfill.md` beside `out`.
pub async fn measure(servers: &Servers, backends: &[Backend], rows: i64, out: &Path) -> Result<Vec<BackfillFigures>> {
    let mut figures = Vec::new();
    for &backend in backends {
        if backend == Backend::Sqlite {
            eprintln!("  backfill: SQLite left out (one writer at a time)");
            continue;
        }
        eprintln!("  backfill {backend}: {rows} rows");
        let scratch = Scratch::create(servers, backend).await?;
        let measured = measure_one(&scratch.url, backend, rows).await;
        scratch.drop_now().await?;
        figures.push(measured?);
    }
    let table = markdown(&figures);
    println!("{table}");
    std::fs::write(out.with_file_name("backfill.json"), serde_json::to_string_pretty(&figures)?)?;
    std::fs::write(out.with_file_name("backfill.md"), &table)?;
    eprintln!("wrote {}", out.with_file_name("backfill.json").display());
    Ok(figures)
}

async fn measure_one(url: &str, backend: Backend, rows: i64) -> Result<BackfillFigures> {
    let mut admin = Raw::connect(backend, url).await?;
    admin
        .execute(
            "CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL, touched INT NOT NULL)",
        )
        .await?;
    admin.execute(&fill(backend, rows)).await?;
    admin.settle().await?;

    eprintln!("    idle");
    let idle = with_loop(backend, url, rows, async {
        tokio::time::sleep(IDLE).await;
        Ok(())
    })
    .await?
    .1;

    eprintln!("    backfill");
    let migrator = Migrator::new(Registry::new([backfill_record()])?)
        .with_backup(BackupOptions { enabled: false, ..BackupOptions::default() });
    let mut conn = Connection::connect(&DatabaseUrl::parse(url)?).await?;
    let (backfill, during_backfill) = with_loop(backend, url, rows, async {
        let started = Instant::now();
        migrator.up(&mut conn, Scope::All).await?;
        Ok(started.elapsed())
    })
    .await?;
    conn.close().await?;
    let touched = admin.scalar("SELECT COUNT(*) FROM accounts WHERE touched = 1").await?;
    if touched != rows {
        return Err(format!("the backfill touched {touched} rows of {rows}").into());
    }
    admin.settle().await?;

    eprintln!("    single update");
    let mut updater = Raw::connect(backend, url).await?;
    let (update, during_update) = with_loop(backend, url, rows, async {
        let started = Instant::now();
        updater.execute("UPDATE accounts SET touched = touched + 1").await?;
        Ok(started.elapsed())
    })
    .await?;
    updater.close().await;
    admin.close().await;

    Ok(BackfillFigures {
        backend: backend.to_string(),
        rows,
        batch: BATCH,
        backfill_secs: backfill.as_secs_f64(),
        backfill_rows_per_second: rows as f64 / backfill.as_secs_f64(),
        update_secs: update.as_secs_f64(),
        update_rows_per_second: rows as f64 / update.as_secs_f64(),
        idle,
        during_backfill,
        during_update,
    })
}

/// The migration that backfills `accounts`, built at run time as `#[migration]` would.
fn backfill_record() -> &'static Migration {
    let record = Migration {
        risk: &[Risk::Data],
        transaction: false,
        irreversible: true,
        up: Body::Rust(backfill_up),
        down: None,
        module: "bench",
        ..Migration::placeholder(Version::from_checked(20240101000000), "backfill_accounts")
    };
    Box::leak(Box::new(record))
}

fn backfill_up<'a>(db: &'a mut Db<'_>) -> BoxFuture<'a> {
    Box::pin(async move {
        db.backfill("accounts")
            .batch(BATCH)
            .sql("UPDATE accounts SET touched = touched + 1 WHERE id > $lo AND id <= $hi")
            .await
            .map(drop)
    })
}

/// One statement filling `accounts` with ids 1 to `rows`.
fn fill(backend: Backend, rows: i64) -> String {
    match backend {
        Backend::Postgres => {
            format!("INSERT INTO accounts SELECT g, g % 1000, 0 FROM generate_series(1, {rows}) g")
        }
        _ => {
            // Powers of ten from cross joins of the digits, then cut at `rows`.
            let digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                          UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            let places = (rows.max(1) as f64).log10().ceil().max(1.0) as u32;
            let terms: Vec<String> = (0..places).map(|p| format!("d{p}.d * {}", 10i64.pow(p))).collect();
            let joins: Vec<String> = (0..places).map(|p| format!("{digits} d{p}")).collect();
            format!(
                "INSERT INTO accounts SELECT n, n % 1000, 0 FROM (SELECT {} + 1 AS n FROM {}) numbers WHERE n <= {rows}",
                terms.join(" + "),
                joins.join(", ")
            )
        }
    }
}

/// Runs `work` while the loop reads and writes `accounts` from a thread of
/// its own; returns what `work` returned and the loop's latencies.
async fn with_loop<T>(
    backend: Backend,
    url: &str,
    rows: i64,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<(T, Latency)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = {
        let (stop, url) = (stop.clone(), url.to_owned());
        std::thread::spawn(move || -> std::result::Result<(Vec<f64>, Vec<f64>), String> {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(point_loop(backend, &url, rows, &stop, ready_tx)).map_err(|e| e.to_string())
        })
    };
    // The loop is connected and running before the work starts.
    let _ = ready_rx.recv();
    let outcome = work.await;
    stop.store(true, Ordering::SeqCst);
    let (reads, writes) = thread.join().map_err(|_| "the loop's thread panicked")??;
    Ok((outcome?, latency(reads, writes)))
}

/// Reads and writes random rows until `stop`, timing each, in milliseconds.
async fn point_loop(
    backend: Backend,
    url: &str,
    rows: i64,
    stop: &AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut conn = Raw::connect(backend, url).await?;
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next_id = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % rows as u64) as i64 + 1
    };
    let _ = ready.send(());
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        conn.point_read(next_id()).await?;
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        conn.point_write(next_id()).await?;
        writes.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(LOOP_PAUSE).await;
    }
    conn.close().await;
    Ok((reads, writes))
}

fn latency(mut reads: Vec<f64>, mut writes: Vec<f64>) -> Latency {
    reads.sort_by(f64::total_cmp);
    writes.sort_by(f64::total_cmp);
    let at = |sorted: &[f64], quantile: f64| -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len()) - 1]
    };
    Latency {
        reads: reads.len(),
        writes: writes.len(),
        read_p50_ms: at(&reads, 0.50),
        read_p99_ms: at(&reads, 0.99),
        write_p50_ms: at(&writes, 0.50),
        write_p99_ms: at(&writes, 0.99),
        max_ms: reads.last().copied().unwrap_or(0.0).max(writes.last().copied().unwrap_or(0.0)),
    }
}

/// The figures as a Markdown table.
pub fn markdown(figures: &[BackfillFigures]) -> String {
    let mut out = String::from(
        "### Backfill in batches against one UPDATE\n\n\
         | backend | rows | batch | backfill rows/s | single UPDATE rows/s | phase | reads | read p50 ms | read p99 ms | writes | write p50 ms | write p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for f in figures {
        for (phase, l) in
            [("idle", &f.idle), ("during backfill", &f.during_backfill), ("during UPDATE", &f.during_update)]
        {
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.0} | {phase} | {} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {:.1} |\n",
                f.backend,
                f.rows,
                f.batch,
                f.backfill_rows_per_second,
                f.update_rows_per_second,
                l.reads,
                l.read_p50_ms,
                l.read_p99_ms,
                l.writes,
                l.write_p50_ms,
                l.write_p99_ms,
                l.max_ms
            ));
        }
    }
    out
}

/// A plain connection of one server backend.
enum Raw {
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl Raw {
    async fn connect(backend: Backend, url: &str) -> Result<Raw> {
        Ok(match backend {
            Backend::Postgres => Raw::Postgres(PgConnection::connect(url).await?),
            _ => Raw::MySql(MySqlConnection::connect(url).await?),
        })
    }

    async fn execute(&mut self, sql: &str) -> Result<()> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(drop)?,
            Raw::MySql(c) => sqlx::raw_sql(sql).execute(c).await.map(drop)?,
        }
        Ok(())
    }

    async fn scalar(&mut self, sql: &str) -> Result<i64> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Raw::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await?,
            Raw::MySql(c) => sqlx::query_scalar(sql).fetch_one(c).await?,
        })
    }

    /// One row's balance, by a prepared statement as an application reads it.
    async fn point_read(&mut self, id: i64) -> Result<i64> {
        Ok(match self {
            Raw::Postgres(c) => {
                sqlx::query_scalar("SELECT balance FROM accounts WHERE id = $1").bind(id).fetch_one(c).await?
            }
            Raw::MySql(c) => {
                sqlx::query_scalar("SELECT balance FROM accounts WHERE id = ?").bind(id).fetch_one(c).await?
            }
        })
    }

    /// Adds to one row's balance, by a prepared statement, committed on its own.
    async fn point_write(&mut self, id: i64) -> Result<()> {
        match self {
            Raw::Postgres(c) => sqlx::query("UPDATE accounts SET balance = balance + 1 WHERE id = $1")
                .bind(id)
                .execute(c)
                .await
                .map(drop)?,
            Raw::MySql(c) => sqlx::query("UPDATE accounts SET balance = balance + 1 WHERE id = ?")
                .bind(id)
                .execute(c)
                .await
                .map(drop)?,
        }
        Ok(())
    }

    /// Leaves the table as a long-running database keeps it: PostgreSQL's
    /// dead rows vacuumed and its statistics read; InnoDB's statistics read.
    async fn settle(&mut self) -> Result<()> {
        match self {
            Raw::Postgres(_) => self.execute("VACUUM ANALYZE accounts").await,
            Raw::MySql(_) => self.execute("ANALYZE TABLE accounts").await,
        }
    }

    async fn close(self) {
        let _ = match self {
            Raw::Postgres(c) => c.close().await,
            Raw::MySql(c) => c.close().await,
        };
    }
}
