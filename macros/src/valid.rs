//! Checks the parsed attribute against the module: dependencies, the `up` and
//! `down` functions and their signatures. Every problem is collected.

use crate::ast::MigrationModule;
use crate::attr::{self, Args, Dependency};
use crate::ctxt::Errors;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{FnArg, GenericParam, ItemFn, PathArguments, ReturnType, Type};

pub(crate) fn check(args: &Args, module: &MigrationModule, errors: &mut Errors) {
    if args.unreadable {
        // The attribute's syntax error is reported; guessing at what it meant would only add noise.
        return;
    }
    if !args.version_given {
        errors.push(syn::Error::new(
            attr::call_site(),
            "#[migration] needs a version: `#[migration(version = 2024_01_15_093000)]` (UTC, YYYYMMDDHHMMSS)",
        ));
    }
    check_dependencies(args, module, errors);
    check_functions(args, module, errors);
}

fn check_dependencies(args: &Args, module: &MigrationModule, errors: &mut Errors) {
    let own_name = module.name();
    let mut seen: Vec<String> = Vec::new();
    for dependency in &args.depends_on {
        let key = match dependency {
            Dependency::Path(path) => path.to_token_stream().to_string(),
            Dependency::Version(version) => version.value.to_string(),
        };
        let is_self = match dependency {
            Dependency::Path(path) => {
                let segments: Vec<String> = path.segments.iter().map(|s| s.ident.unraw().to_string()).collect();
                path.leading_colon.is_none()
                    && (segments == [own_name.as_str()] || segments == ["self", own_name.as_str()])
            }
            Dependency::Version(version) => args.version.as_ref().is_some_and(|own| own.value == version.value),
        };
        if is_self {
            errors.push(syn::Error::new(
                dependency.span(),
                format!("migration `{own_name}` depends on itself; remove it from depends_on"),
            ));
        } else if seen.contains(&key) {
            errors.push(syn::Error::new(
                dependency.span(),
                format!("`{key}` is listed twice in depends_on; list each dependency once"),
            ));
        }
        seen.push(key);
    }
}

fn check_functions(args: &Args, module: &MigrationModule, errors: &mut Errors) {
    match module.function("up") {
        Some(up) => check_signature(up, errors),
        None => errors.spanned(
            &module.item.ident,
            format!("migration `{}` has no `up`: add `pub async fn up(db: &mut Db<'_>) -> Result<()>`", module.name()),
        ),
    }
    if let Some(flag) = &args.empty
        && module.function("up").is_some()
        && !module.up_is_empty()
    {
        errors.spanned(flag, "`empty` says this migration changes nothing, but its `up` has code: remove `empty`");
    }
    match (module.function("down"), &args.irreversible) {
        (Some(down), None) => check_signature(down, errors),
        (Some(down), Some(flag)) => {
            errors.spanned(
                flag,
                "an `irreversible` migration cannot have a `down`: remove `irreversible` or the `down` function",
            );
            errors.spanned(&down.sig.ident, "`down` defined here");
        }
        (None, Some(_)) => {}
        (None, None) => errors.spanned(
            &module.item.ident,
            format!(
                "migration `{}` has no `down`: add `pub async fn down(db: &mut Db<'_>) -> Result<()>`, \
                 or mark it `irreversible` if it cannot be undone",
                module.name()
            ),
        ),
    }
}

/// `async fn NAME(db: &mut Db<'_>) -> Result<()>`, no generics, not `unsafe`.
fn check_signature(function: &ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    let name = &sig.ident;
    let expected = format!("`pub async fn {name}(db: &mut Db<'_>) -> Result<()>`");
    if sig.asyncness.is_none() {
        errors.spanned(sig.fn_token, format!("`{name}` must be async: {expected}"));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.spanned(unsafety, format!("`{name}` must not be unsafe: {expected}"));
    }
    if let Some(constness) = &sig.constness {
        errors.spanned(constness, format!("`{name}` must not be const: {expected}"));
    }
    if let Some(param) = sig.generics.params.iter().find(|p| !matches!(p, GenericParam::Lifetime(_))) {
        errors.spanned(param, format!("`{name}` takes no type or const parameters: {expected}"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Typed(arg)) if is_db_handle(&arg.ty) => {}
        Some(FnArg::Typed(arg)) => {
            errors.spanned(&arg.ty, format!("`{name}` takes the handle `&mut Db<'_>`: {expected}"))
        }
        Some(receiver @ FnArg::Receiver(_)) => {
            errors.spanned(receiver, format!("`{name}` takes no `self`: {expected}"))
        }
        None => errors
            .push(syn::Error::new(sig.paren_token.span.join(), format!("`{name}` takes one argument: {expected}"))),
    }
    if let Some(extra) = inputs.next() {
        errors.spanned(extra, format!("`{name}` takes only the database handle: {expected}"));
    }
    match &sig.output {
        ReturnType::Type(_, ty) if is_unit_result(ty) => {}
        ReturnType::Type(_, ty) => errors.spanned(ty, format!("`{name}` must return `Result<()>`: {expected}")),
        ReturnType::Default => errors.spanned(name, format!("`{name}` must return `Result<()>`: {expected}")),
    }
}

/// `&mut Db<..>` or `&mut path::to::Db<..>`.
fn is_db_handle(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else { return false };
    if reference.mutability.is_none() {
        return false;
    }
    match &*reference.elem {
        Type::Path(path) => path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == "Db"),
        _ => false,
    }
}

/// `Result<()>` (the prelude's alias) or `Result<(), path::to::Error>`.
fn is_unit_result(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else { return false };
    if last.ident != "Result" {
        return false;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return false };
    let mut args = args.args.iter();
    let unit = matches!(args.next(), Some(syn::GenericArgument::Type(Type::Tuple(tuple))) if tuple.elems.is_empty());
    let error_ok = match args.next() {
        None => true,
        Some(syn::GenericArgument::Type(Type::Path(error))) => {
            error.path.segments.last().is_some_and(|segment| segment.ident == "Error")
        }
        Some(_) => false,
    };
    unit && error_ok && args.next().is_none()
}
