//! Generates the registration of a checked migration: hidden items inside
//! the module (its version and boxed `up`/`down` entry points) and a `const`
//! record submitted to the registry through `inventory`.

use crate::ast::MigrationModule;
use crate::attr::{self, Args, Dependency};
use crate::checksum;
use crate::ctxt::Errors;
use crate::record::Record;
use crate::valid;
use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::Path;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

pub(crate) fn migration(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let module = match MigrationModule::parse(item.clone()) {
        Ok(module) => module,
        Err(error) => {
            errors.push(error);
            return fallback(item, &errors);
        }
    };
    valid::check(&args, &module, &mut errors);
    let private = private_path(&args);
    if !errors.is_empty() {
        // Keep the module and, when the version is sound, its version constant,
        // so migrations that depend on this one report no follow-on errors.
        let mut item = module.item;
        if let Some(version) = &args.version {
            push_items(&mut item, version_const(&private, version.value));
        }
        return fallback(item.into_token_stream(), &errors);
    }
    let checksums = Checksums {
        current: checksum::of_item(&syn::Item::Mod(module.item.clone())),
        legacy: checksum::legacy::of_tokens(item.clone()),
    };
    generate(&args, item, module, &private, checksums)
}

/// The user's item, unchanged, beside every error.
fn fallback(item: TokenStream, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote! { #errors #item }
}

fn private_path(args: &Args) -> TokenStream {
    match &args.krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::migrations_rs::__private),
    }
}

/// The module's version, as the associated constant of a marker type that a
/// `depends_on` naming the module finds (see [`dependency_path`]).
fn version_const(private: &TokenStream, version: u64) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(dead_code, non_camel_case_types)]
        pub struct __MIGRATIONS_RS_MIGRATION;

        impl __MIGRATIONS_RS_MIGRATION {
            #[doc(hidden)]
            pub const VERSION: #private::Version = #private::Version::from_checked(#version);
        }
    }
}

fn push_items(item: &mut syn::ItemMod, tokens: TokenStream) {
    let file: syn::File = syn::parse2(tokens).expect("generated items parse");
    if let Some((_, items)) = &mut item.content {
        items.extend(file.items);
    }
}

/// The user's module as written, with `items` added at the end of its body.
/// The tokens are passed on as they came rather than printed again from the
/// parsed module: on every build the attribute runs once per migration, and
/// printing a module costs as much as parsing it.
fn with_items(tokens: TokenStream, module: syn::ItemMod, items: TokenStream) -> TokenStream {
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    match trees.last_mut() {
        Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace => {
            let mut stream = body.stream();
            stream.extend(items);
            let mut spliced = Group::new(Delimiter::Brace, stream);
            spliced.set_span(body.span());
            *body = spliced;
            trees.into_iter().collect()
        }
        // The module came whole from another macro, wrapped in an invisible group.
        _ => {
            let mut module = module;
            push_items(&mut module, items);
            module.into_token_stream()
        }
    }
}

/// Both checksums of a migration, taken over the tokens as the user wrote them.
struct Checksums {
    current: [u8; 32],
    /// The checksum earlier versions recorded, when it differs from `current`.
    legacy: [u8; 32],
}

fn generate(
    args: &Args,
    tokens: TokenStream,
    module: MigrationModule,
    private: &TokenStream,
    checksums: Checksums,
) -> TokenStream {
    let version = args.version.as_ref().expect("validated: version present").value;
    let name = module.name();
    let mod_ident = module.item.ident.clone();
    let has_down = module.function("down").is_some();
    let empty_up = module.up_is_empty() && args.empty.is_none();
    let up_span = module.function("up").map_or(Span::call_site(), |f| f.sig.span());
    let down_span = module.function("down").map_or(Span::call_site(), |f| f.sig.span());

    let mut hidden = version_const(private, version);
    hidden.extend(entry_point(private, "up", up_span));
    if has_down {
        hidden.extend(entry_point(private, "down", down_span));
    }

    let dependencies = args.depends_on.iter().map(|dependency| match dependency {
        Dependency::Path(path) => dependency_path(path, private),
        Dependency::Version(version) => {
            let value = version.value;
            quote_spanned!(version.literal.span()=> #private::Version::from_checked(#value))
        }
    });
    let risk: Vec<String> = args.risk.iter().map(|tag| tag.unraw().to_string()).collect();
    let record = Record {
        private,
        version,
        name: &name,
        file: quote!(::core::file!()),
        line: quote_spanned!(mod_ident.span()=> ::core::line!()),
        depends_on: dependencies.collect(),
        risk: &risk,
        allow: args.allow.iter().map(|rule| rule.unraw().to_string()).collect(),
        irreversible: args.irreversible.is_some(),
        empty_up,
        transaction: args.transaction.unwrap_or(true),
        lock_wait_ms: args.lock_wait_ms,
        checksum: checksums.current,
        legacy_checksum: (checksums.legacy != checksums.current).then_some(checksums.legacy),
        up: quote!(#private::Body::Rust(#mod_ident::__migrations_rs_up)),
        down: has_down.then(|| quote!(#private::Body::Rust(#mod_ident::__migrations_rs_down))),
    }
    .submit();
    let item = with_items(tokens, module.item, hidden);

    quote! {
        #item

        #record
    }
}

/// `fn __migrations_rs_up(db) -> BoxFuture` inside the module, calling the user's `up`.
/// Type errors in the user's signature point at that signature.
fn entry_point(private: &TokenStream, name: &str, span: Span) -> TokenStream {
    let user_fn = syn::Ident::new(name, span);
    let entry = syn::Ident::new(&format!("__migrations_rs_{name}"), Span::call_site());
    // The parameter and its use resolve alike (a local variable is found
    // only within its own hygiene context, and the user's signature may come
    // from another macro's expansion), and both point at the signature.
    let db = syn::Ident::new("db", Span::call_site().located_at(span));
    let call = quote_spanned!(span=> ::std::boxed::Box::pin(#user_fn(#db)));
    quote! {
        #[doc(hidden)]
        pub(super) fn #entry<'a, 'c>(#db: &'a mut #private::Db<'c>) -> #private::BoxFuture<'a> {
            #call
        }
    }
}

/// The version of the migration module at `path`, spanned at the user's path
/// so mistakes are reported there. The module's items are glob-imported into
/// an inner block; when `path` is a module but not a migration, the marker
/// type of the outer block is found instead, and its constant fails to
/// evaluate with "`path` is not a #[migration] module". (An unused associated
/// constant is never evaluated, so a real migration costs nothing.)
fn dependency_path(path: &Path, private: &TokenStream) -> TokenStream {
    let shown = quote!(#path).to_string().replace(' ', "");
    let message = format!("`{shown}` is not a #[migration] module");
    quote_spanned! {path.span()=>
        {
            #[allow(dead_code, non_camel_case_types)]
            struct __MIGRATIONS_RS_MIGRATION;
            impl __MIGRATIONS_RS_MIGRATION {
                #[allow(dead_code)]
                const VERSION: #private::Version = ::core::panic!(#message);
            }
            {
                #[allow(unused_imports)]
                use #path::*;
                __MIGRATIONS_RS_MIGRATION::VERSION
            }
        }
    }
}
