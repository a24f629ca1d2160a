//! The `#[migration(...)]` attribute of migrations-rs.
//!
//! The attribute sits on an inline module holding `async fn up` and (unless the
//! migration is `irreversible`) `async fn down`. It works in three stages kept
//! apart: `attr` and `ast` parse the attribute and the module into a typed
//! model, `valid` checks that model and collects every mistake, and
//! `expand` generates the registration. Nothing here panics: every problem
//! becomes a `compile_error!` pointing at the offending tokens, emitted beside
//! the user's unchanged module.
//!
//! [`test`](macro@test) (re-exported as `migrations_rs::testing::test`) makes
//! an `async fn` a test with a database of its own; it is read, checked and
//! expanded in `test_fn`.

mod ast;
mod attr;
mod checksum;
mod ctxt;
mod expand;
mod record;
mod sql_folder;
mod suggest;
mod test_fn;
mod timestamp;
mod valid;

use proc_macro::TokenStream;

/// Embeds a folder of SQL migrations, in our layout, sqlx's or diesel's,
/// into the same graph as the `#[migration]` modules:
/// `migrations_rs::sql_migrations!("migrations");` at item level.
#[proc_macro]
pub fn sql_migrations(input: TokenStream) -> TokenStream {
    sql_folder::sql_migrations(input.into()).into()
}

/// Declares a migration: an inline module with `pub async fn up(db: &mut Db<'_>) -> Result<()>`
/// and, unless the migration is `irreversible`, a `down` of the same shape.
/// The attribute registers it at link time: every program that links the
/// module finds it in `Migrator::from_linked()`.
///
/// ```
/// use migrations_rs::prelude::*;
///
/// /// Accounts that can sign in.
/// #[migration(version = 2024_01_15_093000, risk = [schema])]
/// mod create_users {
///     use super::*;
///
///     pub async fn up(db: &mut Db<'_>) -> Result<()> {
///         db.exec(
///             Table::create()
///                 .table("users")
///                 .col(ColumnDef::new("id").big_integer().not_null().primary_key().auto_increment())
///                 .col(ColumnDef::new("email").string().not_null()),
///         )
///         .await
///     }
///
///     pub async fn down(db: &mut Db<'_>) -> Result<()> {
///         db.exec(Table::drop().table("users")).await
///     }
/// }
///
/// #[migration(version = 2024_01_16_093000, depends_on = [create_users], risk = [schema])]
/// mod add_avatars {
///     use super::*;
///
///     pub async fn up(db: &mut Db<'_>) -> Result<()> {
///         db.exec(Table::alter().table("users").add_column(ColumnDef::new("avatar").string())).await
///     }
///
///     pub async fn down(db: &mut Db<'_>) -> Result<()> {
///         db.exec(Table::alter().table("users").drop_column("avatar")).await
///     }
/// }
///
/// fn main() {
///     let migrator = migrations_rs::Migrator::from_linked().expect("a valid graph");
///     let order: Vec<&str> = migrator.registry().in_order().map(|m| m.name).collect();
///     assert_eq!(order, ["create_users", "add_avatars"]);
/// }
/// ```
///
/// The keys:
/// - `version = YYYY_MM_DD_HHMMSS` (required): a UTC timestamp, unique in the program;
/// - `depends_on = [module_path, 2024_01_01_000000]`: migrations that must be applied
///   first, by module path (checked by the compiler) or by version (checked when the
///   registry loads);
/// - `risk = [schema, data, index, constraint]`: the kinds of change it makes;
/// - `allow = [drop_column, ...]`: risk-analysis rules it acknowledges;
/// - `irreversible`: it has no `down`, and is never reverted;
/// - `transaction = false`: the body does not run in a transaction with its history row;
/// - `empty`: `up` is meant to change nothing (otherwise an empty `up` is refused);
/// - `crate = path`: where migrations-rs is, when it is not `::migrations_rs`.
///
/// Every mistake is a compile error at the tokens at fault. The module's
/// checksum (recorded when it is applied) does not change when `cargo fmt`
/// reformats it.
#[proc_macro_attribute]
pub fn migration(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::migration(args.into(), item.into()).into()
}

/// Makes an `async fn` a test with a database of its own, migrated to the head
/// of every linked migration, or to `to = <version>`: cloned in milliseconds
/// from a template migrated once (see `migrations_rs::testing::TestDatabase`),
/// and dropped after the test, also when it panics.
///
/// ```no_run
/// use migrations_rs::testing::{self, TestDatabase};
/// use migrations_rs::{Scope, sqlx};
///
/// #[testing::test]
/// async fn on_sqlite(db: TestDatabase) {
///     let pool = sqlx::SqlitePool::connect(db.url().expose()).await.unwrap();
///     // … the code under test …
/// }
///
/// #[testing::test(backend = postgres)]
/// async fn with_a_pool(pool: sqlx::PgPool) {
///     sqlx::query("SELECT 1").execute(&pool).await.unwrap();
/// }
///
/// // A data migration: migrate to the version before it, seed, migrate further, assert.
/// #[testing::test(backend = mysql, to = 2024_01_20_110000)]
/// async fn splits_names(db: &TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
///     // … insert rows in the shape the schema has at that version …
///     db.up(Scope::All).await?;
///     // … assert on what the data migration made of them …
///     Ok(())
/// }
/// ```
///
/// The function takes one parameter: the `TestDatabase` itself (dropped with
/// the value), `&TestDatabase`, or anything `migrations_rs::testing::TestArgument`
/// opens on it: sqlx's pools and connections (`SqlitePool`, `PgConnection`, …).
/// It may return `()` or a `Result`, as `#[test]` functions do, and carry other
/// test attributes (`#[ignore]`, `#[should_panic]`).
///
/// The keys:
/// - `backend = sqlite | postgres | mysql` (SQLite by default): on SQLite the
///   database is a temporary file; PostgreSQL and MySQL/MariaDB test databases
///   are created on the server of `MIGRATIONS_RS_POSTGRES_URL` or
///   `MIGRATIONS_RS_MYSQL_URL`, and a test fails saying so when it is not set;
/// - `to = <version>`: migrate only up to that version and what it depends on;
/// - `crate = path`: where migrations-rs is, when it is not `::migrations_rs`.
///
/// Each test runs on a current-thread tokio runtime of its own.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_fn::test(args.into(), item.into()).into()
}
