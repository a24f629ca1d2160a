//! What SQLite keeps only in the `CREATE` text it stores in `sqlite_schema`:
//! a table's check constraints, its columns' collations and generation
//! expressions and `AUTOINCREMENT`; an index's keys and `WHERE` condition;
//! a view's query. Read with the SQLite lexer, so a parenthesis or a keyword
//! inside a string or a quoted name is never taken for one.

use super::Check;
use crate::dialect::Backend;
use crate::sql::{Token, TokenKind, tokenize};

/// What a `CREATE TABLE` says beyond what SQLite's pragmas report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableText {
    /// The columns, in the order written.
    pub columns: Vec<ColumnText>,
    /// The check constraints, of the table and of its columns, in the order written.
    pub checks: Vec<Check>,
}

/// What a column definition says beyond what `pragma table_xinfo` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnText {
    /// The column's name.
    pub name: String,
    /// Its `COLLATE` name.
    pub collation: Option<String>,
    /// Its `AS (...)` expression and whether it is `STORED`.
    pub generated: Option<(String, bool)>,
    /// Whether it is `AUTOINCREMENT`.
    pub autoincrement: bool,
}

/// The parts of an index's `CREATE INDEX`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexText {
    /// Its keys: column names, or expressions as written.
    pub columns: Vec<String>,
    /// Its `WHERE` condition.
    pub predicate: Option<String>,
}

/// The significant tokens of `sql`, or none when it cannot be read.
fn significant(sql: &str) -> Vec<Token<'_>> {
    tokenize(Backend::Sqlite, sql).unwrap_or_default().into_iter().filter(|t| !t.is_trivia()).collect()
}

