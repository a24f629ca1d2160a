//! `#[migrations_rs::testing::test]`: a bad argument, a function that is not
//! async, and parameters it cannot give, each reported at its tokens.
use migrations_rs::testing::{self, TestDatabase};

#[testing::test(backend = postgress, too = 2024_01_15_093000)]
async fn bad_arguments(_db: TestDatabase) {}

#[testing::test(to = 2024_13_01_000000)]
async fn bad_version(_db: TestDatabase) {}

#[testing::test]
fn not_async(_db: TestDatabase) {}

#[testing::test]
async fn no_parameter() {}

#[testing::test]
async fn two_parameters(_db: TestDatabase, _other: TestDatabase) {}

#[testing::test]
async fn lent_mutably(_db: &mut TestDatabase) {}

fn main() {}
