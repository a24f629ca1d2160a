//! The checksum the attribute computes: the same code gives the same checksum
//! however it is formatted or commented; any change to a token changes it.
//! A database recorded with the checksum of earlier versions is upgraded.

#[macro_use]
mod support;

use migrations_rs::{
    Backend, Migrator, RevertScope, Scope, Version,
    registry::{Checksum, Registry},
    report::MigrationState,
};
use support::TestDb;

mod original {
    use migrations_rs::prelude::*;

    #[migration(version = 2024_01_01_000000)]
    mod add_notes {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::create().table("notes").col(ColumnDef::new("id").integer().primary_key())).await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::drop().table("notes")).await
        }
    }
}

#[rustfmt::skip]
mod reformatted {
    use migrations_rs::prelude::*;

    /// Documentation does not count.
    #[migration(version = 2024_01_02_000000)]
    mod add_notes {
        use super :: * ;
        // Neither do comments,
        pub async fn up( db : &mut Db<'_> )
            -> Result<()> { /* nor where the braces go, */
            db.exec(
                Table::create()
                    .table("notes")
                    .col(ColumnDef::new("id").integer().primary_key())
            )
            .await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> { db.exec(Table::drop().table("notes")).await }
    }
}

mod changed {
    use migrations_rs::prelude::*;

    #[migration(version = 2024_01_03_000000)]
    mod add_notes {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::create().table("notes").col(ColumnDef::new("id").big_integer().primary_key())).await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::drop().table("notes")).await
        }
    }
}

/// The same module handed to the attribute by another macro, as one `item` fragment.
mod from_a_macro {
    use migrations_rs::prelude::*;

    macro_rules! migration_at_2024_01_04 {
        ($module:item) => {
            #[migration(version = 2024_01_04_000000)]
            $module
        };
    }

    migration_at_2024_01_04! {
        mod add_notes {
            use super::*;

            pub async fn up(db: &mut Db<'_>) -> Result<()> {
                db.exec(Table::create().table("notes").col(ColumnDef::new("id").integer().primary_key())).await
            }

            pub async fn down(db: &mut Db<'_>) -> Result<()> {
                db.exec(Table::drop().table("notes")).await
            }
        }
    }
}

/// Written the way rustfmt writes it: the trailing comma it adds when it
/// wraps arguments counted in the checksum of earlier versions.
mod formatted {
    use migrations_rs::prelude::*;

    #[migration(version = 2024_02_01_000000)]
    mod add_tags {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(
                Table::create()
                    .table("tags")
                    .col(ColumnDef::new("id").integer().primary_key())
                    .col(ColumnDef::new("label").string_len(40).not_null()),
            )
            .await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::drop().table("tags")).await
        }
    }
}

fn checksum(registry: &Registry, version: u64) -> Checksum {
    registry.get(Version::parse(&version.to_string()).unwrap()).unwrap().checksum
}

#[test]
fn formatting_and_comments_do_not_count_tokens_do() {
    let registry = Registry::from_linked().unwrap();
    let original = checksum(&registry, 20240101000000);
    assert_eq!(original, checksum(&registry, 20240102000000), "reformatted code keeps its checksum");
    assert_ne!(original, checksum(&registry, 20240103000000), "integer -> big_integer changes it");
    assert_eq!(original, checksum(&registry, 20240104000000), "the same code from another macro");
    assert_eq!(original.to_hex().len(), 64);
}

/// The value itself is what databases hold: a faster way of computing it must give the same.
#[test]
fn a_module_s_checksum_is_the_one_databases_recorded() {
    let registry = Registry::from_linked().unwrap();
    assert_eq!(
        checksum(&registry, 20240101000000).to_hex(),
        "fa16b3f9e1194cfccc6f592be4233dcf30047aa9a600be4cf941d5f32e36fe1e"
    );
}

const TAGS: u64 = 20240201000000;

/// A history row holding the legacy checksum is accepted by `status` and
/// `validate`, re-recorded with the current checksum by the next `up` (logged
/// in the audit log), and `down` then runs without a refusal.
async fn a_legacy_checksum_is_accepted_and_re_recorded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    let linked = Registry::from_linked().unwrap();
    let tags = linked.get(Version::parse(&TAGS.to_string()).unwrap()).unwrap();
    // The other migrations of this file all create `notes`.
    let migrator = Migrator::new(Registry::new([tags]).unwrap());
    let legacy = tags.legacy_checksum.expect("the trailing comma made the legacy checksum differ").to_hex();
    let current = tags.checksum.to_hex();
    migrator.up(&mut conn, Scope::All).await.unwrap();

    // As an earlier version recorded it.
    let mut inspect = db.inspect().await;
    inspect.execute(&format!("UPDATE migrations_rs_history SET checksum = '{legacy}' WHERE version = {TAGS}")).await;

    let status = migrator.status(&mut conn).await.unwrap();
    assert!(
        status.migrations.iter().all(|m| matches!(m.state, MigrationState::Applied { checksum_matches: true, .. })),
        "status accepts the legacy checksum: {:?}",
        status.migrations
    );
    assert!(migrator.validate(&mut conn).await.unwrap().problems.is_empty());

    migrator.up(&mut conn, Scope::All).await.expect("up accepts the legacy checksum");
    let recorded = inspect.strings(&format!("SELECT checksum FROM migrations_rs_history WHERE version = {TAGS}")).await;
    assert_eq!(recorded, vec![current.clone()], "up re-records the current checksum");
    let notes = inspect
        .strings(&format!("SELECT error FROM migrations_rs_log WHERE version = {TAGS} AND action = 'repair'"))
        .await;
    assert_eq!(notes.len(), 1, "one audit log entry: {notes:?}");
    assert!(notes[0].contains(&current) && notes[0].contains(&legacy), "{}", notes[0]);

    // Recorded legacy again, `down` accepts it too.
    inspect.execute(&format!("UPDATE migrations_rs_history SET checksum = '{legacy}' WHERE version = {TAGS}")).await;
    migrator
        .down(&mut conn, RevertScope::Versions(vec![tags.version]))
        .await
        .expect("down accepts the legacy checksum");
    assert_eq!(inspect.scalar("SELECT count(*) FROM migrations_rs_history").await, 0);
}

on_every_backend!(a_legacy_checksum_is_accepted_and_re_recorded);
