//! A small shop schema as typed migrations, run with the migrations-rs CLI.
//!
//! ```text
//! cargo run --example migrate -- up
//! cargo run --example migrate -- status
//! cargo run --example migrate -- down --steps 2
//! ```
//!
//! The graph has two branches, users and products, that merge in `create_orders`:
//!
//! ```text
//! create_users -> seed_users -> split_full_names -> drop_full_name
//!                                     \
//!                                      create_orders -> index_orders_by_time
//!                                     /
//! create_products -> index_products_by_sku
//! ```

use migrations_rs::prelude::*;

/// Accounts that can sign in.
#[migration(version = 2024_01_15_093000, risk = [schema])]
mod create_users {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("users")
                .col(ColumnDef::new("id").integer().not_null().primary_key().auto_increment())
                .col(ColumnDef::new("email").string_len(320).not_null().unique_key())
                .col(ColumnDef::new("full_name").string_len(200).not_null()),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("users")).await
    }
}

/// The catalogue.
#[migration(version = 2024_01_16_101500, risk = [schema])]
mod create_products {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("products")
                .col(ColumnDef::new("id").integer().not_null().primary_key().auto_increment())
                .col(ColumnDef::new("sku").string_len(32).not_null())
                .col(ColumnDef::new("title").string_len(200).not_null())
                .col(ColumnDef::new("price_cents").big_integer().not_null()),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("products")).await
    }
}

/// The first staff accounts.
#[migration(version = 2024_01_20_110000, depends_on = [create_users], risk = [data])]
mod seed_users {
    use super::*;

    const STAFF: [(&str, &str); 3] = [
        ("ada@example.com", "Ada Lovelace"),
        ("grace@example.com", "Grace Brewster Hopper"),
        ("edsger@example.com", "Edsger Dijkstra"),
    ];

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        let mut insert = Query::insert();
        insert.into_table("users").columns(["email", "full_name"]);
        for (email, name) in STAFF {
            insert.values_panic([email.into(), name.into()]);
        }
        db.exec(&insert).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        let emails = STAFF.map(|(email, _)| email);
        db.exec(Query::delete().from_table("users").and_where(Expr::col("email").is_in(emails))).await
    }
}

/// Splits `full_name` into `first_name` and `last_name`, rewriting every row.
#[migration(version = 2024_02_01_120000, depends_on = [seed_users], risk = [schema, data])]
mod split_full_names {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        for column in ["first_name", "last_name"] {
            db.exec(
                Table::alter().table("users").add_column(ColumnDef::new(column).string_len(200).not_null().default("")),
            )
            .await?;
        }
        let rows = db.fetch_all(Query::select().columns(["id", "full_name"]).from("users")).await?;
        for row in rows {
            let id: i32 = row.get("id")?;
            let full_name: String = row.get("full_name")?;
            let (first, last) = full_name.rsplit_once(' ').unwrap_or((full_name.as_str(), ""));
            db.exec(
                Query::update()
                    .table("users")
                    .values([("first_name", first.into()), ("last_name", last.into())])
                    .and_where(Expr::col("id").eq(id)),
            )
            .await?;
        }
        Ok(())
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        for column in ["first_name", "last_name"] {
            db.exec(Table::alter().table("users").drop_column(column)).await?;
        }
        Ok(())
    }
}

/// `full_name` is now derived; dropping it loses nothing the split did not keep,
/// but the original spelling cannot be rebuilt, so there is no way back. The
/// drop is acknowledged: without `allow`, `up` would refuse it.
#[migration(
    version = 2024_02_10_090000,
    depends_on = [split_full_names],
    risk = [schema, data],
    allow = [drop_column],
    irreversible
)]
mod drop_full_name {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("users").drop_column("full_name")).await
    }
}

/// SKUs are looked up on every page view and must be unique.
#[migration(version = 2024_02_05_080000, depends_on = [create_products], risk = [index, constraint])]
mod index_products_by_sku {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::create().name("products_by_sku").table("products").col("sku").unique()).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::drop().name("products_by_sku").table("products")).await
    }
}

/// Orders join the two branches: they need users and products.
#[migration(
    version = 2024_03_01_090000,
    depends_on = [split_full_names, index_products_by_sku],
    risk = [schema, constraint]
)]
mod create_orders {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("orders")
                .col(ColumnDef::new("id").integer().not_null().primary_key().auto_increment())
                .col(ColumnDef::new("user_id").integer().not_null())
                .col(ColumnDef::new("product_id").integer().not_null())
                .col(ColumnDef::new("quantity").integer().not_null().default(1))
                .col(ColumnDef::new("placed_at").date_time().not_null())
                .foreign_key(ForeignKey::create().from("orders", "user_id").to("users", "id"))
                .foreign_key(ForeignKey::create().from("orders", "product_id").to("products", "id")),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("orders")).await
    }
}

/// The back office lists orders by time; raw SQL works where it reads best.
#[migration(version = 2024_03_15_170000, depends_on = [create_orders], risk = [index])]
mod index_orders_by_time {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE INDEX orders_by_time ON orders (placed_at)").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Index::drop().name("orders_by_time").table("orders")).await
    }
}

fn main() {
    migrations_rs::cli::main()
}
