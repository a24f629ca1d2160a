//! Splitting raw SQL into the statements a server runs one at a time.
//!
//! A `;` ends a statement unless the lexer says it is inside a string, a
//! quoted name, a dollar-quoted body or a comment, or it sits inside the
//! `BEGIN … END` body of a trigger, function, procedure or event. MySQL's
//! client command `DELIMITER` is understood and never sent to the server.

use crate::dialect::Backend;
use crate::sql::lexer::{LexError, Lexer, Token, TokenKind};
use std::ops::Range;

/// One statement: its text as written (comments inside it kept, the
/// delimiter left out) and where it is in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement<'a> {
    /// The statement's text, without the `;` that ends it.
    pub sql: &'a str,
    /// Where the statement is in the script, in bytes.
    pub range: Range<usize>,
    /// 1-based line where the statement starts.
    pub line: usize,
}

/// A statement of [`split_lexed`] with its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexedStatement<'a> {
    /// The statement, as [`split`] finds it.
    pub statement: SqlStatement<'a>,
    /// The statement's tokens without comments and whitespace, as
    /// [`tokenize`](crate::sql::tokenize) of its text finds them.
    pub tokens: Vec<Token<'a>>,
}

/// The statements of `src`, in order. Comments and whitespace between
/// statements, delimiters and `DELIMITER` commands are not part of any.
///
/// ```
/// use migrations_rs_core::{dialect::Backend, sql::split};
///
/// let statements = split(Backend::Postgres, "CREATE TABLE a (id int); -- done\nDROP TABLE b;").unwrap();
/// assert_eq!(statements.iter().map(|s| s.sql).collect::<Vec<_>>(), ["CREATE TABLE a (id int)", "DROP TABLE b"]);
/// assert_eq!(statements[1].line, 2);
/// ```
pub fn split(backend: Backend, src: &str) -> Result<Vec<SqlStatement<'_>>, LexError> {
    let mut splitter = Splitter::new(backend, src, false);
    splitter.run()?;
    Ok(splitter.out)
}

/// [`split`], with each statement's tokens kept from the one reading of
/// `src`, for what reads them next: lexing each statement again would read
/// the script twice.
///
/// ```
/// use migrations_rs_core::{dialect::Backend, sql::split_lexed};
///
/// let statements = split_lexed(Backend::Sqlite, "DROP TABLE a /* old */; SELECT 1").unwrap();
/// let words: Vec<&str> = statements[0].tokens.iter().map(|t| t.text).collect();
/// assert_eq!(words, ["DROP", "TABLE", "a"]);
/// ```
pub fn split_lexed(backend: Backend, src: &str) -> Result<Vec<LexedStatement<'_>>, LexError> {
    let mut splitter = Splitter::new(backend, src, true);
    splitter.run()?;
    Ok(splitter
        .out
        .into_iter()
        .zip(splitter.lexed)
        .map(|(statement, tokens)| LexedStatement { statement, tokens })
        .collect())
}

struct Splitter<'a> {
    backend: Backend,
    src: &'a str,
    lexer: Lexer<'a>,
    delimiter: String,
    out: Vec<SqlStatement<'a>>,
    lines: LineCounter,
    /// Whether each statement's significant tokens are kept, in `lexed`.
    keeps_tokens: bool,
    tokens: Vec<Token<'a>>,
    lexed: Vec<Vec<Token<'a>>>,
}

/// Line numbers of increasing offsets, counting each newline once: the
/// split stays linear in the length of the input however many statements it holds.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    newlines: usize,
}

impl LineCounter {
    /// The 1-based line of `offset`, which is at or after the previous one asked.
    fn line_at(&mut self, src: &str, offset: usize) -> usize {
        self.newlines += src.as_bytes()[self.offset..offset].iter().filter(|&&b| b == b'\n').count();
        self.offset = offset;
        self.newlines + 1
    }
}

/// The statement being read.
#[derive(Default)]
struct Current {
    range: Option<Range<usize>>,
    first_word: Option<String>,
    /// A CREATE of a trigger, function, procedure or event, whose body may hold `BEGIN … END`.
    routine: bool,
    depth: usize,
}

