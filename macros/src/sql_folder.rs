//! `sql_migrations!("migrations")`: a folder of SQL migrations embedded at
//! compile time. Every file is read and checked now, its checksum computed
//! now, and its text included with `include_str!`, so editing a file
//! rebuilds the crate. A name that fits no layout, an unreadable file or a
//! bad header is a compile error naming the file.

use crate::attr::{RISK_TAGS, RULES};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use syn::LitStr;

#[path = "../../runtime/src/sql/layout.rs"]
#[allow(dead_code)]
mod layout;

pub(crate) fn sql_migrations(input: TokenStream) -> TokenStream {
    let root = std::env::var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    match expand(&root, input) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

/// The records of the folder named by `input`, relative to `root` (the crate's manifest folder).
fn expand(root: &Path, input: TokenStream) -> syn::Result<TokenStream> {
    let folder: LitStr = syn::parse2(input).map_err(|e| {
        syn::Error::new(
            e.span(),
            "sql_migrations! takes the folder as a string, like `sql_migrations!(\"migrations\")`",
        )
    })?;
    let span = folder.span();
    let dir = root.join(folder.value());
    let contents = layout::scan(&dir).map_err(|e| syn::Error::new(span, e.to_string()))?;
    let mut records = Vec::with_capacity(contents.migrations.len());
    for files in &contents.migrations {
        records.push(record(files, span)?);
    }
    Ok(quote!(#(#records)*))
}

fn read(path: &Path, span: Span) -> syn::Result<String> {
    std::fs::read_to_string(path).map_err(|e| syn::Error::new(span, format!("{}: cannot be read: {e}", path.display())))
}

fn record(files: &layout::SqlMigrationFiles, span: Span) -> syn::Result<TokenStream> {
    let fail = |message: String| syn::Error::new(span, format!("{}: {message}", files.up.display()));
    let up = read(&files.up, span)?;
    let header = layout::header(&up).map_err(fail)?;
    let down = match &files.down {
        Some(path) => Some((path, read(path, span)?)).filter(|(_, sql)| !layout::is_empty_sql(sql)),
        None => None,
    };
    if header.irreversible && down.is_some() {
        return Err(fail("says `irreversible` but has a down file; remove one of them".to_owned()));
    }
    for tag in &header.risk {
        if !RISK_TAGS.contains(&tag.as_str()) {
            return Err(fail(format!("unknown risk tag `{tag}`: known tags are {}", RISK_TAGS.join(", "))));
        }
    }
    for rule in &header.allow {
        if !RULES.contains(&rule.as_str()) {
            return Err(fail(format!("unknown rule `{rule}` in allow: known rules are {}", RULES.join(", "))));
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(up.as_bytes());
    if let Some((_, sql)) = &down {
        hasher.update([0]);
        hasher.update(sql.as_bytes());
    }
    let checksum: [u8; 32] = hasher.finalize().into();

    let private = quote!(::migrations_rs::__private);
    let version = files.version;
    let name = &files.name;
    let file = files.up.display().to_string();
    let depends_on = header.depends_on.iter().map(|v| quote!(#private::Version::from_checked(#v)));
    let risk = header.risk.iter().map(|tag| {
        let variant = syn::Ident::new(&format!("{}{}", tag[..1].to_uppercase(), &tag[1..]), span);
        quote!(#private::Risk::#variant)
    });
    let allow = &header.allow;
    let irreversible = down.is_none();
    let transaction = !(files.no_transaction || header.no_transaction);
    let up_path = file.clone();
    let down = match &down {
        Some((path, _)) => {
            let path = path.display().to_string();
            quote!(::core::option::Option::Some(#private::Body::Sql(::core::include_str!(#path))))
        }
        None => quote!(::core::option::Option::None),
    };
    Ok(quote! {
        #private::inventory::submit! {
            #private::Migration {
                version: #private::Version::from_checked(#version),
                name: #name,
                module: ::core::env!("CARGO_PKG_NAME"),
                module_version: ::core::env!("CARGO_PKG_VERSION"),
                file: #file,
                line: 1,
                depends_on: &[#(#depends_on),*],
                risk: &[#(#risk),*],
                allow: &[#(#allow),*],
                irreversible: #irreversible,
                transaction: #transaction,
                checksum: #private::Checksum::from_bytes([#(#checksum),*]),
                up: #private::Body::Sql(::core::include_str!(#up_path)),
                down: #down,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of its own under the system's temporary folder.
    fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mrs-macro-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }

    fn error_of(dir: &Path) -> String {
        let root = dir.parent().unwrap();
        let name = dir.file_name().unwrap().to_str().unwrap();
        expand(root, quote!(#name)).unwrap_err().to_string()
    }

    #[test]
    fn a_file_name_that_fits_no_layout_is_an_error_naming_it() {
        let dir = folder("bad-name", &[("V1__ok.sql", "SELECT 1;"), ("backfill users.sql", "SELECT 1;")]);
        let message = error_of(&dir);
        assert!(
            message.contains("backfill users.sql") && message.contains("name it V<version>__<name>.sql"),
            "{message}"
        );
    }

    #[test]
    fn bad_headers_and_unknown_tags_are_errors_naming_the_file() {
        let dir = folder("bad-tag", &[("V1__a.sql", "-- migrations-rs: risk = [shema]\nSELECT 1;")]);
        let message = error_of(&dir);
        assert!(message.contains("V1__a.sql: unknown risk tag `shema`"), "{message}");
        let dir = folder("bad-rule", &[("V1__a.sql", "-- migrations-rs: allow = [drop_colum]\nSELECT 1;")]);
        assert!(error_of(&dir).contains("unknown rule `drop_colum`"));
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let missing = std::env::temp_dir().join(format!("mrs-macro-{}-missing", std::process::id()));
        assert!(error_of(&missing).contains("cannot read the migrations folder"));
    }

    #[test]
    fn a_good_folder_expands_to_one_record_per_migration() {
        let dir =
            folder("good", &[("V1__a.sql", "SELECT 1;"), ("V2__b.sql", "SELECT 2;"), ("V2__b.down.sql", "SELECT 3;")]);
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let tokens = expand(dir.parent().unwrap(), quote!(#name)).unwrap().to_string();
        assert_eq!(tokens.matches("inventory :: submit !").count(), 2, "{tokens}");
        assert!(tokens.contains("include_str !"), "files are included so editing one rebuilds the crate");
    }
}
