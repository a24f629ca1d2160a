//! The `Db` handle that `up` and `down` bodies receive: sea-query statements
//! rendered for the connected backend, raw SQL, rows, and the sqlx connection
//! itself for typed queries.

use crate::analysis::{Acknowledged, Finding, Origin, Refusal, Replay, Rule, acknowledgements};
use crate::backend::{Backend, ConnRef, dispatch};
use crate::error::{Error, Result};
use crate::table_rows::all_without_rows;
use sea_query::{
    ForeignKeyCreateStatement, ForeignKeyDropStatement, IndexCreateStatement, IndexDropStatement, MysqlQueryBuilder,
    PostgresQueryBuilder, QueryStatementWriter, SchemaStatementBuilder, SqliteQueryBuilder, TableAlterStatement,
    TableCreateStatement, TableDropStatement, TableRenameStatement, TableTruncateStatement, Values,
};
use sea_query_sqlx::SqlxValues;
#[cfg(feature = "mysql")]
use sqlx::mysql::{MySqlConnection, MySqlRow};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnection, PgRow};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Row as _};
use std::fmt;

/// The database as a migration body sees it. Inside a transactional
/// migration every statement runs in the migration's transaction.
///
/// ```no_run
/// # use migrations_rs::{Backend, Db, Result};
/// # use migrations_rs::sea_query::{ColumnDef, Expr, ExprTrait, Query, Table};
/// async fn up(db: &mut Db<'_>) -> Result<()> {
///     // sea-query statements are rendered for the connected backend, values bound.
///     db.exec(Table::alter().table("users").add_column(ColumnDef::new("active").boolean().default(true))).await?;
///     // Plain SQL runs as written; guard backend-specific SQL with `db.backend()`.
///     if db.backend() == Backend::Postgres {
///         db.exec("CREATE INDEX CONCURRENTLY users_by_email ON users (email)").await?;
///     }
///     // Rows can be read, to backfill in batches for example.
///     let rows = db.fetch_all(Query::select().column("id").from("users").and_where(Expr::col("active").eq(true))).await?;
///     let _ids: Vec<i64> = rows.iter().map(|row| row.get("id")).collect::<Result<_>>()?;
///     Ok(())
/// }
/// ```
pub struct Db<'c> {
    target: Target<'c>,
    executed: usize,
    /// A statement was sent that a rollback cannot undo (DDL on MySQL/MariaDB).
    /// Kept for the handles of migration bodies, which have a guard that
    /// analyses every statement; our own statements never commit by themselves.
    committed: bool,
    /// Checks each statement before it is sent, refusing destructive ones
    /// the migration does not acknowledge.
    guard: Option<Guard<'c>>,
    /// A statement the database refuses is an [`Error::Statement`], whole
    /// (for migration bodies); else an [`Error::Database`].
    whole_errors: bool,
    /// What the comments before the statement being run acknowledge.
    acknowledged: Acknowledged,
    /// Destructive statements the guard let through because they lose nothing.
    notes: Vec<String>,
    /// MySQL/MariaDB's `max_allowed_packet`, read once a large statement is about to be sent.
    packet_limit: Option<u64>,
    /// The migration whose body this handle runs, for backfills to keep their cursors by.
    migration: Option<InMigration>,
}

/// What a [`Db`] knows of the migration whose body it runs.
#[derive(Debug, Clone)]
pub(crate) struct InMigration {
    pub(crate) version: crate::version::Version,
    /// Whether the body runs in one transaction (a backfill refuses to).
    pub(crate) transaction: bool,
    /// The body is the migration's `down`: its backfills keep cursors apart from `up`'s.
    pub(crate) reverting: bool,
    /// The table that keeps backfill cursors.
    pub(crate) backfills: sea_query::TableName,
}

/// Statements up to this size are sent without asking MySQL/MariaDB for its packet limit.
const PACKET_CHECK_FROM: usize = 64 * 1024;

