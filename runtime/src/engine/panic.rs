//! A panic in a migration body, caught and turned into an [`Error::Panicked`]
//! naming its message and where it happened, so it fails the step like any
//! other error: rolled back where it can be, written to the audit log, and
//! reported with the migration's name.

use crate::error::{Error, Result};
use futures_util::FutureExt;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    /// Whether this thread is polling a migration body right now.
    static IN_BODY: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of a body on this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `body`; a panic inside it becomes [`Error::Panicked`].
pub(crate) async fn catch(body: impl Future<Output = Result<()>>) -> Result<()> {
    install_hook();
    match AssertUnwindSafe(InBody(Box::pin(body))).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            let location = LOCATION.with(|l| l.borrow_mut().take()).unwrap_or_else(|| "an unknown place".to_owned());
            Err(Error::Panicked { message, location })
        }
    }
}

/// Marks the thread as inside a body while the body is polled.
struct InBody<F>(Pin<Box<F>>);

impl<F: Future> Future for InBody<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let outer = IN_BODY.with(|flag| flag.replace(true));
        let _restore = Restore(outer);
        self.0.as_mut().poll(cx)
    }
}

/// Puts the flag back when the poll returns or unwinds.
struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        IN_BODY.with(|flag| flag.set(self.0));
    }
}

/// Chains a hook in front of the existing one: a panic inside a body has its
/// location kept for the error and is not printed (the run reports it);
/// any other panic goes to the previous hook as before.
fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if IN_BODY.with(Cell::get) {
                let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|l| *l.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}
