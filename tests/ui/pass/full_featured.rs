//! Every attribute key, paths and versions as dependencies, and a body that uses the handle.
use migrations_rs::prelude::*;

/// Accounts.
#[migration(version = 2024_01_15_093000, risk = [schema])]
mod create_users {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::create().table("users").col(ColumnDef::new("id").integer().primary_key())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("users")).await
    }
}

pub mod nested {
    use super::*;

    #[migration(version = 20240116093000, depends_on = [super::create_users], risk = [index])]
    pub mod index_users {
        use super::*;

        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            db.exec("CREATE INDEX users_id ON users (id)").await
        }

        pub async fn down(db: &mut Db<'_>) -> Result<()> {
            db.exec("DROP INDEX users_id").await
        }
    }
}

#[migration(
    version = 2024_01_17_000000u64,
    depends_on = [create_users, crate::nested::index_users, 2024_01_15_093000],
    risk = [data, constraint, schema, index],
    transaction = false,
    irreversible,
)]
mod backfill {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        if db.backend() == Backend::Sqlite {
            db.exec("UPDATE users SET id = id").await?;
        }
        Ok(())
    }
}

fn main() {}
