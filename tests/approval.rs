//! Approval of a plan bound to what runs: the approver is asked under the
//! lock about every step, a refusal changes nothing, and a plan that changed
//! while it was being approved is asked about again, on every backend.

#[macro_use]
mod support;

use migrations_rs::{Backend, Error, Migrator, RevertScope, Scope, Version};
use std::sync::{Arc, Mutex};
use support::{Inspect, TestDb};

#[path = "shared/items.rs"]
mod items;

on_every_backend!(
    the_approver_is_asked_under_the_lock_about_every_step,
    a_refused_plan_changes_nothing,
    a_plan_that_changed_while_it_was_approved_is_asked_about_again,
);

fn version(text: &str) -> Version {
    Version::parse(text).unwrap()
}

/// What each call of the approver saw: the action, the versions, and whether the lock was held.
type Seen = Arc<Mutex<Vec<(String, Vec<Version>, bool)>>>;

async fn the_approver_is_asked_under_the_lock_about_every_step(backend: Backend) {
    let db = TestDb::new(backend).await;
    let seen = Seen::default();
    let migrator = Migrator::from_linked().unwrap().approve_plans_with({
        let (seen, url) = (seen.clone(), db.url.clone());
        move |plan| {
            let action = plan.preview.action.to_owned();
            let versions: Vec<Version> = plan.preview.steps.iter().map(|s| s.version).collect();
            assert_eq!(plan.analyses.len(), versions.len(), "one analysis per step");
            let (seen, url) = (seen.clone(), url.clone());
            Box::pin(async move {
                let mut outside = migrations_rs::Connection::connect(&url).await?;
                let held = Migrator::from_linked()?.lock_status(&mut outside).await?.held;
                seen.lock().unwrap().push((action, versions, held));
                Ok(())
            })
        }
    });
    let mut conn = db.connect().await;
    let applied = migrator.up(&mut conn, Scope::All).await.unwrap();
    assert_eq!(applied.applied.len(), 3);
    migrator.down(&mut conn, RevertScope::Steps(2)).await.unwrap();
    migrator.redo(&mut conn, 1).await.unwrap();
    let all = [version("20240101000000"), version("20240102000000"), version("20240103000000")];
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("apply".to_owned(), all.to_vec(), true),
            ("revert".to_owned(), vec![all[2], all[1]], true),
            ("redo".to_owned(), vec![all[0]], true),
        ],
        "asked once per run, under the lock, about every step"
    );
}

async fn a_refused_plan_changes_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let migrator = Migrator::from_linked()
        .unwrap()
        .approve_plans_with(|_| Box::pin(async { Err(Error::msg("not confirmed; nothing changed")) }));
    let mut conn = db.connect().await;
    let error = migrator.up(&mut conn, Scope::All).await.unwrap_err();
    assert!(error.to_string().contains("not confirmed"), "{error}");
    let mut inspect = db.inspect().await;
    assert!(!inspect.table_exists("items").await);
    assert!(!inspect.table_exists("migrations_rs_history").await, "not even the bookkeeping tables");
    assert!(!migrator.lock_status(&mut conn).await.unwrap().held, "the lock was released");
}

/// The operator is asked to revert `fill_items`; meanwhile another deploy
/// applies `create_notes`. The answer must not revert what it never named.
async fn a_plan_that_changed_while_it_was_approved_is_asked_about_again(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut conn = db.connect().await;
    Migrator::from_linked().unwrap().up(&mut conn, Scope::UpTo(version("20240102000000"))).await.unwrap();
    let checksum =
        Migrator::from_linked().unwrap().registry().get(version("20240103000000")).unwrap().checksum.to_hex();
    let other_deploy: Arc<tokio::sync::Mutex<Option<Inspect>>> =
        Arc::new(tokio::sync::Mutex::new(Some(db.inspect().await)));
    let seen = Seen::default();
    let migrator = Migrator::from_linked().unwrap().approve_plans_with({
        let seen = seen.clone();
        move |plan| {
            let versions: Vec<Version> = plan.preview.steps.iter().map(|s| s.version).collect();
            seen.lock().unwrap().push((plan.preview.action.to_owned(), versions, true));
            let (other_deploy, checksum) = (other_deploy.clone(), checksum.clone());
            Box::pin(async move {
                if let Some(mut deploy) = other_deploy.lock().await.take() {
                    deploy.execute("CREATE TABLE notes (body VARCHAR(200) NOT NULL)").await;
                    deploy
                        .execute(&format!(
                            "INSERT INTO migrations_rs_history (version, name, module, module_version, checksum, \
                             risk, applied_at, applied_by, execution_ms, batch, seq, state) \
                             SELECT 20240103000000, 'create_notes', module, module_version, '{checksum}', \
                             'schema,data', applied_at, 'another deploy', 1, batch + 1, seq + 1, 'applied' \
                             FROM migrations_rs_history WHERE version = 20240102000000"
                        ))
                        .await;
                }
                Ok(())
            })
        }
    });
    let reverted = migrator.down(&mut conn, RevertScope::Steps(1)).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("revert".to_owned(), vec![version("20240102000000")], true),
            ("revert".to_owned(), vec![version("20240103000000")], true),
        ],
        "asked again about the new plan"
    );
    let reverted: Vec<Version> = reverted.reverted.iter().map(|s| s.version).collect();
    assert_eq!(reverted, [version("20240103000000")], "only what the last answer named ran");
    let mut inspect = db.inspect().await;
    assert_eq!(inspect.scalar("SELECT count(*) FROM items").await, 1, "fill_items was not reverted");
    assert!(!inspect.table_exists("notes").await);
}
