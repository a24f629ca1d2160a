//! A lexer for raw SQL in the dialect of one backend. It knows what can hide
//! a `;` or a keyword: quoted strings and identifiers, PostgreSQL dollar
//! quotes and nested block comments, MySQL backticks, backslash escapes and
//! `#` comments. Every byte of the input belongs to exactly one token, so
//! the tokens always join back into the input.

use crate::dialect::Backend;
use std::fmt;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or an unquoted identifier.
    Word,
    /// `"name"`, `` `name` `` or `[name]`.
    QuotedIdent,
    /// A string literal, dollar-quoted bodies included.
    String,
    /// A numeric literal.
    Number,
    /// `$1`, `?`.
    Param,
    /// Any other single character, such as `(`, `,` or `;`.
    Punct,
    /// A `--` or `/* */` comment.
    Comment,
    /// Spaces, tabs and line breaks.
    Whitespace,
}

/// One token and where it starts in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What kind of token it is.
    pub kind: TokenKind,
    /// The token's text, as in the input.
    pub text: &'a str,
    /// Byte offset of the token's first character.
    pub start: usize,
}

impl Token<'_> {
    /// Byte offset just past the token.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// Whether this is the keyword `keyword` (given in upper case).
    pub fn is(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    /// Whether the token is the punctuation character `c`.
    pub fn is_punct(&self, c: char) -> bool {
        self.kind == TokenKind::Punct && self.text.starts_with(c)
    }

    /// Comments and whitespace: tokens that mean nothing to the server.
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokenKind::Comment | TokenKind::Whitespace)
    }

    /// The name this token stands for: unquoted, and lower-cased unless it was quoted.
    pub fn name(&self) -> String {
        match self.kind {
            TokenKind::QuotedIdent => {
                let inner = &self.text[1..self.text.len() - 1];
                let quote = &self.text[..1];
                inner.replace(&format!("{quote}{quote}"), quote)
            }
            _ => self.text.to_lowercase(),
        }
    }
}

/// Input the lexer cannot read, such as a string that is never closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What is not closed.
    pub message: &'static str,
    /// Byte offset of the construct that is not closed.
    pub offset: usize,
    /// The line of `offset`, from 1.
    pub line: usize,
    /// The column of `offset`, from 1.
    pub column: usize,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}, column {}", self.message, self.line, self.column)
    }
}

impl std::error::Error for LexError {}

/// Tokens of `src` read in the dialect of `backend`.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    backend: Backend,
}

impl<'a> Lexer<'a> {
    /// A lexer of `src` written in `backend`'s dialect.
    pub fn new(backend: Backend, src: &'a str) -> Self {
        Lexer { src, pos: 0, backend }
    }

    /// Byte offset of the next token.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The input not read yet.
    pub fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// Skips to byte offset `pos`, which must be on a character boundary.
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The next token that is not a comment or whitespace, without consuming anything.
    pub fn peek_significant(&self) -> Option<Result<Token<'a>, LexError>> {
        let mut ahead = self.clone();
        loop {
            match ahead.next()? {
                Ok(token) if token.is_trivia() => continue,
                other => return Some(other),
            }
        }
    }

    fn error(&self, message: &'static str, offset: usize) -> LexError {
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        LexError { message, offset, line, column }
    }

    /// Length and kind of the token at the start of `rest`.
    fn measure(&self, rest: &str) -> Result<(TokenKind, usize), &'static str> {
        let mysql = self.backend == Backend::MySql;
        let postgres = self.backend == Backend::Postgres;
        let first = rest.chars().next().expect("measure is called on non-empty input");
        Ok(match first {
            c if c.is_whitespace() => (TokenKind::Whitespace, run_length(rest, char::is_whitespace)),
            '-' if rest.starts_with("--") => (TokenKind::Comment, line_length(rest)),
            '#' if mysql => (TokenKind::Comment, line_length(rest)),
            '/' if rest.starts_with("/*") => (TokenKind::Comment, block_comment(rest, postgres)?),
            '\'' => (TokenKind::String, quoted(rest, '\'', mysql)?),
            'e' | 'E' if postgres && rest[1..].starts_with('\'') => {
                (TokenKind::String, 1 + quoted(&rest[1..], '\'', true)?)
            }
            '"' if mysql => (TokenKind::String, quoted(rest, '"', true)?),
            '"' => (TokenKind::QuotedIdent, quoted(rest, '"', false)?),
            '`' if !postgres => (TokenKind::QuotedIdent, quoted(rest, '`', false)?),
            '[' if self.backend == Backend::Sqlite => {
                (TokenKind::QuotedIdent, rest.find(']').map(|end| end + 1).ok_or("a `[` identifier is not closed")?)
            }
            '$' if postgres => dollar(rest)?,
            '?' => (TokenKind::Param, 1),
            c if c.is_ascii_digit() => (
                TokenKind::Number,
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')).unwrap_or(rest.len()),
            ),
            // `$` inside a name is PostgreSQL's; on MySQL it more often starts a `$$` delimiter.
            c if c.is_alphabetic() || c == '_' => {
                (TokenKind::Word, run_length(rest, |c| c.is_alphanumeric() || c == '_' || (c == '$' && postgres)))
            }
            c => (TokenKind::Punct, c.len_utf8()),
        })
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Token<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        match self.measure(rest) {
            Ok((kind, len)) => {
                self.pos += len;
                Some(Ok(Token { kind, text: &rest[..len], start }))
            }
            Err(message) => {
                let error = self.error(message, start);
                self.pos = self.src.len();
                Some(Err(error))
            }
        }
    }
}