impl<'a> Splitter<'a> {
    fn new(backend: Backend, src: &'a str, keeps_tokens: bool) -> Self {
        Splitter {
            backend,
            src,
            lexer: Lexer::new(backend, src),
            delimiter: ";".into(),
            out: Vec::new(),
            lines: LineCounter::default(),
            keeps_tokens,
            tokens: Vec::new(),
            lexed: Vec::new(),
        }
    }

    fn run(&mut self) -> Result<(), LexError> {
        let mut current = Current::default();
        loop {
            if current.range.is_none() && self.backend == Backend::MySql && self.delimiter_command() {
                continue;
            }
            if self.delimiter != ";"
                && current.range.is_some()
                && self.lexer.rest().starts_with(self.delimiter.as_str())
            {
                self.lexer.seek(self.lexer.position() + self.delimiter.len());
                self.finish(&mut current);
                continue;
            }
            let Some(token) = self.lexer.next().transpose()? else { break };
            if token.is_trivia() {
                continue;
            }
            if token.is_punct(';') && self.delimiter == ";" && current.depth == 0 {
                self.finish(&mut current);
                continue;
            }
            self.track_blocks(&mut current, &token)?;
            let start = current.range.as_ref().map_or(token.start, |r| r.start);
            current.range = Some(start..token.end());
            if self.keeps_tokens {
                self.tokens.push(token);
            }
        }
        self.finish(&mut current);
        Ok(())
    }

    /// Reads a `DELIMITER xx` line at the start of a statement.
    fn delimiter_command(&mut self) -> bool {
        let mut ahead = self.lexer.clone();
        let Some(Ok(word)) = ahead.peek_significant() else { return false };
        if !word.is("DELIMITER") {
            return false;
        }
        let after = &self.src[word.end()..];
        let line = &after[..after.find('\n').unwrap_or(after.len())];
        let Some(delimiter) = line.split_whitespace().next() else { return false };
        self.delimiter = delimiter.to_owned();
        ahead.seek(word.end() + line.len());
        self.lexer = ahead;
        true
    }

    fn track_blocks(&mut self, current: &mut Current, token: &Token<'a>) -> Result<(), LexError> {
        if token.kind != TokenKind::Word {
            return Ok(());
        }
        match &current.first_word {
            None => {
                current.first_word = Some(token.text.to_ascii_uppercase());
                return Ok(());
            }
            Some(first) if first != "CREATE" => return Ok(()),
            Some(_) => {}
        }
        if ["TRIGGER", "FUNCTION", "PROCEDURE", "EVENT"].iter().any(|k| token.is(k)) {
            current.routine = true;
        } else if current.routine && (token.is("BEGIN") || (token.is("CASE") && current.depth > 0)) {
            current.depth += 1;
        } else if current.routine && token.is("END") && current.depth > 0 {
            // `END IF`, `END LOOP`, … close blocks that were not counted.
            let closes_uncounted = match self.lexer.peek_significant().transpose()? {
                Some(next) => ["IF", "LOOP", "WHILE", "REPEAT"].iter().any(|k| next.is(k)),
                None => false,
            };
            if !closes_uncounted {
                current.depth -= 1;
            }
        }
        Ok(())
    }

