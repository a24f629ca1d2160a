//! Spare copies of a PostgreSQL template, made ahead of time so that a test
//! database is one `ALTER DATABASE … RENAME` away.
//!
//! `CREATE DATABASE … TEMPLATE` copies every file of the template, so its
//! time grows with the schema (about 2.6 s for a thousand migrations on a
//! small machine). A rename takes milliseconds whatever the size. Each test
//! database taken from the spares asks a background thread of this process
//! to make new ones until the template has [`TestDatabaseBuilder::spares`]
//! of them again; that copy runs while the tests run. Spares live on the
//! server under `mrs_spr_<family>_<graph>_…`, so every process testing the
//! same graph shares them, a later run finds them ready, and they are
//! dropped with their template when the graph changes. A rename is atomic:
//! two processes that reach for the same spare cannot both get it.
//!
//! [`TestDatabaseBuilder::spares`]: super::TestDatabaseBuilder::spares

use super::TemplateKey;
use crate::backend::postgres::databases as postgres;
use crate::url::DatabaseUrl;
use sqlx::PgConnection;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// The prefix of every spare of `key`'s graph.
pub(super) fn prefix(key: &TemplateKey) -> String {
    format!("mrs_spr_{}_{}_", key.family, key.graph)
}

/// The prefix of every spare of `key`'s family, whatever its graph.
pub(super) fn family_prefix(key: &TemplateKey) -> String {
    format!("mrs_spr_{}_", key.family)
}

/// Whether `name` is a spare of `key`'s family made for another graph.
pub(super) fn is_other_graph(name: &str, key: &TemplateKey) -> bool {
    name.strip_prefix(&family_prefix(key))
        .and_then(|rest| rest.get(..key.graph.len()))
        .is_some_and(|graph| graph.bytes().all(|b| b.is_ascii_hexdigit()) && graph != key.graph)
}

/// Renames one spare of `key` to `name`: `Ok(true)` when one was taken,
/// `Ok(false)` when there was none left to take.
pub(super) async fn take(admin: &mut PgConnection, key: &TemplateKey, name: &str) -> sqlx::Result<bool> {
    // Another process may take the one chosen first: try the others.
    for _ in 0..4 {
        let spares = postgres::named_like(admin, &prefix(key)).await?;
        if spares.is_empty() {
            return Ok(false);
        }
        // Processes start at different spares, so they rarely reach for the same one.
        let start = (std::process::id() as usize).wrapping_add(next_number() as usize) % spares.len();
        for spare in spares.iter().cycle().skip(start).take(spares.len()) {
            if postgres::take(admin, spare, name).await? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Asks the background thread to bring `key`'s spares up to `wanted`.
/// Returns at once; nothing is made when `wanted` is 0.
pub(super) fn refill(server: &DatabaseUrl, key: &TemplateKey, wanted: usize) {
    if wanted == 0 {
        return;
    }
    let request = Refill { server: server.clone(), key: key.clone(), wanted };
    let _ = refiller().send(request);
}

/// A request to the background thread.
struct Refill {
    server: DatabaseUrl,
    key: TemplateKey,
    wanted: usize,
}

/// The sending end of the background thread's queue, started on first use.
fn refiller() -> &'static mpsc::Sender<Refill> {
    static SENDER: OnceLock<mpsc::Sender<Refill>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Refill>();
        // A thread and runtime of its own: a test's runtime ends with the test.
        let _ = std::thread::Builder::new().name("migrations-rs-spares".to_owned()).spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            while let Ok(first) = receiver.recv() {
                // Requests queued meanwhile for the same template are one.
                let mut pending = vec![first];
                while let Ok(next) = receiver.try_recv() {
                    match pending.iter_mut().find(|r| r.key.template_name() == next.key.template_name()) {
                        Some(same) => same.wanted = same.wanted.max(next.wanted),
                        None => pending.push(next),
                    }
                }
                for request in &pending {
                    if let Err(error) = runtime.block_on(top_up(request)) {
                        tracing::debug!(template = %request.key.template_name(), %error, "making spare test databases failed");
                    }
                }
            }
        });
        sender
    })
}

/// Copies the template until it has `wanted` spares.
async fn top_up(request: &Refill) -> sqlx::Result<()> {
    let mut admin = postgres::admin(&request.server).await?;
    let result = async {
        let have = postgres::named_like(&mut admin, &prefix(&request.key)).await?.len();
        for _ in have..request.wanted {
            let name = format!("{}{}_{}", prefix(&request.key), std::process::id(), next_number());
            postgres::copy(&mut admin, &request.key.template_name(), &name).await?;
        }
        Ok(())
    }
    .await;
    let _ = sqlx::Connection::close(admin).await;
    result
}

/// A number no other spare of this process has.
fn next_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;

    fn key(graph: &str) -> TemplateKey {
        TemplateKey { backend: Backend::Postgres, family: "0123abcd".to_owned(), graph: graph.to_owned() }
    }

    #[test]
    fn spares_of_another_graph_are_told_apart() {
        let current = key("00112233445566ff");
        let spare = format!("{}{}_{}", prefix(&current), 4242, 7);
        assert!(spare.len() <= 63, "PostgreSQL names are at most 63 bytes: {spare}");
        assert!(!is_other_graph(&spare, &current));
        assert!(is_other_graph(&spare, &key("ffeeddccbbaa9988")));
        // Another family, or not a spare at all.
        assert!(!is_other_graph("mrs_spr_99999999_00112233445566ff_1_1", &key("ffeeddccbbaa9988")));
        assert!(!is_other_graph("mrs_tpl_0123abcd_00112233445566ff", &key("ffeeddccbbaa9988")));
        assert!(!is_other_graph("mrs_spr_0123abcd_short", &current));
    }
}
