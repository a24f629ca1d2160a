//! `drift` on every backend: nothing on a freshly migrated database; eleven
//! kinds of change made by hand, each found; the schema recorded with
//! `--write` and compared against later; `up --refuse-drift` (and
//! `refuse_drift = true` in the environment) refusing to run on a drifted
//! schema; `GET /drift` of the HTTP API.

#[macro_use]
mod support;
#[path = "support/standalone.rs"]
mod standalone;

use migrations_rs::Backend;
use serde_json::Value;
use standalone::Folder;
use support::TestDb;

on_every_backend!(
    a_freshly_migrated_database_has_no_drift,
    every_kind_of_manual_change_is_found,
    the_written_schema_file_is_compared_against,
    up_refuses_to_run_on_a_drifted_schema,
    the_http_api_serves_drift_alone_and_in_health,
);

/// A schema with something of every kind the changes below touch.
fn migrations(backend: Backend) -> Folder {
    let drop_index = match backend {
        Backend::MySql => "DROP INDEX items_by_name ON items;",
        _ => "DROP INDEX items_by_name;",
    };
    Folder::new(&[
        (
            "V20240101000000__items.sql",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INTEGER DEFAULT 0, note VARCHAR(100));
             CREATE TABLE kinds (id INTEGER PRIMARY KEY, label VARCHAR(20));
             CREATE TABLE scratchpad (id INTEGER PRIMARY KEY);",
        ),
        ("V20240101000000__items.down.sql", "DROP TABLE scratchpad; DROP TABLE kinds; DROP TABLE items;"),
        (
            "V20240102000000__index_and_view.sql",
            "CREATE INDEX items_by_name ON items (name); CREATE VIEW items_view AS SELECT id, name FROM items;",
        ),
        ("V20240102000000__index_and_view.down.sql", &format!("DROP VIEW items_view; {drop_index}")),
    ])
}

/// A migration that is still pending after the first two.
fn pending(folder: &Folder) {
    folder.write("V20240103000000__later.sql", "CREATE TABLE later (id INTEGER PRIMARY KEY);");
    folder.write("V20240103000000__later.down.sql", "DROP TABLE later;");
}

fn json(ran: &standalone::Ran) -> Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", ran.all()))
}

/// Each manual change, and a word its difference must hold.
fn manual_changes(backend: Backend) -> Vec<(String, &'static str)> {
    let drop_index = match backend {
        Backend::MySql => "DROP INDEX items_by_name ON items",
        _ => "DROP INDEX items_by_name",
    };
    let retype = match backend {
        Backend::Postgres => "ALTER TABLE kinds ALTER COLUMN label TYPE TEXT",
        Backend::MySql => "ALTER TABLE kinds MODIFY label TEXT",
        Backend::Sqlite => "DROP TABLE kinds; CREATE TABLE kinds (id INTEGER PRIMARY KEY, label TEXT)",
    };
    let trigger = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER manual_trg AFTER INSERT ON items BEGIN UPDATE items SET quantity = 1 WHERE id = NEW.id; END"
        }
        Backend::MySql => "CREATE TRIGGER manual_trg BEFORE INSERT ON items FOR EACH ROW SET NEW.quantity = 1",
        Backend::Postgres => {
            "CREATE FUNCTION manual_fn() RETURNS trigger AS $$ BEGIN NEW.quantity := 1; RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER manual_trg BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION manual_fn()"
        }
    };
    vec![
        ("DROP VIEW items_view".to_owned(), "view items_view is missing"),
        ("ALTER TABLE items ADD COLUMN extra INTEGER".to_owned(), "column items.extra is new"),
        ("ALTER TABLE items DROP COLUMN note".to_owned(), "column items.note is missing"),
        ("ALTER TABLE items RENAME COLUMN qty TO quantity".to_owned(), "column items.quantity is new"),
        (retype.to_owned(), "column kinds.label: type"),
        ("CREATE INDEX manual_ix ON items (quantity)".to_owned(), "index manual_ix"),
        (drop_index.to_owned(), "index items_by_name"),
        ("CREATE TABLE manual_table (id INTEGER PRIMARY KEY)".to_owned(), "table manual_table is new"),
        ("DROP TABLE scratchpad".to_owned(), "table scratchpad is missing"),
        ("CREATE VIEW manual_view AS SELECT id FROM items".to_owned(), "view manual_view is new"),
        (trigger.to_owned(), "trigger manual_trg"),
    ]
}