    fn finish(&mut self, current: &mut Current) {
        if let Some(range) = current.range.take() {
            let line = self.lines.line_at(self.src, range.start);
            self.out.push(SqlStatement { sql: &self.src[range.clone()], range, line });
            if self.keeps_tokens {
                self.lexed.push(std::mem::take(&mut self.tokens));
            }
        }
        *current = Current::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(backend: Backend, src: &str) -> Vec<&str> {
        split(backend, src).unwrap().into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn semicolons_inside_quotes_and_comments_do_not_split() {
        let src = "INSERT INTO t VALUES ('a;b'); -- x;y\nSELECT \"c;d\" /* e; */ FROM t;";
        assert_eq!(
            statements(Backend::Postgres, src),
            vec!["INSERT INTO t VALUES ('a;b')", "SELECT \"c;d\" /* e; */ FROM t"]
        );
    }

    #[test]
    fn postgres_function_bodies_stay_whole() {
        let src = "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  NEW.x := 1;\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\nSELECT 1";
        let out = statements(Backend::Postgres, src);
        assert_eq!(out.len(), 2);
        assert!(out[0].ends_with("LANGUAGE plpgsql"));
    }

    #[test]
    fn sqlite_trigger_bodies_with_case_stay_whole() {
        let src = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  UPDATE a SET x = CASE WHEN 1 THEN 2 ELSE 3 END;\n  DELETE FROM b;\nEND;\nCREATE TABLE c (id INT);";
        let out = statements(Backend::Sqlite, src);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].ends_with("END"));
    }

    #[test]
    fn mysql_delimiter_commands_change_the_delimiter_and_are_not_statements() {
        let src = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; IF 1 THEN SELECT 2; END IF; END//\nDELIMITER ;\nSELECT 3;";
        let out = statements(Backend::MySql, src);
        assert_eq!(out, vec!["CREATE PROCEDURE p() BEGIN SELECT 1; IF 1 THEN SELECT 2; END IF; END", "SELECT 3"]);
    }

    #[test]
    fn a_dollar_delimiter_right_after_end_ends_the_statement() {
        let src =
            "DELIMITER $$\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END$$\nDELIMITER ;";
        assert_eq!(statements(Backend::MySql, src).len(), 1);
    }

    #[test]
    fn mysql_procedures_without_delimiter_count_blocks() {
        let src =
            "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 2; END IF; WHILE 0 DO SELECT 3; END WHILE; END; SELECT 4";
        assert_eq!(statements(Backend::MySql, src).len(), 2);
    }

    #[test]
    fn a_transaction_begin_is_a_statement_of_its_own() {
        assert_eq!(statements(Backend::Sqlite, "BEGIN; CREATE TABLE a (x INT); COMMIT;").len(), 3);
    }

