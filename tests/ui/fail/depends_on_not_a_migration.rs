use migrations_rs::prelude::*;

/// A module, but not a migration.
mod helpers {
    pub fn slug(text: &str) -> String {
        text.to_lowercase()
    }
}

#[migration(version = 2024_01_15_093000, depends_on = [helpers])]
mod add_slugs {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(format!("SELECT '{}'", helpers::slug("A"))).await
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

fn main() {}
