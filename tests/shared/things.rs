//! The one-table migration that the tests counting statements and spans
//! start from: `things`, with an integer key.

use migrations_rs::prelude::*;

#[migration(version = 2024_01_01_000000, risk = [schema])]
pub mod create_things {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("things").col(ColumnDef::new("id").integer().primary_key())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("things")).await
    }
}
