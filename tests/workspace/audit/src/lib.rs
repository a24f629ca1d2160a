//! Audit: an event log. Nothing in the app calls this crate; the app keeps it
//! linked with `use audit as _;` so that its migrations are registered.

pub mod migrations {
    use migrations_rs::prelude::*;

    /// Depends on billing by path: this crate depends on billing in Cargo.toml.
    #[migration(version = 2024_01_03_000000, depends_on = [billing::migrations::create_customers], risk = [schema])]
    pub mod create_audit_events {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(
                Table::create()
                    .table("audit_events")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("customer_id").integer().not_null())
                    .col(ColumnDef::new("what").string_len(200).not_null()),
            )
            .await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::drop().table("audit_events")).await
        }
    }

    #[migration(version = 2024_01_04_000000, depends_on = [create_audit_events], risk = [index])]
    pub mod index_audit_events {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(Index::create().name("audit_events_by_customer").table("audit_events").col("customer_id")).await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Index::drop().name("audit_events_by_customer").table("audit_events")).await
        }
    }
}