struct Guard<'c> {
    origin: Origin,
    analysis: Replay<'c>,
    /// Whether destructive statements the migration does not acknowledge are
    /// refused too (an apply that is not forced); transaction control always is.
    destructive: bool,
}

enum Target<'c> {
    Live(ConnRef<'c>),
    /// Statements are written down instead of run, to show a migration's SQL offline.
    Recording {
        backend: Backend,
        statements: &'c mut Vec<String>,
    },
}

impl fmt::Debug for Db<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend()).field("executed", &self.executed).finish()
    }
}

impl<'c> Db<'c> {
    pub(crate) fn new(conn: ConnRef<'c>) -> Self {
        Self::on(Target::Live(conn))
    }

    /// A handle with nothing run yet, no guard, and the database's errors as they are.
    fn on(target: Target<'c>) -> Self {
        Db {
            target,
            executed: 0,
            committed: false,
            guard: None,
            whole_errors: false,
            acknowledged: Acknowledged::Nothing,
            notes: Vec::new(),
            packet_limit: None,
            migration: None,
        }
    }

    /// This handle, knowing that it runs a body of the migration `migration` describes.
    pub(crate) fn in_migration(self, migration: InMigration) -> Self {
        Db { migration: Some(migration), ..self }
    }

    /// The migration whose body this handle runs, when it is one.
    pub(crate) fn migration(&self) -> Option<&InMigration> {
        self.migration.as_ref()
    }

