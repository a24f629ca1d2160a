//! What `#[migrations_rs::testing::test]` runs: the test's own tokio runtime,
//! a [`TestDatabase`] on the backend it names (its server read from the
//! environment), the test body given the database or something opened on it
//! ([`TestArgument`]), and the database dropped afterwards, also when the body
//! panics (the value's `Drop` does it then).

use super::{TestDatabase, TestDatabaseError};
use crate::backend::Backend;
use crate::version::Version;

/// The environment variable holding the server URL of `backend`'s test
/// databases; `None` for SQLite, whose test databases are temporary files.
pub fn server_variable(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some("MIGRATIONS_RS_POSTGRES_URL"),
        Backend::MySql => Some("MIGRATIONS_RS_MYSQL_URL"),
    }
}

/// What a test asked the attribute for. Built by the generated code.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct TestOptions {
    /// The backend (`backend = …`).
    pub backend: Backend,
    /// The version to migrate to (`to = …`); the head when `None`.
    pub to: Option<Version>,
    /// The test's path, for messages.
    pub test: &'static str,
}

/// A test parameter opened on the test database: a pool or a connection of
/// sqlx. Implement it for a type of your own (an application state built on
/// a pool, say) to take that type as the test's parameter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be made from a test database",
    label = "not a parameter #[migrations_rs::testing::test] can give",
    note = "a test takes `TestDatabase`, `&TestDatabase`, or a type implementing `TestArgument`: sqlx's pools and connections (`PgPool`, `PgConnection`, …)"
)]
pub trait TestArgument: Sized {
    /// The backend this type needs, when it works with only one.
    fn backend() -> Option<Backend> {
        None
    }

    /// Opens the value on `db`.
    fn open(db: &TestDatabase) -> impl Future<Output = Result<Self, TestDatabaseError>>;
}

/// Runs a test that takes the [`TestDatabase`] itself; the database is
/// dropped when the body drops the value.
#[doc(hidden)]
pub fn run_owning<R>(options: TestOptions, body: impl AsyncFnOnce(TestDatabase) -> R) -> R {
    runtime(&options).block_on(async {
        let db = create(&options).await;
        body(db).await
    })
}

/// Runs a test that borrows the [`TestDatabase`]; the database is dropped after the body.
#[doc(hidden)]
pub fn run_borrowing<R>(options: TestOptions, body: impl AsyncFnOnce(&TestDatabase) -> R) -> R {
    runtime(&options).block_on(async {
        let db = create(&options).await;
        let result = body(&db).await;
        drop_after(db, &options).await;
        result
    })
}

/// Runs a test that takes a value opened on the database, such as a pool;
/// the database is dropped after the body.
#[doc(hidden)]
pub fn run_with<T: TestArgument, R>(options: TestOptions, body: impl AsyncFnOnce(T) -> R) -> R {
    if let Some(needed) = T::backend()
        && needed != options.backend
    {
        panic!(
            "{}: the test's parameter, a `{}`, needs {needed}, but the test runs on {}; name its backend in the attribute",
            options.test,
            std::any::type_name::<T>(),
            options.backend,
        );
    }
    runtime(&options).block_on(async {
        let db = create(&options).await;
        let argument = T::open(&db)
            .await
            .unwrap_or_else(|error| panic!("{}: cannot open the test's parameter: {error}", options.test));
        let result = body(argument).await;
        drop_after(db, &options).await;
        result
    })
}

/// A runtime of the test's own, on its thread.
fn runtime(options: &TestOptions) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("{}: cannot start a tokio runtime: {error}", options.test))
}

/// The test's database: on SQLite a temporary file, on a server beside the
/// database the server's environment variable names.
async fn create(options: &TestOptions) -> TestDatabase {
    let server = match server_variable(options.backend) {
        None => "sqlite:".to_owned(),
        Some(variable) => std::env::var(variable).unwrap_or_else(|_| {
            panic!(
                "{}: the test runs on {}, and {variable} is not set: set it to the URL of a database on the server \
                 (test databases are created beside it), like {}",
                options.test,
                options.backend,
                example_url(options.backend),
            )
        }),
    };
    let mut builder = TestDatabase::builder(&server);
    if let Some(version) = options.to {
        builder = builder.to(version);
    }
    builder.create().await.unwrap_or_else(|error| panic!("{}: cannot create the test database: {error}", options.test))
}

/// Drops the database after a body that returned, failing the test when the drop fails.
async fn drop_after(db: TestDatabase, options: &TestOptions) {
    if let Err(error) = db.drop_now().await {
        panic!("{}: cannot drop the test database: {error}", options.test);
    }
}

fn example_url(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgres://postgres@127.0.0.1:5432/postgres",
        _ => "mysql://root@127.0.0.1:3306/mysql",
    }
}

/// A pool or connection of sqlx's, for one backend.
macro_rules! sqlx_argument {
    ($feature:literal, $backend:ident, $($type:ty => $open:expr),*) => {$(
        #[cfg(feature = $feature)]
        impl TestArgument for $type {
            fn backend() -> Option<Backend> {
                Some(Backend::$backend)
            }

            async fn open(db: &TestDatabase) -> Result<Self, TestDatabaseError> {
                let url = db.url();
                $open(url.expose()).await.map_err(|cause| {
                    TestDatabaseError::Apply(Box::new(crate::Error::Connect { url: url.redacted(), cause }))
                })
            }
        }
    )*};
}

sqlx_argument!("sqlite", Sqlite, sqlx::SqlitePool => sqlx::SqlitePool::connect, sqlx::SqliteConnection => <sqlx::SqliteConnection as sqlx::Connection>::connect);
sqlx_argument!("postgres", Postgres, sqlx::PgPool => sqlx::PgPool::connect, sqlx::PgConnection => <sqlx::PgConnection as sqlx::Connection>::connect);
sqlx_argument!("mysql", MySql, sqlx::MySqlPool => sqlx::MySqlPool::connect, sqlx::MySqlConnection => <sqlx::MySqlConnection as sqlx::Connection>::connect);
