//! [`Shutdown`]: the future of [`crate::RequestTracer::shutdown_async`]. The blocking
//! shutdown runs on a thread of its own and the future only waits for its answer, so an
//! async runtime's worker is never blocked and no runtime is needed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::model::exporter::ExportError;

/// The outcome, once the shutdown thread has it, and who waits for it.
#[derive(Default)]
struct Slot {
    result: Option<Result<(), ExportError>>,
    waker: Option<Waker>,
}

/// Resolves to what [`crate::RequestTracer::shutdown`] returns, without blocking the task
/// that awaits it. Dropping it does not cancel the shutdown: it goes on, within its deadline.
#[must_use = "the shutdown runs anyway; await it to know when delivery is done"]
pub struct Shutdown {
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("done", &self.slot.lock().result.is_some())
            .finish()
    }
}

impl Shutdown {
    /// Runs `shutdown` on a new thread; the future resolves to its result.
    pub(crate) fn spawn(
        shutdown: impl FnOnce() -> Result<(), ExportError> + Send + 'static,
    ) -> Self {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let theirs = Arc::clone(&slot);
        let finish = move |result| {
            let waker = {
                let mut s = theirs.lock();
                s.result = Some(result);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        };
        // `shutdown` moves into the thread; if no thread can be started, it runs here
        // (blocking, but still correct).
        let job = std::sync::Arc::new(Mutex::new(Some((shutdown, finish))));
        let job2 = Arc::clone(&job);
        let spawned = std::thread::Builder::new()
            .name("reqtrace-shutdown".into())
            .spawn(move || {
                if let Some((run, finish)) = job2.lock().take() {
                    finish(run());
                }
            });
        if spawned.is_err()
            && let Some((run, finish)) = job.lock().take()
        {
            finish(run());
        }
        Shutdown { slot }
    }
}

impl Future for Shutdown {
    type Output = Result<(), ExportError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        match s.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