    /// The connection, borrowed again for statements of our own that the guard need not see.
    pub(crate) fn live_conn(&mut self, what: &'static str) -> Result<ConnRef<'_>> {
        Ok(self.live(what)?.reborrow())
    }

    /// Starts describing a backfill of `table`: a data change applied in
    /// batches of rows, each committed with a cursor so that an interrupted
    /// run resumes where it stopped. See [`Backfill`](crate::backfill::Backfill).
    pub fn backfill(&mut self, table: &str) -> crate::backfill::Backfill<'_, 'c> {
        crate::backfill::Backfill::new(self, table)
    }

    /// Whether statements are written down rather than run, and if so the list they go to.
    pub(crate) fn recorded(&mut self) -> Option<&mut Vec<String>> {
        match &mut self.target {
            Target::Recording { statements, .. } => Some(statements),
            Target::Live(_) => None,
        }
    }

    /// A handle for a body of `migration` that runs in the transaction the
    /// runner opened for it: statements that would end that transaction are
    /// refused before they are sent, and so, when `destructive` is set, are
    /// destructive statements the migration does not acknowledge.
    pub(crate) fn guarded(conn: ConnRef<'c>, origin: Origin, analysis: Replay<'c>, destructive: bool) -> Self {
        let guard = Guard { origin, analysis, destructive };
        Db { guard: Some(guard), whole_errors: true, ..Self::new(conn) }
    }

    /// A handle that records the SQL of each statement instead of running it.
    pub(crate) fn recording(backend: Backend, statements: &'c mut Vec<String>) -> Self {
        Self::on(Target::Recording { backend, statements })
    }

    fn live(&mut self, what: &'static str) -> Result<&mut ConnRef<'c>> {
        match &mut self.target {
            Target::Live(conn) => Ok(conn),
            Target::Recording { .. } => Err(Error::NeedsDatabase { what }),
        }
    }

    /// The backend the statements are rendered for.
    pub fn backend(&self) -> Backend {
        match &self.target {
            Target::Live(conn) => conn.backend(),
            Target::Recording { backend, .. } => *backend,
        }
    }

    /// Whether statements reach a database. `false` while they are only
    /// written down: the risk analysis before every run, `sql`, and dry runs
    /// on MySQL/MariaDB all run the body that way, so a body should do nothing
    /// outside `db` unless this is `true`.
    pub fn is_live(&self) -> bool {
        matches!(self.target, Target::Live(_))
    }

    /// Whether a statement was sent that a rollback cannot undo: on
    /// MySQL/MariaDB, DDL commits implicitly.
    pub(crate) fn sent_implicit_commit(&self) -> bool {
        self.committed
    }

    /// The destructive statements the guard let through because the tables
    /// they touch held no rows, one sentence each; emptied.
    pub(crate) fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// How many statements this handle has run.
    pub fn executed(&self) -> usize {
        self.executed
    }

    /// Runs a statement: a sea-query statement, rendered for this backend
    /// with its values bound, or raw SQL text (which may hold several statements).
    pub async fn exec(&mut self, statement: impl Statement) -> Result<()> {
        self.execute(statement).await.map(drop)
    }

    /// Runs a script of several statements one at a time, split by the
    /// backend's lexer (quotes, dollar quotes, trigger bodies and MySQL's
    /// `DELIMITER` are understood), so each is checked and reported on its own.
    pub async fn exec_script(&mut self, script: &str) -> Result<()> {
        let statements = match migrations_rs_core::sql::split(self.backend(), script) {
            Ok(statements) => statements,
            Err(error) => {
                // Written down whole, so the risk analysis reports it as `opaque-sql`; never sent.
                if let Target::Recording { statements, .. } = &mut self.target {
                    statements.push(script.to_owned());
                }
                return Err(Error::msg(format!("the SQL cannot be split into statements: {error}")));
            }
        };
        let acknowledged = acknowledgements(script, &statements).map_err(|unknown| {
            Error::msg(format!(
                "line {}: `-- migrations-rs: allow {}` names no rule; `lint` lists the rules",
                unknown.line, unknown.name
            ))
        })?;
        for (statement, acknowledged) in statements.into_iter().zip(acknowledged) {
            self.acknowledged = acknowledged;
            let outcome = self.exec(statement.sql).await;
            self.acknowledged = Acknowledged::Nothing;
            if let Err(mut error) = outcome {
                if let Error::Statement(refused) = &mut error {
                    refused.set_script_line(statement.line);
                }
                return Err(error);
            }
        }
        Ok(())
    }

    /// Like [`Db::exec`], returning how many rows the statement changed.
    pub async fn execute(&mut self, statement: impl Statement) -> Result<u64> {
        let backend = self.backend();
        self.executed += 1;
        if let Target::Recording { statements, .. } = &mut self.target {
            statements.push(statement.to_inline_sql(backend));
            return Ok(0);
        }
        let (sql, values) = statement.to_sql(backend);
        self.check(&sql).await?;
        self.check_packet(&sql).await?;
        tracing::debug!(target: "migrations_rs::sql", %sql, "executing");
        let sent = sql.clone();
        let outcome = dispatch!(self.live("a connection")?, ConnRef, c => {
            if values.0.is_empty() {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut **c).await.map(|done| done.rows_affected())
            } else {
                sqlx::query_with(AssertSqlSafe(sql), SqlxValues(values))
                    .execute(&mut **c)
                    .await
                    .map(|done| done.rows_affected())
            }
        });
        outcome.map_err(|error| self.statement_error(backend, error, &sent))
    }

    /// Runs a query and returns its rows, for data migrations that work on every backend.
    pub async fn fetch_all(&mut self, query: impl Statement) -> Result<Vec<Row>> {
        let (sql, values) = query.to_sql(self.backend());
        self.fetch_rows(sql, Some(values)).await
    }

    /// [`Db::fetch_all`] for a read of our own that a connection runs once:
    /// its values written into the SQL, sent unprepared. That is one round
    /// trip on PostgreSQL and MySQL/MariaDB, where preparing it first takes
    /// two; SQLite has no round trips to save and prepares as usual.
    pub(crate) async fn fetch_all_unprepared(&mut self, query: impl Statement) -> Result<Vec<Row>> {
        match self.backend() {
            Backend::Sqlite => self.fetch_all(query).await,
            backend => self.fetch_rows(query.to_inline_sql(backend), None).await,
        }
    }

    /// The rows of `sql`: prepared with `values` bound, or sent as it is without them.
    async fn fetch_rows(&mut self, sql: String, values: Option<Values>) -> Result<Vec<Row>> {
        self.check(&sql).await?;
        self.check_packet(&sql).await?;
        tracing::debug!(target: "migrations_rs::sql", %sql, prepared = values.is_some(), "fetching");
        self.executed += 1;
        let backend = self.backend();
        let sent = sql.clone();
        macro_rules! rows {
            ($c:expr, $row:path) => {
                match values {
                    Some(values) => sqlx::query_with(AssertSqlSafe(sql), SqlxValues(values)).fetch_all(&mut **$c).await,
                    None => sqlx::raw_sql(AssertSqlSafe(sql)).fetch_all(&mut **$c).await,
                }
                .map(|rows| rows.into_iter().map($row).collect())
            };
        }
        let rows = match self.live("rows read from the database")? {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(c) => rows!(c, Row::Sqlite),
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(c) => rows!(c, Row::Postgres),
            #[cfg(feature = "mysql")]
            ConnRef::MySql(c) => rows!(c, Row::MySql),
        };
        rows.map_err(|error| self.statement_error(backend, error, &sent))
    }

    /// Refuses a statement larger than MySQL/MariaDB's `max_allowed_packet`,
    /// which the server would answer by dropping the connection.
    async fn check_packet(&mut self, sql: &str) -> Result<()> {
        if sql.len() < PACKET_CHECK_FROM {
            return Ok(());
        }
        let Target::Live(conn) = &mut self.target else { return Ok(()) };
        let limit = match self.packet_limit {
            Some(limit) => limit,
            None => {
                let Some(limit) = conn.max_statement_bytes().await? else { return Ok(()) };
                self.packet_limit = Some(limit);
                limit
            }
        };
        // The packet also holds a command byte and a header.
        let bytes = sql.len() as u64;
        if bytes + 16 > limit {
            return Err(Error::StatementTooLarge { bytes, limit });
        }
        Ok(())
    }

    /// The database's refusal of `statement`, whole in a migration body;
    /// other errors (a broken connection) as they are.
    fn statement_error(&self, backend: Backend, error: sqlx::Error, statement: &str) -> Error {
        match crate::backend::statement_error(backend, &error, statement) {
            Some(refused) if self.whole_errors => Error::Statement(Box::new(refused)),
            _ => Error::Database(error),
        }
    }

    /// Refuses `sql` if the guard finds a destructive statement in it that
    /// is not acknowledged and would lose rows: one that destroys only the
    /// rows of tables holding none runs, and is noted.
    async fn check(&mut self, sql: &str) -> Result<()> {
        if let Some(guard) = &mut self.guard {
            let findings = guard.analysis.sql_acknowledged(sql, &self.acknowledged);
            let refused = |f: &&Finding| f.rule == Rule::TransactionControl;
            let control: Vec<Refusal> = findings.iter().filter(refused).map(|f| guard.origin.refusal(f)).collect();
            if !control.is_empty() {
                return Err(Error::TransactionControl { refusals: control, before_run: false });
            }
            let destructive: Vec<Finding> =
                findings.iter().filter(|f| guard.destructive && f.refuses()).cloned().collect();
            let mut refusals = Vec::new();
            for finding in destructive {
                let loses_nothing = match &mut self.target {
                    Target::Live(conn) if finding.loses_only_rows() => {
                        // A failed look counts as rows: refused, as without the look.
                        all_without_rows(conn, &finding.tables).await.unwrap_or(false)
                    }
                    _ => false,
                };
                if loses_nothing {
                    self.notes.push(empty_table_note(&finding));
                } else {
                    refusals.push(guard.origin.refusal(&finding));
                }
            }
            if !refusals.is_empty() {
                return Err(Error::Refused { refusals, before_run: false });
            }
            self.committed |= guard.analysis.saw_implicit_commit();
        }
        Ok(())
    }

    /// The SQLite connection, for typed sqlx queries; an error on another backend.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&mut self) -> Result<&mut SqliteConnection> {
        let actual = self.backend().name();
        match self.live("the sqlx connection")? {
            ConnRef::Sqlite(c) => Ok(c),
            #[allow(unreachable_patterns)]
            _ => Err(Error::WrongBackend { expected: Backend::Sqlite.name(), actual }),
        }
    }

