//! `sql_migrations!("migrations")`: a folder of SQL migrations embedded at
//! compile time. Every file is read and checked now, its checksum computed
//! now, and its text included with `include_str!`, so editing a file
//! rebuilds the crate. A name that fits no layout, an unreadable file or a
//! bad header is a compile error naming the file.

use crate::attr::{risk_tags, rule_names};
use crate::record::Record;
use migrations_rs_core::sql::layout;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::path::{Path, PathBuf};
use syn::LitStr;

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
    if let Some((_, path)) = contents.hooks.first() {
        return Err(syn::Error::new(
            span,
            format!(
                "{}: hook files run with the standalone binary (--sql-dir) or `Migrator::with_hooks`, \
                 not from an embedded folder; move it out of this folder",
                path.display()
            ),
        ));
    }
    let mut records = Vec::with_capacity(contents.migrations.len());
    for files in contents.migrations {
        records.push(record(files, span)?);
    }
    Ok(quote!(#(#records)*))
}

fn record(files: layout::SqlMigrationFiles, span: Span) -> syn::Result<TokenStream> {
    let sql = layout::read(files).map_err(|e| syn::Error::new(span, e.to_string()))?;
    let fail = |message: String| syn::Error::new(span, format!("{}: {message}", sql.files.up.display()));
    for tag in &sql.header.risk {
        if !risk_tags().contains(&tag.as_str()) {
            return Err(fail(format!("unknown risk tag `{tag}`: known tags are {}", risk_tags().join(", "))));
        }
    }
    for rule in &sql.header.allow {
        if !rule_names().contains(rule) {
            return Err(fail(format!("unknown rule `{rule}` in allow: known rules are {}", rule_names().join(", "))));
        }
    }
    let private = quote!(::migrations_rs::__private);
    let file = sql.files.up.display().to_string();
    let down = sql.files.down.as_ref().filter(|_| sql.down.is_some()).map(|path| {
        let path = path.display().to_string();
        quote!(#private::Body::Sql(::core::include_str!(#path)))
    });
    let record = Record {
        private: &private,
        version: sql.files.version,
        name: &sql.files.name,
        file: quote!(#file),
        line: quote!(1),
        depends_on: sql
            .header
            .depends_on
            .iter()
            .chain(&sql.files.after)
            .map(|v| quote!(#private::Version::from_checked(#v)))
            .collect(),
        risk: &sql.header.risk,
        allow: sql.header.allow.clone(),
        irreversible: sql.irreversible(),
        empty_up: sql.empty_up(),
        transaction: sql.transaction(),
        lock_wait_ms: sql.header.lock_wait.map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
        checksum: sql.checksum,
        legacy_checksum: None,
        up: quote!(#private::Body::Sql(::core::include_str!(#file))),
        down,
    };
    Ok(record.submit())
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
    fn versions_too_large_and_hook_files_are_errors_naming_the_file() {
        let dir = folder("too-large", &[("9999999999999999999_x.sql", "SELECT 1;")]);
        let message = error_of(&dir);
        assert!(message.contains("9999999999999999999_x.sql: version 9999999999999999999 is larger than"), "{message}");
        let dir = folder("hooks", &[("V1__a.sql", "SELECT 1;"), ("afterMigrate.sql", "SELECT 1;")]);
        let message = error_of(&dir);
        assert!(message.contains("afterMigrate.sql: hook files run with the standalone binary"), "{message}");
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
