//! `migrations-rs`: the command line over a folder of SQL migrations, for
//! projects that have no Rust migrations to link in.

fn main() {
    migrations_rs::cli::main_for_sql_folder()
}
