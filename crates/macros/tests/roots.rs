//! `#[trace]` in async services: an `async fn`'s span takes its parent when the function is
//! called (so `tokio::spawn(traced())` keeps it), and a traced function called with no trace
//! current starts one — its span is the root, finished when the function returns — unless
//! `root = false`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqtrace_core::{
    BatchConfig, InMemoryExporter, RequestTracer, SpanData, Stats, TraceId, Value,
};
use reqtrace_macros::trace;

fn exporting() -> (RequestTracer, InMemoryExporter) {
    let sink = InMemoryExporter::new();
    let t = RequestTracer::builder("svc")
        .exporter(sink.clone(), BatchConfig::default())
        .build();
    (t, sink)
}

/// Flushes and returns the exported spans grouped by trace, with the stats.
fn exported(
    t: &RequestTracer,
    sink: &InMemoryExporter,
) -> (BTreeMap<TraceId, Vec<SpanData>>, Stats) {
    t.force_flush(Duration::from_secs(30)).unwrap();
    let mut traces: BTreeMap<TraceId, Vec<SpanData>> = BTreeMap::new();
    for s in sink.take() {
        traces.entry(s.trace_id).or_default().push(s);
    }
    (traces, t.stats())
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let mut it = spans.iter().filter(|s| s.name == name);
    let s = it
        .next()
        .unwrap_or_else(|| panic!("no {name} in {spans:?}"));
    assert!(it.next().is_none(), "two spans named {name}");
    s
}

#[trace(tracer = &tracer, name = "handle", args(id))]
async fn handle(tracer: RequestTracer, id: i64) -> i64 {
    tokio::task::yield_now().await;
    let loaded = load(tracer.clone(), id).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    loaded + check(&tracer, id)
}

#[trace(tracer = &tracer, name = "load")]
async fn load(tracer: RequestTracer, id: i64) -> i64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    drop(tracer.start_span("load.query"));
    id
}

#[trace(tracer = tracer, name = "check", args(id))]
fn check(tracer: &RequestTracer, id: i64) -> i64 {
    drop(tracer.start_span("check.inner"));
    id
}

#[trace(tracer = &tracer, name = "quiet", root = false)]
async fn quiet(tracer: RequestTracer) {
    tokio::task::yield_now().await;
    drop(tracer.start_span("quiet.inner"));
}

#[trace(tracer = tracer, name = "quiet_sync", root = false)]
fn quiet_sync(tracer: &RequestTracer) {}

/// Checks one request's trace as `handle` started it: 5 spans, `handle` the root.
fn check_request(spans: &[SpanData]) -> i64 {
    assert_eq!(spans.len(), 5, "{spans:?}");
    let root = named(spans, "handle");
    assert_eq!(root.parent_id, None);
    let load = named(spans, "load");
    let check = named(spans, "check");
    assert_eq!(load.parent_id, Some(root.span_id));
    assert_eq!(check.parent_id, Some(root.span_id));
    assert_eq!(named(spans, "load.query").parent_id, Some(load.span_id));
    assert_eq!(named(spans, "check.inner").parent_id, Some(check.span_id));
    let Some(Value::I64(id)) = root.attribute("id") else {
        panic!("root without id: {root:?}")
    };
    assert_eq!(check.attribute("id"), Some(&Value::I64(*id)));
    assert!(spans.iter().all(|s| !s.unfinished));
    *id
}

/// The case: `tokio::spawn(traced_fn())` used to lose its parent (the span started at
/// the first poll, on a worker thread with no trace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_traced_fn_keeps_the_parent_of_its_call() {
    let t = RequestTracer::new("svc");
    let root = t.start_root("request");
    let t2 = t.clone();
    let (out, trace) = root
        .run(async move {
            // Called here (its parent is taken now), first polled on another task.
            let fut = load(t2.clone(), 4);
            tokio::spawn(fut).await.unwrap()
        })
        .await;
    assert_eq!(out, 4);
    assert_eq!(trace.spans.len(), 3);
    let request = named(&trace.spans, "request");
    let load = named(&trace.spans, "load");
    assert_eq!(load.parent_id, Some(request.span_id));
    assert_eq!(
        named(&trace.spans, "load.query").parent_id,
        Some(load.span_id)
    );
    let s = t.stats();
    assert_eq!(s.traces_started, 1);
    assert_eq!(s.spans_without_trace, 0);
}

/// A service instrumented only with `#[trace]`: 200 requests, each spawned with no trace
/// current, each becomes its own complete trace at the exporter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unparented_async_fn_starts_a_trace() {
    const N: usize = 200;
    let (t, sink) = exporting();
    let handles: Vec<_> = (0..N as i64)
        .map(|i| tokio::spawn(handle(t.clone(), i)))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), 2 * i as i64);
    }
    let (traces, s) = exported(&t, &sink);
    assert_eq!(traces.len(), N);
    let mut ids: Vec<i64> = traces.values().map(|spans| check_request(spans)).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..N as i64).collect::<Vec<_>>());
    assert_eq!(s.traces_started, N as u64);
    assert_eq!(s.traces_ended, N as u64);
    assert_eq!(s.traces_open, 0);
    assert_eq!(s.spans_started, 5 * N as u64);
    assert_eq!(s.spans_delivered, 5 * N as u64);
    assert_eq!(s.dropped.total(), 0);
    assert_eq!(s.spans_without_trace, 0);
}

