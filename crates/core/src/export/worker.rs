//! The batching export worker: one thread per tracer that drains a lock-free queue of
//! finished batches, converts them to [`SpanData`] in chunks of `max_export_batch_size`, and
//! hands each chunk to an exporter handle with retries: its own, or one of the sender threads
//! that run up to `max_concurrent_exports` exports at once ([`lanes`]).
//!
//! # Invariants
//! 1. Traced threads only do one atomic add on the span gauge (`export_in_queue`) and a
//!    `push` on a `SegQueue` (lock-free, unbounded capacity). The gauge is the only bound: an
//!    offer that takes it over `max_queue_spans` is refused and counted, never waited for, so a
//!    burst of one-span batches fits as many spans as a burst of full ones.
//! 2. Beginning shutdown adds [`EXPORT_QUEUE_CLOSED`] to the gauge (once, under the control
//!    lock): every later offer overshoots the bound and is refused. An offer that got in before
//!    is already in the gauge, so the final drain runs until the gauge (without the flag) is
//!    zero: no accepted batch is left behind.
//! 3. Each queued span is in exactly one of: the queue (`in_queue`), the worker (`in_flight`:
//!    popped, converted, inside an export call or waiting to retry), or settled (`exported`,
//!    `dropped_failed`). A popped batch joins `in_flight` before it leaves `in_queue`; a chunk
//!    leaves `in_flight` after it is counted settled.
//! 4. Every exporter call (`export`, `flush`, `shutdown`, dropping a handle) runs under
//!    `catch_unwind`, and a panic payload is dropped under `catch_unwind` too: a payload whose
//!    own `Drop` panics cannot unwind the worker (the second payload is leaked). Should the
//!    worker thread end anyway, a guard marks it stopped so no caller waits for it.
//! 5. Shutdown has one deadline, set when it is first asked for (`shutdown()` or dropping the
//!    tracer). Transient failures are retried only while the retry starts before a cutoff
//!    (the deadline less a tenth of the timeout, at most 1 s), so the last attempts end in
//!    time; past the deadline nothing more is attempted and what is still queued is dropped,
//!    counted as failed (by the worker, or by a `shutdown()` that timed out because the worker
//!    is stuck in an export call: the spans in that call stay counted in flight). Each
//!    `shutdown()` call waits at most `shutdown_timeout`. Drops never wait: they ask for the
//!    shutdown and leave the worker to finish on its own thread, so waits never add up and a
//!    traced thread that drops the last handle does not block.
//! 6. `force_flush` and `shutdown` take the control lock and wait on a condition variable;
//!    they are application calls, never on the hot path.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;
use parking_lot::{Condvar, Mutex};

use crate::model::config::BatchConfig;
use crate::model::diagnostics::{DiagnosticKind, RateLimiter};
use crate::model::exporter::{ExportError, SpanExporter};
use crate::model::resource::Resource;
use crate::model::stats::{self, EXPORT_QUEUE_CLOSED, SharedCounters};
use crate::record::batch::{Batch, TraceKey};

use crate::export::drain::run;

#[derive(Default)]
pub(super) struct Control {
    pub(super) flush_requested: u64,
    pub(super) flush_done: u64,
    pub(super) flush_result: Option<ExportError>,
    /// Set when shutdown is first asked for.
    pub(super) shutdown_deadline: Option<Instant>,
    /// The shutdown's outcome, once the worker has stopped.
    pub(super) stopped: Option<Result<(), ExportError>>,
}

/// What the worker's threads and the tracer's handle share.
pub(super) struct Shared {
    pub(super) queue: SegQueue<(TraceKey, Batch)>,
    pub(super) counters: Arc<SharedCounters>,
    pub(super) retain: bool,
    pub(super) config: BatchConfig,
    /// `max_queue_spans`, kept far below [`EXPORT_QUEUE_CLOSED`].
    pub(super) max_queue: u64,
    pub(super) max_queue_bytes: u64,
    /// Queued spans that wake the worker before its next tick: one full export.
    pub(super) wake_at: u64,
    pub(super) control: Mutex<Control>,
    /// The worker waits here for work.
    pub(super) wake: Condvar,
    /// `force_flush` and `shutdown` wait here for the worker.
    pub(super) done: Condvar,
    /// Senders wait here between retries; notified when shutdown begins.
    pub(super) retry: Condvar,
    /// Who the reports are about (the service name), and their rate limit.
    pub(super) subject: String,
    pub(super) reports: RateLimiter,
    /// `export_dropped_queue_full` when the worker last reported it.
    pub(super) reported_queue_full: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Reports a failure of this tracer's export (rate-limited per tracer).
    pub(super) fn report(&self, kind: DiagnosticKind, message: impl FnOnce() -> String) {
        let subject = &self.subject;
        self.reports
            .report(kind, subject, || format!("{subject}: {}", message()));
    }

