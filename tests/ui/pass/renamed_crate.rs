//! `crate = path` for users who rename the dependency.
extern crate migrations_rs as mig;

#[mig::migration(crate = ::mig, version = 2024_01_15_093000, irreversible)]
mod create_users {
    pub async fn up(_db: &mut ::mig::Db<'_>) -> ::mig::Result<()> {
        Ok(())
    }
}

fn main() {}
