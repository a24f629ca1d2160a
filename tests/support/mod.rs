//! Helpers shared by the integration tests.
#![allow(dead_code)]

use migrations_rs::{Connection, DatabaseUrl};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A fresh SQLite file in its own temporary directory, removed on drop.
pub struct TempSqlite {
    pub dir: tempfile::TempDir,
    pub url: DatabaseUrl,
}

impl TempSqlite {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("test.db");
        let url = DatabaseUrl::parse(&format!("sqlite://{}?mode=rwc", path.display())).expect("valid URL");
        TempSqlite { dir, url }
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.url).await.expect("connect to the test database")
    }

    /// A plain sqlx connection for looking at the database from outside.
    pub async fn inspect(&self) -> migrations_rs::sqlx::SqliteConnection {
        use migrations_rs::sqlx::Connection as _;
        migrations_rs::sqlx::SqliteConnection::connect(self.url.expose()).await.expect("connect for inspection")
    }
}

/// Counts the statements sqlx sends while it is the current tracing subscriber.
#[derive(Clone, Default)]
pub struct QueryCounter(Arc<AtomicUsize>);

impl QueryCounter {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Subscriber for QueryCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
