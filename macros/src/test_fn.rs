//! The `#[migrations_rs::testing::test]` attribute: an `async fn` test given a
//! database of its own, migrated to the head or to `to = <version>`. Parsed
//! into [`TestArgs`] and [`TestFn`], checked with every mistake collected, and
//! expanded into a plain `#[test]` that hands the function to the runtime's
//! runner (`__private::testing`).

use crate::attr::{self, Entry};
use crate::ctxt::Errors;
use crate::suggest::nearest;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, Path, Token, Type};

const KEYS: &[&str] = &["backend", "to", "crate"];
const BACKENDS: &[&str] = &["sqlite", "postgres", "mysql"];

/// The attribute's arguments.
#[derive(Default)]
struct TestArgs {
    /// The backend's variant of `Backend`; SQLite when not given.
    backend: Option<Ident>,
    to: Option<u64>,
    krate: Option<Path>,
}

/// How the test's parameter is given to it.
enum Parameter {
    /// `TestDatabase`: the value itself.
    Owned,
    /// `&TestDatabase`.
    Borrowed,
    /// Any other type, opened on the database through `TestArgument`.
    Opened(Box<Type>),
}

/// The checked test function.
struct TestFn {
    item: ItemFn,
    parameter: Parameter,
}

pub(crate) fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_args(args, &mut errors);
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            errors.spanned(&item, format!("{error}: #[migrations_rs::testing::test] goes on an `async fn`"));
            return errors.to_compile_errors();
        }
    };
    let test = check(function.clone(), &mut errors);
    match test {
        Some(test) if errors.is_empty() => expand(&args, test),
        _ => {
            // The function beside the errors, so its body reports no follow-on errors.
            let errors = errors.to_compile_errors();
            quote! { #errors #[allow(dead_code)] #function }
        }
    }
}

fn parse_args(tokens: TokenStream, errors: &mut Errors) -> TestArgs {
    let mut args = TestArgs::default();
    let entries = match Punctuated::<Entry, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(error);
            return args;
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for Entry { key, value } in entries {
        let name = key.unraw().to_string();
        if seen.contains(&name) {
            errors.spanned(&key, format!("duplicate key `{name}`: give each key once"));
            continue;
        }
        seen.push(name.clone());
        let Some(value) = value else {
            if KEYS.contains(&name.as_str()) {
                let example = match name.as_str() {
                    "backend" => "backend = postgres",
                    "to" => "to = 2024_01_15_093000",
                    _ => "crate = ::migrations_rs",
                };
                errors.spanned(&key, format!("`{name}` needs a value, like `{example}`"));
            } else {
                unknown_key(&key, &name, errors);
            }
            continue;
        };
        match name.as_str() {
            "backend" => args.backend = backend(&value, errors),
            "to" => args.to = attr::version(&value, true, errors).map(|version| version.value),
            "crate" => match value {
                Expr::Path(path) if path.qself.is_none() => args.krate = Some(path.path),
                other => errors.spanned(other, "`crate` takes a path, like `crate = ::migrations_rs`"),
            },
            _ => unknown_key(&key, &name, errors),
        }
    }
    args
}

fn unknown_key(key: &Ident, name: &str, errors: &mut Errors) {
    let hint = match nearest(name, KEYS) {
        Some(known) => format!("; did you mean `{known}`?"),
        None => format!("; known keys are {}", KEYS.join(", ")),
    };
    errors.spanned(key, format!("unknown key `{name}` in #[migrations_rs::testing::test]{hint}"));
}

/// `sqlite`, `postgres` or `mysql`, as the variant of `Backend`.
fn backend(value: &Expr, errors: &mut Errors) -> Option<Ident> {
    let ident = match value {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
        _ => None,
    };
    let name = ident.map(|ident| ident.unraw().to_string());
    let variant = match name.as_deref() {
        Some("sqlite") => "Sqlite",
        Some("postgres") => "Postgres",
        Some("mysql") => "MySql",
        other => {
            let hint = other.and_then(|name| nearest(name, BACKENDS)).map(|known| format!("did you mean `{known}`? "));
            let message = format!("unknown backend: {}backends are {}", hint.unwrap_or_default(), BACKENDS.join(", "));
            errors.spanned(value, message);
            return None;
        }
    };
    Some(Ident::new(variant, value.span()))
}

