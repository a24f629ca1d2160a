//! A migration whose `up` does nothing, as `create` writes it, is an error for
//! `lint` and is refused by `up` until its change is written or it says
//! `empty`; the "modified" error names each way out.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{Backend, Migrator, Scope, Version, analysis::Rule, error::Remedy, registry::Registry};
use support::TestDb;

/// As `create` writes it, never filled in.
#[migration(version = 2024_05_01_000000)]
mod unwritten {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

/// Meant to change nothing: a marker in the history.
#[migration(version = 2024_05_02_000000, empty)]
mod release_marker {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

fn migration(version: u64) -> &'static migrations_rs::registry::Migration {
    Registry::from_linked().unwrap().get(Version::parse(&version.to_string()).unwrap()).unwrap()
}

async fn up_refuses_an_empty_migration_unless_it_says_empty(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let both = Migrator::new(Registry::new([migration(20240501000000), migration(20240502000000)]).unwrap());
    let error = both.up(&mut conn, Scope::All).await.expect_err("the unwritten migration is refused").to_string();
    assert!(error.contains("nothing was applied: 1 pending migration(s) have an empty `up`"), "{error}");
    assert!(error.contains("20240501000000 unwritten (") && error.contains("tests/empty_migrations.rs"), "{error}");
    assert!(!error.contains("release_marker"), "{error}");
    assert!(error.contains("say `empty` in its attribute"), "{error}");
    let mut inspect = db.inspect().await;
    assert!(
        !inspect.table_exists("migrations_rs_history").await
            || inspect.scalar("SELECT count(*) FROM migrations_rs_history").await == 0,
        "nothing applied"
    );

    let marker = Migrator::new(Registry::new([migration(20240502000000)]).unwrap());
    let report = marker.up(&mut conn, Scope::All).await.expect("a migration marked `empty` applies");
    assert_eq!(report.applied.len(), 1);
}

on_every_backend!(up_refuses_an_empty_migration_unless_it_says_empty);

#[tokio::test]
async fn lint_reports_an_empty_migration_as_an_error() {
    let migrator = Migrator::new(Registry::new([migration(20240501000000), migration(20240502000000)]).unwrap());
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let analyses = migrator.analyze_all(backend).await;
        let unwritten = analyses.iter().find(|a| a.name == "unwritten").unwrap();
        assert_eq!(unwritten.lint_errors(), 1, "{:?}", unwritten.findings);
        assert_eq!(unwritten.findings[0].rule, Rule::EmptyMigration);
        assert!(unwritten.findings[0].detail.starts_with("empty migration"), "{}", unwritten.findings[0].detail);
        let marker = analyses.iter().find(|a| a.name == "release_marker").unwrap();
        assert_eq!(marker.lint_errors(), 0, "{:?}", marker.findings);
    }
}

#[test]
fn the_modified_error_names_every_way_out() {
    let error = migrations_rs::Error::ChecksumMismatch {
        mismatches: vec![migrations_rs::error::ChecksumMismatch {
            version: Version::parse("20240501000000").unwrap(),
            name: "unwritten".to_owned(),
            location: "src/migrations/m20240501000000_unwritten.rs:4".to_owned(),
            applied: "a".repeat(64),
            current: "b".repeat(64),
        }],
    };
    let versions = vec![Version::parse("20240501000000").unwrap()];
    assert_eq!(
        error.remedies(),
        [
            Remedy::RestoreCode { versions: versions.clone() },
            Remedy::RevertModified { versions: versions.clone() },
            Remedy::AcceptModified { versions }
        ],
        "{error}"
    );
    let library: String = error.remedies().iter().map(|remedy| format!("{remedy}\n")).collect();
    for way_out in
        ["put the change in a new migration", "`revert_modified(true)`", "`Migrator::up` again", "`Migrator::repair`"]
    {
        assert!(library.contains(way_out), "names {way_out}: {library}");
    }
}