    /// The PostgreSQL connection, for typed sqlx queries; an error on another backend.
    #[cfg(feature = "postgres")]
    pub fn postgres(&mut self) -> Result<&mut PgConnection> {
        let actual = self.backend().name();
        match self.live("the sqlx connection")? {
            ConnRef::Postgres(c) => Ok(c),
            #[allow(unreachable_patterns)]
            _ => Err(Error::WrongBackend { expected: Backend::Postgres.name(), actual }),
        }
    }

    /// The MySQL/MariaDB connection, for typed sqlx queries; an error on another backend.
    #[cfg(feature = "mysql")]
    pub fn mysql(&mut self) -> Result<&mut MySqlConnection> {
        let actual = self.backend().name();
        // What runs on the raw connection is not seen: assume it may commit.
        self.committed = true;
        match self.live("the sqlx connection")? {
            ConnRef::MySql(c) => Ok(c),
            #[allow(unreachable_patterns)]
            _ => Err(Error::WrongBackend { expected: Backend::MySql.name(), actual }),
        }
    }
}

/// Says that a destructive statement ran because its tables held no rows.
pub(crate) fn empty_table_note(finding: &Finding) -> String {
    let tables = finding.tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
    let flat = finding.statement.split_whitespace().collect::<Vec<_>>().join(" ");
    let statement =
        if flat.chars().count() <= 100 { flat } else { format!("{}…", flat.chars().take(99).collect::<String>()) };
    format!("{}: {tables} held no rows, so `{statement}` lost nothing and ran", finding.rule)
}

