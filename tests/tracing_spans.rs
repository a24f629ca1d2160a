//! Every step runs in a `migration` span naming its version, name and
//! direction, and ends with an event carrying its elapsed time; the library
//! installs no subscriber of its own.
//!
//! Alone in its test binary: it installs the process's subscriber.

#[macro_use]
mod support;

use migrations_rs::prelude::*;
use migrations_rs::{Backend, Migrator, RevertScope, Startup, Version};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::TestDb;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[path = "shared/things.rs"]
mod things;

#[migration(version = 2024_01_02_000000, depends_on = [things::create_things], risk = [data], empty)]
mod refuse_to_revert {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Err(Error::msg("this migration refuses to be reverted"))
    }
}

type Fields = BTreeMap<String, String>;

/// One event as recorded: its fields, and the fields of the spans around it, innermost first.
#[derive(Debug, Clone)]
struct Recorded {
    fields: Fields,
    spans: Vec<(String, Fields)>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

struct SpanFields(Fields);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        ctx.span(id).expect("the span exists").extensions_mut().insert(SpanFields(fields));
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if !event.metadata().target().starts_with("migrations_rs") {
            return;
        }
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span.extensions().get::<SpanFields>().map(|f| f.0.clone()).unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Recorded { fields, spans });
    }
}

#[test]
fn every_step_has_a_span_and_an_event_with_its_elapsed_time() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let db = TestDb::new(Backend::Sqlite).await;
        // Before any subscriber exists, a whole start-up installs none.
        Startup::new(&db.url).run().await.unwrap();
        assert!(!tracing::dispatcher::has_been_set(), "the library installed a subscriber");

        let recorder = Recorder::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone())).unwrap();
        let migrator = Migrator::from_linked().unwrap();
        let mut conn = db.connect().await;
        let messages = |message: &str| -> Vec<Recorded> {
            let events = recorder.0.lock().unwrap();
            events.iter().filter(|e| e.fields.get("message").is_some_and(|m| m == message)).cloned().collect()
        };

        migrator.down(&mut conn, RevertScope::Steps(1)).await.unwrap_err();
        let failed = messages("migration failed");
        assert_eq!(failed.len(), 1, "{failed:#?}");
        let (span, fields) = &failed[0].spans[0];
        assert_eq!(span, "migration");
        assert_eq!((fields["version"].as_str(), fields["name"].as_str()), ("20240102000000", "refuse_to_revert"));
        assert_eq!(fields["direction"], "down");
        assert!(failed[0].fields["elapsed_ms"].parse::<u64>().is_ok(), "{:?}", failed[0].fields);
        assert!(failed[0].fields["error"].contains("refuses to be reverted"), "{:?}", failed[0].fields);

        migrator.mark_reverted(&mut conn, Version::parse("20240102000000").unwrap()).await.unwrap();
        migrator.down(&mut conn, RevertScope::Steps(1)).await.unwrap();
        let reverted = messages("migration reverted");
        assert_eq!(reverted.len(), 1, "{reverted:#?}");
        assert_eq!(reverted[0].spans[0].1["name"], "create_things");
        assert_eq!(reverted[0].spans[0].1["direction"], "down");

        // Applied again at start-up: each step's span sits inside the start-up's.
        Startup::new(&db.url).environment("test").run().await.unwrap();
        let applied = messages("migration applied");
        let names: Vec<&str> = applied.iter().map(|e| e.spans[0].1["name"].as_str()).collect();
        assert_eq!(names, ["create_things", "refuse_to_revert"]);
        for event in &applied {
            assert_eq!(event.spans[0].1["direction"], "up");
            assert!(event.fields["elapsed_ms"].parse::<u64>().is_ok(), "{:?}", event.fields);
            let (outer, outer_fields) = event.spans.last().unwrap();
            assert_eq!((outer.as_str(), outer_fields["environment"].as_str()), ("migrations_rs::startup", "test"));
        }
        let summary = messages("migrations up to date");
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].fields["applied"], "2");
        assert!(summary[0].fields["total_ms"].parse::<u64>().is_ok());
    });
}
