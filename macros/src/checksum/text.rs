//! The token-level half of the canonical form: writes each token once,
//! separated by single spaces, built by walking the token tree rather than
//! from `TokenStream`'s `Display` (whose spacing may change between compiler
//! versions). Punctuation is written one character at a time whatever its
//! spacing. Left out, or written one way, because rustfmt may change them
//! without changing meaning:
//!
//! - comments and docs (`///` and `#[doc = ".."]` alike);
//! - a comma before a closing `)`, `]`, `}` or generic `>`, and after the
//!   last predicate of a `where` clause; except the comma of a one-element
//!   tuple, `(x,)`, which makes it a tuple;
//! - adjacent `#[derive(..)]` attributes, which `merge_derives` joins;
//! - how a literal is spelled: `0xFF` is `255`, `1_000` is `1000`, `1.` is
//!   `1.0`, a string is its value (`format_strings`, `hex_literal_case`).

use proc_macro2::{Delimiter, Group, Literal, TokenStream, TokenTree};

/// The canonical text of `tokens`.
pub(super) fn write(tokens: TokenStream) -> String {
    let mut out = String::new();
    write_stream(tokens, Closing::Other, &mut out);
    out
}

/// What the stream being written sits in, for its trailing comma.
#[derive(Clone, Copy, PartialEq)]
enum Closing {
    /// Parentheses that make a tuple (or group an expression): `(x,)` differs from `(x)`.
    Tuple,
    /// Any other group, or the top level.
    Other,
}

/// Keywords after which parentheses are a tuple or a grouped expression
/// rather than an argument list.
const BEFORE_VALUE: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "dyn", "else", "for", "if", "impl", "in", "let", "loop", "match",
    "move", "mut", "ref", "return", "static", "unsafe", "where", "while", "yield",
];

fn write_stream(tokens: TokenStream, closing: Closing, out: &mut String) {
    let tokens: Vec<TokenTree> = merge_derives(strip_docs(tokens.into_iter().collect()));
    let top_level_commas = tokens.iter().filter(|t| is_punct(t, ',')).count();
    let mut in_where = false;
    for (index, token) in tokens.iter().enumerate() {
        let next = tokens.get(index + 1);
        match token {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                let last = next.is_none();
                let keeps_tuple = last && closing == Closing::Tuple && top_level_commas == 1;
                let before_angle = next.is_some_and(|t| is_punct(t, '>'));
                let ends_where = in_where && next.is_some_and(|t| is_punct(t, ';') || is_brace(t));
                if (last && !keeps_tuple) || before_angle || ends_where {
                    continue;
                }
                push(out, ",");
            }
            TokenTree::Punct(punct) => {
                if punct.as_char() == ';' {
                    in_where = false;
                }
                push(out, &punct.as_char().to_string());
            }
            TokenTree::Ident(ident) => {
                if ident == "where" {
                    in_where = true;
                }
                push(out, &ident.to_string());
            }
            TokenTree::Literal(literal) => push(out, &literal_text(literal)),
            TokenTree::Group(group) => {
                if group.delimiter() == Delimiter::Brace {
                    in_where = false;
                }
                let closing = match group.delimiter() {
                    Delimiter::Parenthesis if !follows_callee(&tokens[..index]) => Closing::Tuple,
                    _ => Closing::Other,
                };
                write_group(group, closing, out);
            }
        }
    }
}

fn write_group(group: &Group, closing: Closing, out: &mut String) {
    let (open, close) = match group.delimiter() {
        Delimiter::Parenthesis => ("(", ")"),
        Delimiter::Brace => ("{", "}"),
        Delimiter::Bracket => ("[", "]"),
        Delimiter::None => ("", ""),
    };
    push(out, open);
    write_stream(group.stream(), closing, out);
    push(out, close);
}

/// Whether parentheses after `before` hold arguments or fields (a call, a
/// tuple struct, a macro, an attribute, `fn(..)`), where a trailing comma is
/// formatting even with one element.
fn follows_callee(before: &[TokenTree]) -> bool {
    match before {
        [.., TokenTree::Ident(ident)] => !BEFORE_VALUE.contains(&ident.to_string().as_str()),
        // `->` and `=>` end in `>`, but what follows them is a value or a type.
        [.., TokenTree::Punct(arrow), TokenTree::Punct(close)] if close.as_char() == '>' => {
            !matches!(arrow.as_char(), '-' | '=')
        }
        [.., TokenTree::Punct(punct)] => matches!(punct.as_char(), '!' | '>'),
        [.., TokenTree::Group(group)] => group.delimiter() != Delimiter::Brace,
        _ => false,
    }
}

/// Drops `#[doc = ".."]` and `#![doc = ".."]`: comments written as attributes.
fn strip_docs(tokens: Vec<TokenTree>) -> Vec<TokenTree> {
    let mut kept = Vec::with_capacity(tokens.len());
    let mut index = 0;
    while index < tokens.len() {
        if is_punct(&tokens[index], '#') {
            let bang = tokens.get(index + 1).is_some_and(|t| is_punct(t, '!'));
            let body = index + 1 + usize::from(bang);
            if let Some(TokenTree::Group(group)) = tokens.get(body)
                && attribute_name(group).as_deref() == Some("doc")
            {
                index = body + 1;
                continue;
            }
        }
        kept.push(tokens[index].clone());
        index += 1;
    }
    kept
}

