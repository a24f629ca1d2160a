//! A web service that migrates its own database when it starts, then serves
//! its health and the migrations HTTP API.
//!
//! ```text
//! cargo run --example service                      # SQLite file service.db, port 3000
//! DATABASE_URL=postgres://postgres@127.0.0.1/shop MIGRATIONS_TOKEN=s3cret cargo run --example service
//! curl localhost:3000/migrations/health
//! curl -X POST -H 'Authorization: Bearer s3cret' localhost:3000/migrations/down
//! ```
//!
//! Settings, from the environment:
//! - `DATABASE_URL`: the database; `sqlite://service.db?mode=rwc` by default.
//! - `BIND`: the address to listen on; `127.0.0.1:3000` by default (`127.0.0.1:0` picks a free port).
//! - `MIGRATIONS_TOKEN`: enables `POST` on the migrations API for requests carrying it.
//! - `APP_ENV`: the environment named in the start-up report and logs.
//! - `MIGRATIONS_LOCK_TIMEOUT`: seconds to wait for another replica's lock; 120 by default.
//! - `MIGRATIONS_CONTINUE_ON_FAILURE=1`: start even if migrating fails (health then says so).
//!
//! Any number of replicas can start at once: one applies what is pending,
//! the others wait for its lock, then find nothing left to do.

use migrations_rs::http::HttpApi;
use migrations_rs::http::axum::{Router, routing::get};
use migrations_rs::prelude::*;
use migrations_rs::{Database, Startup, startup::OnFailure};
use std::process::ExitCode;
use std::time::Duration;

/// People who write notes.
#[migration(version = 2024_05_01_090000, risk = [schema])]
mod create_authors {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("authors")
                .col(ColumnDef::new("id").integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new("name").string_len(100).not_null()),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("authors")).await
    }
}

/// What the service stores.
#[migration(version = 2024_05_02_090000, depends_on = [create_authors], risk = [schema, constraint])]
mod create_notes {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("notes")
                .col(ColumnDef::new("id").integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new("author_id").integer().not_null())
                .col(ColumnDef::new("body").text().not_null())
                .foreign_key(ForeignKey::create().from("notes", "author_id").to("authors", "id")),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("notes")).await
    }
}

/// The first author.
#[migration(version = 2024_05_03_090000, depends_on = [create_authors], risk = [data])]
mod seed_authors {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Query::insert().into_table("authors").columns(["name"]).values_panic(["Ada".into()])).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Query::delete().from_table("authors").and_where(Expr::col("name").eq("Ada"))).await
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://service.db?mode=rwc".to_owned());
    let database = Database::url(&url)?;
    let lock_timeout = match std::env::var("MIGRATIONS_LOCK_TIMEOUT") {
        Ok(seconds) => Duration::from_secs(seconds.parse().map_err(|_| "MIGRATIONS_LOCK_TIMEOUT is whole seconds")?),
        Err(_) => Duration::from_secs(120),
    };
    let on_failure = match std::env::var("MIGRATIONS_CONTINUE_ON_FAILURE").as_deref() {
        Ok("1" | "true") => OnFailure::Continue,
        _ => OnFailure::Fail,
    };
    let mut startup = Startup::new(database.clone()).lock_timeout(lock_timeout).on_failure(on_failure);
    if let Ok(environment) = std::env::var("APP_ENV") {
        startup = startup.environment(environment);
    }
    let report = startup.run().await?;
    println!("startup: {}", serde_json::to_string(&report)?);

    let mut api = HttpApi::new(database)?.startup_report(report);
    if let Ok(token) = std::env::var("MIGRATIONS_TOKEN") {
        api = api.bearer_token(token);
    }
    let app = Router::new().route("/", get(|| async { "notes service\n" })).nest("/migrations", api.router());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await.map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    migrations_rs::http::axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminated = std::future::pending::<()>();
    tokio::select! {
        () = interrupted => {}
        () = terminated => {}
    }
}
