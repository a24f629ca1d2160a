//! Time to read a database's schema: `Connection::schema` on a database of
//! N tables, each with a few columns, an index and a foreign key to the
//! table before it. The tables are created once per backend, untimed; each
//! round reads the schema again on a new connection.

use crate::databases::Setup;
use crate::measure::{QUERIES, Summary};
use crate::report::{Row, Scenario};
use crate::scratch::Scratch;
use crate::tools::Result;
use migrations_rs::Backend;
use migrations_rs_runtime::{Connection, DatabaseUrl};
use sqlx::{AssertSqlSafe, Connection as _, MySqlConnection, PgConnection, SqliteConnection};
use std::time::Instant;

/// What the figures are reported under.
const TOOL: &str = "migrations-rs schema";

/// The statements that create `tables` tables, one statement a line.
fn tables_sql(backend: Backend, tables: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(tables * 2);
    for i in 0..tables {
        let previous = i.saturating_sub(1);
        let created = match backend {
            Backend::Postgres => "created_at timestamptz NOT NULL DEFAULT now()",
            Backend::MySql => "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
            Backend::Sqlite => "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP",
        };
        out.push(format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL DEFAULT 'x', amount INTEGER, \
             previous_id INTEGER, {created}, \
             CONSTRAINT t{i}_previous_fk FOREIGN KEY (previous_id) REFERENCES t{previous} (id))"
        ));
        out.push(format!("CREATE INDEX t{i}_name_idx ON t{i} (name)"));
    }
    out
}

/// Creates the tables on `url`, in one transaction where DDL can be in one.
async fn create_tables(backend: Backend, url: &str, tables: usize) -> Result<()> {
    // The statements are made up here, never user input.
    let script = AssertSqlSafe(tables_sql(backend, tables).join(";\n"));
    match backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(url).await?;
            let mut tx = conn.begin().await?;
            sqlx::raw_sql(script).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(url).await?;
            sqlx::raw_sql(script).execute(&mut conn).await?;
        }
        Backend::MySql => {
            let mut conn = MySqlConnection::connect(url).await?;
            sqlx::raw_sql(script).execute(&mut conn).await?;
        }
    }
    Ok(())
}

/// `setup.runs` reads of the schema of a database of `tables` tables, and
/// one more that counts the statements sent.
pub async fn measure(setup: &Setup<'_>, backend: Backend, tables: usize) -> Result<Vec<Row>> {
    let scratch = Scratch::create(setup.servers, backend).await?;
    let started = Instant::now();
    create_tables(backend, &scratch.url, tables).await?;
    eprintln!(
        "  introspect {backend} N={tables}: tables created in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let url = DatabaseUrl::parse(&scratch.url)?;
    let mut times = Vec::new();
    for _ in 0..setup.runs {
        let mut conn = Connection::connect(&url).await?;
        let started = Instant::now();
        let schema = conn.schema(&[]).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        conn.close().await?;
        if schema.tables.len() != tables {
            return Err(format!("read {} tables of {tables}", schema.tables.len()).into());
        }
    }
    let mut conn = Connection::connect(&url).await?;
    QUERIES.start();
    let read = conn.schema(&[]).await;
    let queries = QUERIES.stop();
    read?;
    conn.close().await?;
    scratch.drop_now().await?;
    let ms = Summary::of(&times).ok_or("no rounds: --runs is 0")?;
    eprintln!("  introspect {backend} N={tables}: median {:.0} ms over {} rounds", ms.median, times.len());
    Ok(vec![Row {
        scenario: Scenario::Introspect,
        backend: Some(backend.name().to_owned()),
        size: tables,
        tool: TOOL.to_owned(),
        runs: times.len(),
        ms,
        ratio: None,
        baseline: None,
        queries: Some(queries),
        peak_heap_kib: None,
        cpu_ms: None,
        load: None,
    }])
}
