//! Owned roots (`RootSpan`), futures (`Instrumented`, `FutureExt`, `bind`) and the seed-style
//! trace carried across `.await` by an instrumented future — driven by hand-written polling, so
//! every interleaving is chosen by the test (the tokio tests live in `async_tokio.rs`).

use std::task::Poll;

use reqtrace_core::{FutureExt, InMemoryExporter, KeyValue, RequestTracer, SpanKind, StatusCode};

mod common;
use common::{YieldOnce, block_on, parent_of, poll_once};

#[test]
fn a_root_finished_on_another_thread_returns_every_span() {
    let tracer = RequestTracer::new("svc");
    let mut root = tracer
        .trace_builder()
        .kind(SpanKind::Server)
        .attribute("request.id", 7)
        .start_root("GET /x");
    root.set_attribute("http.route", "/x");
    let ctx = root.handle();
    let t = tracer.clone();
    std::thread::spawn(move || {
        let mut s = t.start_span_with_parent("db", &ctx);
        s.set_attribute("rows", 3);
        let _c = t.start_span("decode");
    })
    .join()
    .unwrap();
    // The root moves to another thread and is finished there.
    let trace = std::thread::spawn(move || root.finish()).join().unwrap();
    assert_eq!(trace.spans.len(), 3);
    assert_eq!(parent_of(&trace, "db"), Some("GET /x"));
    assert_eq!(parent_of(&trace, "decode"), Some("db"));
    let r = trace.span("GET /x").unwrap();
    assert_eq!(r.parent_id, None);
    assert_eq!(r.kind, SpanKind::Server);
    // Trace-level attributes are carried by the root span and kept on the trace.
    assert_eq!(r.attribute("request.id").and_then(|v| v.as_i64()), Some(7));
    assert_eq!(
        r.attribute("http.route").and_then(|v| v.as_str()),
        Some("/x")
    );
    assert_eq!(trace.attributes, vec![KeyValue::new("request.id", 7)]);
    assert_eq!(
        trace
            .span("db")
            .unwrap()
            .attribute("rows")
            .unwrap()
            .as_i64(),
        Some(3)
    );
    let s = tracer.stats();
    assert_eq!(s.spans_started, 3);
    assert_eq!(s.spans_finished, 3);
    assert_eq!(s.spans_delivered, 3);
    assert_eq!(s.traces_started, 1);
    assert_eq!(s.traces_ended, 1);
    assert_eq!(s.traces_open, 0);
    assert_eq!(s.dropped.total(), 0);
}

#[test]
fn a_root_continues_a_remote_parent() {
    let tracer = RequestTracer::new("svc");
    let upstream = RequestTracer::new("up").start_root("client");
    let remote = upstream.context();
    let root = tracer
        .trace_builder()
        .parent(&remote)
        .trace_state("vendor=1")
        .start_root("server");
    assert_eq!(root.trace_id(), remote.trace_id);
    assert_eq!(root.trace_state(), Some("vendor=1"));
    let trace = root.finish();
    let s = &trace.spans[0];
    assert_eq!(s.parent_id, Some(remote.span_id));
    assert!(s.parent_is_remote);
    assert_eq!(trace.remote_parent_id, Some(remote.span_id));
    assert_eq!(trace.trace_state.as_deref(), Some("vendor=1"));
    drop(upstream);
}

#[test]
fn root_run_yields_output_and_trace_across_polls() {
    let tracer = RequestTracer::new("svc");
    let t = tracer.clone();
    let fut = tracer.start_root("request").run(async move {
        let _a = t.start_span("before");
        drop(_a);
        YieldOnce::default().await;
        let _b = t.start_span("after");
        42
    });
    let (out, trace) = block_on(fut);
    assert_eq!(out, 42);
    assert_eq!(trace.spans.len(), 3);
    assert_eq!(parent_of(&trace, "before"), Some("request"));
    assert_eq!(parent_of(&trace, "after"), Some("request"));
}

/// The measured failure, made deterministic: two requests interleaved on one thread,
/// each `start_trace(); in_span(work).await; end_trace()`. The trace frame leaves the thread
/// with the future at each `.await`, so each request ends its own trace.
#[test]
fn interleaved_seed_style_requests_each_end_their_own_trace() {
    let tracer = RequestTracer::new("svc");
    let request = |name: &'static str| {
        let t = tracer.clone();
        async move {
            let id = t.start_trace();
            let t2 = t.clone();
            t.in_span(name, async move {
                let _s = t2.start_span("step1");
                drop(_s);
                YieldOnce::default().await;
                let _s = t2.start_span("step2");
            })
            .await;
            (id, t.end_trace())
        }
    };
    let mut a = Box::pin(request("a"));
    let mut b = Box::pin(request("b"));
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    // b's trace was started after a's on this thread; a resumes first.
    let Poll::Ready((id_a, ta)) = poll_once(a.as_mut()) else {
        panic!("a not done")
    };
    let Poll::Ready((id_b, tb)) = poll_once(b.as_mut()) else {
        panic!("b not done")
    };
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    assert_eq!(ta.trace_id, id_a);
    assert_eq!(tb.trace_id, id_b);
    for (t, name) in [(&ta, "a"), (&tb, "b")] {
        assert_eq!(t.spans.len(), 3, "{t:#?}");
        assert_eq!(parent_of(t, "step1"), Some(name));
        assert_eq!(parent_of(t, "step2"), Some(name));
    }
    let s = tracer.stats();
    assert_eq!(s.traces_parked, 2);
    assert_eq!(s.spans_delivered, 6);
    assert_eq!(s.traces_open, 0);
}

