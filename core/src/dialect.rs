//! The kinds of database migrations-rs runs on, and the facts about each
//! one's SQL dialect that code with no connection needs.

use std::fmt;

/// Which kind of database a connection talks to, and so which SQL dialect
/// its statements are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, embedded in the process.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Backend {
    /// Every backend, in the order reports list them.
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];

    /// Whether DDL can be rolled back, so a migration and its history row commit together.
    /// MySQL and MariaDB commit DDL implicitly.
    ///
    /// ```
    /// use migrations_rs_core::Backend;
    /// assert!(Backend::Postgres.transactional_ddl());
    /// assert!(!Backend::MySql.transactional_ddl());
    /// ```
    pub const fn transactional_ddl(self) -> bool {
        !matches!(self, Backend::MySql)
    }

    /// The name people know the database by, such as `PostgreSQL`.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL/MariaDB",
        }
    }
}

impl Backend {
    /// A database error's code as the backend's own manual writes it:
    /// `SQLSTATE 42P01` (PostgreSQL), `error 1146, SQLSTATE 42S02`
    /// (MySQL/MariaDB, which sends both), `code 1` (SQLite's result code).
    ///
    /// ```
    /// use migrations_rs_core::Backend;
    /// assert_eq!(Backend::MySql.error_code_text("1146", Some("42S02")), "error 1146, SQLSTATE 42S02");
    /// assert_eq!(Backend::Postgres.error_code_text("42P01", None), "SQLSTATE 42P01");
    /// ```
    pub fn error_code_text(self, code: &str, sqlstate: Option<&str>) -> String {
        match (self, sqlstate) {
            (Backend::Postgres, _) => format!("SQLSTATE {code}"),
            (Backend::MySql, Some(state)) => format!("error {code}, SQLSTATE {state}"),
            (Backend::MySql, None) => format!("error {code}"),
            (Backend::Sqlite, _) => format!("code {code}"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
