//! The batching export worker: one thread per tracer that drains a bounded lock-free queue of
//! finished batches, converts them to [`SpanData`], and calls the [`SpanExporter`] with retries.
//!
//! # Invariants
//! - Traced threads only ever `push` to an `ArrayQueue` (lock-free, bounded) and read an
//!   atomic gauge; when the queue or the span bound (`max_queue_spans`) is full the batch is
//!   dropped and counted, never waited for.
//! - Every span pushed is counted once by the worker: exported, or dropped as failed.
//! - A panic inside `SpanExporter::export`, `flush` or `shutdown` is caught: the batch counts as
//!   failed and the worker keeps running.
//! - `force_flush` and `shutdown` take a lock and wait on a condition variable; they are called
//!   from the application, never from the hot path. `shutdown` waits at most
//!   `shutdown_timeout`, even if the destination stalls forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use parking_lot::{Condvar, Mutex};

use crate::batch::{Batch, TraceKey};
use crate::config::BatchConfig;
use crate::data::SpanData;
use crate::export::{ExportError, Resource, SpanExporter};
use crate::stats::{self, SharedCounters};

#[derive(Default)]
struct Control {
    flush_requested: u64,
    flush_done: u64,
    flush_result: Option<ExportError>,
    shutdown: bool,
}

struct Shared {
    queue: ArrayQueue<(TraceKey, Batch)>,
    counters: Arc<SharedCounters>,
    retain: bool,
    config: BatchConfig,
    control: Mutex<Control>,
    /// Set (under `control`'s lock, before `done` is notified) once the worker has stopped;
    /// traced threads read it without taking the lock.
    closed: AtomicBool,
    wake: Condvar,
    done: Condvar,
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
        let batches = (config.max_queue_spans / 8).clamp(16, 65_536);
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(batches),
            counters,
            retain,
            config,
            control: Mutex::new(Control::default()),
            closed: AtomicBool::new(false),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("reqtrace-export".into())
            .spawn(move || run(&s, exporter, &resource))
            .ok();
        if thread.is_none() {
            let _c = shared.control.lock();
            shared.closed.store(true, Ordering::Release);
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
        let max = s.config.max_queue_spans as u64;
        let before = s.counters.export_in_queue.fetch_add(n, Ordering::Relaxed);
        let closed = s.closed.load(Ordering::Acquire);
        if before + n > max || closed || s.queue.push((key, batch)).is_err() {
            s.counters.export_in_queue.fetch_sub(n, Ordering::Relaxed);
            stats::add(&s.counters.export_dropped_queue_full, n);
            if !s.retain {
                stats::add(&s.counters.dropped_export_queue_full, n);
            }
            return;
        }
        stats::add(&s.counters.export_queued, n);
        if before + n > max / 2 {
            s.wake.notify_one();
        }
    }

