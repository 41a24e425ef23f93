//! Faults of the export destination (issue 7, item 4): it fails, stalls, and comes back.
//!
//! The destination is a test sink whose behaviour the test switches. "Stall" is a gate the
//! sink's `export` blocks on until the test opens it, and the test waits until the export
//! worker is provably blocked there before it traces: so "the traced threads never wait" is
//! shown by their finishing all their work while the worker cannot move, with no timing. The
//! only clock use is a long watchdog that turns a deadlock into a failure instead of a hang,
//! and lower bounds on deliberate waits (`shutdown_timeout`).
//!
//! Memory is checked with the gauges, sampled by another thread while the stall is on:
//! `export.in_queue` against `max_queue_spans` and `spans_queued` against
//! `max_buffered_spans`. A gauge is raised before the bound check and lowered on refusal, so
//! a sample may exceed the bound by at most one batch per concurrently handing-over thread;
//! once the threads are done the bound holds exactly.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqtrace_core::{
    BatchConfig, ExportError, Limits, RequestTracer, Resource, SpanData, SpanExporter, Stats,
};

/// Long enough that only a deadlock reaches it.
const WATCHDOG: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Accept,
    FailTransient,
    FailPermanent,
    /// Block in `export` until the behaviour changes.
    Stall,
    /// Ask for a retry after `u64::MAX` ms.
    RetryAfterForever,
    Panic,
    /// Panic with a payload whose own `Drop` panics.
    PanicWithBadPayload,
}

/// A panic payload whose `Drop` panics too.
struct BadPayload;

impl Drop for BadPayload {
    fn drop(&mut self) {
        panic!("the panic payload's own Drop panics (deliberate, in a test)");
    }
}

#[derive(Debug)]
struct DestState {
    behaviour: Behaviour,
    received: u64,
    calls: u64,
    /// `export` calls blocked in the stall right now.
    stalled: u64,
    /// Fail this many more calls transiently (before `behaviour` applies).
    transient_failures: u64,
    /// `shutdown` calls, and whether they panic (with a [`BadPayload`]).
    shutdowns: u64,
    shutdown_panics: bool,
}

/// A destination the test controls.
#[derive(Clone)]
struct Destination {
    state: Arc<(Mutex<DestState>, Condvar)>,
}

impl Destination {
    fn new(behaviour: Behaviour) -> Self {
        Destination {
            state: Arc::new((
                Mutex::new(DestState {
                    behaviour,
                    received: 0,
                    calls: 0,
                    stalled: 0,
                    transient_failures: 0,
                    shutdowns: 0,
                    shutdown_panics: false,
                }),
                Condvar::new(),
            )),
        }
    }

    fn set(&self, b: Behaviour) {
        self.state.0.lock().unwrap().behaviour = b;
        self.state.1.notify_all();
    }

    fn received(&self) -> u64 {
        self.state.0.lock().unwrap().received
    }

    fn stalled(&self) -> u64 {
        self.state.0.lock().unwrap().stalled
    }

    fn calls(&self) -> u64 {
        self.state.0.lock().unwrap().calls
    }

    fn with<R>(&self, f: impl FnOnce(&mut DestState) -> R) -> R {
        f(&mut self.state.0.lock().unwrap())
    }

    /// Waits (watchdog-bounded) until the exporter has been shut down `n` times.
    fn wait_for_shutdowns(&self, n: u64) {
        let (m, cv) = &*self.state;
        let deadline = Instant::now() + WATCHDOG;
        let mut s = m.lock().unwrap();
        while s.shutdowns < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the exporter was never shut down");
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }

    /// Waits (watchdog-bounded) until the export worker is blocked inside `export`.
    fn wait_until_stalled(&self) {
        let (m, cv) = &*self.state;
        let deadline = Instant::now() + WATCHDOG;
        let mut s = m.lock().unwrap();
        while s.stalled == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "deadlock? the worker never reached export");
            s = cv.wait_timeout(s, left).unwrap().0;
        }
    }
}

