use migrations_rs::prelude::*;

#[migration(version = 2024_01_15_093000)]
mod create_users;

fn main() {}