    /// Reports spans refused by a full queue since the last report (the traced threads only
    /// count them; the worker says so, rate-limited, from its own thread).
    pub(super) fn report_queue_full(&self) {
        let now = self.counters.export_dropped_queue_full.load(Relaxed);
        let before = self.reported_queue_full.load(Relaxed);
        if now > before {
            self.report(DiagnosticKind::SpansDropped, || {
                format!(
                    "export queue full: {} spans dropped (BatchConfig::max_queue_spans = {}, \
                     max_queue_bytes = {}; the destination is slower than the spans arrive)",
                    now - before,
                    self.config.max_queue_spans,
                    self.config.max_queue_bytes
                )
            });
            self.reported_queue_full.store(now, Relaxed);
        }
    }

    pub(super) fn queued(&self) -> u64 {
        stats::export_in_queue(self.counters.export_in_queue.load(Relaxed))
    }

    /// Sleeps `delay` before a retry; `false` (at once) when shutdown has begun and the retry
    /// would start after its cutoff (the shutdown deadline less a tenth of the timeout, at
    /// most 1 s), so that the last attempts end before the deadline.
    pub(super) fn sleep_before_retry(&self, delay: Duration) -> bool {
        let until = deadline_after(delay);
        let margin = (self.config.shutdown_timeout / 10).min(Duration::from_secs(1));
        let mut c = self.control.lock();
        loop {
            if c.shutdown_deadline
                .is_some_and(|d| until >= d.checked_sub(margin).unwrap_or(d))
            {
                return false;
            }
            if Instant::now() >= until {
                return true;
            }
            self.retry.wait_until(&mut c, until);
        }
    }

    /// Whether the shutdown deadline has passed: nothing more is attempted then.
    pub(super) fn past_deadline(&self) -> bool {
        self.control
            .lock()
            .shutdown_deadline
            .is_some_and(|d| Instant::now() >= d)
    }

    /// Counts `n` spans given up on.
    pub(super) fn count_failed(&self, n: u64) {
        stats::add(&self.counters.export_dropped_failed, n);
        if !self.retain {
            stats::add(&self.counters.dropped_export_failed, n);
        }
    }

    /// Past the shutdown deadline: drops what is still queued, counted as failed (each span
    /// before it leaves the queue gauge). Returns how many spans.
    pub(super) fn discard_queued(&self) -> u64 {
        let mut total = 0;
        while let Some((_, batch)) = self.queue.pop() {
            let n = batch.len() as u64;
            self.count_failed(n);
            self.counters
                .export_queue_bytes
                .fetch_sub(batch.approx_bytes(), Relaxed);
            self.counters.export_in_queue.fetch_sub(n, Relaxed);
            total += n;
        }
        total
    }
}

