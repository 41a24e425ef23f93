//! Async services on tokio: many concurrent requests whose futures move between worker threads
//! (multi-thread runtime) or interleave on one thread (current-thread runtime). Every request
//! must get exactly its own complete, correctly parented trace — pulled from a `RootSpan`,
//! pulled from `end_trace` (the seed's style, the trace carried across `.await` by the
//! instrumented future), or received by an exporter — with exact counts in `stats()`.
//!
//! One request has 9 spans, shaped like a real handler:
//!
//! ```text
//! request                     the root (RootSpan, or in_span under start_trace)
//! ├ step1                     three nested async steps, sleep / yield_now between them
//! │ └ step2
//! │   └ step3
//! │     └ db                  a stack span (SpanGuard) inside a poll
//! ├ spawned                   a tokio::spawn child
//! ├ blocking                  a spawn_blocking child (bind)
//! ├ join_a                    join! of two sub-futures
//! └ join_b
//! ```
//!
//! Every span carries `req = <request number>`, so a span that lands in another request's
//! trace is caught.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

mod common;
use common::{YieldOnce, poll_once};

use reqtrace_core::{
    BatchConfig, FutureExt, InMemoryExporter, RequestTracer, SpanData, Stats, TraceId, Value,
};

const REQUESTS: usize = 500;
const SPANS_PER_REQUEST: usize = 9;

/// (span name, parent's name) for every span of one request.
const SHAPE: [(&str, Option<&str>); SPANS_PER_REQUEST] = [
    ("request", None),
    ("step1", Some("request")),
    ("step2", Some("step1")),
    ("step3", Some("step2")),
    ("db", Some("step3")),
    ("spawned", Some("request")),
    ("blocking", Some("request")),
    ("join_a", Some("request")),
    ("join_b", Some("request")),
];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `fut` under a span named `name` (a child of the current span, taken now) tagged `req = i`.
fn step<F: Future>(
    t: &RequestTracer,
    name: &'static str,
    i: i64,
    fut: F,
) -> reqtrace_core::Instrumented<F> {
    let mut span = t.start_detached_span(name);
    span.set_attribute("req", i);
    fut.in_span(span)
}

/// One request's work below its root span.
async fn work(t: RequestTracer, i: i64) {
    let t1 = t.clone();
    step(&t, "step1", i, async move {
        tokio::time::sleep(ms(1)).await;
        let t2 = t1.clone();
        step(&t1, "step2", i, async move {
            tokio::task::yield_now().await;
            let t3 = t2.clone();
            step(&t2, "step3", i, async move {
                tokio::time::sleep(ms(1)).await;
                {
                    let mut db = t3.start_span("db");
                    db.set_attribute("req", i);
                }
                tokio::task::yield_now().await;
            })
            .await;
        })
        .await;
    })
    .await;

    // A tokio::spawn child: `step` takes its parent now, in this poll.
    let child = tokio::spawn(step(&t, "spawned", i, async {
        tokio::task::yield_now().await;
        tokio::time::sleep(ms(1)).await;
    }));
    child.await.unwrap();

    // A spawn_blocking child: `bind` carries the current context to the blocking thread.
    let tb = t.clone();
    tokio::task::spawn_blocking(t.bind(move || {
        let mut s = tb.start_span("blocking");
        s.set_attribute("req", i);
    }))
    .await
    .unwrap();

    tokio::join!(
        step(&t, "join_a", i, async {
            tokio::task::yield_now().await;
            tokio::time::sleep(ms(1)).await;
        }),
        step(&t, "join_b", i, async {
            tokio::time::sleep(ms(1)).await;
            tokio::task::yield_now().await;
        }),
    );
}