/// The index of the `)` that closes the `(` at `open`.
fn closing(tokens: &[Token<'_>], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct('(') {
            depth += 1;
        } else if token.is_punct(')') {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len()
}

/// The comma-separated items between `tokens[open]` (a `(`) and its `)`.
fn items<'t, 'a>(tokens: &'t [Token<'a>], open: usize) -> (Vec<&'t [Token<'a>]>, usize) {
    let close = closing(tokens, open);
    let mut out = Vec::new();
    let mut start = open + 1;
    let mut i = start;
    while i < close {
        if tokens[i].is_punct('(') {
            i = closing(tokens, i) + 1;
            continue;
        }
        if tokens[i].is_punct(',') {
            out.push(&tokens[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    if start < close {
        out.push(&tokens[start..close.min(tokens.len())]);
    }
    (out, close)
}

/// The text of `sql` from the first to the last of `tokens`.
fn text(sql: &str, tokens: &[Token<'_>]) -> String {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => sql[first.start..last.end()].to_owned(),
        _ => String::new(),
    }
}

/// The text inside the parentheses that open at `tokens[open]`, and the index of the `)`.
fn inside(sql: &str, tokens: &[Token<'_>], open: usize) -> (String, usize) {
    let close = closing(tokens, open);
    (text(sql, &tokens[open + 1..close.min(tokens.len())]), close)
}

/// The check constraints, collations, generation expressions and
/// `AUTOINCREMENT` of a `CREATE TABLE` statement.
pub fn create_table(sql: &str) -> TableText {
    let tokens = significant(sql);
    let mut out = TableText::default();
    let Some(open) = tokens.iter().position(|t| t.is_punct('(')) else { return out };
    let (items, _) = items(&tokens, open);
    for item in items {
        let Some(first) = item.first() else { continue };
        let is_constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"].iter().any(|k| first.is(k));
        let mut column = (!is_constraint).then(|| ColumnText { name: first.name(), ..ColumnText::default() });
        let mut name = None;
        let mut i = usize::from(!is_constraint);
        while i < item.len() {
            let token = item[i];
            let next_is_open = item.get(i + 1).is_some_and(|t| t.is_punct('('));
            if token.is_punct('(') {
                i = closing(item, i) + 1;
                continue;
            }
            if token.is("CONSTRAINT") {
                name = item.get(i + 1).map(|t| t.name());
                i += 2;
                continue;
            }
            if token.is("CHECK") && next_is_open {
                let (expression, close) = inside(sql, item, i + 1);
                out.checks.push(Check { name: name.take(), expression });
                i = close + 1;
                continue;
            }
            if let Some(column) = column.as_mut() {
                if token.is("COLLATE") {
                    column.collation = item.get(i + 1).map(|t| t.name());
                } else if token.is("AS") && next_is_open {
                    let (expression, close) = inside(sql, item, i + 1);
                    let stored = item.get(close + 1).is_some_and(|t| t.is("STORED"));
                    column.generated = Some((expression, stored));
                    i = close + 1;
                    continue;
                } else if token.is("AUTOINCREMENT") {
                    column.autoincrement = true;
                }
            }
            i += 1;
        }
        out.columns.extend(column);
    }
    out
}

/// The keys and the `WHERE` condition of a `CREATE INDEX` statement.
pub fn create_index(sql: &str) -> IndexText {
    let tokens = significant(sql);
    let mut out = IndexText::default();
    let Some(on) = tokens.iter().position(|t| t.is("ON")) else { return out };
    let Some(open) = tokens.iter().skip(on).position(|t| t.is_punct('(')).map(|i| i + on) else { return out };
    let (items, close) = items(&tokens, open);
    out.columns = items
        .into_iter()
        .map(|item| match item {
            [one] if matches!(one.kind, TokenKind::Word | TokenKind::QuotedIdent) => one.name(),
            item => text(sql, item),
        })
        .collect();
    if tokens.get(close + 1).is_some_and(|t| t.is("WHERE")) {
        let rest = &tokens[close + 2..];
        let end = rest.iter().rposition(|t| !t.is_punct(';')).map_or(0, |i| i + 1);
        out.predicate = Some(text(sql, &rest[..end]));
    }
    out
}

/// The query of a `CREATE VIEW` statement: what follows its `AS`.
pub fn view_query(sql: &str) -> String {
    let tokens = significant(sql);
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].is_punct('(') {
            i = closing(&tokens, i) + 1;
            continue;
        }
        if tokens[i].is("AS") {
            let rest = &tokens[i + 1..];
            let end = rest.iter().rposition(|t| !t.is_punct(';')).map_or(0, |i| i + 1);
            return text(sql, &rest[..end]);
        }
        i += 1;
    }
    sql.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_s_checks_collations_and_generated_columns_are_read() {
        let table = create_table(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             name TEXT COLLATE NOCASE CHECK (length(name) > 0), \
             price NUMERIC DEFAULT (1.5), \
             total NUMERIC AS (price * 2) STORED, \
             note TEXT DEFAULT 'a, (b' , \
             CONSTRAINT positive CHECK (price > 0))",
        );
        let names: Vec<_> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "price", "total", "note"]);
        assert!(table.columns[0].autoincrement);
        assert_eq!(table.columns[1].collation.as_deref(), Some("nocase"));
        assert_eq!(table.columns[3].generated, Some(("price * 2".to_owned(), true)));
        assert_eq!(
            table.checks,
            [
                Check { name: None, expression: "length(name) > 0".to_owned() },
                Check { name: Some("positive".to_owned()), expression: "price > 0".to_owned() },
            ]
        );
    }

    #[test]
    fn an_index_s_keys_and_condition_are_read() {
        let index = create_index("CREATE UNIQUE INDEX i ON t (\"email\", lower(name) DESC) WHERE deleted IS NULL");
        assert_eq!(index.columns, ["email", "lower(name) DESC"]);
        assert_eq!(index.predicate.as_deref(), Some("deleted IS NULL"));
        assert_eq!(create_index("CREATE INDEX i ON t(a)").predicate, None);
    }

    #[test]
    fn a_view_s_query_follows_its_as() {
        assert_eq!(view_query("CREATE VIEW v (a, b) AS SELECT x AS a, y FROM t;"), "SELECT x AS a, y FROM t");
    }
}
