//! Raw SQL read without a server: a lexer per dialect and a statement
//! splitter built on it, which the risk analysis and SQL-file migrations
//! use; and the layouts of SQL migration folders.

pub mod layout;
pub mod lexer;
pub mod split;

pub use lexer::{LexError, Lexer, Token, TokenKind, tokenize};
pub use split::{LexedStatement, SqlStatement, split, split_lexed};
