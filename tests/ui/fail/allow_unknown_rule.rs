use migrations_rs::prelude::*;

#[migration(version = 2024_01_15_093000, risk = [schema, data], allow = [drop_colum, drop_table, drop_table])]
mod drop_legacy {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec("ALTER TABLE users DROP COLUMN legacy").await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

fn main() {}
