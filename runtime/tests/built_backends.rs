//! Each backend this build has, alone or with the others: a folder of SQL
//! migrations (a table, then rows in it) applied to a test database cloned
//! from its template, its status read, the database dropped. A backend left out of the build is
//! refused by name. Built with one backend feature, this is the check that
//! the build works end to end on it (the server URLs come from
//! `MIGRATIONS_RS_POSTGRES_URL` and `MIGRATIONS_RS_MYSQL_URL`).

use migrations_rs_runtime::backend::is_built;
use migrations_rs_runtime::testing::{TestDatabase, TestDatabaseError};
use migrations_rs_runtime::{Backend, Error, Migrator, Registry, sql};

fn server(backend: Backend) -> String {
    let from_env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    match backend {
        Backend::Sqlite => "sqlite:".to_owned(),
        Backend::Postgres => from_env("MIGRATIONS_RS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
        Backend::MySql => from_env("MIGRATIONS_RS_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
    }
}

/// Two migrations in a folder of a fixed name, so that the template they
/// build is the same one from run to run.
fn migrator() -> Migrator {
    let root = tempfile::tempdir().expect("a temporary directory").keep();
    let dir = root.join("built_backends");
    std::fs::create_dir(&dir).expect("the migrations folder");
    let files = [
        ("20240101000000_create_items.sql", "CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR(50) NOT NULL);"),
        ("20240101000000_create_items.down.sql", "DROP TABLE items;"),
        ("20240102000000_seed_items.sql", "INSERT INTO items (id, label) VALUES (1, 'first'), (2, 'second');"),
        ("20240102000000_seed_items.down.sql", "DELETE FROM items;"),
    ];
    for (name, sql) in files {
        std::fs::write(dir.join(name), sql).expect("a migration file");
    }
    let loaded = sql::folder::load(&dir).expect("the folder loads");
    let _ = std::fs::remove_dir_all(&root);
    Migrator::new(Registry::new(loaded.migrations).expect("a valid registry"))
}

#[tokio::test]
async fn every_built_backend_migrates_a_test_database() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let created = TestDatabase::builder(&server(backend)).migrator(migrator()).create().await;
        if !is_built(backend) {
            let Err(TestDatabaseError::Url(error)) = created else { panic!("{backend}: not refused: {created:?}") };
            let Error::UnsupportedUrl { reason, .. } = &*error else { panic!("{backend}: {error:?}") };
            assert!(reason.contains(&format!("`{}` feature", migrations_rs_runtime::backend::feature(backend))));
            continue;
        }
        let db = created.unwrap_or_else(|e| panic!("{backend}: {e}"));
        let mut conn = db.connect().await.expect("a connection to the test database");
        let status = db.migrator().status(&mut conn).await.unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(status.migrations.len(), 2, "{backend}: {status:?}");
        assert!(status.is_up_to_date(), "{backend}: {status:?}");
        conn.close().await.expect("closed");
        db.drop_now().await.unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}
