//! Parses the attribute's arguments, `version = ..., depends_on = [...], ...`,
//! into [`Args`]. Each key is read on its own, so a mistake in one does not
//! hide mistakes in the others.

use crate::ctxt::Errors;
use crate::suggest::nearest;
use crate::timestamp;
use migrations_rs_core::Risk;
use migrations_rs_core::analysis::Rule;
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitInt, Path, Token};

pub(crate) const KEYS: &[&str] =
    &["version", "depends_on", "risk", "allow", "irreversible", "transaction", "lock_wait", "empty", "crate"];
/// The risk tags, as `risk = [...]` names them.
pub(crate) fn risk_tags() -> Vec<&'static str> {
    Risk::ALL.iter().map(|risk| risk.as_str()).collect()
}

/// The risk analysis's rules, as `allow = [...]` names them.
pub(crate) fn rule_names() -> Vec<String> {
    Rule::ALL.iter().map(|rule| rule.allow_name()).collect()
}

/// The attribute's arguments, each with the tokens it came from.
#[derive(Default)]
pub(crate) struct Args {
    pub version: Option<Version>,
    /// Set when a `version` key was given, even if its value was refused.
    pub version_given: bool,
    pub depends_on: Vec<Dependency>,
    pub risk: Vec<Ident>,
    /// Risk-analysis rules the migration acknowledges.
    pub allow: Vec<Ident>,
    pub irreversible: Option<Ident>,
    /// `empty`: the migration is meant to change nothing, so its empty `up` may be applied.
    pub empty: Option<Ident>,
    /// `transaction = false` opts out of the per-migration transaction.
    pub transaction: Option<bool>,
    /// `lock_wait = "10s"` (or a number of milliseconds), never zero.
    pub lock_wait_ms: Option<u64>,
    pub krate: Option<Path>,
    /// The arguments did not parse; checks that depend on them are skipped.
    pub unreadable: bool,
}

pub(crate) struct Version {
    pub value: u64,
    pub literal: LitInt,
}

pub(crate) enum Dependency {
    /// A path to another `#[migration]` module, resolved by the compiler.
    Path(Path),
    /// A version, checked when the registry loads.
    Version(Version),
}

/// `key` or `key = value`; keys may be keywords (`crate`).
pub(crate) struct Entry {
    pub key: Ident,
    pub value: Option<Expr>,
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Entry { key, value })
    }
}

/// Reads every key it can; problems go to `errors`.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let entries = match Punctuated::<Entry, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(error);
            args.unreadable = true;
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
        match name.as_str() {
            "version" => {
                args.version_given = true;
                args.version = required(&key, value, errors).and_then(|v| version(&v, false, errors));
            }
            "depends_on" => {
                if let Some(value) = required(&key, value, errors) {
                    for element in list(value) {
                        if let Some(dependency) = dependency(&element, errors) {
                            args.depends_on.push(dependency);
                        }
                    }
                }
            }
            "risk" => {
                if let Some(value) = required(&key, value, errors) {
                    args.risk = distinct_names(value, &risk_tags(), ("risk tag", "tag"), errors);
                }
            }
            "allow" => {
                if let Some(value) = required(&key, value, errors) {
                    let rules = rule_names();
                    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
                    args.allow = distinct_names(value, &rules, ("rule", "rule"), errors);
                }
            }
            "irreversible" => match value {
                None => args.irreversible = Some(key),
                Some(value) => {
                    if let Some(true) = boolean(&value, "irreversible", errors) {
                        args.irreversible = Some(key);
                    }
                }
            },
            "empty" => match value {
                None => args.empty = Some(key),
                Some(value) => {
                    if let Some(true) = boolean(&value, "empty", errors) {
                        args.empty = Some(key);
                    }
                }
            },
            "transaction" => {
                args.transaction = required(&key, value, errors).and_then(|v| boolean(&v, "transaction", errors));
            }
            "lock_wait" => {
                if let Some(value) = required(&key, value, errors) {
                    args.lock_wait_ms = lock_wait(&value, errors);
                }
            }
            "crate" => {
                if let Some(value) = required(&key, value, errors) {
                    match value {
                        Expr::Path(path) if path.qself.is_none() => args.krate = Some(path.path),
                        other => errors.spanned(other, "`crate` takes a path, like `crate = ::migrations_rs`"),
                    }
                }
            }
            _ => {
                let hint = match nearest(&name, KEYS) {
                    Some(known) => format!("; did you mean `{known}`?"),
                    None => format!("; known keys are {}", KEYS.join(", ")),
                };
                errors.spanned(&key, format!("unknown key `{name}` in #[migration]{hint}"));
            }
        }
    }
    args
}

fn required(key: &Ident, value: Option<Expr>, errors: &mut Errors) -> Option<Expr> {
    if value.is_none() {
        let example = match key.unraw().to_string().as_str() {
            "version" => "version = 2024_01_15_093000",
            "depends_on" => "depends_on = [create_users]",
            "risk" => "risk = [schema]",
            "allow" => "allow = [drop_column]",
            "transaction" => "transaction = false",
            "lock_wait" => "lock_wait = \"10s\"",
            _ => "crate = ::migrations_rs",
        };
        errors.spanned(key, format!("`{key}` needs a value, like `{example}`"));
    }
    value
}

