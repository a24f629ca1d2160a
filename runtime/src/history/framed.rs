//! SQLite history rows read as a few long texts rather than row by row.
//!
//! sqlx runs SQLite on a thread of its own and hands every row, and every
//! value in it, over to the caller's: about a microsecond a row, several
//! times what SQLite spends reading it. So SQLite writes the rows into
//! [`CHUNKS`] texts itself (`group_concat`), and they are taken apart here.
//!
//! A row is framed as its integers, each followed by a space, then the byte
//! length of each text, each followed by a space, then the texts one after
//! the other:
//!
//! ```text
//! 20240115093000 12 1 64 24 7 7 ab12…ef2024-01-15T09:30:00.000Zme@hostapplied
//! ```
//!
//! Every text is measured, so nothing written into the table can shift where
//! another value begins. A row whose values are not all of their column's
//! type (SQLite keeps a type per value, so a row written by hand can hold a
//! word in an integer column) is written as `!` instead, and the read ends
//! with [`Framed::Broken`]: a typed read then names the column.

use super::READ_AS;
use sea_query::{Expr, Query, SelectStatement};

/// How many texts a table's rows come in. Rows are spread by their version,
/// so each text holds about this fraction of the table, and no text is
/// copied whole at once.
const CHUNKS: u32 = 16;

/// Written in place of a row whose values are not of their columns' types.
const BROKEN: char = '!';

/// The columns a framed read takes from each row: integers, then texts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Columns<const I: usize, const T: usize> {
    pub ints: [&'static str; I],
    pub texts: [&'static str; T],
}

/// How taking a text apart ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framed {
    /// Every row in it was handed over.
    Whole,
    /// A row was not framed, or the text is not one [`select`] writes; the
    /// rows before it were handed over.
    Broken,
}

impl<const I: usize, const T: usize> Columns<I, T> {
    /// `SELECT group_concat(<framed row>, '') FROM <table> GROUP BY version % CHUNKS`.
    pub(super) fn select(&self, table: sea_query::TableName) -> SelectStatement {
        let column = |name: &str| format!(r#""{READ_AS}"."{name}""#);
        let typed: Vec<String> = self
            .ints
            .iter()
            .map(|name| format!("typeof({}) = 'integer'", column(name)))
            .chain(self.texts.iter().map(|name| format!("typeof({}) = 'text'", column(name))))
            .collect();
        let mut parts: Vec<String> = self.ints.iter().map(|name| format!("{} || ' '", column(name))).collect();
        parts.extend(self.texts.iter().map(|name| format!("length(CAST({} AS BLOB)) || ' '", column(name))));
        parts.extend(self.texts.iter().map(|name| column(name)));
        let framed = format!("CASE WHEN {} THEN {} ELSE '{BROKEN}' END", typed.join(" AND "), parts.join(" || "));
        Query::select()
            .expr(Expr::cust(format!("group_concat({framed}, '')")))
            .from_as(table, READ_AS)
            .add_group_by([Expr::cust(format!("{} % {CHUNKS}", column("version")))])
            .to_owned()
    }

    /// Hands each row framed in `text` to `each`, texts borrowed from `text`.
    pub(super) fn for_each<E>(
        &self,
        mut text: &str,
        mut each: impl FnMut([i64; I], [&str; T]) -> Result<(), E>,
    ) -> Result<Framed, E> {
        while !text.is_empty() {
            let Some((ints, texts, rest)) = unframe::<I, T>(text) else { return Ok(Framed::Broken) };
            each(ints, texts)?;
            text = rest;
        }
        Ok(Framed::Whole)
    }
}

/// The first row framed in `text`, and what follows it.
fn unframe<const I: usize, const T: usize>(text: &str) -> Option<([i64; I], [&str; T], &str)> {
    let mut rest = text;
    let mut number = || {
        let (digits, tail) = rest.split_once(' ')?;
        rest = tail;
        digits.parse::<i64>().ok()
    };
    let mut ints = [0; I];
    for int in &mut ints {
        *int = number()?;
    }
    let mut lengths = [0usize; T];
    for length in &mut lengths {
        *length = usize::try_from(number()?).ok()?;
    }
    let mut texts = [""; T];
    for (value, length) in texts.iter_mut().zip(lengths) {
        *value = rest.get(..length)?;
        rest = rest.get(length..)?;
    }
    Some((ints, texts, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: Columns<2, 2> = Columns { ints: ["version", "batch"], texts: ["who", "state"] };

    fn rows(text: &str) -> (Vec<(i64, i64, String, String)>, Framed) {
        let mut rows = Vec::new();
        let framed = COLUMNS
            .for_each(text, |[version, batch], [who, state]| {
                rows.push((version, batch, who.to_owned(), state.to_owned()));
                Ok::<_, ()>(())
            })
            .unwrap();
        (rows, framed)
    }

    #[test]
    fn rows_come_back_whatever_their_texts_hold() {
        // Spaces, digits, the broken-row mark, a line break and a two-byte character inside texts.
        let text = "1 -2 6 7 Zo\u{eb} 1applied\
                    30 4 5 0 ! 9 \n\
                    5 6 0 0 ";
        let (rows, framed) = rows(text);
        assert_eq!(framed, Framed::Whole);
        assert_eq!(
            rows,
            [
                (1, -2, "Zo\u{eb} 1".to_owned(), "applied".to_owned()),
                (30, 4, "! 9 \n".to_owned(), String::new()),
                (5, 6, String::new(), String::new()),
            ]
        );
    }

    #[test]
    fn a_broken_row_ends_the_read_after_the_rows_before_it() {
        let (rows, framed) = rows("1 1 1 1 ab!2 2 1 1 cd");
        assert_eq!(framed, Framed::Broken);
        assert_eq!(rows, [(1, 1, "a".to_owned(), "b".to_owned())]);
    }

    #[test]
    fn a_text_that_is_not_framed_rows_is_broken() {
        for text in [
            "1 2 3",
            "x 0 0 0 ",
            "1 0 -1 0 ",
            "1 0 5 0 abc",
            // A length that ends inside a character.
            "1 0 1 0 \u{e9}",
        ] {
            assert_eq!(rows(text).1, Framed::Broken, "{text:?}");
        }
    }

    #[test]
    fn the_query_frames_every_column_and_spreads_rows_by_version() {
        let sql = COLUMNS.select(sea_query::TableName(None, "h".into())).to_string(sea_query::SqliteQueryBuilder);
        for part in [
            r#"typeof("t"."version") = 'integer'"#,
            r#"typeof("t"."state") = 'text'"#,
            r#"length(CAST("t"."who" AS BLOB)) || ' '"#,
            "ELSE '!' END, '')",
            r#"GROUP BY "t"."version" % 16"#,
        ] {
            assert!(sql.contains(part), "{part} in {sql}");
        }
    }
}
