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
    BatchConfig {
        flush_interval: Duration::from_millis(20),
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..BatchConfig::default()
    }
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
    let config = BatchConfig {
        max_queue_spans: 64,
        shutdown_timeout: Duration::from_millis(200),
        ..fast_config()
    };
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), config)
        .limits(Limits {
            batch_size: 16,
            ..Limits::default()
        })
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
