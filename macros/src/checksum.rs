//! The checksum of a migration: SHA-256 over its canonical token text.
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

    fn checksum(source: &str) -> [u8; 32] {
        of_tokens(source.parse::<TokenStream>().expect("test source tokenizes"))
    }

    const ORIGINAL: &str = r#"
        /// Accounts that can sign in.
        mod create_users {
            use super::*;
            pub async fn up(db: &mut Db<'_>) -> Result<()> {
                db.exec(Table::create().table("users").col(ColumnDef::new("id").integer())).await
            }
        }
    "#;

    #[test]
    fn reformatting_and_comments_leave_the_checksum_unchanged() {
        let reformatted = r#"mod create_users { use super :: * ;
            // a new comment
            /* and a block comment */
            pub async fn up (db : & mut Db < '_ >)
                -> Result < () >
            {
                db.exec(
                    Table::create()
                        .table("users")
                        .col(ColumnDef::new("id").integer()),
                )
                .await
            }
        }"#;
        let reformatted =
            reformatted.replace(".col(ColumnDef::new(\"id\").integer()),", ".col(ColumnDef::new(\"id\").integer())");
        let with_other_docs = ORIGINAL.replace("/// Accounts that can sign in.", "#[doc = \"Other words.\"]");
        assert_eq!(checksum(ORIGINAL), checksum(&reformatted));
        assert_eq!(checksum(ORIGINAL), checksum(&with_other_docs));
    }

    #[test]
    fn any_token_change_changes_the_checksum() {
        let base = checksum(ORIGINAL);
        for (from, to) in [
            ("\"users\"", "\"user\""),
            ("integer()", "big_integer()"),
            ("mut Db", "Db"),
            ("use super::*;", "use super::*;;"),
            ("&mut", "& &mut"),
            ("-> Result", "-> ::std::result::Result"),
        ] {
            let changed = ORIGINAL.replace(from, to);
            assert_ne!(changed, ORIGINAL, "replacement {from:?} must apply");
            assert_ne!(checksum(&changed), base, "changing {from:?} to {to:?} must change the checksum");
        }
    }
}