/// `now + d`, saturating far in the future instead of overflowing.
pub(super) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The tracer's handle on its export worker.
pub(crate) struct ExportWorker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ExportWorker {
    pub fn start(
        exporter: Box<dyn SpanExporter>,
        resource: Resource,
        config: BatchConfig,
        counters: Arc<SharedCounters>,
        retain: bool,
    ) -> Self {
        let max_queue = (config.max_queue_spans as u64).min(EXPORT_QUEUE_CLOSED >> 2);
        let max_queue_bytes = config.max_queue_bytes as u64;
        let wake_at = (config.max_export_batch_size as u64)
            .min(max_queue / 2)
            .max(1);
        let shared = Arc::new(Shared {
            queue: SegQueue::new(),
            counters,
            retain,
            config,
            max_queue,
            max_queue_bytes,
            wake_at,
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            retry: Condvar::new(),
            subject: resource.service_name.to_string(),
            reports: RateLimiter::default(),
            reported_queue_full: Default::default(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("reqtrace-export".into())
            .spawn(move || run(s, exporter, resource))
            .ok();
        if thread.is_none() {
            let mut c = shared.control.lock();
            shared.begin_shutdown(&mut c);
            c.stopped = Some(Err(ExportError::permanent(
                "the export thread could not be started",
            )));
        }
        ExportWorker {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// Offers a batch; never blocks. Counts it as dropped when it does not fit.
    pub fn offer(&self, key: TraceKey, batch: Batch) {
        let s = &self.shared;
        let n = batch.len() as u64;
        if n == 0 {
            return;
        }
        let gauge = &s.counters.export_in_queue;
        let bytes = batch.approx_bytes();
        let before = gauge.fetch_add(n, Relaxed);
        let bytes_before = s.counters.export_queue_bytes.fetch_add(bytes, Relaxed);
        if before + n > s.max_queue || bytes_before + bytes > s.max_queue_bytes {
            gauge.fetch_sub(n, Relaxed);
            s.counters.export_queue_bytes.fetch_sub(bytes, Relaxed);
            stats::add(&s.counters.export_dropped_queue_full, n);
            if !s.retain {
                stats::add(&s.counters.dropped_export_queue_full, n);
            }
            return;
        }
        // Counted before the push, so `queued` never trails what the worker settles.
        stats::add(&s.counters.export_queued, n);
        s.queue.push((key, batch));
        if before + n >= s.wake_at {
            s.wake.notify_one();
        }
    }

    /// Exports everything queued, then flushes the exporter; waits at most `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
        let s = &self.shared;
        let deadline = deadline_after(timeout);
        let mut c = s.control.lock();
        if c.shutdown_deadline.is_some() {
            return Err(ExportError::permanent("the export worker is shut down"));
        }
        c.flush_requested += 1;
        let want = c.flush_requested;
        s.wake.notify_one();
        while c.flush_done < want {
            if c.stopped.is_some() {
                return Err(ExportError::permanent("the export worker is shut down"));
            }
            if s.done.wait_until(&mut c, deadline).timed_out() && c.flush_done < want {
                return Err(ExportError::transient("force_flush timed out"));
            }
        }
        match c.flush_result.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Asks the worker to deliver what is queued and stop, without waiting. Later offers are
    /// refused. The first request sets the shutdown deadline.
    pub fn begin_shutdown(&self) {
        let s = &self.shared;
        s.begin_shutdown(&mut s.control.lock());
    }

    /// Exports everything queued, shuts the exporter down and stops the thread; waits at most
    /// the configured `shutdown_timeout`. Returns the last export failure since the previous
    /// flush, or the exporter's own flush or shutdown failure (a panic included); on timeout,
    /// a transient error naming the spans still queued and in flight (they stay counted in
    /// [`crate::ExportStats`] until the worker settles them).
    pub fn shutdown(&self) -> Result<(), ExportError> {
        let s = &self.shared;
        let timeout = s.config.shutdown_timeout;
        let deadline = deadline_after(timeout);
        let mut c = s.control.lock();
        s.begin_shutdown(&mut c);
        while c.stopped.is_none() {
            if s.done.wait_until(&mut c, deadline).timed_out() && c.stopped.is_none() {
                drop(c);
                // The worker is stuck in an export call: what it has not taken yet will not
                // be attempted. What the stuck calls hold stays counted in flight.
                let dropped = s.discard_queued();
                let e = ExportError::transient(format!(
                    "shutdown timed out after {timeout:?}: {dropped} queued spans dropped, {} still in flight",
                    s.counters.export_in_flight.load(Relaxed)
                ));
                s.report(DiagnosticKind::SpansDropped, || e.to_string());
                return Err(e);
            }
        }
        let result = c.stopped.clone().unwrap_or(Ok(()));
        drop(c);
        // The worker has stopped: reap its thread (it is returning), unless this is it.
        if let Some(t) = self.thread.lock().take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
        result
    }
}

impl Shared {
    pub(super) fn begin_shutdown(&self, c: &mut Control) {
        if c.shutdown_deadline.is_none() {
            c.shutdown_deadline = Some(deadline_after(self.config.shutdown_timeout));
            self.counters
                .export_in_queue
                .fetch_add(EXPORT_QUEUE_CLOSED, Relaxed);
            self.wake.notify_one();
            self.retry.notify_all();
        }
    }
}

impl Drop for ExportWorker {
    /// Asks for the shutdown and detaches the worker: it finishes within its deadline on its
    /// own thread. Nothing here waits (see invariant 5).
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}