impl SpanExporter for Destination {
    fn export(&mut self, batch: &[SpanData], _resource: &Resource) -> Result<(), ExportError> {
        let (m, cv) = &*self.state;
        let mut s = m.lock().unwrap();
        s.calls += 1;
        if s.transient_failures > 0 {
            s.transient_failures -= 1;
            return Err(ExportError::transient("connection refused"));
        }
        if s.behaviour == Behaviour::Stall {
            s.stalled += 1;
            cv.notify_all();
            while s.behaviour == Behaviour::Stall {
                s = cv.wait(s).unwrap();
            }
            s.stalled -= 1;
        }
        match s.behaviour {
            Behaviour::Accept | Behaviour::Stall => {
                s.received += batch.len() as u64;
                Ok(())
            }
            Behaviour::FailTransient => Err(ExportError::transient("503")),
            Behaviour::FailPermanent => Err(ExportError::permanent("400 bad request")),
            Behaviour::RetryAfterForever => Err(ExportError::Transient {
                message: "429".into(),
                retry_after_ms: Some(u64::MAX),
            }),
            Behaviour::Panic => {
                drop(s);
                panic!("exporter bug (deliberate, in a test)");
            }
            Behaviour::PanicWithBadPayload => {
                drop(s);
                std::panic::panic_any(BadPayload);
            }
        }
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        let (m, cv) = &*self.state;
        let mut s = m.lock().unwrap();
        s.shutdowns += 1;
        cv.notify_all();
        if s.shutdown_panics {
            drop(s);
            std::panic::panic_any(BadPayload);
        }
        Ok(())
    }
}

/// The worker wakes only for `force_flush`, `shutdown`, or a full export's worth (64 spans)
/// queued, and then sends only full exports of 64: how spans split into export calls is
/// deterministic. One export at a time, unless a test says otherwise.
fn config() -> BatchConfig {
    BatchConfig::default()
        .max_queue_spans(256)
        .max_export_batch_size(64)
        .max_queue_bytes(usize::MAX)
        .flush_interval(Duration::from_secs(3600))
        .max_retries(2)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(2))
        .shutdown_timeout(Duration::from_secs(2))
        .max_concurrent_exports(1)
}

/// `traces` traces of `spans` spans each on the calling thread.
fn record(t: &RequestTracer, traces: u64, spans: u64) {
    for _ in 0..traces {
        t.start_trace();
        for i in 0..spans {
            let mut s = t.start_span("op");
            s.set_attribute("i", i);
        }
        t.end_trace().expect("trace active");
    }
}

/// A tracer whose only consumer is an exporter to `dest`.
fn exporting_to(dest: &Destination, cfg: BatchConfig) -> RequestTracer {
    RequestTracer::builder("svc")
        .exporter(dest.clone(), cfg)
        .retain_traces(false)
        .build()
}

fn flush(t: &RequestTracer) -> Result<(), ExportError> {
    t.force_flush(WATCHDOG)
}

/// Every finished span is delivered, dropped with a reason, or one of `in_motion` spans
/// known to be waiting (in the export queue, or in the call the destination is stalling).
fn assert_accounted(s: &Stats, in_motion: u64) {
    assert_eq!(s.spans_finished, s.spans_started, "{s:?}");
    assert_eq!(
        s.spans_finished,
        s.spans_delivered + s.dropped.total() + in_motion,
        "unaccounted spans: {s:?}"
    );
    assert_eq!(s.spans_buffered(), in_motion, "{s:?}");
}

/// Samples the gauges on another thread until stopped; returns the maxima.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(u64, u64, u64)>,
}

