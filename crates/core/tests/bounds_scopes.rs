//! Every per-thread bound holds in every scope: `max_traces_per_thread` and
//! `max_open_spans_per_thread` inside `attach`, inside a closure run with `bind`, inside an
//! instrumented future's poll (across a pending), and after the future's parked trace frames are
//! put back on the next poll — with every evicted trace and refused span counted exactly.

use std::task::Poll;

use reqtrace_core::{FutureExt, Limits, RequestTracer, Stats};

mod common;
use common::{YieldOnce, parent_of, poll_once};

const MAX_TRACES: usize = 8;
const MAX_OPEN: usize = 16;

fn tracer() -> RequestTracer {
    RequestTracer::builder("svc")
        .limits(
            Limits::default()
                .max_traces_per_thread(MAX_TRACES)
                .max_open_spans_per_thread(MAX_OPEN),
        )
        .build()
}

/// Starts `n` traces with one finished span each.
fn start_traces(t: &RequestTracer, n: usize, span: &'static str) {
    for _ in 0..n {
        t.start_trace();
        drop(t.start_span(span));
    }
}

/// Starts `MAX_OPEN + extra` spans at once in the current frame; returns how many recorded.
fn open_past_the_bound(t: &RequestTracer, extra: usize) -> usize {
    let guards: Vec<_> = (0..MAX_OPEN + extra).map(|_| t.start_span("d")).collect();
    guards.iter().filter(|g| g.is_recording()).count()
}

/// Ends every trace `end_trace` finds on the calling thread; their span counts, innermost first.
fn end_all(t: &RequestTracer) -> Vec<usize> {
    std::iter::from_fn(|| t.end_trace().map(|tr| tr.spans.len())).collect()
}

/// With no span in motion: every span started finished, and every finished span was delivered
/// (in `delivered` spans of returned traces) or dropped.
fn assert_accounted(s: &Stats, delivered: usize) {
    assert_eq!(s.spans_started, s.spans_finished, "{s:#?}");
    assert_eq!(s.spans_delivered, delivered as u64, "{s:#?}");
    assert_eq!(
        s.spans_finished,
        s.spans_delivered + s.dropped.total(),
        "{s:#?}"
    );
    assert_eq!(s.traces_open, 0, "{s:#?}");
}

#[test]
fn a_span_ended_out_of_order_below_an_attached_scope_leaves_the_scope_whole() {
    let tracer = RequestTracer::new("svc");
    let root = tracer.start_root("root");
    tracer.start_trace();
    let a = tracer.start_span("a");
    let b = tracer.start_span("b");
    let scope = tracer.attach(&root.handle());
    // The outer trace's spans end while the scope is current (out of order, then the top).
    drop(a);
    drop(b);
    let c = tracer.start_span("c");
    let d = tracer.start_span("d");
    assert!(c.is_recording() && d.is_recording());
    drop(d);
    drop(c);
    let e = tracer.start_span("e");
    drop(scope); // closes nothing: "e" is still open and is closed as unfinished here
    drop(e);
    assert_eq!(tracer.end_trace().unwrap().spans.len(), 2);
    let trace = root.finish();
    assert_eq!(trace.spans.len(), 4, "{trace:#?}");
    assert_eq!(parent_of(&trace, "c"), Some("root"));
    assert_eq!(parent_of(&trace, "d"), Some("c"));
    assert_eq!(parent_of(&trace, "e"), Some("root"));
    assert!(trace.span("e").unwrap().unfinished);
    assert_accounted(&tracer.stats(), 2 + 4);
}

