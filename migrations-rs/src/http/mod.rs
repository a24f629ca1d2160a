//! The migration state and operator actions over HTTP, as an axum
//! [`Router`] to mount in a service (feature `http`).
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /health` | the [`Health`](crate::report::Health) report, one statement; 200 when healthy, 503 when not. `?drift=true` adds `drift`, the live schema against the one the migrations produce (as `GET /drift`), which does not change the status code |
//! | `GET /status` | every migration and its state |
//! | `GET /history?limit=&before=&version=&action=&since=` | the audit log, newest first, a page at a time |
//! | `GET /lock` | who holds the migration lock |
//! | `GET /startup` | the report of this process's start-up, when the service gave it |
//! | `GET /drift` | the live schema against the one the applied migrations produce ([`Drift`](crate::check::Drift)), built on a scratch database beside it (or as [`HttpApi::drift_options`] says); 200 either way, `drifted` says which |
//! | `GET /fleet/status` | the state of every target of the fleet given to [`HttpApi::fleet`] ([`FleetReport`](crate::fleet::FleetReport)'s targets and summary, and `up_to_date`), one read per target, no lock; 404 without a fleet |
//! | `POST /up` | apply; body `{"to": "20240115093000"}` optional |
//! | `POST /down` | revert; body `{"steps": 2}`, `{"to": "..."}` or `{"last_batch": true}`, one step by default |
//! | `POST /lock/release` | free the lock of a holder that died |
//!
//! `POST` requests need `Authorization: Bearer <token>` (the scheme in any
//! case) and are refused
//! with 403 unless the service configured a token; a missing or wrong token
//! gets 401. Errors are JSON, `{"error": "...", "code": "...", "remedies": [...]}`
//! (each remedy a `kind`, its data and a `text` naming the route or method
//! that acts on it): 400 for bad
//! parameters, 409 when the lock is held or the database is dirty or
//! otherwise in the way, 500 for a failed migration or a database error
//! (with `applied_before_failure` or, for a revert, `reverted_before_failure`
//! listing the steps the run completed first).
//! Nothing shows the database password.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use migrations_rs::http::HttpApi;
//!
//! let pool = migrations_rs::sqlx::PgPool::connect("postgres://app@db/shop").await?;
//! let api = HttpApi::new(&pool)?.bearer_token(std::env::var("MIGRATIONS_TOKEN")?);
//! let app = axum::Router::new().nest("/migrations", api.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod fleet;
mod handlers;
mod remedy;
mod reply;

use axum::Router;
use axum::routing::{get, post};
use migrations_rs_runtime::{Database, DriftOptions, LockOptions, Migrator, Result, StartupReport};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The axum this API is built with, for mounting it.
pub use axum;
pub use reply::ApiError;

/// How long a `POST` waits for another process's lock before answering 409,
/// unless the migrator given says otherwise.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The HTTP API of one database. Build it, then mount [`HttpApi::router`].
pub struct HttpApi {
    database: Database,
    migrator: Migrator,
    token: Option<BearerToken>,
    startup: Option<StartupReport>,
    drift: DriftOptions,
    fleet: Option<FleetTargets>,
}

/// The targets `GET /fleet/status` reads, and how many at once.
struct FleetTargets {
    targets: migrations_rs_runtime::fleet::Targets,
    parallel: usize,
}

impl fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpApi")
            .field("database", &self.database)
            .field("actions_enabled", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// The token `POST` requests must carry; never shown.
pub(crate) struct BearerToken(String);

/// Parses the query string of `GET /history` as the endpoint does, without a
/// database: `Ok` with the page size, or the 400 answer's status and JSON
/// body. For the fuzz target over query parsing.
#[doc(hidden)]
pub fn check_history_query(query: &str) -> Result<u64, (u16, String)> {
    use axum::extract::Query;
    let uri: axum::http::Uri = match format!("/history?{query}").parse() {
        Ok(uri) => uri,
        // Not a request line any client could send.
        Err(_) => return Err((400, String::new())),
    };
    match handlers::history_query(Query::try_from_uri(&uri)) {
        Ok((limit, _)) => Ok(limit),
        Err(error) => Err((error.status().as_u16(), error.body().to_string())),
    }
}

impl HttpApi {
    /// The API over every migration linked into this program; `POST`s are
    /// refused until a token is set, and wait [`DEFAULT_LOCK_WAIT`] for the lock.
    pub fn new(database: impl Into<Database>) -> Result<Self> {
        let migrator = Migrator::from_linked()?
            .with_lock_options(LockOptions { wait: DEFAULT_LOCK_WAIT, ..LockOptions::default() });
        Ok(HttpApi {
            database: database.into(),
            migrator,
            token: None,
            startup: None,
            drift: DriftOptions::default(),
            fleet: None,
        })
    }

    /// Uses this migrator (registry, tables, lock options) instead.
    pub fn migrator(mut self, migrator: Migrator) -> Self {
        self.migrator = migrator;
        self
    }

    /// Enables `POST` for requests that carry this token. An empty token enables nothing.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.token = (!token.is_empty()).then_some(BearerToken(token));
        self
    }

    /// What this process's start-up did, served at `GET /startup`.
    pub fn startup_report(mut self, report: StartupReport) -> Self {
        self.startup = Some(report);
        self
    }

    /// Where `GET /drift` builds or reads the expected schema (a scratch
    /// database beside the target by default), and the tables it leaves out.
    pub fn drift_options(mut self, options: DriftOptions) -> Self {
        self.drift = options;
        self
    }

    /// Serves `GET /fleet/status` over `targets`, reading `parallel` of
    /// them at once, with the linked migrations and this API's tables.
    pub fn fleet(mut self, targets: migrations_rs_runtime::fleet::Targets, parallel: usize) -> Self {
        self.fleet = Some(FleetTargets { targets, parallel: parallel.max(1) });
        self
    }

    /// The axum router: `GET /health`, `/status`, `/history`, `/lock`,
    /// `/startup`, `/drift` and `/fleet/status`, and `POST /up`, `/down` and `/lock/release`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/health", get(handlers::health))
            .route("/status", get(handlers::status))
            .route("/history", get(handlers::history))
            .route("/lock", get(handlers::lock_status))
            .route("/startup", get(handlers::startup))
            .route("/drift", get(handlers::drift))
            .route("/fleet/status", get(fleet::fleet_status))
            .route("/up", post(handlers::up))
            .route("/down", post(handlers::down))
            .route("/lock/release", post(handlers::release_lock))
            .fallback(handlers::not_found)
            .with_state(Arc::new(self))
    }
}
