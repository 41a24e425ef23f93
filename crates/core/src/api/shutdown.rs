//! Ending a tracer's export: [`RequestTracer::force_flush`], [`RequestTracer::shutdown`] and
//! [`RequestTracer::shutdown_async`], whose [`Shutdown`] future waits for a shutdown run on a
//! thread of its own, so an async runtime's worker is never blocked and no runtime is needed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use std::time::Duration;

use crate::api::tracer::RequestTracer;
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

impl RequestTracer {
    /// Delivers everything queued for the exporter and flushes it; waits at most `timeout`.
    /// Returns the last export failure since the previous flush, if any (dropped spans are
    /// also counted in [`crate::Stats::export`]).
    /// Spans still in a thread's batch (a trace that has not ended and whose batch is neither
    /// full nor older than the flush interval) are not reached.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
        match &self.inner.exporter {
            Some(w) => w.force_flush(timeout),
            None => Ok(()),
        }
    }

    /// Delivers everything queued (retrying transient failures while the retry fits before the
    /// deadline), shuts the exporter down and stops its thread; waits at most the configured
    /// `shutdown_timeout`, once: dropping the tracer afterwards does not wait again. Batches
    /// offered after shutdown began are counted as dropped. Returns the last export failure
    /// since the previous flush, or the exporter's own flush or shutdown failure (a panic
    /// included); on timeout, a transient error, with the spans not yet settled still counted
    /// in [`crate::ExportStats::in_queue`] and [`crate::ExportStats::in_flight`].
    pub fn shutdown(&self) -> Result<(), ExportError> {
        match &self.inner.exporter {
            Some(w) => w.shutdown(),
            None => Ok(()),
        }
    }

    /// [`RequestTracer::shutdown`] for async code: the same delivery and the same deadline,
    /// run on a thread of its own, so awaiting it never blocks the runtime's worker (no
    /// `spawn_blocking` needed, and no particular runtime).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tracer = reqtrace_core::RequestTracer::new("api");
    /// // ... serve until a signal; then deliver what is queued:
    /// tracer.shutdown_async().await.unwrap();
    /// # }
    /// ```
    pub fn shutdown_async(&self) -> Shutdown {
        let tracer = self.clone();
        Shutdown::spawn(move || tracer.shutdown())
    }
}
