//! The streaming export worker: spans leave while traces are still open, retries, failures,
//! bounded queue, flush and shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqtrace_core::{
    BatchConfig, ExportError, Limits, RequestTracer, Resource, SpanData, SpanExporter,
};

/// Collects everything it is given; can be told to fail or stall.
#[derive(Clone, Default)]
struct Sink {
    spans: Arc<Mutex<Vec<SpanData>>>,
    calls: Arc<Mutex<u32>>,
    /// Fail this many calls transiently first.
    fail_transient: Arc<Mutex<u32>>,
    fail_permanent: bool,
    stall: Option<Duration>,
}

impl SpanExporter for Sink {
    fn export(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError> {
        assert_eq!(resource.service_name, "svc");
        *self.calls.lock().unwrap() += 1;
        if let Some(d) = self.stall {
            std::thread::sleep(d);
        }
        if self.fail_permanent {
            return Err(ExportError::permanent("bad request"));
        }
        let mut f = self.fail_transient.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return Err(ExportError::Transient {
                message: "503".into(),
                retry_after_ms: Some(1),
            });
        }
        self.spans.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
}

fn fast_config() -> BatchConfig {
    BatchConfig::default()
        .flush_interval(Duration::from_millis(20))
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

#[test]
fn a_long_lived_trace_is_exported_before_it_ends() {
    let sink = Sink::default();
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), fast_config())
        .build();
    tracer.start_trace();
    let root = tracer.start_span("long-lived-root");
    for _ in 0..10 {
        let _c = tracer.start_span("early");
    }
    std::thread::sleep(Duration::from_millis(40));
    // Ending a span after the flush interval hands the old batch over.
    drop(tracer.start_span("trigger"));
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    {
        let got = sink.spans.lock().unwrap();
        assert!(
            got.iter().filter(|s| s.name == "early").count() == 10,
            "children were not exported while the root was open: {} spans",
            got.len()
        );
        assert!(got.iter().all(|s| s.name != "long-lived-root"));
    }
    drop(root);
    let trace = tracer.end_trace().unwrap();
    assert!(
        trace.spans.is_empty(),
        "not retained when an exporter is set"
    );
    tracer.shutdown().unwrap();
    let got = sink.spans.lock().unwrap();
    assert_eq!(got.len(), 12);
    assert!(got.iter().all(|s| s.trace_id == trace.trace_id));
    let stats = tracer.stats();
    assert_eq!(stats.export.exported, 12);
    assert_eq!(stats.spans_delivered, 12);
    assert_eq!(stats.spans_finished, 12);
    assert_eq!(stats.spans_buffered(), 0);
}

#[test]
fn with_retention_spans_go_to_both_consumers() {
    let sink = Sink::default();
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), fast_config())
        .retain_traces(true)
        .build();
    tracer.start_trace();
    for _ in 0..5 {
        let _s = tracer.start_span("s");
    }
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 5);
    tracer.shutdown().unwrap();
    assert_eq!(sink.spans.lock().unwrap().len(), 5);
    let stats = tracer.stats();
    assert_eq!(stats.spans_delivered, 5);
    assert_eq!(stats.export.exported, 5);
}

#[test]
fn transient_failures_are_retried_then_delivered() {
    let sink = Sink {
        fail_transient: Arc::new(Mutex::new(3)),
        ..Sink::default()
    };
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), fast_config())
        .build();
    tracer.start_trace();
    for _ in 0..7 {
        let _s = tracer.start_span("s");
    }
    tracer.end_trace();
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(sink.spans.lock().unwrap().len(), 7);
    let stats = tracer.stats();
    assert_eq!(stats.export.retries, 3);
    assert_eq!(stats.export.exported, 7);
    assert_eq!(stats.export.failed_batches, 0);
}

#[test]
fn permanent_failures_drop_and_count_every_span() {
    let sink = Sink {
        fail_permanent: true,
        ..Sink::default()
    };
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), fast_config())
        .build();
    for _ in 0..3 {
        tracer.start_trace();
        for _ in 0..4 {
            let _s = tracer.start_span("s");
        }
        tracer.end_trace();
    }
    assert!(tracer.force_flush(Duration::from_secs(10)).is_err());
    let stats = tracer.stats();
    assert_eq!(stats.export.dropped_failed, 12);
    assert_eq!(stats.dropped.export_failed, 12);
    assert_eq!(stats.spans_delivered, 0);
    assert_eq!(
        stats.spans_finished,
        stats.spans_delivered + stats.dropped.total()
    );
}

