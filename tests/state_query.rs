//! Reading the applied state costs one query, however many migrations are
//! applied, on every backend; so does an `up` with nothing pending. Rows the
//! code does not have take one more, which reads them whole.
//!
//! Alone in its test binary: it counts every statement sqlx sends in the process.

#[macro_use]
mod support;

use migrations_rs::{Backend, Migrator, Scope};
use support::{QueryCounter, TestDb};

#[path = "shared/things.rs"]
mod things;

#[test]
fn status_and_an_up_with_nothing_pending_read_the_state_in_one_query_with_10000_applied() {
    let counter = QueryCounter::default();
    tracing::subscriber::set_global_default(counter.clone()).expect("the only subscriber of this binary");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        runtime.block_on(async {
            let db = TestDb::new(backend).await;
            let mut conn = db.connect().await;
            let migrator = Migrator::from_linked().unwrap();
            migrator.up(&mut conn, Scope::All).await.unwrap();
            let before = counter.count();
            assert!(migrator.up(&mut conn, Scope::All).await.unwrap().applied.is_empty());
            assert_eq!(counter.count() - before, 1, "{backend}: up with nothing pending sends one query, no lock");
            let before = counter.count();
            migrator.status(&mut conn).await.unwrap();
            assert_eq!(counter.count() - before, 1, "{backend}: status sends one query");
            let mut inspect = db.inspect().await;
            inspect
                .execute(
                    "INSERT INTO migrations_rs_history \
                     (version, name, module, module_version, checksum, risk, applied_at, applied_by, execution_ms, batch, seq, state) \
                     WITH d(x) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                                   UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9), \
                          n(i) AS (SELECT 1 + a.x + 10 * b.x + 100 * c.x + 1000 * e.x FROM d a, d b, d c, d e) \
                     SELECT 20000101000000 + i, CONCAT('old_', i), 'old_crate', '0.1.0', 'ab', '', \
                            '2023-01-01T00:00:00.000Z', 'x@y', 1, 1, i - 10000, 'applied' FROM n",
                )
                .await;
            assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 10_001);

            let before = counter.count();
            let status = migrator.status(&mut conn).await.unwrap();
            assert_eq!(
                counter.count() - before,
                2,
                "{backend}: with applied migrations missing from the code, status reads their rows whole in a second query"
            );
            assert_eq!(status.missing_from_code.len(), 10_000);
            assert_eq!(status.migrations.len(), 1);

            let before = counter.count();
            let report = migrator.up(&mut conn, Scope::All).await.unwrap();
            assert!(report.applied.is_empty());
            assert_eq!(report.missing_from_code.len(), 10_000);
            assert_eq!(
                counter.count() - before,
                2,
                "{backend}: with applied migrations missing from the code, a second read fetches their rows"
            );
        });
    }
}
