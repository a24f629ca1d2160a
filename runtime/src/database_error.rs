//! A statement the database refused, kept whole: the database's own code
//! (SQLSTATE, MySQL/MariaDB error number), message, DETAIL and HINT, the
//! statement itself, and where it is in the migration's file (the line of
//! the failing statement in a SQL file, and of the position the database
//! points at; the migration's location for a Rust body). What sqlx adds to a
//! PostgreSQL message, the line of PostgreSQL's own C source, is left out.

use migrations_rs_core::Backend;
use serde::Serialize;
use std::fmt;

/// One statement the database refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementError {
    /// `PostgreSQL`, `MySQL/MariaDB` or `SQLite`.
    pub backend: &'static str,
    #[serde(skip)]
    dialect: Backend,
    /// The SQLSTATE on PostgreSQL, the error number on MySQL/MariaDB, the
    /// extended result code on SQLite.
    pub code: Option<String>,
    /// The SQLSTATE MySQL/MariaDB sends beside its error number.
    pub sqlstate: Option<String>,
    /// The database's message, as it wrote it.
    pub message: String,
    /// PostgreSQL's DETAIL.
    pub detail: Option<String>,
    /// PostgreSQL's HINT.
    pub hint: Option<String>,
    /// The file that holds the statement: the SQL file (up or down), or the
    /// Rust migration's file.
    pub file: Option<String>,
    /// The line of `file` where the failing statement starts (for a Rust
    /// migration, where the migration is defined).
    pub line: Option<usize>,
    /// Where in `file` the database points, when it says: the line…
    pub error_line: Option<usize>,
    /// …and the column.
    pub error_column: Option<usize>,
    /// The statement as it was sent.
    pub statement: String,
    /// Where in `statement` the database points (1-based line and column).
    #[serde(skip)]
    in_statement: Option<(usize, usize)>,
}

/// What a database error says beside its message, read the way the backend
/// that raised it writes it.
#[derive(Debug, Default)]
pub(crate) struct ErrorDetails {
    /// The SQLSTATE on PostgreSQL, the error number on MySQL/MariaDB, the
    /// extended result code on SQLite.
    pub(crate) code: Option<String>,
    /// The SQLSTATE MySQL/MariaDB sends beside its error number.
    pub(crate) sqlstate: Option<String>,
    /// PostgreSQL's DETAIL and HINT.
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
    /// Where in the statement the database points: 1-based line and column
    /// (column 0 when it names a line only).
    pub(crate) position: Option<(usize, usize)>,
}

impl StatementError {
    /// The error the database gave for `statement`: its `message` and the
    /// `details` its backend adds.
    pub(crate) fn new(backend: Backend, message: &str, details: ErrorDetails, statement: &str) -> Self {
        let ErrorDetails { code, sqlstate, detail, hint, position } = details;
        StatementError {
            backend: backend.name(),
            dialect: backend,
            code,
            sqlstate,
            message: message.to_owned(),
            detail,
            hint,
            file: None,
            line: None,
            error_line: None,
            error_column: None,
            statement: statement.to_owned(),
            in_statement: position,
        }
    }

    /// The backend whose database refused the statement.
    pub(crate) fn dialect(&self) -> Backend {
        self.dialect
    }

    /// Sets where the statement starts in its SQL text (1-based).
    pub(crate) fn set_script_line(&mut self, line: usize) {
        self.line = Some(line);
        if let Some((in_line, column)) = self.in_statement {
            self.error_line = Some(line + in_line - 1);
            self.error_column = (column > 0).then_some(column);
        }
    }

    /// `file:line` of the statement, or of the position the database points at.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match (self.error_line.or(self.line), self.error_column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}"),
            (Some(line), None) => format!("{file}:{line}"),
            (None, _) => file.to_owned(),
        })
    }

    fn code_text(&self) -> Option<String> {
        let code = self.code.as_deref()?;
        Some(self.dialect.error_code_text(code, self.sqlstate.as_deref()))
    }
}

impl fmt::Display for StatementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = self.code_text() {
            write!(f, " ({code})")?;
        }
        if let Some(location) = self.location() {
            write!(f, "\n  at {location}")?;
            if self.error_line.is_some_and(|line| Some(line) != self.line)
                && let Some(start) = self.line
            {
                write!(f, " (the statement starts at line {start})")?;
            }
        }
        if let Some(detail) = &self.detail {
            write!(f, "\n  DETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  HINT: {hint}")?;
        }
        write!(f, "\n  statement: {}", excerpt(&self.statement, self.in_statement))
    }
}

/// The statement for people: whole when short, else the lines around where
/// the database points (or the first ones), each indented.
fn excerpt(statement: &str, at: Option<(usize, usize)>) -> String {
    const SHOWN: usize = 12;
    let lines: Vec<&str> = statement.trim().lines().collect();
    let (from, to) = if lines.len() <= SHOWN {
        (0, lines.len())
    } else {
        let centre = at.map_or(0, |(line, _)| line.saturating_sub(1));
        let from = centre.saturating_sub(SHOWN / 2).min(lines.len() - SHOWN);
        (from, from + SHOWN)
    };
    let mut out = String::new();
    if from > 0 {
        out.push_str(&format!("… ({from} line(s) before)\n             "));
    }
    out.push_str(&lines[from..to].join("\n             "));
    if to < lines.len() {
        out.push_str(&format!("\n             … ({} more line(s))", lines.len() - to));
    }
    out
}

/// A sqlx error as text, without the line of PostgreSQL's C source that
/// sqlx appends to a server's message.
pub(crate) fn describe(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => match database.code() {
            Some(code) => format!("{} ({code})", database.message()),
            None => database.message().to_owned(),
        },
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_show_the_lines_around_the_error() {
        let statement: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let shown = excerpt(&statement, Some((20, 1)));
        assert!(shown.contains("line 20") && !shown.contains("line 2\n") && shown.contains("more line(s)"), "{shown}");
    }
}