#[test]
fn bounds_hold_inside_attach() {
    let tracer = tracer();
    let root = tracer.start_root("root");
    let scope = tracer.attach(&root.handle());
    // The first trace keeps a span open; its guard outlives the trace's eviction.
    tracer.start_trace();
    let held = tracer.start_span("held");
    start_traces(&tracer, 99, "x");
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 92);
    assert_eq!(s.traces_abandoned, 92);
    assert_eq!(s.dropped.abandoned, 92);
    assert_eq!(s.spans_unfinished, 1, "the held span closed with its trace");
    assert_eq!(s.traces_open, 1 + 8);
    assert!(!held.is_recording());

    let guards: Vec<_> = (0..MAX_OPEN + 5).map(|_| tracer.start_span("d")).collect();
    assert_eq!(guards.iter().filter(|g| g.is_recording()).count(), MAX_OPEN);
    assert_eq!(tracer.stats().spans_depth_limited, 5);
    // The evicted span's guard is a no-op, even with another span in its old slot.
    let finished = tracer.stats().spans_finished;
    drop(held);
    assert_eq!(tracer.stats().spans_finished, finished);
    assert!(guards[0].is_recording());
    drop(guards);

    // Exactly eight trace frames on the thread, newest first; the scope is still current.
    assert_eq!(end_all(&tracer), [1 + MAX_OPEN, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(tracer.trace_id(), Some(root.trace_id()));
    drop(scope);
    assert_eq!(root.finish().spans.len(), 1);
    assert_accounted(&tracer.stats(), 1 + MAX_OPEN + 7 + 1);
}

#[test]
fn bounds_hold_inside_bind() {
    let tracer = tracer();
    let root = tracer.start_root("root");
    let bound = {
        let _g = root.attach();
        let t = tracer.clone();
        tracer.bind(move || {
            start_traces(&t, 100, "x");
            let s = t.stats();
            assert_eq!(s.traces_evicted, 92);
            assert_eq!(s.traces_open, 1 + 8);
            let recorded = open_past_the_bound(&t, 7);
            (recorded, end_all(&t), t.trace_id())
        })
    };
    let (recorded, ended, inside) = std::thread::spawn(bound).join().unwrap();
    assert_eq!(recorded, MAX_OPEN);
    assert_eq!(ended, [1 + MAX_OPEN, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(
        inside,
        Some(root.trace_id()),
        "the bound scope stayed current"
    );
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 92);
    assert_eq!(s.traces_abandoned, 92);
    assert_eq!(s.dropped.abandoned, 92);
    assert_eq!(s.spans_depth_limited, 7);
    assert_eq!(root.finish().spans.len(), 1);
    assert_accounted(&tracer.stats(), 1 + MAX_OPEN + 7 + 1);
}

#[test]
fn bounds_hold_inside_an_instrumented_poll() {
    let tracer = tracer();
    let root = tracer.start_root("root");
    let t = tracer.clone();
    let fut = async move {
        start_traces(&t, 50, "before");
        YieldOnce::default().await;
        start_traces(&t, 50, "after");
        let recorded = open_past_the_bound(&t, 3);
        (recorded, end_all(&t))
    }
    .with_context(root.handle());
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_pending());
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 42);
    assert_eq!(s.traces_parked, 8, "the eight left went with the future");
    assert_eq!(s.traces_open, 1 + 8);
    assert!(!tracer.has_trace());
    let Poll::Ready((recorded, ended)) = poll_once(fut.as_mut()) else {
        panic!("ready on the second poll");
    };
    assert_eq!(recorded, MAX_OPEN);
    assert_eq!(ended, [1 + MAX_OPEN, 1, 1, 1, 1, 1, 1, 1]);
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 92);
    assert_eq!(s.traces_abandoned, 92);
    assert_eq!(s.dropped.abandoned, 92);
    assert_eq!(s.spans_depth_limited, 3);
    assert!(!tracer.has_trace());
    drop(fut); // it holds the root's trace
    assert_eq!(root.finish().spans.len(), 1);
    assert_accounted(&tracer.stats(), 1 + MAX_OPEN + 7 + 1);
}

