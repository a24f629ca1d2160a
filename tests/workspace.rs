//! Several crates, one graph: the fixture workspace under tests/workspace/ —
//! a binary `app`, a library `billing` it calls, and a library `audit` it
//! keeps linked with `use audit as _;` only — is built once, then its command
//! line is run against every backend.

#[macro_use]
mod support;

use migrations_rs::Backend;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use support::TestDb;

/// Builds the fixture's binaries once per test run, into the suite's own
/// target folder, and checks that the build compiled none of the
/// dependencies the suite had already compiled. Returns their folder.
fn fixture_binaries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("tests/workspace");
        let compiled = support::nested_build(support::nested_cargo(&workspace, "build").arg("--bins")).recompiled;
        assert!(
            compiled.is_empty(),
            "the fixture workspace compiled dependencies the test suite had already compiled, with other \
             features: {compiled:?}. Add the dependency or feature that asks for them to \
             tests/workspace/suite-features/Cargo.toml"
        );
        support::nested_target().join("debug")
    })
}

fn run(program: &str, db: &TestDb, args: &[&str]) -> Output {
    Command::new(fixture_binaries().join(format!("{program}{}", std::env::consts::EXE_SUFFIX)))
        .args(args)
        .args(["--database-url", db.url.expose()])
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the fixture")
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// `(module, name)` of every migration in a `status --json`, with the applied ones marked.
fn migrations(status: &serde_json::Value) -> Vec<(String, String, bool)> {
    status["status"]["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["module"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
                m["state"]["state"] == "applied",
            )
        })
        .collect()
}

fn applied(db_status: &serde_json::Value) -> BTreeSet<String> {
    migrations(db_status).into_iter().filter(|m| m.2).map(|m| m.1).collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

on_every_backend!(
    every_crate_is_registered_and_status_groups_by_module,
    up_module_applies_what_it_depends_on_and_nothing_else
);

async fn every_crate_is_registered_and_status_groups_by_module(backend: Backend) {
    let db = TestDb::new(backend).await;
    let status = run("app", &db, &["status", "--json"]);
    assert_eq!(status.status.code(), Some(3), "all pending");
    let all: Vec<(String, String)> = migrations(&json(&status)).into_iter().map(|m| (m.0, m.1)).collect();
    let expected = [
        ("billing", "create_customers"),
        ("billing", "create_invoices"),
        ("audit", "create_audit_events"),
        ("audit", "index_audit_events"),
        ("app", "create_sessions"),
        ("app", "audit_sessions"),
    ];
    assert_eq!(all, expected.map(|(m, n)| (m.to_owned(), n.to_owned())), "every crate's migrations, in graph order");

    let text = String::from_utf8_lossy(&run("app", &db, &["status"]).stdout).into_owned();
    for heading in [
        "module billing: 0 applied, 2 pending",
        "module audit: 0 applied, 2 pending",
        "module app: 0 applied, 2 pending",
    ] {
        assert!(text.contains(heading), "{text}");
    }
    assert!(text.contains("3 modules, 0 applied, 6 pending: not up to date"), "{text}");
    let audit_heading = text.find("module audit").unwrap();
    let audit_table =
        &text[audit_heading..text[audit_heading..].find("module app").map_or(text.len(), |i| audit_heading + i)];
    assert!(audit_table.contains("create_audit_events") && !audit_table.contains("create_invoices"), "{audit_table}");

    let audit = json(&run("app", &db, &["status", "--json", "--module", "audit"]));
    let modules: BTreeSet<String> = migrations(&audit).into_iter().map(|m| m.0).collect();
    assert_eq!(modules, names(&["audit"]));
    assert_eq!(migrations(&audit).len(), 2);
    let module_text = String::from_utf8_lossy(&run("app", &db, &["status", "--module", "billing"]).stdout).into_owned();
    assert!(module_text.contains("create_invoices") && !module_text.contains("create_sessions"), "{module_text}");
}

async fn up_module_applies_what_it_depends_on_and_nothing_else(backend: Backend) {
    let db = TestDb::new(backend).await;
    let plan = json(&ok(run("app", &db, &["plan", "--module", "audit", "--json"])));
    let reasons: Vec<(&str, &str)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("create_customers", "pending; module audit depends on it"),
            ("create_audit_events", "pending; in module audit"),
            ("index_audit_events", "pending; in module audit")
        ]
    );

    ok(run("app", &db, &["up", "--module", "audit"]));
    let status = json(&run("app", &db, &["status", "--json"]));
    assert_eq!(applied(&status), names(&["create_customers", "create_audit_events", "index_audit_events"]));
    let mut inspect = db.inspect().await;
    assert!(inspect.table_exists("audit_events").await && inspect.table_exists("customers").await);
    assert!(!inspect.table_exists("invoices").await && !inspect.table_exists("sessions").await);

    let output = ok(run("app", &db, &["up", "--module", "app"]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("2 migration(s) applied"), "{text}");
    let status = json(&run("app", &db, &["status", "--json"]));
    assert_eq!(
        applied(&status),
        names(&["create_customers", "create_audit_events", "index_audit_events", "create_sessions", "audit_sessions"])
    );
    assert!(!inspect.table_exists("invoices").await, "billing's other migration is not app's dependency");

    let unknown = run("app", &db, &["up", "--module", "shipping"]);
    assert_eq!(unknown.status.code(), Some(1));
    let error = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        error.contains("no migration belongs to module `shipping`; the modules are: app, audit, billing"),
        "{error}"
    );

    let rest = ok(run("app", &db, &["up", "--module", "billing"]));
    assert!(String::from_utf8_lossy(&rest.stdout).contains("1 migration(s) applied"));
    assert_eq!(run("app", &db, &["status"]).status.code(), Some(0), "up to date");
}

/// Without `use audit as _;` the linker drops audit, and its migrations with it:
/// the app's migration that depends on audit's by version finds nothing.
#[tokio::test]
async fn without_the_keep_line_the_unreferenced_crate_is_dropped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let output = run("app-without-keep-line", &db, &["status", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error: serde_json::Value =
        serde_json::from_str(&stderr[stderr.find('{').unwrap_or(0)..]).expect("a JSON error");
    let error = error["message"].as_str().unwrap();
    assert!(
        error.contains("20240106000000 audit_sessions")
            && error.contains("depends on version 20240103000000, which no migration has"),
        "{error}"
    );
    assert!(error.contains("keep it with `use that_crate as _;`"), "{error}");
    // The same program with the line registers audit's migrations.
    let linked = json(&run("app", &db, &["status", "--json"]));
    assert!(migrations(&linked).iter().any(|m| m.0 == "audit"));
}
