//! A Rust migration may depend on SQL migrations whose versions are not
//! 14-digit timestamps: diesel's 18-digit `-0000` versions, sqlx's `1`.
#[migrations_rs::migration(version = 2024_01_15_093000, depends_on = [202401140930000000, 1])]
mod backfill_users {
    async fn up(_db: &mut migrations_rs::Db<'_>) -> migrations_rs::Result<()> {
        Ok(())
    }

    async fn down(_db: &mut migrations_rs::Db<'_>) -> migrations_rs::Result<()> {
        Ok(())
    }
}

fn main() {}
