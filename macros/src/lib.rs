//! The `#[migration(...)]` attribute of migrations-rs.
//!
//! The attribute sits on an inline module holding `async fn up` and (unless the
//! migration is `irreversible`) `async fn down`. It works in three stages kept
//! apart: [`attr`] and [`ast`] parse the attribute and the module into a typed
//! model, [`valid`] checks that model and collects every mistake, and
//! [`expand`] generates the registration. Nothing here panics: every problem
//! becomes a `compile_error!` pointing at the offending tokens, emitted beside
//! the user's unchanged module.

mod ast;
mod attr;
mod checksum;
mod ctxt;
mod expand;
mod record;
mod sql_folder;
mod suggest;
mod timestamp;
mod valid;

use proc_macro::TokenStream;

/// Declares a migration. See the `migrations-rs` crate documentation.
/// Embeds a folder of SQL migrations, in our layout, sqlx's or diesel's,
/// into the same graph as the `#[migration]` modules:
/// `migrations_rs::sql_migrations!("migrations");` at item level.
#[proc_macro]
pub fn sql_migrations(input: TokenStream) -> TokenStream {
    sql_folder::sql_migrations(input.into()).into()
}

#[proc_macro_attribute]
pub fn migration(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::migration(args.into(), item.into()).into()
}
