//! Bounds: what a hostile or careless caller can make the tracer hold — open traces, traces a
//! thread never ends, stack depth, dead threads' counters, a thread dying with open spans,
//! fields that grow with input, bytes waiting in queues — is bounded, and every cut counted.

use std::time::Duration;

use reqtrace_core::{BatchConfig, KeyValue, Limits, RequestTracer, SpanExporter};

mod common;
use common::parent_of;

#[test]
fn open_traces_are_bounded_and_refusals_counted() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_open_traces(10))
        .build();
    let roots: Vec<_> = (0..25).map(|_| tracer.start_root("r")).collect();
    let recording = roots.iter().filter(|r| r.is_recording()).count();
    assert_eq!(recording, 10);
    let s = tracer.stats();
    assert_eq!(s.traces_open, 10);
    assert_eq!(s.traces_refused, 15);
    // A refused trace still propagates its id, unsampled.
    assert!(roots.iter().all(|r| r.context().trace_id == r.trace_id()));
    drop(roots);
    assert_eq!(tracer.stats().traces_open, 0);
    // Room again.
    assert!(tracer.start_root("again").is_recording());
}

#[test]
fn a_thread_that_never_ends_its_traces_keeps_at_most_the_limit() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_traces_per_thread(8))
        .build();
    for _ in 0..100 {
        tracer.start_trace();
        let _s = tracer.start_span("x");
    }
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 92);
    assert_eq!(s.traces_abandoned, 92);
    assert_eq!(s.traces_open, 8);
    assert_eq!(s.dropped.abandoned, 92);
    // The newest 8 are still there, innermost first.
    for _ in 0..8 {
        assert_eq!(tracer.end_trace().unwrap().spans.len(), 1);
    }
    assert!(tracer.end_trace().is_none());
    let s = tracer.stats();
    assert_eq!(s.spans_finished, s.spans_delivered + s.dropped.total());
    assert_eq!(s.traces_open, 0);
}

#[test]
fn a_dead_threads_counters_are_freed_and_still_counted() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let ctx = root.handle();
    for _ in 0..200 {
        let t = tracer.clone();
        let ctx = ctx.clone();
        std::thread::spawn(move || drop(t.start_span_with_parent("w", &ctx)))
            .join()
            .unwrap();
    }
    let s = tracer.stats();
    assert_eq!(s.spans_started, 201);
    assert!(s.thread_blocks <= 1, "{}", s.thread_blocks);
    let trace = root.finish();
    assert_eq!(trace.spans.len(), 201);
    let s = tracer.stats();
    assert_eq!(s.spans_delivered, 201);
}

#[test]
fn a_parent_ending_first_on_a_worker_keeps_its_child_whole() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let ctx = root.handle();
    let t = tracer.clone();
    std::thread::spawn(move || {
        let mut parent = t.start_span_with_parent("parent", &ctx);
        parent.set_attribute("p", 1);
        let mut child = t.start_span("child");
        child.set_attribute("c", 2);
        drop(parent); // out of order
        child.set_attribute("c2", 3);
        drop(child);
    })
    .join()
    .unwrap();
    let trace = root.finish();
    assert_eq!(trace.spans.len(), 3);
    let child = trace.span("child").unwrap();
    assert!(!child.unfinished);
    assert_eq!(child.attribute("c").unwrap().as_i64(), Some(2));
    assert_eq!(child.attribute("c2").unwrap().as_i64(), Some(3));
    assert_eq!(parent_of(&trace, "child"), Some("parent"));
    assert_eq!(
        trace
            .span("parent")
            .unwrap()
            .attribute("p")
            .unwrap()
            .as_i64(),
        Some(1)
    );
}

#[test]
fn a_thread_exiting_with_many_open_spans_keeps_within_the_trace_limit() {
    let tracer = RequestTracer::builder("svc")
        .limits(
            Limits::default()
                .max_spans_per_trace(100)
                .max_open_spans_per_thread(100_000),
        )
        .build();
    let root = tracer.start_root("root");
    let ctx = root.handle();
    let t = tracer.clone();
    std::thread::spawn(move || {
        let _a = t.attach(&ctx);
        let guards: Vec<_> = (0..20_000).map(|_| t.start_span("open")).collect();
        std::mem::forget(guards); // the thread exits with them open
    })
    .join()
    .unwrap();
    let trace = root.finish();
    assert_eq!(trace.spans.len(), 100);
    let s = tracer.stats();
    assert_eq!(s.dropped.trace_limit, 20_001 - 100);
    assert_eq!(s.spans_finished, 20_001);
    assert_eq!(s.spans_finished, s.spans_delivered + s.dropped.total());
}

#[test]
fn stack_depth_is_bounded() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_open_spans_per_thread(16))
        .build();
    tracer.start_trace();
    let guards: Vec<_> = (0..40).map(|_| tracer.start_span("d")).collect();
    assert_eq!(guards.iter().filter(|g| g.is_recording()).count(), 16);
    drop(guards);
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 16);
    assert_eq!(tracer.stats().spans_depth_limited, 24);
}