impl Sampler {
    fn start(t: &RequestTracer) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let t = t.clone();
        let s = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let (mut in_queue, mut queued, mut samples) = (0, 0, 0);
            loop {
                let done = s.load(Relaxed);
                let st = t.stats();
                in_queue = in_queue.max(st.export.in_queue);
                queued = queued.max(st.spans_queued);
                samples += 1;
                if done {
                    return (in_queue, queued, samples);
                }
                thread::yield_now();
            }
        });
        Sampler { stop, handle }
    }

    /// Max `export.in_queue`, max `spans_queued`, number of samples.
    fn stop(self) -> (u64, u64, u64) {
        self.stop.store(true, Relaxed);
        self.handle.join().unwrap()
    }
}

#[test]
fn destination_fails_stalls_and_comes_back_with_exact_accounting() {
    const THREADS: u64 = 4;
    let dest = Destination::new(Behaviour::Accept);
    let cfg = config();
    let t = RequestTracer::builder("svc")
        .exporter(dest.clone(), cfg.clone())
        .retain_traces(false)
        .limits(Limits::default().batch_size(16))
        .build();

    // Healthy.
    record(&t, 10, 16);
    flush(&t).expect("healthy destination");
    assert_eq!(dest.received(), 160);
    let s = t.stats();
    assert_eq!((s.export.exported, s.spans_delivered), (160, 160));

    // Fails permanently: every span dropped and counted, no retries. (96 spans: under half
    // the queue, so the worker sees them all at the flush.)
    dest.set(Behaviour::FailPermanent);
    record(&t, 6, 16);
    let r = flush(&t);
    assert!(matches!(&r, Err(ExportError::Permanent(_))), "{r:?}");
    let s = t.stats();
    assert_eq!(s.dropped.export_failed, 96, "{s:?}");
    assert_eq!(s.export.dropped_failed, 96);
    assert_eq!(s.export.failed_batches, 2, "96 spans in export calls of 64");
    assert_eq!(s.export.retries, 0);
    assert_eq!(dest.received(), 160);
    assert_accounted(&s, 0);

    // Fails transiently: the batch is retried `max_retries` times, then dropped and counted.
    dest.set(Behaviour::FailTransient);
    record(&t, 1, 16);
    let r = flush(&t);
    assert!(matches!(&r, Err(ExportError::Transient { .. })), "{r:?}");
    let s = t.stats();
    assert_eq!(s.dropped.export_failed, 112, "{s:?}");
    assert_eq!(s.export.failed_batches, 3);
    assert_eq!(s.export.retries, u64::from(cfg.max_retries), "{s:?}");
    assert_accounted(&s, 0);
    let before_stall = s;

    // Stalls: a flush sends the worker into export, where it blocks with one batch.
    dest.set(Behaviour::Stall);
    record(&t, 1, 16);
    let flusher = {
        let t = t.clone();
        thread::spawn(move || flush(&t))
    };
    dest.wait_until_stalled();
    let sampler = Sampler::start(&t);
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let t = t.clone();
            thread::spawn(move || record(&t, 50, 16))
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Every traced thread finished while the destination was still stalled.
    assert_eq!(dest.stalled(), 1, "the worker is still blocked in export");
    let (max_in_queue, _, samples) = sampler.stop();
    assert!(samples > 0);
    let s = t.stats();
    let traced = THREADS * 50 * 16;
    let max_queue = cfg.max_queue_spans as u64;
    assert!(
        max_in_queue <= max_queue + THREADS * 16,
        "sampled export queue {max_in_queue} over its bound {max_queue} (+1 batch per thread)"
    );
    assert!(s.export.in_queue <= max_queue, "{s:?}");
    let queued = s.export.queued - before_stall.export.queued;
    let refused = s.export.dropped_queue_full - before_stall.export.dropped_queue_full;
    // The stalled batch (16) plus what the threads traced was either queued or refused.
    assert_eq!(queued + refused, 16 + traced, "{s:?}");
    assert!(queued <= 16 + max_queue, "{s:?}");
    assert!(refused >= traced - max_queue, "{s:?}");
    assert_eq!(s.dropped.export_queue_full, refused);
    // Not yet delivered: the export queue, and the batch the destination is sitting on.
    assert_accounted(&s, s.export.in_queue + 16);

    // Comes back: everything queued during the stall is delivered, and new spans flow.
    dest.set(Behaviour::Accept);
    flusher
        .join()
        .unwrap()
        .expect("the flush waiting on the stall completes");
    flush(&t).expect("recovered destination");
    record(&t, 10, 16);
    flush(&t).expect("recovered destination");
    let s = t.stats();
    assert_eq!(s.export.in_queue, 0);
    assert_eq!(dest.received(), 160 + queued + 160, "{s:?}");
    assert_eq!(s.export.exported, dest.received());
    assert_eq!(s.export.exported + s.export.dropped_failed, s.export.queued);
    // Without retention a span counts as delivered once the destination accepted it.
    assert_eq!(s.spans_delivered, s.export.exported);
    assert_accounted(&s, 0);
    t.shutdown().expect("shutdown after recovery");
}