/// Something `Db::exec` can run: a sea-query statement or raw SQL.
pub trait Statement {
    /// The SQL for `backend`, with the values to bind to its placeholders.
    fn to_sql(&self, backend: Backend) -> (String, Values);

    /// The SQL for `backend` with its values written in, for people to read.
    fn to_inline_sql(&self, backend: Backend) -> String {
        self.to_sql(backend).0
    }
}

impl<T: Statement + ?Sized> Statement for &T {
    fn to_sql(&self, backend: Backend) -> (String, Values) {
        (**self).to_sql(backend)
    }

    fn to_inline_sql(&self, backend: Backend) -> String {
        (**self).to_inline_sql(backend)
    }
}

impl<T: Statement + ?Sized> Statement for &mut T {
    fn to_sql(&self, backend: Backend) -> (String, Values) {
        (**self).to_sql(backend)
    }

    fn to_inline_sql(&self, backend: Backend) -> String {
        (**self).to_inline_sql(backend)
    }
}

impl Statement for str {
    fn to_sql(&self, _: Backend) -> (String, Values) {
        (self.to_owned(), Values(Vec::new()))
    }
}

impl Statement for String {
    fn to_sql(&self, _: Backend) -> (String, Values) {
        (self.clone(), Values(Vec::new()))
    }
}

macro_rules! schema_statements {
    ($($ty:ty),* $(,)?) => {$(
        impl Statement for $ty {
            fn to_sql(&self, backend: Backend) -> (String, Values) {
                let sql = match backend {
                    Backend::Sqlite => SchemaStatementBuilder::build(self, SqliteQueryBuilder),
                    Backend::Postgres => SchemaStatementBuilder::build(self, PostgresQueryBuilder),
                    Backend::MySql => SchemaStatementBuilder::build(self, MysqlQueryBuilder),
                };
                (sql, Values(Vec::new()))
            }
        }
    )*};
}

schema_statements!(
    TableCreateStatement,
    TableAlterStatement,
    TableDropStatement,
    TableRenameStatement,
    TableTruncateStatement,
    IndexCreateStatement,
    IndexDropStatement,
    ForeignKeyCreateStatement,
    ForeignKeyDropStatement,
);

