use migrations_rs::prelude::*;

#[migration(version = 2024_01_15_093000, lock_wait = "0s")]
mod create_users {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

fn main() {}
