//! The same program as `app` without `use audit as _;`: shows what the linker
//! does to a crate that nothing references.

#[path = "../migrations.rs"]
mod migrations;

fn main() {
    assert_eq!(billing::currency(), "EUR");
    migrations_rs::cli::main()
}
