//! Raw SQL read without a server: a lexer per dialect and a statement
//! splitter built on it. The risk analysis and SQL-file migrations use both.

pub mod lexer;
pub mod split;

pub use lexer::{LexError, Lexer, Token, TokenKind, tokenize};
pub use split::{SqlStatement, split};
