//! Reading the applied state costs one query, however many migrations are applied.
//!
//! Alone in its test binary: it counts every statement sqlx sends in the process.

mod support;

use migrations_rs::Migrator;
use migrations_rs::prelude::*;
use migrations_rs::sqlx;
use support::{QueryCounter, TempSqlite};

#[migration(version = 2024_01_01_000000, risk = [schema])]
mod create_things {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE things (id INTEGER PRIMARY KEY)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec("DROP TABLE things").await
    }
}

#[test]
fn status_reads_the_state_in_one_query_with_10000_applied() {
    let counter = QueryCounter::default();
    tracing::subscriber::set_global_default(counter.clone()).expect("the only subscriber of this binary");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = TempSqlite::new();
        let mut conn = db.connect().await;
        let migrator = Migrator::from_linked().unwrap();
        migrator.up(&mut conn, None).await.unwrap();
        let mut inspect = db.inspect().await;
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) \
             INSERT INTO migrations_rs_history \
             SELECT 20000101000000 + i, 'old_' || i, 'old_crate', '0.1.0', 'ab', '', \
                    '2023-01-01T00:00:00.000Z', 'x@y', 1, 1, i - 10000 FROM n",
        )
        .execute(&mut inspect)
        .await
        .unwrap();

        let before = counter.count();
        let status = migrator.status(&mut conn).await.unwrap();
        assert_eq!(counter.count() - before, 1, "status sends exactly one query");
        assert_eq!(status.missing_from_code.len(), 10_000);
        assert_eq!(status.migrations.len(), 1);

        let before = counter.count();
        let report = migrator.up(&mut conn, None).await.unwrap();
        assert!(report.applied.is_empty());
        // Two idempotent CREATE TABLE IF NOT EXISTS, then the one read.
        assert_eq!(counter.count() - before, 3, "a no-op up reads the state once");
    });
}