#[test]
fn every_field_that_grows_with_input_is_cut_and_counted() {
    let limits = Limits::default();
    let tracer = RequestTracer::new("svc");
    let big = "x".repeat(1 << 20);
    tracer
        .trace_builder()
        .attribute(big.clone(), big.clone())
        .trace_state(format!("k={big}"))
        .start();
    {
        let mut s = tracer.start_span(big.clone());
        s.set_attribute(big.clone(), big.clone());
        s.set_attribute("arr", vec![1i64; 1_000_000]);
        s.add_event(big.clone(), [KeyValue::new(big.clone(), big.clone())]);
        s.set_error(big.clone());
    }
    let trace = tracer.end_trace().unwrap();
    let sp = &trace.spans[0];
    assert_eq!(sp.name.len(), limits.max_name_len);
    assert!(
        trace.trace_state.is_none(),
        "an oversized tracestate is dropped whole"
    );
    let owned_capacity = |v: &reqtrace_core::Value| match v {
        reqtrace_core::Value::String(std::borrow::Cow::Owned(s)) => s.capacity(),
        other => panic!("{other:?}"),
    };
    for kv in &sp.attributes {
        assert!(
            kv.key.len() <= limits.max_attribute_key_len,
            "{}",
            kv.key.len()
        );
        match &kv.value {
            reqtrace_core::Value::Array(a) => assert_eq!(a.len(), limits.max_array_len),
            v => {
                // What is kept costs what it holds.
                assert!(owned_capacity(v) <= limits.max_attribute_value_len);
            }
        }
    }
    // the trace-level attribute (on the root span) and the span's own string attribute
    assert_eq!(sp.attributes.len(), 3);
    let ev = &sp.events[0];
    assert_eq!(ev.name.len(), limits.max_name_len);
    assert!(ev.attributes[0].key.len() <= limits.max_attribute_key_len);
    assert!(owned_capacity(&ev.attributes[0].value) <= limits.max_attribute_value_len);
    assert!(sp.error.as_ref().unwrap().len() <= limits.max_attribute_value_len);
    let s = tracer.stats();
    // keys: trace attribute, span attribute, event attribute
    assert_eq!(s.keys_truncated, 3);
    // values: trace attribute, span attribute, the array, event attribute
    assert_eq!(s.values_truncated, 4);
    // names: span name, event name, error message, trace state
    assert_eq!(s.names_truncated, 4);
}

#[test]
fn bytes_waiting_for_a_trace_are_bounded_and_small_batches_cost_their_size() {
    let bound = 256 * 1024;
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_buffered_bytes(bound))
        .build();
    let root = tracer.start_root("root");
    let ctx = root.handle();
    // 1,000 scopes of one small span each (as polls of an async task hand them over): each
    // handed-over batch is sized to its span, not to the thread's grown buffer.
    for _ in 0..1_000 {
        let _a = tracer.attach(&ctx);
        let mut s = tracer.start_span("poll");
        s.set_attribute("n", 1);
    }
    let per_span = tracer.stats().bytes_queued / 1_000;
    assert!(
        per_span < 1_024,
        "{per_span} bytes per queued one-span batch"
    );
    // Large values: the byte bound holds and refusals are counted.
    for _ in 0..200 {
        let _a = tracer.attach(&ctx);
        let mut s = tracer.start_span("big");
        s.set_attribute("blob", "x".repeat(4_000));
    }
    let s = tracer.stats();
    assert!(s.bytes_queued <= bound as u64, "{}", s.bytes_queued);
    assert!(s.dropped.buffer_full > 0);
    let trace = root.finish();
    let s = tracer.stats();
    assert_eq!(s.bytes_queued, 0);
    assert_eq!(trace.spans.len() as u64 + s.dropped.buffer_full, 1_201);
    assert_eq!(s.spans_finished, s.spans_delivered + s.dropped.total());
}

struct Stall(std::sync::mpsc::Receiver<()>);

impl SpanExporter for Stall {
    fn export(
        &mut self,
        _: &[reqtrace_core::SpanData],
        _: &reqtrace_core::Resource,
    ) -> Result<(), reqtrace_core::ExportError> {
        let _ = self.0.recv();
        Ok(())
    }
}

#[test]
fn bytes_waiting_for_export_are_bounded() {
    let (release, rx) = std::sync::mpsc::channel();
    let bound = 128 * 1024;
    let tracer = RequestTracer::builder("svc")
        .exporter(
            Stall(rx),
            BatchConfig::default()
                .max_queue_bytes(bound)
                .max_export_batch_size(8)
                .max_concurrent_exports(1)
                .shutdown_timeout(Duration::from_millis(200)),
        )
        .build();
    for _ in 0..100 {
        tracer.start_trace();
        for _ in 0..10 {
            let mut s = tracer.start_span("s");
            s.set_attribute("blob", "x".repeat(1_000));
        }
        tracer.end_trace();
    }
    let s = tracer.stats();
    assert!(
        s.export.bytes_in_queue <= bound as u64,
        "{}",
        s.export.bytes_in_queue
    );
    assert!(s.export.dropped_queue_full > 0);
    drop(release);
    let _ = tracer.shutdown();
}