/// Every token of `src`, or the first construct that is not closed.
pub fn tokenize(backend: Backend, src: &str) -> Result<Vec<Token<'_>>, LexError> {
    Lexer::new(backend, src).collect()
}

/// The length of the run of characters at the start of `rest` that
/// `accepts`: byte by byte while the text is ASCII, without decoding it,
/// and by characters from the first byte that is not.
fn run_length(rest: &str, accepts: impl Fn(char) -> bool) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii() {
        if !accepts(char::from(bytes[i])) {
            return i;
        }
        i += 1;
    }
    // `i` is on a character boundary: every byte before it is ASCII.
    i + rest[i..].find(|c: char| !accepts(c)).unwrap_or(rest.len() - i)
}

fn line_length(rest: &str) -> usize {
    rest.find('\n').unwrap_or(rest.len())
}

/// A `/* */` comment; PostgreSQL nests them.
fn block_comment(rest: &str, nested: bool) -> Result<usize, &'static str> {
    let bytes = rest.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' && (nested || depth == 0) {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err("a /* comment is not closed")
}

/// A string or identifier between `quote`s, where a doubled quote stands for
/// itself and, with `backslash`, `\` escapes the next character.
fn quoted(rest: &str, quote: char, backslash: bool) -> Result<usize, &'static str> {
    let q = quote as u8;
    let bytes = rest.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b if b == q => {
                if bytes.get(i + 1) == Some(&q) {
                    i += 2;
                } else {
                    return Ok(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    Err(match quote {
        '\'' => "a quoted string is not closed",
        '"' => "a \"quoted\" name or string is not closed",
        _ => "a `quoted` name is not closed",
    })
}

/// PostgreSQL: a `$tag$ … $tag$` string, a `$1` parameter, or a lone `$`.
fn dollar(rest: &str) -> Result<(TokenKind, usize), &'static str> {
    let after = &rest[1..];
    if after.starts_with(|c: char| c.is_ascii_digit()) {
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        return Ok((TokenKind::Param, 1 + digits));
    }
    let tag_len = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
    if !after[tag_len..].starts_with('$') {
        return Ok((TokenKind::Punct, 1));
    }
    let opener = &rest[..tag_len + 2];
    let body = &rest[opener.len()..];
    let end = body.find(opener).ok_or("a $$ dollar-quoted string is not closed")?;
    Ok((TokenKind::String, opener.len() + end + opener.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(backend: Backend, src: &str) -> Vec<(TokenKind, &str)> {
        tokenize(backend, src).unwrap().into_iter().filter(|t| !t.is_trivia()).map(|t| (t.kind, t.text)).collect()
    }

    proptest::proptest! {
        #[test]
        fn a_run_measured_by_bytes_ends_where_one_measured_by_characters_ends(
            text in "[ \t\n\x0b\x0c\rab_$1é\u{a0}\u{85}\u{2003}ß-]{0,24}",
        ) {
            let by_chars = |accepts: &dyn Fn(char) -> bool| text.find(|c: char| !accepts(c)).unwrap_or(text.len());
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
            proptest::prop_assert_eq!(run_length(&text, char::is_whitespace), by_chars(&char::is_whitespace));
            proptest::prop_assert_eq!(run_length(&text, word), by_chars(&word));
        }
    }

    #[test]
    fn tokens_join_back_into_the_input() {
        let src = "SELECT 'a;b', \"x\"\"y\" -- c;\n/* d; /* e */ */ $f$;$f$ FROM t;";
        let joined: String = tokenize(Backend::Postgres, src).unwrap().iter().map(|t| t.text).collect();
        assert_eq!(joined, src);
    }

    #[test]
    fn dollar_quotes_nested_comments_and_escape_strings_on_postgres() {
        let tokens = kinds(Backend::Postgres, "$body$ a; $$ b $body$ E'it\\'s;' /* x /* y */ ; */ $1");
        assert_eq!(
            tokens,
            vec![
                (TokenKind::String, "$body$ a; $$ b $body$"),
                (TokenKind::String, "E'it\\'s;'"),
                (TokenKind::Param, "$1")
            ]
        );
    }

    #[test]
    fn backticks_backslashes_and_hash_comments_on_mysql() {
        let tokens = kinds(Backend::MySql, "`a;b` 'it\\'s' \"q;\" # c;\nx");
        assert_eq!(
            tokens,
            vec![
                (TokenKind::QuotedIdent, "`a;b`"),
                (TokenKind::String, "'it\\'s'"),
                (TokenKind::String, "\"q;\""),
                (TokenKind::Word, "x"),
            ]
        );
        // Not a comment outside MySQL.
        assert_eq!(kinds(Backend::Sqlite, "# x")[0], (TokenKind::Punct, "#"));
    }

    #[test]
    fn comments_nest_only_on_postgres() {
        assert_eq!(kinds(Backend::Sqlite, "/* a /* b */ c"), vec![(TokenKind::Word, "c")]);
        assert!(tokenize(Backend::Postgres, "/* a /* b */ c").is_err());
    }

    #[test]
    fn unclosed_constructs_are_errors_with_their_position() {
        let error = tokenize(Backend::Postgres, "SELECT 1;\nSELECT 'abc").unwrap_err();
        assert_eq!((error.line, error.column, error.offset), (2, 8, 17));
        assert!(tokenize(Backend::Postgres, "$x$ never closed").is_err());
        assert!(tokenize(Backend::MySql, "`never").is_err());
    }

    #[test]
    fn quoted_names_are_unquoted() {
        let tokens = tokenize(Backend::Postgres, "\"Odd\"\"Name\" Plain").unwrap();
        assert_eq!(tokens[0].name(), "Odd\"Name");
        assert_eq!(tokens[2].name(), "plain");
    }
}
