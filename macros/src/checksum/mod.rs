//! The checksum of a migration: SHA-256 over a canonical text of its code that
//! `cargo fmt` cannot change, whatever the project's rustfmt settings.
//!
//! Two passes build the text. [`syntax`] rewrites the parsed module where
//! rustfmt may choose between equivalent forms (a match arm's body with or
//! without braces, `use` trees merged, split or reordered, `x: x` in a struct
//! literal, `return` with or without its `;` at the end of a block, ...), and
//! [`text`] then writes the tokens one by one, leaving out what is formatting
//! at the token level (comments, docs, a trailing comma before a closing
//! delimiter, how a literal is spelled). Anything else, any change of a token
//! that carries meaning, changes the checksum.
//!
//! [`legacy`] is the checksum of earlier versions, still emitted so that
//! history rows recorded with it are recognised once and re-recorded.

pub(crate) mod legacy;
mod syntax;
mod text;
mod uses;

#[cfg(test)]
mod rustfmt_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
use proc_macro2::TokenStream;
use quote::ToTokens;
use sha2::{Digest, Sha256};

/// The checksum of the item under `#[migration]`, as the user wrote it.
pub(crate) fn of_item(item: &syn::Item) -> [u8; 32] {
    Sha256::digest(canonical_item_text(item.clone()).as_bytes()).into()
}

/// [`of_item`] of tokens not parsed yet.
#[cfg(test)]
pub(crate) fn of_tokens(tokens: TokenStream) -> [u8; 32] {
    Sha256::digest(canonical_text(tokens).as_bytes()).into()
}

/// The text the checksum is taken over. Tokens that do not parse as an item
/// (the attribute refuses them anyway) get the token-level pass only.
#[cfg(test)]
pub(crate) fn canonical_text(tokens: TokenStream) -> String {
    match syn::parse2::<syn::Item>(tokens.clone()) {
        Ok(item) => canonical_item_text(item),
        Err(_) => text::write(tokens),
    }
}

fn canonical_item_text(mut item: syn::Item) -> String {
    syntax::canonicalise(&mut item);
    text::write(item.into_token_stream())
}