#[test]
fn a_stalled_destination_never_blocks_tracing_and_shutdown_returns() {
    let sink = Sink {
        stall: Some(Duration::from_secs(3)),
        ..Sink::default()
    };
    let config = fast_config()
        .max_queue_spans(64)
        .shutdown_timeout(Duration::from_millis(200));
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), config)
        .limits(Limits::default().batch_size(16))
        .build();
    // 100 traces of 16 spans while the exporter sleeps in its first call: most cannot queue.
    for _ in 0..100 {
        tracer.start_trace();
        for _ in 0..16 {
            let _s = tracer.start_span("s");
        }
        tracer.end_trace();
    }
    let stats = tracer.stats();
    assert_eq!(stats.spans_finished, 1600);
    // Every span was either queued or refused; what was queued is bounded by the queue (64)
    // plus the one stalled export call (at most max_export_batch_size) plus one batch in flight.
    assert_eq!(
        stats.export.queued + stats.export.dropped_queue_full,
        1600,
        "{stats:?}"
    );
    assert!(stats.export.queued <= 64 + 512 + 16, "{stats:?}");
    assert_eq!(
        stats.dropped.export_queue_full,
        stats.export.dropped_queue_full
    );
    // Everything is accounted for: exported, dropped, or still queued/in the worker.
    assert_eq!(
        stats.spans_finished,
        stats.spans_delivered + stats.dropped.total() + stats.spans_buffered()
    );
    assert!(stats.export.in_queue <= 64);
    let r = tracer.shutdown();
    assert!(r.is_err(), "shutdown must give up after its timeout");
}

/// Long enough that only a deadlock reaches it.
const WATCHDOG: Duration = Duration::from_secs(60);

#[derive(Default)]
struct GateState {
    open: bool,
    /// `export` calls running now, and the most ever at once.
    in_flight: u32,
    max_in_flight: u32,
    calls: u32,
    spans: u64,
    /// Fail this many more calls transiently.
    fail: u32,
    flushes: u32,
    shutdowns: u32,
    clones: u32,
}

/// An exporter whose calls wait at a gate: it opens when `open_at` calls are inside `export`
/// at once (or when the test opens it), so a test can see exactly how many run concurrently.
/// Clones share the state (they are handles on one destination).
#[derive(Clone)]
struct Gate {
    state: Arc<(Mutex<GateState>, std::sync::Condvar)>,
    open_at: u32,
    cloneable: bool,
}

impl Gate {
    fn new(open_at: u32, cloneable: bool) -> Self {
        Gate {
            state: Arc::default(),
            open_at,
            cloneable,
        }
    }

    fn get<R>(&self, f: impl FnOnce(&mut GateState) -> R) -> R {
        f(&mut self.state.0.lock().unwrap())
    }

    fn open(&self) {
        self.get(|s| s.open = true);
        self.state.1.notify_all();
    }

    /// Waits (watchdog-bounded) until an `export` call is waiting at the gate.
    fn wait_for_a_call(&self) {
        let (m, cv) = &*self.state;
        let mut s = m.lock().unwrap();
        while s.in_flight == 0 {
            let (next, timeout) = cv.wait_timeout(s, WATCHDOG).unwrap();
            s = next;
            assert!(!timeout.timed_out(), "deadlock? no export call");
        }
    }
}

impl SpanExporter for Gate {
    fn export(&mut self, batch: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        let (m, cv) = &*self.state;
        let mut s = m.lock().unwrap();
        s.calls += 1;
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        if s.in_flight >= self.open_at {
            s.open = true;
        }
        cv.notify_all();
        while !s.open {
            let (next, timeout) = cv.wait_timeout(s, WATCHDOG).unwrap();
            s = next;
            assert!(!timeout.timed_out(), "deadlock? the gate never opened");
        }
        s.in_flight -= 1;
        if s.fail > 0 {
            s.fail -= 1;
            return Err(ExportError::Transient {
                message: "503".into(),
                retry_after_ms: Some(1),
            });
        }
        s.spans += batch.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.get(|s| s.flushes += 1);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.get(|s| s.shutdowns += 1);
        Ok(())
    }

