//! Reading a statement's significant tokens left to right: keywords,
//! possibly qualified names, and what lies outside parentheses.

use crate::dialect::Backend;
use crate::sql::{Token, TokenKind};

/// Index of the first of `keywords` outside parentheses.
pub(super) fn top_level_position(tokens: &[Token<'_>], keywords: &[&str]) -> Option<usize> {
    let mut depth = 0i32;
    for (i, token) in tokens.iter().enumerate() {
        if token.is_punct('(') {
            depth += 1;
        } else if token.is_punct(')') {
            depth -= 1;
        } else if depth == 0 && keywords.iter().any(|k| token.is(k)) {
            return Some(i);
        }
    }
    None
}

/// Reads significant tokens left to right.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
}

impl<'t, 'a> Cursor<'t, 'a> {
    pub(super) fn new(tokens: &'t [Token<'a>]) -> Self {
        Cursor { tokens }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub(super) fn peek_any(&self, keywords: &[&str]) -> bool {
        self.tokens.first().is_some_and(|t| keywords.iter().any(|k| t.is(k)))
    }

    pub(super) fn peek_punct(&self, c: char) -> bool {
        self.tokens.first().is_some_and(|t| t.is_punct(c))
    }

    pub(super) fn eat(&mut self, keyword: &str) -> bool {
        self.eat_any(&[keyword])
    }

    pub(super) fn eat_any(&mut self, keywords: &[&str]) -> bool {
        let found = self.peek_any(keywords);
        if found {
            self.tokens = &self.tokens[1..];
        }
        found
    }

    /// Consumes `keywords` if they come next in this order, else nothing.
    pub(super) fn eat_all(&mut self, keywords: &[&str]) -> bool {
        let found = keywords.len() <= self.tokens.len() && keywords.iter().zip(self.tokens).all(|(k, t)| t.is(k));
        if found {
            self.tokens = &self.tokens[keywords.len()..];
        }
        found
    }

    /// Moves past the first `keyword` outside parentheses.
    pub(super) fn skip_to(&mut self, keyword: &str) -> bool {
        match top_level_position(self.tokens, &[keyword]) {
            Some(at) => {
                self.tokens = &self.tokens[at + 1..];
                true
            }
            None => false,
        }
    }

    /// A possibly qualified name; the last part, as the database compares it.
    pub(super) fn name(&mut self) -> Option<String> {
        let mut last = None;
        loop {
            let token = self.tokens.first()?;
            if !matches!(token.kind, TokenKind::Word | TokenKind::QuotedIdent) {
                return last;
            }
            last = Some(token.name());
            self.tokens = &self.tokens[1..];
            if !self.tokens.first().is_some_and(|t| t.is_punct('.')) {
                return last;
            }
            self.tokens = &self.tokens[1..];
        }
    }

    /// The next name, possibly qualified, as the database resolves it
    /// (parts joined with `.`), without moving: unquoted parts fold to lower
    /// case on PostgreSQL, and stay as written on MySQL/MariaDB (whose table
    /// names can be case-sensitive) and SQLite (which ignores case).
    pub(super) fn peek_qualified(&self, backend: Backend) -> Option<String> {
        let mut parts = Vec::new();
        let mut tokens = self.tokens;
        loop {
            let token = tokens.first()?;
            match token.kind {
                TokenKind::QuotedIdent => parts.push(token.name()),
                TokenKind::Word if backend == Backend::Postgres => parts.push(token.text.to_lowercase()),
                TokenKind::Word => parts.push(token.text.to_owned()),
                _ => break,
            }
            tokens = &tokens[1..];
            if !tokens.first().is_some_and(|t| t.is_punct('.')) {
                break;
            }
            tokens = &tokens[1..];
        }
        (!parts.is_empty()).then(|| parts.join("."))
    }

    /// A comma-separated list of names, with each as [`Cursor::peek_qualified`] reads it.
    pub(super) fn qualified_names(&mut self, backend: Backend) -> Vec<(String, String)> {
        let mut names = Vec::new();
        loop {
            let qualified = self.peek_qualified(backend);
            let Some(name) = self.name() else { break };
            names.push((name, qualified.unwrap_or_default()));
            if !self.tokens.first().is_some_and(|t| t.is_punct(',')) {
                break;
            }
            self.tokens = &self.tokens[1..];
        }
        names
    }

    pub(super) fn contains_top_level(&self, keywords: &[&str]) -> bool {
        top_level_position(self.tokens, keywords).is_some()
    }

    /// Whether `keywords` appear next to each other anywhere.
    pub(super) fn contains_seq(&self, keywords: &[&str]) -> bool {
        self.tokens.windows(keywords.len()).any(|w| w.iter().zip(keywords).all(|(t, k)| t.is(k)))
    }

    pub(super) fn split_top_level_commas(self) -> Vec<Cursor<'t, 'a>> {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, token) in self.tokens.iter().enumerate() {
            if token.is_punct('(') {
                depth += 1;
            } else if token.is_punct(')') {
                depth -= 1;
            } else if depth == 0 && token.is_punct(',') {
                parts.push(Cursor::new(&self.tokens[start..i]));
                start = i + 1;
            }
        }
        parts.push(Cursor::new(&self.tokens[start..]));
        parts.retain(|p| !p.is_empty());
        parts
    }
}
