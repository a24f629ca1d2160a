use migrations_rs::prelude::*;

#[migration(version = 2024_02_30_093000, risk = [shema], retries = 3)]
mod create_users {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

fn main() {}