    /// Exports everything queued, then flushes the exporter; waits at most `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
        let s = &self.shared;
        let deadline = Instant::now() + timeout;
        let mut c = s.control.lock();
        if s.closed.load(Ordering::Acquire) {
            return Err(ExportError::permanent("export worker has shut down"));
        }
        c.flush_requested += 1;
        let want = c.flush_requested;
        s.wake.notify_one();
        while c.flush_done < want && !s.closed.load(Ordering::Acquire) {
            if s.done.wait_until(&mut c, deadline).timed_out() {
                return Err(ExportError::transient("force_flush timed out"));
            }
        }
        match c.flush_result.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Exports everything queued, shuts the exporter down and stops the thread; waits at most
    /// the configured `shutdown_timeout`.
    pub fn shutdown(&self) -> Result<(), ExportError> {
        let s = &self.shared;
        let deadline = Instant::now() + s.config.shutdown_timeout;
        {
            let mut c = s.control.lock();
            c.shutdown = true;
            s.wake.notify_one();
            while !s.closed.load(Ordering::Acquire) {
                if s.done.wait_until(&mut c, deadline).timed_out() {
                    return Err(ExportError::transient("shutdown timed out"));
                }
            }
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for ExportWorker {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn run(s: &Shared, mut exporter: Box<dyn SpanExporter>, resource: &Resource) {
    let mut pending: Vec<SpanData> = Vec::new();
    // The last export failure since the previous flush: a flush reports it, so a failure is
    // never hidden by the timing of the flush request.
    let mut last_error: Option<ExportError> = None;
    loop {
        let (flush_want, flush_due, shutdown) = {
            let mut c = s.control.lock();
            if c.flush_requested == c.flush_done && !c.shutdown && s.queue.is_empty() {
                let _ = s.wake.wait_for(&mut c, s.config.flush_interval);
            }
            (
                c.flush_requested,
                c.flush_requested > c.flush_done,
                c.shutdown,
            )
        };
        // Drain and export until the queue is empty.
        loop {
            let mut drained = 0;
            while pending.len() < s.config.max_export_batch_size {
                let Some((key, mut batch)) = s.queue.pop() else {
                    break;
                };
                let n = batch.len() as u64;
                s.counters.export_in_queue.fetch_sub(n, Ordering::Relaxed);
                batch.convert_into(key, &mut pending);
                drained += 1;
            }
            if pending.is_empty() {
                break;
            }
            if let Err(e) = export_with_retry(s, exporter.as_mut(), &pending, resource, shutdown) {
                last_error = Some(e);
            }
            pending.clear();
            if drained == 0 {
                break;
            }
        }
        let flush_result = if flush_due || shutdown {
            guarded(|| exporter.flush()).err()
        } else {
            None
        };
        if shutdown {
            let r = guarded(|| exporter.shutdown()).err();
            let mut c = s.control.lock();
            c.flush_done = c.flush_requested;
            c.flush_result = last_error.take().or(flush_result).or(r);
            s.closed.store(true, Ordering::Release);
            s.done.notify_all();
            return;
        }
        let mut c = s.control.lock();
        if flush_want > c.flush_done {
            c.flush_done = flush_want;
            c.flush_result = last_error.take().or(flush_result);
            s.done.notify_all();
        }
    }
}

/// Runs an exporter call, turning a panic into a permanent error.
fn guarded(f: impl FnOnce() -> Result<(), ExportError>) -> Result<(), ExportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ExportError::permanent("exporter panicked")))
}

fn export_with_retry(
    s: &Shared,
    exporter: &mut dyn SpanExporter,
    spans: &[SpanData],
    resource: &Resource,
    shutting_down: bool,
) -> Result<(), ExportError> {
    let c = &s.counters;
    let n = spans.len() as u64;
    let mut backoff = s.config.initial_backoff;
    let mut attempt = 0;
    loop {
        // A panicking exporter must not take the worker (and the accounting) down with it:
        // the batch counts as failed and the worker carries on.
        match guarded(|| exporter.export(spans, resource)) {
            Ok(()) => {
                stats::add(&c.exported, n);
                if !s.retain {
                    stats::add(&c.delivered, n);
                }
                return Ok(());
            }
            Err(e @ ExportError::Transient { .. })
                if attempt < s.config.max_retries && !shutting_down =>
            {
                attempt += 1;
                stats::add(&c.export_retries, 1);
                let hint = match &e {
                    ExportError::Transient {
                        retry_after_ms: Some(ms),
                        ..
                    } => Duration::from_millis(*ms),
                    _ => backoff,
                };
                std::thread::sleep(hint.min(s.config.max_backoff));
                backoff = (backoff * 2).min(s.config.max_backoff);
            }
            Err(e) => {
                stats::add(&c.export_failed_batches, 1);
                stats::add(&c.export_dropped_failed, n);
                if !s.retain {
                    stats::add(&c.dropped_export_failed, n);
                }
                return Err(e);
            }
        }
    }
}
