//! A service instrumented only with `tracing` (`#[instrument]`) records its requests: a span
//! opened with no parent while no reqtrace trace is current starts a trace (a `RootSpan` owned
//! by the span, finished when it closes) — unless the layer is built with
//! `start_traces(false)`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqtrace_core::{
    BatchConfig, InMemoryExporter, RequestTracer, Sampler, SpanData, Trace, TraceId, Value,
};
use reqtrace_tracing::ReqtraceLayer;
use tracing::{Dispatch, Instrument, dispatcher, instrument};
use tracing_subscriber::prelude::*;

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let mut it = spans.iter().filter(|s| s.name == name);
    let s = it
        .next()
        .unwrap_or_else(|| panic!("no {name} in {spans:?}"));
    assert!(it.next().is_none(), "two spans named {name}");
    s
}

#[instrument]
fn outer(n: u64) -> u64 {
    middle() + n
}

#[instrument]
fn middle() -> u64 {
    tracing::info!(rows = 1, "queried");
    1
}

/// A layer whose started traces land in the returned list.
fn collecting(tracer: &RequestTracer) -> (Dispatch, Arc<Mutex<Vec<Trace>>>) {
    let traces = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&traces);
    let dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()).on_trace(move |t| sink.lock().unwrap().push(t)))
        .into();
    (dispatch, traces)
}

#[test]
fn a_span_with_no_parent_starts_a_trace() {
    let tracer = RequestTracer::new("svc");
    let (dispatch, traces) = collecting(&tracer);
    dispatcher::with_default(&dispatch, || {
        assert_eq!(outer(2), 3);
        assert_eq!(outer(3), 4);
    });
    let traces = traces.lock().unwrap();
    assert_eq!(traces.len(), 2, "one trace per top-level call");
    assert_ne!(traces[0].trace_id, traces[1].trace_id);
    for (t, n) in traces.iter().zip([2, 3]) {
        assert_eq!(t.spans.len(), 2);
        let o = named(&t.spans, "outer");
        assert_eq!(o.parent_id, None);
        assert_eq!(o.attribute("n"), Some(&Value::I64(n)));
        let m = named(&t.spans, "middle");
        assert_eq!(m.parent_id, Some(o.span_id));
        assert_eq!(m.events[0].name, "queried");
    }
    let s = tracer.stats();
    assert_eq!(s.traces_started, 2);
    assert_eq!(s.traces_ended, 2);
    assert_eq!(s.traces_open, 0);
    assert_eq!(s.spans_started, 4);
    assert_eq!(s.spans_delivered, 4);
    assert_eq!(s.dropped.total(), 0);
    assert_eq!(s.spans_without_trace, 0);
}

/// Inside a reqtrace trace the span is a span of it: no trace is started.
#[test]
fn inside_a_trace_no_trace_is_started() {
    let tracer = RequestTracer::new("svc");
    let (dispatch, traces) = collecting(&tracer);
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        outer(1);
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 2);
    });
    assert!(traces.lock().unwrap().is_empty());
    assert_eq!(tracer.stats().traces_started, 1);
}

/// An unsampled root's children follow its decision (they do not start traces of their own).
#[test]
fn an_unsampled_root_records_nothing_below_it() {
    let tracer = RequestTracer::builder("svc")
        .sampler(Sampler::AlwaysOff)
        .build();
    let (dispatch, traces) = collecting(&tracer);
    dispatcher::with_default(&dispatch, || outer(1));
    let traces = traces.lock().unwrap();
    assert_eq!(traces.len(), 1);
    assert!(traces[0].spans.is_empty());
    let s = tracer.stats();
    assert_eq!(s.traces_started, 1);
    assert_eq!(s.traces_unsampled, 1);
    assert_eq!(s.spans_started, 0);
}

#[test]
fn with_start_traces_false_nothing_is_recorded() {
    let tracer = RequestTracer::new("svc");
    let traces = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&traces);
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(
            ReqtraceLayer::new(tracer.clone())
                .start_traces(false)
                .on_trace(move |t| sink.lock().unwrap().push(t)),
        )
        .into();
    dispatcher::with_default(&dispatch, || outer(1));
    assert!(traces.lock().unwrap().is_empty());
    let s = tracer.stats();
    assert_eq!(s.traces_started, 0);
    assert_eq!(s.spans_started, 0);
    assert_eq!(s.spans_without_trace, 2);
}

#[instrument(skip(t))]
async fn request(t: RequestTracer, id: i64) -> i64 {
    tokio::task::yield_now().await;
    let a = load(id).await;
    let child = tokio::spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            drop(t.start_span("native"));
        }
        .instrument(tracing::info_span!("spawned")),
    );
    child.await.unwrap();
    a
}

#[instrument]
async fn load(id: i64) -> i64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    id
}

/// 200 concurrent requests of a service instrumented only with `tracing`, spawned on a
/// multi-thread runtime with no trace current: the exporter receives 200 complete traces.
#[test]
fn an_instrument_only_async_service_is_recorded() {
    const N: i64 = 200;
    let sink = InMemoryExporter::new();
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), BatchConfig::default())
        .build();
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()))
        .into();
    // The dispatcher is the default on every runtime thread, as a global default would be
    // (tracing closes a span's parent through the calling thread's default dispatcher, so a
    // per-task `with_subscriber` is not enough; a global default cannot be set per test).
    let d = dispatch.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .on_thread_start(move || std::mem::forget(dispatcher::set_default(&d)))
        .build()
        .unwrap();
    let t = tracer.clone();
    dispatcher::with_default(&dispatch, || {
        rt.block_on(async move {
            let handles: Vec<_> = (0..N)
                .map(|i| tokio::spawn(request(t.clone(), i)))
                .collect();
            for (i, h) in (0..N).zip(handles) {
                assert_eq!(h.await.unwrap(), i);
            }
        });
    });
    tracer.force_flush(Duration::from_secs(30)).unwrap();
    let mut traces: BTreeMap<TraceId, Vec<SpanData>> = BTreeMap::new();
    for s in sink.take() {
        traces.entry(s.trace_id).or_default().push(s);
    }
    assert_eq!(traces.len(), N as usize);
    let mut ids = Vec::new();
    for spans in traces.values() {
        assert_eq!(spans.len(), 4, "{spans:?}");
        let root = named(spans, "request");
        assert_eq!(root.parent_id, None);
        let Some(Value::I64(id)) = root.attribute("id") else {
            panic!("no id on {root:?}")
        };
        ids.push(*id);
        assert_eq!(named(spans, "load").attribute("id"), Some(&Value::I64(*id)));
        assert_eq!(named(spans, "load").parent_id, Some(root.span_id));
        let spawned = named(spans, "spawned");
        assert_eq!(spawned.parent_id, Some(root.span_id));
        assert_eq!(named(spans, "native").parent_id, Some(spawned.span_id));
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
    let s = tracer.stats();
    assert_eq!(s.traces_started, N as u64);
    assert_eq!(s.traces_ended, N as u64);
    assert_eq!(s.traces_open, 0);
    assert_eq!(s.spans_started, 4 * N as u64);
    assert_eq!(s.spans_delivered, 4 * N as u64);
    assert_eq!(s.dropped.total(), 0);
}
