//! Billing: customers and their invoices. The app calls into this crate, so
//! the linker keeps it without help.

pub mod migrations {
    use migrations_rs::prelude::*;

    #[migration(version = 2024_01_01_000000, risk = [schema])]
    pub mod create_customers {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(
                Table::create()
                    .table("customers")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("name").string_len(200).not_null()),
            )
            .await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::drop().table("customers")).await
        }
    }

    #[migration(version = 2024_01_02_000000, depends_on = [create_customers], risk = [schema])]
    pub mod create_invoices {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec(
                Table::create()
                    .table("invoices")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("customer_id").integer().not_null())
                    .col(ColumnDef::new("cents").big_integer().not_null()),
            )
            .await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec(Table::drop().table("invoices")).await
        }
    }
}

/// What the app calls: the one reason the app references this crate.
pub fn currency() -> &'static str {
    "EUR"
}