/// An `async fn` without generics taking one parameter; `None` when it cannot be expanded.
fn check(item: ItemFn, errors: &mut Errors) -> Option<TestFn> {
    let signature = &item.sig;
    if signature.asyncness.is_none() {
        errors.spanned(signature.fn_token, "the test must be an `async fn`: add `async`");
    }
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        errors.spanned(&signature.generics, "a test takes no generic parameters");
    }
    if let Some(attribute) = item.attrs.iter().find(|attribute| attribute.path().is_ident("test")) {
        errors.spanned(attribute, "remove `#[test]`: #[migrations_rs::testing::test] makes the function a test");
    }
    let mut inputs = signature.inputs.iter();
    let parameter = match (inputs.next(), inputs.next()) {
        (Some(FnArg::Typed(input)), None) => parameter(&input.ty, errors),
        (Some(FnArg::Receiver(receiver)), None) => {
            errors.spanned(receiver, "a test is a free function: it takes no `self`");
            None
        }
        (None, _) => {
            errors.spanned(
                &signature.ident,
                "the test takes one parameter: `db: TestDatabase`, `db: &TestDatabase`, or a pool or connection such as `pool: PgPool`",
            );
            None
        }
        (Some(_), Some(_)) => {
            errors.spanned(&signature.inputs, "the test takes one parameter, the database or what is opened on it");
            None
        }
    };
    Some(TestFn { parameter: parameter?, item })
}

fn parameter(ty: &Type, errors: &mut Errors) -> Option<Parameter> {
    match ty {
        Type::Reference(reference) if is_test_database(&reference.elem) => {
            if let Some(mutability) = reference.mutability {
                errors.spanned(mutability, "take `&TestDatabase` or `TestDatabase`: the database is not lent mutably");
                return None;
            }
            Some(Parameter::Borrowed)
        }
        Type::Reference(_) => {
            errors.spanned(
                ty,
                "take the value, not a reference: `TestDatabase`, `&TestDatabase`, or a pool or connection such as `PgPool`",
            );
            None
        }
        Type::Paren(inner) => parameter(&inner.elem, errors),
        _ if is_test_database(ty) => Some(Parameter::Owned),
        _ => Some(Parameter::Opened(Box::new(ty.clone()))),
    }
}

/// Whether the type is written `TestDatabase` or a path ending in it.
fn is_test_database(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().is_some_and(|segment| segment.ident == "TestDatabase")
        }
        _ => false,
    }
}

fn expand(args: &TestArgs, test: TestFn) -> TokenStream {
    let private = match &args.krate {
        Some(path) => quote!(#path::__private::testing),
        None => quote!(::migrations_rs::__private::testing),
    };
    let TestFn { item, parameter } = test;
    let ItemFn { attrs, vis, sig, block } = item;
    let name = &sig.ident;
    let output = &sig.output;
    let backend = match &args.backend {
        Some(variant) => quote!(#private::Backend::#variant),
        None => quote!(#private::Backend::Sqlite),
    };
    let to = match args.to {
        Some(version) => quote!(::core::option::Option::Some(#private::Version::from_checked(#version))),
        None => quote!(::core::option::Option::None),
    };
    let run = match parameter {
        Parameter::Owned => quote_spanned!(sig.inputs.span()=> #private::run_owning),
        Parameter::Borrowed => quote_spanned!(sig.inputs.span()=> #private::run_borrowing),
        Parameter::Opened(ty) => quote_spanned!(ty.span()=> #private::run_with::<#ty, _>),
    };
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() #output {
            #sig #block
            let options = #private::TestOptions {
                backend: #backend,
                to: #to,
                test: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
            };
            #run(options, #name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(args: TokenStream, item: TokenStream) -> String {
        test(args, item).to_string()
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let out = errors_of(
            quote!(backend = postgress, too = 1),
            quote!(
                fn a(x: &mut Pool, y: u8) {}
            ),
        );
        for expected in ["did you mean `postgres`", "did you mean `to`", "`async fn`", "one parameter"] {
            assert!(out.contains(expected), "{expected} in {out}");
        }
    }

    #[test]
    fn a_test_database_is_lent_or_given() {
        let owned = errors_of(
            quote!(),
            quote!(
                async fn a(db: TestDatabase) {}
            ),
        );
        assert!(owned.contains("run_owning"), "{owned}");
        let borrowed = errors_of(
            quote!(backend = mysql),
            quote!(
                async fn a(db: &testing::TestDatabase) {}
            ),
        );
        assert!(borrowed.contains("run_borrowing") && borrowed.contains("MySql"), "{borrowed}");
        let pool = errors_of(
            quote!(crate = my::path, to = 2024_01_15_093000),
            quote!(
                async fn a(pool: PgPool) {}
            ),
        );
        assert!(pool.contains("run_with :: < PgPool") && pool.contains("my :: path"), "{pool}");
    }
}
