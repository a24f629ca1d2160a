//! Nothing to import: this package exists for its examples, `migrate.rs` and
//! `service.rs` (`cargo run --example migrate -- up`).