macro_rules! query_statements {
    ($($ty:ty),* $(,)?) => {$(
        impl Statement for $ty {
            fn to_sql(&self, backend: Backend) -> (String, Values) {
                match backend {
                    Backend::Sqlite => QueryStatementWriter::build(self, SqliteQueryBuilder),
                    Backend::Postgres => QueryStatementWriter::build(self, PostgresQueryBuilder),
                    Backend::MySql => QueryStatementWriter::build(self, MysqlQueryBuilder),
                }
            }

            fn to_inline_sql(&self, backend: Backend) -> String {
                match backend {
                    Backend::Sqlite => QueryStatementWriter::to_string(self, SqliteQueryBuilder),
                    Backend::Postgres => QueryStatementWriter::to_string(self, PostgresQueryBuilder),
                    Backend::MySql => QueryStatementWriter::to_string(self, MysqlQueryBuilder),
                }
            }
        }
    )*};
}

query_statements!(
    sea_query::InsertStatement,
    sea_query::UpdateStatement,
    sea_query::DeleteStatement,
    sea_query::SelectStatement,
);

/// A row returned by [`Db::fetch_all`].
#[derive(Debug)]
pub enum Row {
    /// A row from SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteRow),
    /// A row from PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(PgRow),
    /// A row from MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    MySql(MySqlRow),
}

/// A Rust type that every backend built in can decode, such as `i64`,
/// `String`, `bool`, `f64` or `Option<T>`.
pub trait Decodable: decode::Sqlite + decode::Postgres + decode::MySql {}

impl<T: decode::Sqlite + decode::Postgres + decode::MySql> Decodable for T {}

/// One bound of [`Decodable`] per backend: that the backend decodes the
/// type, or nothing when the program is built without that backend.
#[doc(hidden)]
pub mod decode {
    use sqlx::{Decode, Type};

    macro_rules! decodes {
        ($feature:literal, $name:ident, $database:ty) => {
            #[cfg(feature = $feature)]
            pub trait $name: for<'r> Decode<'r, $database> + Type<$database> {}
            #[cfg(feature = $feature)]
            impl<T: for<'r> Decode<'r, $database> + Type<$database>> $name for T {}
            #[cfg(not(feature = $feature))]
            pub trait $name {}
            #[cfg(not(feature = $feature))]
            impl<T> $name for T {}
        };
    }

    decodes!("sqlite", Sqlite, sqlx::Sqlite);
    decodes!("postgres", Postgres, sqlx::Postgres);
    decodes!("mysql", MySql, sqlx::MySql);
}

impl Row {
    /// The value of `column`, decoded as `T`.
    pub fn get<T: Decodable>(&self, column: &str) -> Result<T> {
        Ok(dispatch!(self, Row, row => row.try_get::<T, _>(column)?))
    }
}

#[cfg(test)]
mod tests {
    use super::Statement;
    use crate::analysis::{Analyzer, Rule, Rule::*};
    use crate::backend::Backend::*;

    #[test]
    fn sea_query_statements_are_classified_from_their_rendering() {
        use sea_query::{Alias, ColumnDef, Table};
        let drop_column = Table::alter().table(Alias::new("users")).drop_column(Alias::new("email")).to_owned();
        let add_required = Table::alter()
            .table(Alias::new("users"))
            .add_column(ColumnDef::new(Alias::new("age")).integer().not_null())
            .to_owned();
        for backend in [Postgres, MySql, Sqlite] {
            let mut analyzer = Analyzer::new(backend, true, &[]);
            analyzer.sql(&drop_column.to_inline_sql(backend));
            analyzer.sql(&add_required.to_inline_sql(backend));
            analyzer.sql(&Table::drop().table(Alias::new("users")).to_owned().to_inline_sql(backend));
            let found: Vec<Rule> = analyzer.findings().iter().map(|f| f.rule).collect();
            assert_eq!(found, vec![DropColumn, RequiredColumn, DropTable], "{backend}");
        }
    }
}
