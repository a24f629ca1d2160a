//! The program that links every crate's migrations and runs the command line.

mod migrations;

// audit is a dependency that nothing here calls: without this line the linker
// drops it, and its migrations with it.
use audit as _;

fn main() {
    assert_eq!(billing::currency(), "EUR");
    migrations_rs::cli::main()
}