#[test]
fn an_unparented_sync_fn_starts_a_trace() {
    let (t, sink) = exporting();
    assert_eq!(check(&t, 9), 9);
    let (traces, s) = exported(&t, &sink);
    assert_eq!(traces.len(), 1);
    let spans = traces.values().next().unwrap();
    assert_eq!(spans.len(), 2);
    let root = named(spans, "check");
    assert_eq!(root.parent_id, None);
    assert_eq!(root.attribute("id"), Some(&Value::I64(9)));
    assert_eq!(named(spans, "check.inner").parent_id, Some(root.span_id));
    assert_eq!(s.traces_started, 1);
    assert_eq!(s.traces_ended, 1);
    assert_eq!(s.spans_delivered, 2);
    assert_eq!(s.dropped.total(), 0);
}

/// Inside a trace, a traced function is a span of it: no new trace.
#[test]
fn inside_a_trace_no_trace_is_started() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    check(&t, 1);
    let trace = t.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 2);
    assert_eq!(t.stats().traces_started, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn with_root_false_nothing_is_recorded_outside_a_trace() {
    let (t, sink) = exporting();
    quiet(t.clone()).await;
    quiet_sync(&t);
    let (traces, s) = exported(&t, &sink);
    assert!(traces.is_empty());
    assert_eq!(s.traces_started, 0);
    assert_eq!(s.spans_started, 0);
    // quiet, quiet.inner, quiet_sync: each started with no trace.
    assert_eq!(s.spans_without_trace, 3);

    // Called inside a trace they are recorded as usual. (Called *before* `run` makes the
    // root current, `quiet` would take no parent: the parent is taken at the call.)
    let root = t.start_root("request");
    let t2 = t.clone();
    let ((), _) = root.run(async move { quiet(t2).await }).await;
    let (traces, _) = exported(&t, &sink);
    let spans = traces.values().next().unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(
        named(spans, "quiet").parent_id,
        Some(named(spans, "request").span_id)
    );
}

#[trace(tracer = &tracer, name = "patterns")]
async fn patterns(tracer: RequestTracer, (a, _): (u32, u32), mut c: u32, _unused: String) -> u32 {
    tokio::task::yield_now().await;
    c += a;
    c
}

/// Parameters bound by patterns, `mut` ones and unused ones behave as in a plain `async fn`.
#[tokio::test(flavor = "current_thread")]
async fn parameters_work_as_in_an_async_fn() {
    let t = RequestTracer::new("svc");
    let root = t.start_root("request");
    let t2 = t.clone();
    let (out, trace) = root
        .run(async move { patterns(t2, (1, 2), 10, String::new()).await })
        .await;
    assert_eq!(out, 11);
    assert_eq!(
        named(&trace.spans, "patterns").parent_id,
        Some(named(&trace.spans, "request").span_id)
    );
}

trait Store {
    async fn get(&self, key: &str) -> usize;
}

struct Mem {
    tracer: RequestTracer,
}

impl Store for Mem {
    #[trace(tracer = &self.tracer, name = "mem.get", debug_args(key))]
    async fn get(&self, key: &str) -> usize {
        tokio::task::yield_now().await;
        key.len()
    }
}

#[trace(tracer = &tracer, name = "generic", debug_args(value))]
async fn generic<T: std::fmt::Debug + Send>(tracer: RequestTracer, value: T) -> T {
    tokio::task::yield_now().await;
    value
}

/// Methods of traits with `async fn`, borrowed arguments and generic functions keep working
/// with the rewritten signature.
#[tokio::test(flavor = "current_thread")]
async fn trait_methods_borrows_and_generics() {
    let mem = Mem {
        tracer: RequestTracer::new("svc"),
    };
    let root = mem.tracer.start_root("request");
    let t = mem.tracer.clone();
    let mem = &mem;
    let key = String::from("abc");
    let (out, trace) = root
        .run(async move { (mem.get(&key).await, generic(t, vec![1, 2]).await) })
        .await;
    assert_eq!(out, (3, vec![1, 2]));
    let request = named(&trace.spans, "request");
    let get = named(&trace.spans, "mem.get");
    assert_eq!(get.parent_id, Some(request.span_id));
    assert_eq!(get.attribute("key"), Some(&Value::from("\"abc\"")));
    let g = named(&trace.spans, "generic");
    assert_eq!(g.attribute("value"), Some(&Value::from("[1, 2]")));
}
