//! Benchmarks of migrations-rs against the physical limit (raw SQL through
//! one connection, no bookkeeping) and its peers, `sqlx::migrate` and
//! sea-orm-migration, on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! The `migrations-rs-bench` binary runs every scenario, prints the tables
//! and writes the figures as JSON; BENCHMARKS.md at the repository root
//! says how to run it and what the figures mean.

pub mod backfill;
pub mod compile;
pub mod databases;
pub mod fleet;
pub mod introspect;
pub mod machine;
pub mod measure;
pub mod planner;
pub mod report;
pub mod scratch;
pub mod test_database;
pub mod tools;
pub mod workload;