/// `lock_wait = "10s"` or `lock_wait = 10_000` (milliseconds), in milliseconds; never zero.
fn lock_wait(value: &Expr, errors: &mut Errors) -> Option<u64> {
    let text = match value {
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => text.value(),
        Expr::Lit(ExprLit { lit: Lit::Int(number), .. }) => number.base10_digits().to_owned(),
        other => {
            errors.spanned(other, "`lock_wait` takes a duration, like `lock_wait = \"10s\"` or `\"500ms\"`");
            return None;
        }
    };
    match migrations_rs_core::wait::parse_wait(&text) {
        Ok(wait) => Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
        Err(why) => {
            errors.spanned(value, format!("`lock_wait`: {why}"));
            None
        }
    }
}

/// `[a, b]` yields its elements; a single value stands for a list of one.
fn list(value: Expr) -> Vec<Expr> {
    match value {
        Expr::Array(array) => array.elems.into_iter().collect(),
        single => vec![single],
    }
}

/// A version literal. A dependency may also name a SQL migration's version of
/// another length (diesel's 18 digits, sqlx's `1`), up to `i64::MAX`.
pub(crate) fn version(value: &Expr, dependency: bool, errors: &mut Errors) -> Option<Version> {
    let Expr::Lit(ExprLit { lit: Lit::Int(literal), .. }) = value else {
        errors.spanned(value, "version must be an integer literal timestamp, like `2024_01_15_093000`");
        return None;
    };
    let text = literal.to_string();
    if text.starts_with("0x") || text.starts_with("0o") || text.starts_with("0b") {
        errors.spanned(literal, "version must be written in decimal, like `2024_01_15_093000`");
        return None;
    }
    if !matches!(literal.suffix(), "" | "u64") {
        errors.spanned(literal, format!("version takes no `{}` suffix; write `2024_01_15_093000`", literal.suffix()));
        return None;
    }
    let digits = literal.base10_digits();
    if dependency && digits.len() != 14 {
        match digits.parse::<u64>() {
            Ok(value) if value <= i64::MAX as u64 => return Some(Version { value, literal: literal.clone() }),
            _ => {
                errors.spanned(literal, format!("version is larger than {}, the largest a version can be", i64::MAX));
                return None;
            }
        }
    }
    match timestamp::check(digits) {
        Ok(value) => Some(Version { value, literal: literal.clone() }),
        Err(message) => {
            errors.spanned(literal, message);
            None
        }
    }
}

fn dependency(element: &Expr, errors: &mut Errors) -> Option<Dependency> {
    match element {
        Expr::Path(path) if path.qself.is_none() => Some(Dependency::Path(path.path.clone())),
        Expr::Lit(ExprLit { lit: Lit::Int(_), .. }) => version(element, true, errors).map(Dependency::Version),
        other => {
            errors.spanned(
                other,
                "depends_on takes paths to migration modules or versions, like `depends_on = [create_users, 2024_01_15_093000]`",
            );
            None
        }
    }
}

/// A list of names from `known`, each given once. `what` names one entry in
/// errors, in full and for short.
fn distinct_names(value: Expr, known: &[&str], what: (&str, &str), errors: &mut Errors) -> Vec<Ident> {
    let mut names: Vec<Ident> = Vec::new();
    for element in list(value) {
        let Some(name) = named(&element, known, what.0, errors) else { continue };
        if names.iter().any(|seen| seen.unraw() == name.unraw()) {
            let message = format!("{} `{}` is listed twice; list each {} once", what.0, name.unraw(), what.1);
            errors.spanned(&name, message);
        } else {
            names.push(name);
        }
    }
    names
}

/// A plain name that must be one of `known`: a risk tag or a rule.
fn named(element: &Expr, known: &[&str], what: &str, errors: &mut Errors) -> Option<Ident> {
    let ident = match element {
        Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
        _ => None,
    };
    let Some(ident) = ident else {
        errors.spanned(element, format!("{what}s are plain names: {}", known.join(", ")));
        return None;
    };
    let name = ident.unraw().to_string();
    if known.contains(&name.as_str()) {
        return Some(ident.clone());
    }
    let hint = match nearest(&name, known) {
        Some(known) => format!("did you mean `{known}`? "),
        None => String::new(),
    };
    errors.spanned(ident, format!("unknown {what} `{name}`: {hint}known {what}s are {}", known.join(", ")));
    None
}

fn boolean(value: &Expr, key: &str, errors: &mut Errors) -> Option<bool> {
    match value {
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Some(b.value),
        other => {
            errors.spanned(other, format!("`{key}` takes `true` or `false`"));
            None
        }
    }
}

/// Where to point an error about the attribute as a whole.
pub(crate) fn call_site() -> Span {
    Span::call_site()
}

impl Dependency {
    /// The tokens the dependency was written as, for error spans.
    pub(crate) fn span(&self) -> Span {
        match self {
            Dependency::Path(path) => path.span(),
            Dependency::Version(version) => version.literal.span(),
        }
    }
}