/// The same request resumed on another thread: its trace frame follows it there.
#[test]
fn a_seed_style_trace_follows_its_future_to_another_thread() {
    let tracer = RequestTracer::new("svc");
    let t = tracer.clone();
    let fut = async move {
        t.start_trace();
        let t2 = t.clone();
        t.in_span("request", async move {
            YieldOnce::default().await;
            let _s = t2.start_span("resumed");
        })
        .await;
        t.end_trace()
    };
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_pending());
    // Nothing of the request is left on this thread.
    assert!(tracer.trace_id().is_none());
    let trace = std::thread::spawn(move || block_on(fut))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(trace.spans.len(), 2);
    assert_eq!(parent_of(&trace, "resumed"), Some("request"));
}

#[test]
fn in_span_takes_its_parent_when_called_not_when_polled() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let g = root.attach();
    let t = tracer.clone();
    let fut = tracer.in_span("child", async move {
        let _x = t.start_span("grandchild");
    });
    drop(g);
    // Polled on another thread, after the parent scope ended here.
    std::thread::spawn(move || block_on(fut)).join().unwrap();
    let trace = root.finish();
    assert_eq!(parent_of(&trace, "child"), Some("root"));
    assert_eq!(parent_of(&trace, "grandchild"), Some("child"));
}

#[test]
fn context_carriers_for_spawned_work() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let ctx = root.handle();
    let g = root.attach();
    let t1 = tracer.clone();
    let task = tracer.in_current_span(async move {
        let _s = t1.start_span("task");
    });
    let t2 = tracer.clone();
    let blocking = tracer.bind(move || drop(t2.start_span("blocking")));
    drop(g);
    let t3 = tracer.clone();
    let explicit = async move {
        let _s = t3.start_span("explicit");
    }
    .with_context(ctx);
    std::thread::spawn(move || {
        block_on(task);
        blocking();
        block_on(explicit);
    })
    .join()
    .unwrap();
    let trace = root.finish();
    for name in ["task", "blocking", "explicit"] {
        assert_eq!(parent_of(&trace, name), Some("root"), "{name}");
    }
    assert_eq!(trace.spans.len(), 4);
}

#[test]
fn a_future_dropped_before_completion_ends_its_span() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let span = tracer.start_detached_span_with_parent("cancelled", &root.handle());
    let mut fut = Box::pin(YieldOnce::default().in_span(span));
    assert!(poll_once(fut.as_mut()).is_pending());
    drop(fut);
    let trace = root.finish();
    assert_eq!(parent_of(&trace, "cancelled"), Some("root"));
}

#[test]
fn dropping_a_root_without_an_exporter_counts_its_spans_abandoned() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let _c = tracer.start_detached_span_with_parent("child", &root.handle());
    drop(_c);
    drop(root);
    let s = tracer.stats();
    assert_eq!(s.spans_finished, 2);
    assert_eq!(s.dropped.abandoned, 2);
    assert_eq!(s.traces_abandoned, 1);
    assert_eq!(s.spans_delivered, 0);
    assert_eq!(s.spans_finished, s.spans_delivered + s.dropped.total());
}

#[test]
fn dropping_a_root_sends_its_spans_to_the_exporter() {
    let sink = InMemoryExporter::new();
    let tracer = RequestTracer::builder("svc")
        .exporter(sink.clone(), reqtrace_core::BatchConfig::default())
        .build();
    let mut root = tracer
        .trace_builder()
        .attribute("tenant", "acme")
        .start_root("root");
    root.set_error("boom");
    let child = tracer.start_detached_span_with_parent("child", &root.handle());
    drop(child);
    drop(root);
    tracer
        .force_flush(std::time::Duration::from_secs(10))
        .unwrap();
    let spans = sink.spans();
    assert_eq!(spans.len(), 2);
    let root = spans.iter().find(|s| s.name == "root").unwrap();
    assert_eq!(root.status, StatusCode::Error);
    assert_eq!(root.error.as_deref(), Some("boom"));
    // The trace-level attribute leaves the process on the root span.
    assert_eq!(root.attribute("tenant").unwrap().as_str(), Some("acme"));
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    assert!(child.attribute("tenant").is_none());
    assert_eq!(tracer.stats().export.exported, 2);
}

#[test]
fn a_panicking_future_leaves_nothing_attached_on_the_polling_thread() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    let span = tracer.start_detached_span_with_parent("boom", &root.handle());
    let fut = async { panic!("handler failed") }.in_span(span);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(fut)));
    assert!(caught.is_err());
    // The failed request's context is not current here any more.
    assert!(!tracer.has_trace());
    assert!(tracer.current_span_handle().is_none());
    let trace = root.finish();
    let boom = trace.span("boom").unwrap();
    assert_eq!(boom.status, StatusCode::Error);
    assert_eq!(boom.error.as_deref(), Some("panicked"));
}