#[test]
fn bounds_hold_after_parked_traces_are_put_back() {
    let tracer = tracer();
    let root = tracer.start_root("root");
    // The polling thread runs inside a scope of its own (a bound closure, a worker's context).
    let scope = tracer.attach(&root.handle());
    let t = tracer.clone();
    let fut = async move {
        start_traces(&t, 5, "parked");
        YieldOnce::default().await;
        // The five are back, above the poll's scope: end them here, innermost first.
        let recorded = open_past_the_bound(&t, 4);
        let ended: Vec<_> = (0..5)
            .map(|_| t.end_trace().map(|tr| tr.spans.len()))
            .collect();
        (recorded, ended)
    }
    .with_context(root.handle());
    let mut fut = Box::pin(fut);
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(tracer.stats().traces_parked, 5);
    // Meanwhile the thread fills its own bound.
    start_traces(&tracer, MAX_TRACES, "own");
    assert_eq!(tracer.stats().traces_evicted, 0);
    // Putting the five back evicts the thread's five oldest.
    let Poll::Ready((recorded, ended)) = poll_once(fut.as_mut()) else {
        panic!("ready on the second poll");
    };
    assert_eq!(recorded, MAX_OPEN);
    assert_eq!(
        ended,
        [Some(1 + MAX_OPEN), Some(1), Some(1), Some(1), Some(1)]
    );
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 5);
    assert_eq!(s.traces_abandoned, 5);
    assert_eq!(s.dropped.abandoned, 5);
    assert_eq!(s.spans_depth_limited, 4);
    assert_eq!(
        end_all(&tracer),
        [1, 1, 1],
        "three of the thread's own are left"
    );
    drop(fut);
    drop(scope);
    assert_eq!(root.finish().spans.len(), 1);
    assert_accounted(&tracer.stats(), 1 + MAX_OPEN + 4 + 3 + 1);
}

#[test]
fn evicting_below_open_spans_keeps_the_frames_above_whole() {
    let tracer = tracer();
    let root = tracer.start_root("root");
    let scope = tracer.attach(&root.handle());
    let in_scope = tracer.start_span("in scope");
    tracer.start_trace();
    let oldest = tracer.start_span("oldest");
    start_traces(&tracer, MAX_TRACES - 2, "x");
    tracer.start_trace();
    let top = tracer.start_span("top");
    // One more: the oldest goes, from between the scope's span and the open "top".
    tracer.start_trace();
    let child = tracer.start_span("child");
    let s = tracer.stats();
    assert_eq!(s.traces_evicted, 1);
    assert_eq!(s.spans_unfinished, 1);
    assert!(!oldest.is_recording());
    assert!(top.is_recording() && child.is_recording() && in_scope.is_recording());
    drop(oldest); // a no-op
    // The spans above the evicted frame still end in their own traces.
    drop(child);
    let t = tracer.end_trace().unwrap();
    assert_eq!(t.spans.len(), 1);
    assert_eq!(t.spans[0].name, "child");
    assert_eq!(t.spans[0].parent_id, None);
    let grandchild = tracer.start_span("grandchild");
    drop(grandchild);
    drop(top);
    let t = tracer.end_trace().unwrap();
    assert_eq!(t.spans.len(), 2, "{t:#?}");
    assert_eq!(parent_of(&t, "grandchild"), Some("top"));
    assert_eq!(end_all(&tracer), [1; MAX_TRACES - 2]);
    // The evicted frame's tombstone is gone with the frames above it: the scope's span is the
    // current one again, and the whole depth is free above it.
    assert_eq!(tracer.current_span_id(), in_scope.span_id());
    assert_eq!(open_past_the_bound(&tracer, 2), MAX_OPEN - 1);
    drop(in_scope);
    drop(scope);
    let trace = root.finish();
    assert_eq!(trace.spans.len(), 2 + MAX_OPEN - 1);
    assert_eq!(parent_of(&trace, "in scope"), Some("root"));
    let s = tracer.stats();
    assert_eq!(s.spans_depth_limited, 3);
    assert_eq!(s.dropped.abandoned, 1);
    assert_accounted(&s, 1 + 2 + (MAX_TRACES - 2) + 2 + MAX_OPEN - 1);
}