async fn a_freshly_migrated_database_has_no_drift(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = migrations(backend);
    folder.run(&db, &["up"]).ok();
    let ran = folder.run(&db, &["drift", "--json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let drift = json(&ran);
    assert_eq!((drift["drifted"].clone(), drift["applied"].clone()), (false.into(), 2.into()), "{drift:#}");
    assert_eq!(drift["expected_from"], "scratch");
    // With a pending migration, the comparison is at the applied state.
    pending(&folder);
    let text = folder.run(&db, &["drift"]).ok();
    assert!(text.contains("no drift"), "{text}");
}

async fn every_kind_of_manual_change_is_found(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = migrations(backend);
    folder.run(&db, &["up"]).ok();
    let mut inspect = db.inspect().await;
    let changes = manual_changes(backend);
    assert!(changes.len() >= 10);
    for (sql, _) in &changes {
        inspect.execute(sql).await;
    }
    let ran = folder.run(&db, &["drift", "--json"]);
    assert_eq!(ran.code, Some(3), "{}", ran.all());
    let drift = json(&ran);
    assert_eq!(drift["drifted"], true);
    let found = drift["changes"].to_string();
    for (sql, word) in &changes {
        assert!(found.contains(word), "`{sql}` on {backend}: no change names `{word}`:\n{drift:#}");
    }
    let text = folder.run(&db, &["drift"]);
    assert_eq!(text.code, Some(3));
    assert!(text.stdout.contains("drift: the live schema differs"), "{}", text.all());
}

async fn the_written_schema_file_is_compared_against(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = migrations(backend);
    folder.run(&db, &["up"]).ok();
    let written = folder.run(&db, &["drift", "--write", "--json"]);
    assert_eq!(written.code, Some(0), "{}", written.all());
    assert_eq!(json(&written)["written"], true);
    let file = folder.root().join("migrations.schema.json");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(record["backend"], backend.name());
    assert_eq!(record["migrations"].as_array().unwrap().len(), 2, "{record:#}");
    // Later runs read the file, and find what changed since.
    let clean = json(&folder.run(&db, &["drift", "--json"]));
    assert_eq!((clean["expected_from"].clone(), clean["drifted"].clone()), ("file".into(), false.into()));
    db.inspect().await.execute("CREATE TABLE manual_table (id INTEGER PRIMARY KEY)").await;
    let ran = folder.run(&db, &["drift", "--json"]);
    assert_eq!(ran.code, Some(3), "{}", ran.all());
    let drift = json(&ran);
    assert_eq!(drift["expected_from"], "file");
    assert!(drift["changes"].to_string().contains("table manual_table is new"), "{drift:#}");
    // --scratch builds it again.
    let rebuilt = json(&folder.run(&db, &["drift", "--scratch", "--json"]));
    assert_eq!((rebuilt["expected_from"].clone(), rebuilt["drifted"].clone()), ("scratch".into(), true.into()));
    // --exclude-table leaves a table out.
    let excluded = folder.run(&db, &["drift", "--exclude-table", "manual_table"]);
    assert_eq!(excluded.code, Some(0), "{}", excluded.all());
    // A file of another applied state is not used: the schema is built again.
    pending(&folder);
    folder.run(&db, &["up"]).ok();
    let other = json(&folder.run(&db, &["drift", "--json", "--exclude-table", "manual_table"]));
    assert_eq!(other["expected_from"], "scratch", "{other:#}");
    assert!(other["note"].as_str().unwrap().contains("another applied state"), "{other:#}");
    assert_eq!(other["drifted"], false, "{other:#}");
}

async fn up_refuses_to_run_on_a_drifted_schema(backend: Backend) {
    let db = TestDb::new(backend).await;
    let folder = migrations(backend);
    folder.run(&db, &["up"]).ok();
    pending(&folder);
    db.inspect().await.execute("ALTER TABLE items ADD COLUMN extra INTEGER").await;
    let refused = folder.run(&db, &["up", "--refuse-drift"]);
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    assert!(refused.stderr.contains("column items.extra is new"), "{}", refused.all());
    assert!(refused.stderr.contains("help: undo the changes made outside the migrations"), "{}", refused.all());
    assert!(!db.inspect().await.table_exists("later").await);
    // The environment's `refuse_drift = true` does the same.
    std::fs::write(
        folder.root().join("migrations.toml"),
        format!("[environments.strict]\ndatabase_url = \"{}\"\nrefuse_drift = true\n", db.url.expose()),
    )
    .unwrap();
    let mut args: Vec<String> = ["up", "--env", "strict", "--sql-dir"].map(str::to_owned).to_vec();
    args.push(folder.path().display().to_string());
    let refused = standalone::run_in(folder.root(), &args);
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    assert!(refused.stderr.contains("differs from the one the applied migrations produce"), "{}", refused.all());
    // Undone, the run goes ahead.
    db.inspect().await.execute("ALTER TABLE items DROP COLUMN extra").await;
    folder.run(&db, &["up", "--refuse-drift"]).ok();
    assert!(db.inspect().await.table_exists("later").await);
}

async fn the_http_api_serves_drift_alone_and_in_health(backend: Backend) {
    use migrations_rs::http::HttpApi;
    use migrations_rs::{Database, Migrator, registry::Registry};
    let db = TestDb::new(backend).await;
    let folder = migrations(backend);
    folder.run(&db, &["up"]).ok();
    let loaded = migrations_rs_runtime::sql::folder::load(&folder.path()).unwrap();
    let migrator = Migrator::new(Registry::new(loaded.migrations).unwrap());
    let api = HttpApi::new(Database::url(db.url.expose()).unwrap()).unwrap().migrator(migrator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = migrations_rs::http::axum::Router::new().nest("/migrations", api.router());
    tokio::spawn(async move { migrations_rs::http::axum::serve(listener, app).await.unwrap() });
    let get = async || {
        let response = reqwest::get(format!("http://{address}/migrations/drift")).await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let (status, body) = get().await;
    assert_eq!((status, body["drifted"].clone()), (200, false.into()), "{body:#}");
    db.inspect().await.execute("CREATE TABLE manual_table (id INTEGER PRIMARY KEY)").await;
    let (status, body) = get().await;
    assert_eq!((status, body["drifted"].clone()), (200, true.into()), "{body:#}");
    assert!(body["changes"].to_string().contains("table manual_table is new"), "{body:#}");

    // Health carries drift when asked, and stays healthy: drift is a finding, not an outage.
    let health = async |query: &str| {
        let response = reqwest::get(format!("http://{address}/migrations/health{query}")).await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let (status, body) = health("").await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("drift").is_none(), "no drift unless asked: {body:#}");
    let (status, body) = health("?drift=true").await;
    assert_eq!((status, body["healthy"].clone(), body["drift"]["drifted"].clone()), (200, true.into(), true.into()));
    assert!(body["drift"]["changes"].to_string().contains("table manual_table is new"), "{body:#}");
    let (status, body) = health("?drift=maybe").await;
    assert_eq!(status, 400, "{body:#}");
    assert!(body.to_string().contains("drift"), "the error names the parameter: {body:#}");
    db.inspect().await.execute("DROP TABLE manual_table").await;
    let (_, body) = health("?drift=true").await;
    assert_eq!(body["drift"]["drifted"], false, "{body:#}");
}