/// Checks one trace's spans against [`SHAPE`]; returns its request number.
fn check_tree(trace_id: TraceId, spans: &[SpanData]) -> Result<i64, String> {
    if spans.len() != SPANS_PER_REQUEST {
        let names: Vec<_> = spans.iter().map(|s| s.name.as_ref()).collect();
        return Err(format!("trace {trace_id}: {} spans {names:?}", spans.len()));
    }
    let by_name: HashMap<&str, &SpanData> = spans.iter().map(|s| (s.name.as_ref(), s)).collect();
    if by_name.len() != SPANS_PER_REQUEST {
        return Err(format!("trace {trace_id}: repeated span names"));
    }
    let ids: HashSet<_> = spans.iter().map(|s| s.span_id).collect();
    if ids.len() != SPANS_PER_REQUEST {
        return Err(format!("trace {trace_id}: repeated span ids"));
    }
    let req = match by_name.get("request").and_then(|s| s.attribute("req")) {
        Some(Value::I64(i)) => *i,
        other => return Err(format!("trace {trace_id}: request's req = {other:?}")),
    };
    for (name, parent) in SHAPE {
        let Some(s) = by_name.get(name) else {
            return Err(format!("trace {trace_id}: no span {name}"));
        };
        if s.trace_id != trace_id {
            return Err(format!(
                "{name}: trace id {} in trace {trace_id}",
                s.trace_id
            ));
        }
        if s.unfinished {
            return Err(format!("trace {trace_id}: {name} unfinished"));
        }
        if s.attribute("req") != Some(&Value::I64(req)) {
            return Err(format!(
                "trace {trace_id} (req {req}): {name} has req {:?}",
                s.attribute("req")
            ));
        }
        let want = parent.map(|p| by_name[p].span_id);
        if s.parent_id != want {
            return Err(format!(
                "trace {trace_id}: {name}'s parent {:?}, want {parent:?} {want:?}",
                s.parent_id
            ));
        }
    }
    Ok(req)
}

/// Groups the spans by trace, checks every tree, and that requests 0..n each came once.
fn check_exported(sink: &InMemoryExporter, n: usize) {
    {
        let spans = sink.take();
        assert_eq!(spans.len(), n * SPANS_PER_REQUEST, "spans at the exporter");
        let mut traces: BTreeMap<TraceId, Vec<SpanData>> = BTreeMap::new();
        for s in spans {
            traces.entry(s.trace_id).or_default().push(s);
        }
        assert_eq!(traces.len(), n, "traces at the exporter");
        let mut seen = vec![0u32; n];
        let mut bad = Vec::new();
        for (id, spans) in &traces {
            match check_tree(*id, spans) {
                Ok(req) => seen[usize::try_from(req).unwrap()] += 1,
                Err(e) => bad.push(e),
            }
        }
        assert!(
            bad.is_empty(),
            "{} bad traces, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(3)]
        );
        assert!(
            seen.iter().all(|&c| c == 1),
            "a request's trace missing or repeated"
        );
    }
}

/// How a request starts and ends its trace.
#[derive(Clone, Copy, Debug)]
enum Style {
    /// `tracer.trace_builder()…start_root("request")`, `root.run(work).await`.
    Root,
    /// `start_trace(); tracer.in_span("request", work).await; end_trace()`.
    Seed,
}

/// Runs `n` concurrent requests; each returns the trace it got back and its own number.
async fn serve(t: &RequestTracer, n: usize, style: Style) -> Vec<(i64, reqtrace_core::Trace)> {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let t = t.clone();
        handles.push(tokio::spawn(async move {
            let trace = match style {
                Style::Root => {
                    let mut root = t.start_root("request");
                    root.set_attribute("req", i);
                    let ((), trace) = root.run(work(t.clone(), i)).await;
                    trace
                }
                Style::Seed => {
                    let id = t.start_trace();
                    let mut fut = t.in_span("request", work(t.clone(), i));
                    fut.span_mut().unwrap().set_attribute("req", i);
                    fut.await;
                    let trace = t.end_trace().expect("end_trace found no trace");
                    assert_eq!(trace.trace_id, id, "end_trace returned another trace");
                    trace
                }
            };
            (i, trace)
        }));
    }
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// The counters after `n` requests have all finished and been delivered.
fn assert_exact(s: &Stats, n: usize) {
    let spans = (n * SPANS_PER_REQUEST) as u64;
    assert_eq!(s.spans_started, spans, "{s:#?}");
    assert_eq!(s.spans_finished, spans, "{s:#?}");
    assert_eq!(s.spans_delivered, spans, "{s:#?}");
    assert_eq!(s.dropped.total(), 0, "{s:#?}");
    assert_eq!(s.spans_unfinished, 0, "{s:#?}");
    assert_eq!(s.spans_without_trace, 0, "{s:#?}");
    assert_eq!(s.spans_queued, 0, "{s:#?}");
    assert_eq!(s.traces_started, n as u64, "{s:#?}");
    assert_eq!(s.traces_ended, n as u64, "{s:#?}");
    assert_eq!(s.traces_open, 0, "{s:#?}");
    assert_eq!(s.traces_abandoned, 0, "{s:#?}");
    assert_eq!(s.traces_evicted, 0, "{s:#?}");
}

