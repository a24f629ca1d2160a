//! Three migrations shared by the start-up and HTTP tests: a table, a row in
//! it, and a migration that fails halfway when `switches` holds a long name.

use migrations_rs::prelude::*;

#[migration(version = 2024_01_01_000000, risk = [schema])]
pub mod create_items {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("items")
                .col(ColumnDef::new("id").integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new("label").string_len(100).not_null()),
        )
        .await?;
        db.exec(Table::create().table("switches").col(ColumnDef::new("name").string_len(200).not_null())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("switches")).await?;
        db.exec(Table::drop().table("items")).await
    }
}

#[migration(version = 2024_01_02_000000, depends_on = [create_items], risk = [data])]
pub mod fill_items {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Query::insert().into_table("items").columns(["label"]).values_panic(["first".into()])).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Query::delete().from_table("items")).await
    }
}

/// Fails after creating its table when `switches` holds a name of 10 characters or more.
#[migration(version = 2024_01_03_000000, depends_on = [fill_items], risk = [schema, data])]
pub mod create_notes {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("CREATE TABLE notes (body VARCHAR(200) NOT NULL, CHECK (length(body) < 10))").await?;
        db.exec("INSERT INTO notes (body) SELECT name FROM switches").await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("notes")).await
    }
}
