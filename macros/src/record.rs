//! The one place that writes the `Migration` record a migration registers
//! with `inventory`, for `#[migration]` modules and embedded SQL files alike.

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;

/// The tokens of each field of a record.
pub(crate) struct Record<'a> {
    /// The path of migrations-rs's `__private` module.
    pub private: &'a TokenStream,
    pub version: u64,
    pub name: &'a str,
    /// `file` and `line`: where the migration is defined.
    pub file: TokenStream,
    pub line: TokenStream,
    pub depends_on: Vec<TokenStream>,
    pub risk: &'a [String],
    pub allow: Vec<String>,
    pub irreversible: bool,
    /// `up` does nothing and the migration is not marked `empty`.
    pub empty_up: bool,
    pub transaction: bool,
    /// `lock_wait`, in milliseconds.
    pub lock_wait_ms: Option<u64>,
    pub checksum: [u8; 32],
    /// The checksum earlier versions computed for the same code, when it differs.
    pub legacy_checksum: Option<[u8; 32]>,
    /// `Body` expressions.
    pub up: TokenStream,
    pub down: Option<TokenStream>,
}

impl Record<'_> {
    /// `inventory::submit!` of the record.
    pub(crate) fn submit(&self) -> TokenStream {
        let Record {
            private,
            version,
            name,
            file,
            line,
            depends_on,
            allow,
            irreversible,
            empty_up,
            transaction,
            up,
            ..
        } = self;
        let risk = self.risk.iter().map(|tag| risk_variant(private, tag));
        // One byte-string token rather than 32 integer tokens: this runs for every migration on every build.
        let checksum = Literal::byte_string(&self.checksum);
        let legacy_checksum = match self.legacy_checksum {
            Some(bytes) => {
                let bytes = Literal::byte_string(&bytes);
                quote!(::core::option::Option::Some(#private::Checksum::from_bytes(*#bytes)))
            }
            None => quote!(::core::option::Option::None),
        };
        let lock_wait = match self.lock_wait_ms {
            Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
            None => quote!(::core::option::Option::None),
        };
        let down = match &self.down {
            Some(body) => quote!(::core::option::Option::Some(#body)),
            None => quote!(::core::option::Option::None),
        };
        quote! {
            #private::inventory::submit! {
                #private::Migration {
                    version: #private::Version::from_checked(#version),
                    name: #name,
                    module: ::core::env!("CARGO_PKG_NAME"),
                    module_version: ::core::env!("CARGO_PKG_VERSION"),
                    file: #file,
                    line: #line,
                    depends_on: &[#(#depends_on),*],
                    risk: &[#(#risk),*],
                    allow: &[#(#allow),*],
                    irreversible: #irreversible,
                    empty_up: #empty_up,
                    transaction: #transaction,
                    lock_wait: #lock_wait,
                    checksum: #private::Checksum::from_bytes(*#checksum),
                    legacy_checksum: #legacy_checksum,
                    up: #up,
                    down: #down,
                }
            }
        }
    }
}

/// `Risk::Schema` for `schema`; the tag is one of the known ones.
fn risk_variant(private: &TokenStream, tag: &str) -> TokenStream {
    let variant = syn::Ident::new(&format!("{}{}", tag[..1].to_uppercase(), &tag[1..]), Span::call_site());
    quote!(#private::Risk::#variant)
}
