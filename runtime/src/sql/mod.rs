//! SQL migrations at run time: the folder loader, which turns a folder's
//! files into migrations. The lexer, the splitter and the folder layouts it
//! reads by are the core crate's, re-exported here.

pub mod folder;
pub mod hooks;

pub use migrations_rs_core::sql::{LexError, Lexer, SqlStatement, Token, TokenKind, layout, lexer, split, tokenize};
#[cfg(test)]
mod order_tests;
