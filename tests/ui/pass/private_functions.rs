//! `up` and `down` need not be public, and may be written with full paths.
#[migrations_rs::migration(version = 2024_01_15_093000)]
mod create_users {
    async fn up(_db: &mut migrations_rs::Db<'_>) -> migrations_rs::Result<()> {
        Ok(())
    }

    async fn down(_db: &mut migrations_rs::Db<'_>) -> std::result::Result<(), migrations_rs::Error> {
        Ok(())
    }
}

fn main() {}
