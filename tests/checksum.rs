//! The checksum the attribute computes: the same code gives the same checksum
//! however it is formatted or commented; any change to a token changes it.

use migrations_rs::{Checksum, Registry, Version};

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

fn checksum(registry: &Registry, version: u64) -> Checksum {
    registry.get(Version::parse(&version.to_string()).unwrap()).unwrap().checksum
}

#[test]
fn formatting_and_comments_do_not_count_tokens_do() {
    let registry = Registry::from_linked().unwrap();
    let original = checksum(&registry, 20240101000000);
    assert_eq!(original, checksum(&registry, 20240102000000), "reformatted code keeps its checksum");
    assert_ne!(original, checksum(&registry, 20240103000000), "integer -> big_integer changes it");
    assert_eq!(original.to_hex().len(), 64);
}
