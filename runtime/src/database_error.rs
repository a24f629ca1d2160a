//! A statement the database refused, kept whole: the database's own code
//! (SQLSTATE, MySQL/MariaDB error number), message, DETAIL and HINT, the
//! statement itself, and where it is in the migration's file (the line of
//! the failing statement in a SQL file, and of the position the database
//! points at; the migration's location for a Rust body). What sqlx adds to a
//! PostgreSQL message, the line of PostgreSQL's own C source, is left out.

use crate::backend::Backend;
use crate::engine::StepAction;
use crate::error::Error;
use crate::record::{Body, Migration};
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

impl StatementError {
    /// The database's error for `statement`, or `None` when `error` is not
    /// one the database returned (a broken connection, a decoding error).
    pub(crate) fn from_sqlx(backend: Backend, error: &sqlx::Error, statement: &str) -> Option<Self> {
        let database = error.as_database_error()?;
        let mut out = StatementError {
            backend: backend.name(),
            dialect: backend,
            code: database.code().map(|c| c.into_owned()),
            sqlstate: None,
            message: database.message().to_owned(),
            detail: None,
            hint: None,
            file: None,
            line: None,
            error_line: None,
            error_column: None,
            statement: statement.to_owned(),
            in_statement: None,
        };
        if let Some(pg) = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            out.detail = pg.detail().map(str::to_owned);
            out.hint = pg.hint().map(str::to_owned);
            if let Some(sqlx::postgres::PgErrorPosition::Original(position)) = pg.position() {
                out.in_statement = line_and_column(statement, position);
            }
        } else if let Some(mysql) = database.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
            out.code = Some(mysql.number().to_string());
            out.sqlstate = mysql.code().map(str::to_owned);
            // Syntax errors end with "at line N", a line of the statement.
            out.in_statement = mysql_line(mysql.message()).map(|line| (line, 0));
        }
        Some(out)
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
        Some(match self.dialect {
            Backend::Postgres => format!("SQLSTATE {code}"),
            Backend::MySql => match &self.sqlstate {
                Some(state) => format!("error {code}, SQLSTATE {state}"),
                None => format!("error {code}"),
            },
            Backend::Sqlite => format!("code {code}"),
        })
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

/// The 1-based line and column of the 1-based character `position` of `text`.
fn line_and_column(text: &str, position: usize) -> Option<(usize, usize)> {
    let before: String = text.chars().take(position.checked_sub(1)?).collect();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    Some((line, column))
}

/// N of a MySQL/MariaDB message ending in "at line N".
fn mysql_line(message: &str) -> Option<usize> {
    let (_, after) = message.rsplit_once(" at line ")?;
    after.trim().parse().ok()
}

/// The file of a SQL migration's down, from its up file: `up.sql` beside
/// `down.sql` (diesel), `.up.sql` beside `.down.sql` (sqlx), `.sql` beside
/// `.down.sql` (ours).
pub fn down_file_of(up_file: &str) -> String {
    if let Some(folder) = up_file.strip_suffix("up.sql").filter(|f| f.is_empty() || f.ends_with(['/', '\\'])) {
        format!("{folder}down.sql")
    } else if let Some(stem) = up_file.strip_suffix(".up.sql") {
        format!("{stem}.down.sql")
    } else {
        format!("{}.down.sql", up_file.strip_suffix(".sql").unwrap_or(up_file))
    }
}

/// Where a step's body is: the SQL file that runs (the down file when
/// reverting), or the Rust migration's `file:line`.
pub(crate) fn body_location(migration: &Migration, action: StepAction) -> String {
    match (action, migration.up, migration.down) {
        (StepAction::Revert, Body::Sql(_), Some(Body::Sql(_))) => down_file_of(migration.file),
        (_, Body::Sql(_), _) => migration.file.to_owned(),
        _ => migration.location(),
    }
}

/// Puts the file of the step's body into a database error its statement raised.
pub(crate) fn locate(error: &mut Error, migration: &Migration, action: StepAction) {
    let Error::Statement(statement) = error else { return };
    let body = match action {
        StepAction::Apply => Some(migration.up),
        StepAction::Revert => migration.down,
    };
    match body {
        Some(Body::Sql(_)) => {
            statement.file = Some(body_location(migration, action));
        }
        _ => {
            // A line of raw SQL inside Rust code is not a line of the file.
            statement.file = Some(migration.file.to_owned());
            statement.line = Some(migration.line as usize);
            statement.error_line = None;
            statement.error_column = None;
        }
    }
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
    fn positions_map_to_lines_and_columns() {
        assert_eq!(line_and_column("SELECT\n  x FROM t", 10), Some((2, 3)));
        assert_eq!(line_and_column("SELECT x", 1), Some((1, 1)));
        assert_eq!(line_and_column("SELECT x", 0), None);
        assert_eq!(mysql_line("You have an error ... near 'FROM' at line 3"), Some(3));
    }

    #[test]
    fn down_files_sit_beside_their_up_files() {
        assert_eq!(down_file_of("m/2024-01-01-000000_a/up.sql"), "m/2024-01-01-000000_a/down.sql");
        assert_eq!(down_file_of("m/1_a.up.sql"), "m/1_a.down.sql");
        assert_eq!(down_file_of("m/V1__a.sql"), "m/V1__a.down.sql");
        assert_eq!(down_file_of("m/V1__setup.sql"), "m/V1__setup.down.sql");
    }

    #[test]
    fn long_statements_show_the_lines_around_the_error() {
        let statement: String = (1..=30).map(|n| format!("line {n}\n")).collect();
        let shown = excerpt(&statement, Some((20, 1)));
        assert!(shown.contains("line 20") && !shown.contains("line 2\n") && shown.contains("more line(s)"), "{shown}");
    }
}