/// Pull mode: each request checks the trace it got back.
async fn pull(style: Style) {
    let t = RequestTracer::new("svc");
    let got = serve(&t, REQUESTS, style).await;
    let mut bad = Vec::new();
    for (i, trace) in &got {
        match check_tree(trace.trace_id, &trace.spans) {
            Ok(req) if req == *i => {}
            Ok(req) => bad.push(format!("request {i} got request {req}'s trace")),
            Err(e) => bad.push(format!("request {i}: {e}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {REQUESTS} requests wrong, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
    let s = t.stats();
    assert_exact(&s, REQUESTS);
    if let Style::Seed = style {
        // Every request waited at least once inside `in_span` while holding its trace.
        assert!(s.traces_parked >= REQUESTS as u64, "{s:#?}");
    }
}

/// Push mode: the exporter receives every request's spans.
async fn push(style: Style, n: usize, config: BatchConfig) {
    let sink = InMemoryExporter::new();
    let t = RequestTracer::builder("svc")
        .exporter(sink.clone(), config)
        .build();
    let got = serve(&t, n, style).await;
    for (_, trace) in &got {
        assert!(trace.spans.is_empty(), "spans retained with an exporter");
    }
    t.force_flush(Duration::from_secs(30)).unwrap();
    let s = t.stats();
    assert_exact(&s, n);
    assert_eq!(s.export.exported, (n * SPANS_PER_REQUEST) as u64, "{s:#?}");
    assert_eq!(s.export.dropped_queue_full, 0, "{s:#?}");
    assert_eq!(s.export.in_queue, 0, "{s:#?}");
    check_exported(&sink, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_thread_root_pull() {
    pull(Style::Root).await;
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_root_pull() {
    pull(Style::Root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_thread_start_trace_pull() {
    pull(Style::Seed).await;
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_start_trace_pull() {
    pull(Style::Seed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_thread_root_exporter() {
    push(Style::Root, REQUESTS, BatchConfig::default()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_root_exporter() {
    push(Style::Root, REQUESTS, BatchConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_thread_start_trace_exporter() {
    push(Style::Seed, REQUESTS, BatchConfig::default()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn current_thread_start_trace_exporter() {
    push(Style::Seed, REQUESTS, BatchConfig::default()).await;
}

/// Issue 10: a burst of 2,000 async requests (18,000 spans, most arriving one per batch) with
/// the default `BatchConfig` drops nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_2000_requests_drops_nothing() {
    push(Style::Root, 2_000, BatchConfig::default()).await;
}

/// The smallest form of the burst: 10,000 traces of one span each (a root with no children),
/// each handed to the export worker as a one-span batch, with the default `BatchConfig`.
/// 10,000 spans is far below `max_queue_spans` (262,144 by default), so nothing may be dropped.
#[test]
fn one_span_batch_burst() {
    let sink = InMemoryExporter::new();
    let t = RequestTracer::builder("svc")
        .exporter(sink.clone(), BatchConfig::default())
        .build();
    for _ in 0..10_000 {
        drop(t.start_root("request"));
    }
    t.force_flush(Duration::from_secs(30)).unwrap();
    let s = t.stats();
    assert_eq!(s.dropped, reqtrace_core::DroppedSpans::default(), "{s:#?}");
    assert_eq!(s.export.exported, 10_000);
    assert_eq!(sink.len(), 10_000);
}

// ---------------------------------------------------------------------------------------------
// Each way of carrying the context into spawned work.

/// Runs `body` under a root and returns the finished trace's spans by name, with the root's id.
async fn under_root<F, Fut>(t: &RequestTracer, body: F) -> (HashMap<String, SpanData>, Stats)
where
    F: FnOnce(RequestTracer) -> Fut,
    Fut: Future<Output = ()>,
{
    let root = t.start_root("root");
    let ((), trace) = root.run(body(t.clone())).await;
    let spans = trace
        .spans
        .into_iter()
        .map(|s| (s.name.to_string(), s))
        .collect();
    (spans, t.stats())
}

fn assert_child_of_root(spans: &HashMap<String, SpanData>, name: &str) {
    let root = &spans["root"];
    let s = spans
        .get(name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:?}"));
    assert_eq!(s.parent_id, Some(root.span_id), "{name}");
    assert_eq!(s.trace_id, root.trace_id, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_with_in_current_span() {
    let t = RequestTracer::new("svc");
    let (spans, s) = under_root(&t, |t| async move {
        let t2 = t.clone();
        tokio::spawn(t.in_current_span(async move {
            tokio::task::yield_now().await;
            drop(t2.start_span("in task"));
        }))
        .await
        .unwrap();
    })
    .await;
    assert_eq!(spans.len(), 2);
    assert_child_of_root(&spans, "in task");
    assert_eq!(s.spans_without_trace, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_spawn_with_context() {
    let t = RequestTracer::new("svc");
    let (spans, _) = under_root(&t, |t| async move {
        let ctx = t.current_span_handle().unwrap();
        let t2 = t.clone();
        tokio::spawn(
            async move {
                tokio::time::sleep(ms(1)).await;
                drop(t2.start_span("in task"));
            }
            .with_context(ctx),
        )
        .await
        .unwrap();
    })
    .await;
    assert_eq!(spans.len(), 2);
    assert_child_of_root(&spans, "in task");
}

/// The control for the two tests above: a bare `tokio::spawn` loses the trace (the span is
/// not recorded and is counted as started without a trace), so the wrappers are what work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_tokio_spawn_loses_the_context() {
    let t = RequestTracer::new("svc");
    let (spans, s) = under_root(&t, |t| async move {
        let t2 = t.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(t2.start_span("in task"));
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(spans.len(), 1);
    assert_eq!(s.spans_without_trace, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_with_bind() {
    let t = RequestTracer::new("svc");
    let (spans, _) = under_root(&t, |t| async move {
        let t2 = t.clone();
        tokio::task::spawn_blocking(t.bind(move || {
            let _outer = t2.start_span("blocking");
            drop(t2.start_span("blocking.inner"));
        }))
        .await
        .unwrap();
    })
    .await;
    assert_eq!(spans.len(), 3);
    assert_child_of_root(&spans, "blocking");
    assert_eq!(
        spans["blocking.inner"].parent_id,
        Some(spans["blocking"].span_id)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn std_thread_spawn_with_bind() {
    let t = RequestTracer::new("svc");
    let (spans, _) = under_root(&t, |t| async move {
        let t2 = t.clone();
        let h = std::thread::spawn(t.bind(move || drop(t2.start_span("thread"))));
        tokio::task::spawn_blocking(move || h.join().unwrap())
            .await
            .unwrap();
    })
    .await;
    assert_eq!(spans.len(), 2);
    assert_child_of_root(&spans, "thread");
}

/// A root continued from a remote parent keeps its trace id and parent across tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_with_remote_parent_across_spawn() {
    let t = RequestTracer::new("svc");
    let remote = RequestTracer::new("client").start_root("client").context();
    let root = t.trace_builder().parent(&remote).start_root("server");
    let t2 = t.clone();
    let ((), trace) = root
        .run(async move {
            let t3 = t2.clone();
            tokio::spawn(t2.in_span("downstream", async move {
                tokio::task::yield_now().await;
                drop(t3.start_span("leaf"));
            }))
            .await
            .unwrap();
        })
        .await;
    assert_eq!(trace.trace_id, remote.trace_id);
    let server = trace.span("server").unwrap();
    assert_eq!(server.parent_id, Some(remote.span_id));
    let down = trace.span("downstream").unwrap();
    assert_eq!(down.parent_id, Some(server.span_id));
    assert_eq!(trace.span("leaf").unwrap().parent_id, Some(down.span_id));
    assert!(trace.spans.iter().all(|s| s.trace_id == remote.trace_id));
}

// ---------------------------------------------------------------------------------------------
// A future carrying a `start_trace` frame that is dropped before it completes.

/// An instrumented future that yields while the code around it holds a `start_trace` trace
/// takes that trace with it (so other tasks on the thread cannot end it). If the future is
/// then dropped unfinished — a `select!` branch that lost, a `timeout` — the trace must come
/// back: `end_trace` still returns it, with the future's span.
#[test]
fn a_future_dropped_while_carrying_the_trace_gives_it_back() {
    let t = RequestTracer::new("svc");
    let outer = t.start_trace();
    let inner = t.start_trace();
    let mut fut = Box::pin(t.in_span("cancelled", YieldOnce::default()));
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    let trace = t.end_trace().expect("the trace the future carried is gone");
    assert_eq!(trace.trace_id, inner, "end_trace returned the outer trace");
    assert_eq!(trace.spans.len(), 1);
    assert_eq!(trace.spans[0].name, "cancelled");
    assert_eq!(t.end_trace().unwrap().trace_id, outer);
}