/// Joins adjacent `#[derive(A)] #[derive(B)]` into `#[derive(A, B)]`.
fn merge_derives(tokens: Vec<TokenTree>) -> Vec<TokenTree> {
    let mut merged: Vec<TokenTree> = Vec::with_capacity(tokens.len());
    let mut index = 0;
    while index < tokens.len() {
        if let Some(list) = derive_list(&tokens, index) {
            let previous = merged.len().checked_sub(2).and_then(|at| derive_list(&merged, at));
            if let Some(mut joined) = previous {
                joined.extend(list);
                merged.truncate(merged.len() - 2);
                merged.extend(derive_attribute(joined));
            } else {
                merged.extend(tokens[index..index + 2].iter().cloned());
            }
            index += 2;
            continue;
        }
        merged.push(tokens[index].clone());
        index += 1;
    }
    merged
}

/// The derived names of `#[derive(..)]` at `at`, each without its comma.
fn derive_list(tokens: &[TokenTree], at: usize) -> Option<Vec<Vec<TokenTree>>> {
    if !is_punct(tokens.get(at)?, '#') {
        return None;
    }
    let TokenTree::Group(group) = tokens.get(at + 1)? else { return None };
    if attribute_name(group).as_deref() != Some("derive") {
        return None;
    }
    let inner: Vec<TokenTree> = group.stream().into_iter().collect();
    let [_, TokenTree::Group(list)] = inner.as_slice() else { return None };
    if list.delimiter() != Delimiter::Parenthesis {
        return None;
    }
    let mut names = vec![Vec::new()];
    for token in list.stream() {
        if is_punct(&token, ',') {
            names.push(Vec::new());
        } else {
            names.last_mut().expect("never empty").push(token);
        }
    }
    Some(names.into_iter().filter(|name| !name.is_empty()).collect())
}

fn derive_attribute(names: Vec<Vec<TokenTree>>) -> [TokenTree; 2] {
    let mut list = TokenStream::new();
    for (index, name) in names.into_iter().enumerate() {
        if index > 0 {
            list.extend([TokenTree::Punct(proc_macro2::Punct::new(',', proc_macro2::Spacing::Alone))]);
        }
        list.extend(name);
    }
    let derive = proc_macro2::Ident::new("derive", proc_macro2::Span::call_site());
    let body: TokenStream =
        [TokenTree::Ident(derive), TokenTree::Group(Group::new(Delimiter::Parenthesis, list))].into_iter().collect();
    [
        TokenTree::Punct(proc_macro2::Punct::new('#', proc_macro2::Spacing::Alone)),
        TokenTree::Group(Group::new(Delimiter::Bracket, body)),
    ]
}

/// `doc` for `[doc = ".."]`, `derive` for `[derive(..)]`.
fn attribute_name(group: &Group) -> Option<String> {
    if group.delimiter() != Delimiter::Bracket {
        return None;
    }
    match group.stream().into_iter().next() {
        Some(TokenTree::Ident(ident)) => Some(ident.to_string()),
        _ => None,
    }
}

/// A literal by its value and kind, however it is spelled.
fn literal_text(literal: &Literal) -> String {
    match syn::Lit::new(literal.clone()) {
        syn::Lit::Str(s) => format!("{:?}{}", s.value(), s.suffix()),
        syn::Lit::ByteStr(s) => format!("b{:?}{}", s.value(), s.suffix()),
        syn::Lit::CStr(s) => format!("c{:?}{}", s.value(), s.suffix()),
        syn::Lit::Byte(b) => format!("b'{}'{}", b.value(), b.suffix()),
        syn::Lit::Char(c) => format!("{:?}{}", c.value(), c.suffix()),
        syn::Lit::Int(i) => format!("{}{}", i.base10_digits(), i.suffix()),
        syn::Lit::Float(f) => format!("{}{}", float_digits(f.base10_digits()), f.suffix()),
        _ => literal.to_string(),
    }
}

/// `1.`, `1.0` and `1.00` as `1.0`; `1e3` as `1.0e3`.
fn float_digits(digits: &str) -> String {
    let lower = digits.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, format!("e{exponent}")),
        None => (lower.as_str(), String::new()),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    format!("{whole}.{fraction}{exponent}")
}

fn is_punct(token: &TokenTree, ch: char) -> bool {
    matches!(token, TokenTree::Punct(punct) if punct.as_char() == ch)
}

fn is_brace(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Group(group) if group.delimiter() == Delimiter::Brace)
}

/// Appends one token and the single space that separates it from the next.
fn push(out: &mut String, token: &str) {
    if !token.is_empty() {
        out.push_str(token);
        out.push(' ');
    }
}