    /// Counting each statement's line from the start of the input made this
    /// quadratic (tens of minutes); linear, it takes well under a second even
    /// unoptimised, so the bound holds on a loaded machine.
    #[test]
    fn many_statements_split_in_linear_time() {
        let src: String = (0..200_000).map(|i| format!("INSERT INTO t VALUES ({i});\n")).collect();
        let started = std::time::Instant::now();
        let out = split(Backend::Postgres, &src).unwrap();
        assert_eq!(out.len(), 200_000);
        assert_eq!(out[199_999].line, 200_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn ranges_point_at_the_statement_text_and_lines_count_from_one() {
        let src = "\n\n  SELECT 1 ;\nSELECT\n2";
        let out = split(Backend::Sqlite, src).unwrap();
        for statement in &out {
            assert_eq!(&src[statement.range.clone()], statement.sql);
        }
        assert_eq!(out.iter().map(|s| s.line).collect::<Vec<_>>(), vec![3, 4]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::sql::tokenize;
    use proptest::prelude::*;

    /// Pieces of SQL that hide or end statements, in any order.
    const FRAGMENTS: &[&str] = &[
        "SELECT",
        "x",
        " ",
        "\n",
        ";",
        ";",
        "'a;b'",
        "''",
        "'",
        "\"q;\"",
        "\"",
        "`b;`",
        "`",
        "$$",
        "$t$",
        "$1",
        "--c;\n",
        "-- c",
        "/*",
        "*/",
        "/* ; */",
        "#h;\n",
        "BEGIN",
        "END",
        "CASE",
        "IF",
        "CREATE",
        "TRIGGER",
        "FUNCTION",
        "(",
        ")",
        "E'\\';'",
        "\\",
        "é",
        "[",
        "]",
        ",",
        "DELIMITER //\n",
        "//",
    ];

    fn sql() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|parts| parts.concat())
    }

    /// Without MySQL's `DELIMITER`, which makes `;` an ordinary character.
    fn sql_with_semicolons() -> impl Strategy<Value = String> {
        let fragments: Vec<&str> = FRAGMENTS.iter().copied().filter(|f| !f.starts_with("DELIMITER")).collect();
        prop::collection::vec(prop::sample::select(fragments), 0..40).prop_map(|parts| parts.concat())
    }

    fn backend() -> impl Strategy<Value = Backend> {
        prop::sample::select(vec![Backend::Sqlite, Backend::Postgres, Backend::MySql])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Never panics; every statement is its exact slice of the input, in order, and trimmed.
        #[test]
        fn statements_are_exact_ordered_slices(src in sql(), backend in backend()) {
            let Ok(statements) = split(backend, &src) else { return Ok(()) };
            let mut end = 0;
            for statement in &statements {
                prop_assert_eq!(&src[statement.range.clone()], statement.sql);
                prop_assert!(statement.range.start >= end);
                prop_assert!(!statement.sql.is_empty());
                prop_assert_eq!(statement.sql.trim(), statement.sql);
                end = statement.range.end;
            }
        }

        /// Between statements there is nothing but whitespace, comments and delimiters:
        /// no byte of any statement is lost.
        #[test]
        fn nothing_but_separators_is_left_out(src in sql_with_semicolons(), backend in backend()) {
            let Ok(statements) = split(backend, &src) else { return Ok(()) };
            let mut gaps = Vec::new();
            let mut at = 0;
            for statement in &statements {
                gaps.push(&src[at..statement.range.start]);
                at = statement.range.end;
            }
            gaps.push(&src[at..]);
            for gap in gaps {
                let tokens = tokenize(backend, gap).expect("a gap holds only whole tokens");
                prop_assert!(tokens.iter().all(|t| t.is_trivia() || t.is_punct(';')), "{:?} in {:?}", gap, src);
            }
        }

        /// A statement split again is itself: splitting is stable.
        #[test]
        fn a_statement_splits_into_itself(src in sql_with_semicolons(), backend in backend()) {
            let Ok(statements) = split(backend, &src) else { return Ok(()) };
            for statement in statements {
                let again: Vec<&str> = split(backend, statement.sql).unwrap().into_iter().map(|s| s.sql).collect();
                prop_assert_eq!(again, vec![statement.sql]);
            }
        }

        /// The tokens the split keeps are those of each statement lexed on its own.
        #[test]
        fn kept_tokens_are_each_statements_own(src in sql_with_semicolons(), backend in backend()) {
            let Ok(lexed) = split_lexed(backend, &src) else {
                prop_assert!(split(backend, &src).is_err());
                return Ok(());
            };
            let statements = split(backend, &src).unwrap();
            prop_assert_eq!(lexed.iter().map(|l| &l.statement).collect::<Vec<_>>(), statements.iter().collect::<Vec<_>>());
            for LexedStatement { statement, tokens } in lexed {
                let alone: Vec<(TokenKind, &str)> = tokenize(backend, statement.sql)
                    .unwrap()
                    .into_iter()
                    .filter(|t| !t.is_trivia())
                    .map(|t| (t.kind, t.text))
                    .collect();
                let kept: Vec<(TokenKind, &str)> = tokens.iter().map(|t| (t.kind, t.text)).collect();
                prop_assert_eq!(kept, alone, "in {:?}", src);
                prop_assert!(tokens.iter().all(|t| &src[t.start..t.end()] == t.text), "offsets are the script's");
            }
        }
    }

    #[test]
    fn kept_tokens_of_routines_and_delimiters() {
        let src = "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//\nDELIMITER ;\nDROP TABLE t; -- gone";
        let lexed = split_lexed(Backend::MySql, src).unwrap();
        let texts: Vec<Vec<&str>> = lexed.iter().map(|l| l.tokens.iter().map(|t| t.text).collect()).collect();
        assert_eq!(
            texts,
            vec![
                vec!["CREATE", "PROCEDURE", "p", "(", ")", "BEGIN", "SELECT", "1", ";", "END"],
                vec!["DROP", "TABLE", "t"]
            ]
        );
    }
}