#[test]
fn buffered_spans_stay_under_max_buffered_spans_while_export_stalls() {
    // Traces retained and exported: open traces fill the hand-off queues while the export
    // destination is stalled. Both gauges stay under their bounds; the overflow is counted.
    const THREADS: u64 = 4;
    const SPANS: u64 = 500;
    const BATCH: u64 = 8;
    let dest = Destination::new(Behaviour::Stall);
    let cfg = config()
        .max_queue_spans(128)
        .flush_interval(Duration::from_millis(10));
    let limits = Limits::default()
        .max_buffered_spans(64)
        .batch_size(BATCH as usize);
    let t = RequestTracer::builder("svc")
        .exporter(dest.clone(), cfg.clone())
        .retain_traces(true)
        .limits(limits.clone())
        .build();
    // Get the worker stuck first.
    record(&t, 1, BATCH);
    dest.wait_until_stalled();

    t.start_trace();
    let root = t.start_span("root");
    let ctx = root.handle().unwrap();
    let sampler = Sampler::start(&t);
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let t = t.clone();
            let ctx = ctx.clone();
            thread::spawn(move || {
                let _a = t.attach(&ctx);
                for _ in 0..SPANS {
                    let _s = t.start_span("child");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(dest.stalled(), 1);
    let (max_in_queue, max_queued, _) = sampler.stop();
    let s = t.stats();
    let slack = THREADS * BATCH;
    assert!(
        max_queued <= limits.max_buffered_spans as u64 + slack,
        "{max_queued}"
    );
    assert!(
        max_in_queue <= cfg.max_queue_spans as u64 + slack,
        "{max_in_queue}"
    );
    assert!(s.spans_queued <= limits.max_buffered_spans as u64, "{s:?}");
    assert!(s.export.in_queue <= cfg.max_queue_spans as u64, "{s:?}");
    // Batches are refused whole: what was kept is a multiple of the batch size.
    assert_eq!(s.spans_queued % BATCH, 0);
    assert_eq!(
        s.spans_queued + s.dropped.buffer_full,
        THREADS * SPANS,
        "{s:?}"
    );
    drop(root);
    let trace = t.end_trace().unwrap();
    let s = t.stats();
    // The first trace (BATCH spans), the root, and what fitted in the bound were delivered.
    assert_eq!(s.spans_delivered, BATCH + trace.spans.len() as u64);
    assert_eq!(trace.dropped_spans_count, s.dropped.buffer_full);
    assert_eq!(s.spans_queued, 0);
    assert_accounted(&s, 0);
    // Retained spans are offered to the exporter too, when their trace is assembled: every
    // span was refused by the buffer bound, or queued for export, or refused by its full queue.
    assert_eq!(
        s.export.queued + s.export.dropped_queue_full + s.dropped.buffer_full,
        s.spans_finished,
        "{s:?}"
    );
    dest.set(Behaviour::Accept);
    flush(&t).expect("recovered");
    assert_eq!(dest.received(), t.stats().export.queued);
    assert_eq!(t.stats().export.exported, dest.received());
}

#[test]
fn shutdown_with_a_stalled_destination_returns_after_its_timeout_with_the_stuck_spans_counted() {
    // A backend that accepts and never answers: one export call is stuck in it, the rest
    // waits in the queue. `shutdown()` gives up after one timeout; what was still queued is
    // dropped and counted (it would not be attempted past the deadline), and what the stuck
    // call holds stays counted in flight: 8 in flight, 80 dropped, none exported.
    let dest = Destination::new(Behaviour::Stall);
    let timeout = Duration::from_millis(300);
    let t = stuck_in_export(&dest, timeout);
    record(&t, 10, 8);
    assert_eq!(t.stats().export.in_queue, 80);
    let start = Instant::now();
    let r = t.shutdown();
    let waited = start.elapsed();
    let Err(ExportError::Transient { message, .. }) = &r else {
        panic!("shutdown gives up with a transient error: {r:?}");
    };
    assert!(
        message.contains("80 queued spans dropped, 8 still in flight"),
        "{message}"
    );
    assert!(waited >= timeout, "it waited its timeout ({waited:?})");
    assert_eq!(dest.stalled(), 1);
    let s = t.stats();
    assert_eq!(
        (s.export.queued, s.export.in_queue, s.export.in_flight),
        (88, 0, 8),
        "{s:?}"
    );
    assert_eq!((s.export.exported, s.export.dropped_failed), (0, 80));
    assert_eq!(s.dropped.export_failed, 80);
    assert_accounted(&s, 8);
    // Shutdown has begun: tracing goes on, never waiting, and every new span is refused and
    // counted.
    record(&t, 100, 8);
    let s = t.stats();
    assert_eq!(s.spans_finished, 888);
    assert_eq!((s.export.queued, s.export.dropped_queue_full), (88, 800));
    assert_eq!(s.dropped.export_queue_full, 800);
    assert_accounted(&s, 8);
    // The destination answers at last: the stuck call's spans are delivered and the worker
    // finishes the shutdown it was asked for.
    dest.set(Behaviour::Accept);
    t.shutdown().expect("the second shutdown completes");
    let s = t.stats();
    assert_eq!((s.export.in_queue, s.export.in_flight), (0, 0), "{s:?}");
    assert_eq!((s.export.exported, dest.received()), (8, 8), "{s:?}");
    assert_eq!(dest.with(|d| d.shutdowns), 1);
    assert_accounted(&s, 0);
    // After shutdown, new spans are refused and counted, never queued.
    record(&t, 1, 8);
    let s2 = t.stats();
    assert_eq!(s2.export.queued, s.export.queued);
    assert_eq!(
        s2.export.dropped_queue_full,
        s.export.dropped_queue_full + 8
    );
}

#[test]
fn shutdown_waits_do_not_add_up() {
    // A stalled destination: `shutdown()` waits one timeout; dropping the tracer afterwards
    // (the last handle, then the tracer's state) does not wait again. Before, each of the
    // two drops started a fresh wait: 3 timeouts in all.
    let dest = Destination::new(Behaviour::Stall);
    let timeout = Duration::from_secs(1);
    let t = stuck_in_export(&dest, timeout);
    let start = Instant::now();
    assert!(t.shutdown().is_err());
    let shutdown_took = start.elapsed();
    let dropped = Instant::now();
    drop(t);
    let drop_took = dropped.elapsed();
    let total = start.elapsed();
    assert!(shutdown_took >= timeout, "{shutdown_took:?}");
    // Upper bounds with room for a slow machine, yet below a second timeout.
    assert!(
        drop_took < timeout / 2,
        "dropping the tracer waited again: {drop_took:?}"
    );
    assert!(
        total < timeout * 19 / 10,
        "{total:?} for a {timeout:?} timeout"
    );
    // The detached worker finishes once the destination answers.
    dest.set(Behaviour::Accept);
    dest.wait_for_shutdowns(1);
    assert_eq!(dest.received(), 8);
}

/// A tracer whose worker is stuck in an export call of 8 spans to `dest` (stalled).
fn stuck_in_export(dest: &Destination, shutdown_timeout: Duration) -> RequestTracer {
    let t = RequestTracer::builder("svc")
        .exporter(dest.clone(), config().shutdown_timeout(shutdown_timeout))
        .build();
    record(&t, 1, 8);
    // A flush (not waited for) makes the worker take the 8 spans.
    let _ = t.force_flush(Duration::ZERO);
    dest.wait_until_stalled();
    t
}

#[test]
fn a_traced_thread_releasing_the_tracer_does_not_wait_for_a_stalled_destination() {
    // The thread drops the last `RequestTracer` handle, then exits with a trace still open,
    // so its thread-local state releases the tracer's state last. Neither waits for the
    // stalled destination: shutdown is asked for, and the worker finishes it on its own.
    let dest = Destination::new(Behaviour::Stall);
    let timeout = Duration::from_secs(2);
    let d = dest.clone();
    let released_in = thread::spawn(move || {
        let t = stuck_in_export(&d, timeout);
        t.start_trace();
        drop(t.start_span("ends after shutdown began"));
        let start = Instant::now();
        drop(t); // the last handle
        start // the thread exits now, its trace still open
    })
    .join()
    .unwrap()
    .elapsed();
    assert!(
        released_in < timeout / 2,
        "the traced thread waited {released_in:?} for the destination"
    );
    assert_eq!(dest.stalled(), 1, "the destination is still stalled");
    dest.set(Behaviour::Accept); // lets the detached worker finish
    dest.wait_for_shutdowns(1);
    // The stuck export was delivered; the span that ended after shutdown began was refused.
    assert_eq!(dest.received(), 8);
}

/// An exporter that only tells whether it still exists.
struct Token(#[allow(dead_code)] Arc<()>);

impl SpanExporter for Token {
    fn export(&mut self, _: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        Ok(())
    }
}

#[test]
fn dropping_every_handle_shuts_the_exporter_down_without_waiting() {
    let token = Arc::new(());
    let t = RequestTracer::builder("svc")
        .exporter(Token(Arc::clone(&token)), config())
        .build();
    record(&t, 1, 4);
    drop(t);
    // No handle, trace, span or context of the tracer is left: the worker shuts the exporter
    // down and drops it on its own thread.
    let deadline = Instant::now() + WATCHDOG;
    while Arc::strong_count(&token) > 1 {
        assert!(
            Instant::now() < deadline,
            "the exporter was not shut down and dropped after the tracer"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn transient_failures_are_retried_during_shutdown() {
    // Nothing listening for the first two attempts: shutdown retries within its deadline.
    let dest = Destination::new(Behaviour::Accept);
    dest.with(|d| d.transient_failures = 2);
    let cfg = config().max_retries(5);
    let t = exporting_to(&dest, cfg);
    record(&t, 1, 8);
    t.shutdown().expect("delivered after two retries");
    let s = t.stats();
    assert_eq!(s.export.retries, 2, "{s:?}");
    assert_eq!(
        (s.export.exported, dest.received(), dest.calls()),
        (8, 8, 3)
    );
    assert_accounted(&s, 0);
}

#[test]
fn shutdown_gives_up_on_a_retry_that_would_end_after_its_deadline() {
    // Still failing when retries run out: the batch is dropped and counted, and `shutdown`
    // reports it. And a retry that would only happen after the deadline is not waited for.
    for (backoff, retries) in [(Duration::from_millis(1), 2), (Duration::from_secs(30), 0)] {
        let dest = Destination::new(Behaviour::FailTransient);
        let cfg = config()
            .initial_backoff(backoff)
            .max_backoff(backoff)
            .shutdown_timeout(Duration::from_secs(5));
        let t = exporting_to(&dest, cfg);
        record(&t, 1, 8);
        let start = Instant::now();
        let r = t.shutdown();
        assert!(
            matches!(&r, Err(ExportError::Transient { .. })),
            "the failure is reported: {r:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        let s = t.stats();
        assert_eq!(s.export.retries, retries, "{s:?}");
        assert_eq!(dest.calls(), retries + 1);
        assert_eq!(s.dropped.export_failed, 8);
        assert_accounted(&s, 0);
    }
}

#[test]
fn retry_after_hints_are_capped_by_max_backoff() {
    // A destination that says "retry after u64::MAX ms" must not park the worker forever.
    let dest = Destination::new(Behaviour::RetryAfterForever);
    let cfg = config();
    let t = exporting_to(&dest, cfg.clone());
    record(&t, 1, 8);
    let r = flush(&t);
    assert!(
        matches!(&r, Err(ExportError::Transient { .. })),
        "retries ran out: {r:?}"
    );
    let s = t.stats();
    assert_eq!(s.export.retries, u64::from(cfg.max_retries));
    assert_eq!(s.dropped.export_failed, 8);
    assert_accounted(&s, 0);
    dest.set(Behaviour::Accept);
    record(&t, 1, 8);
    flush(&t).expect("delivery resumes");
    assert_eq!(dest.received(), 8);
}

#[test]
fn a_panicking_exporter_loses_no_span_from_the_accounting() {
    let dest = Destination::new(Behaviour::Panic);
    let cfg = config().shutdown_timeout(Duration::from_millis(200));
    let t = exporting_to(&dest, cfg);
    record(&t, 1, 8);
    let r = t.force_flush(Duration::from_secs(5));
    assert!(r.is_err(), "the panic is reported as a failure");
    let s = t.stats();
    assert_eq!(
        s.export.queued,
        s.export.exported + s.export.dropped_failed + s.export.in_queue,
        "a span was lost without a count: {s:?}"
    );
    assert_eq!(s.dropped.export_failed, 8, "{s:?}");
    // The worker survives: a destination that comes back gets new spans.
    dest.set(Behaviour::Accept);
    record(&t, 1, 8);
    t.force_flush(WATCHDOG)
        .expect("delivery resumes after a panic");
    assert_eq!(dest.received(), 8);
}

#[test]
fn a_panic_payload_whose_drop_panics_does_not_kill_the_worker() {
    let dest = Destination::new(Behaviour::PanicWithBadPayload);
    let t = exporting_to(&dest, config());
    record(&t, 1, 8);
    let r = flush(&t);
    assert!(matches!(&r, Err(ExportError::Permanent(_))), "{r:?}");
    let s = t.stats();
    assert_eq!(s.dropped.export_failed, 8, "{s:?}");
    assert_eq!((s.export.in_queue, s.export.in_flight), (0, 0), "{s:?}");
    assert_accounted(&s, 0);
    // The worker is alive: flush and shutdown work, and delivery resumes.
    dest.set(Behaviour::Accept);
    record(&t, 1, 8);
    flush(&t).expect("delivery resumes");
    record(&t, 1, 8);
    t.shutdown().expect("shutdown works");
    let s = t.stats();
    assert_eq!((s.export.exported, dest.received()), (16, 16));
    assert_eq!(s.export.queued, 24);
    assert_accounted(&s, 0);
}

#[test]
fn shutdown_reports_a_panic_in_the_exporters_own_shutdown() {
    let dest = Destination::new(Behaviour::Accept);
    dest.with(|d| d.shutdown_panics = true);
    let t = exporting_to(&dest, config());
    record(&t, 1, 8);
    let r = t.shutdown();
    assert!(
        matches!(&r, Err(ExportError::Permanent(m)) if m.contains("panicked")),
        "{r:?}"
    );
    // Asking again gives the same answer; the spans were delivered before.
    assert_eq!(t.shutdown(), r);
    assert_eq!(dest.with(|d| d.shutdowns), 1);
    let s = t.stats();
    assert_eq!(s.export.exported, 8);
    assert_accounted(&s, 0);
}