    fn try_clone(&self) -> Option<Box<dyn SpanExporter>> {
        self.get(|s| s.clones += 1);
        self.cloneable
            .then(|| Box::new(self.clone()) as Box<dyn SpanExporter>)
    }
}

/// `traces` traces of `spans` spans each on the calling thread.
fn record(tracer: &RequestTracer, traces: u64, spans: u64) {
    for _ in 0..traces {
        tracer.start_trace();
        for _ in 0..spans {
            let _s = tracer.start_span("s");
        }
        tracer.end_trace();
    }
}

#[test]
fn a_burst_of_one_span_batches_fits_the_queue_in_spans() {
    // Issue 10: 2,000 requests handing over one span per batch (18,000 spans) while the
    // exporter is busy, with the default BatchConfig. The queue is bounded in spans
    // (262,144 by default), so nothing is dropped; bounded in batches (then 65,536 / 8) it dropped about half.
    let gate = Gate::new(u32::MAX, false);
    let tracer = RequestTracer::builder("svc")
        .exporter(gate.clone(), BatchConfig::default())
        .limits(Limits::default().batch_size(1))
        .build();
    record(&tracer, 1, 1);
    let flusher = {
        let t = tracer.clone();
        std::thread::spawn(move || t.force_flush(WATCHDOG))
    };
    gate.wait_for_a_call(); // the worker is busy with that first span
    record(&tracer, 2_000, 9);
    let s = tracer.stats();
    assert_eq!(s.export.dropped_queue_full, 0, "{s:?}");
    assert_eq!(s.dropped.total(), 0, "{s:?}");
    assert_eq!(
        (s.export.queued, s.export.in_queue, s.export.in_flight),
        (18_001, 18_000, 1),
        "{s:?}"
    );
    gate.open();
    flusher.join().unwrap().unwrap();
    tracer.force_flush(WATCHDOG).unwrap();
    let s = tracer.stats();
    assert_eq!(s.export.exported, 18_001, "{s:?}");
    assert_eq!(gate.get(|g| g.spans), 18_001);
    assert_eq!((s.export.in_queue, s.export.in_flight), (0, 0));
    assert_eq!(s.spans_delivered, 18_001);
    assert_eq!(s.dropped.total(), 0);
}

fn concurrent_config(n: usize) -> BatchConfig {
    fast_config()
        .max_export_batch_size(10)
        .max_concurrent_exports(n)
}

#[test]
fn exports_run_concurrently_up_to_max_concurrent_exports() {
    // The gate holds every call until 3 are inside `export` at once, so reaching 3 is
    // certain; a 4th concurrent call would show in `max_in_flight`. Five calls fail once
    // transiently and are retried.
    let gate = Gate::new(3, true);
    gate.get(|g| g.fail = 5);
    let tracer = RequestTracer::builder("svc")
        .exporter(gate.clone(), concurrent_config(3))
        .build();
    record(&tracer, 30, 10);
    tracer.force_flush(WATCHDOG).unwrap();
    let s = tracer.stats();
    let g = gate.get(std::mem::take);
    assert_eq!(g.max_in_flight, 3);
    assert_eq!(g.clones, 2, "two more handles for three exports at once");
    assert_eq!((g.spans, g.calls), (300, 35));
    assert_eq!(s.export.retries, 5, "{s:?}");
    assert_eq!(s.export.exported, 300);
    assert_eq!((s.export.failed_batches, s.export.dropped_failed), (0, 0));
    assert_eq!((s.export.in_queue, s.export.in_flight), (0, 0));
    assert_eq!(g.flushes, 3, "every handle is flushed");
    tracer.shutdown().unwrap();
    let g = gate.get(std::mem::take);
    assert_eq!(
        (g.flushes, g.shutdowns),
        (3, 3),
        "every handle is shut down"
    );
    assert_eq!(tracer.stats().spans_delivered, 300);
}

#[test]
fn an_exporter_that_cannot_clone_exports_one_batch_at_a_time() {
    let gate = Gate::new(1, false);
    let tracer = RequestTracer::builder("svc")
        .exporter(gate.clone(), concurrent_config(3))
        .build();
    record(&tracer, 30, 10);
    tracer.shutdown().unwrap();
    let g = gate.get(std::mem::take);
    assert_eq!((g.max_in_flight, g.clones), (1, 1));
    assert_eq!((g.spans, g.calls, g.shutdowns), (300, 30, 1));
    assert_eq!(tracer.stats().export.exported, 300);
}
