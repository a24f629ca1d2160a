//! The checksum as it was computed before it became independent of rustfmt:
//! SHA-256 over the token text with comments and docs left out. Kept, unchanged,
//! so the runtime can recognise history rows recorded with it and record the
//! current checksum in their place.
//!
//! The text is built by walking the token tree, not from `TokenStream`'s
//! `Display` (whose spacing may change between compiler versions): each token
//! is written once, separated by single spaces. Punctuation is written one
//! character at a time whatever its spacing, since `< '_ >` and `<'_>` are the
//! same tokens. Whitespace, comments and doc comments do not count; every
//! other token does.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use sha2::{Digest, Sha256};

pub(crate) fn of_tokens(tokens: TokenStream) -> [u8; 32] {
    let mut text = String::new();
    write_canonical(tokens, &mut text);
    Sha256::digest(text.as_bytes()).into()
}

fn write_canonical(tokens: TokenStream, out: &mut String) {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(punct) if punct.as_char() == '#' => {
                // `#[doc = ".."]` and `#![doc = ".."]` are comments written as attributes.
                let inner_bang = matches!(tokens.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                let mut lookahead = tokens.clone();
                if inner_bang {
                    lookahead.next();
                }
                if let Some(TokenTree::Group(group)) = lookahead.next()
                    && is_doc_attribute(&group)
                {
                    tokens = lookahead;
                    continue;
                }
                push_token(out, "#");
            }
            TokenTree::Punct(punct) => push_token(out, &punct.as_char().to_string()),
            TokenTree::Ident(ident) => push_token(out, &ident.to_string()),
            TokenTree::Literal(literal) => push_token(out, &literal.to_string()),
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                push_token(out, open);
                write_canonical(group.stream(), out);
                push_token(out, close);
            }
        }
    }
}

fn is_doc_attribute(group: &proc_macro2::Group) -> bool {
    group.delimiter() == Delimiter::Bracket
        && matches!(group.stream().into_iter().next(), Some(TokenTree::Ident(ident)) if ident == "doc")
}

/// Appends one token and the single space that separates it from the next.
fn push_token(out: &mut String, token: &str) {
    if !token.is_empty() {
        out.push_str(token);
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::of_tokens;
    use proc_macro2::TokenStream;

    /// The legacy checksum must never change: databases hold it.
    #[test]
    fn the_legacy_checksum_is_pinned() {
        let source = r#"
            /// Accounts that can sign in.
            mod create_users {
                use super::*;
                pub async fn up(db: &mut Db<'_>) -> Result<()> {
                    db.exec(Table::create().table("users").col(ColumnDef::new("id").integer())).await
                }
            }
        "#;
        let sum = of_tokens(source.parse::<TokenStream>().unwrap());
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a672e84b2beabda11e455c546e4d2370e498f79781c9df6563fb3da056d5778c");
    }
}
