//! Contexts are values; handles join live traces. A kept `SpanContext` holds nothing open, a
//! `SpanHandle` holds its trace open until dropped, and a plain context given where a live
//! parent is needed records nothing (counted).

use reqtrace_core::{Limits, RequestTracer, SpanContext, SpanHandle};

fn tracer_with_open_bound(max_open_traces: usize) -> RequestTracer {
    RequestTracer::builder("contexts")
        .limits(Limits::default().max_open_traces(max_open_traces))
        .build()
}

#[test]
fn kept_contexts_do_not_keep_finished_traces_open() {
    // The #18 scenario: with room for 4 open traces, finish 4 roots while keeping their
    // contexts (for a link, a log line, a cache); the next root must still record.
    let tracer = tracer_with_open_bound(4);
    let mut kept: Vec<SpanContext> = Vec::new();
    for i in 0..4 {
        let root = tracer.start_root(format!("r{i}"));
        kept.push(root.context());
        tracer
            .start_detached_span_with_parent("child", &root.handle())
            .end();
        assert_eq!(root.finish().spans.len(), 2);
    }
    assert_eq!(tracer.stats().traces_open, 0);
    let next = tracer.start_root("next");
    assert!(next.is_recording());
    assert_eq!(next.finish().spans.len(), 1);
    let s = tracer.stats();
    assert_eq!(s.traces_refused, 0);
    assert_eq!(s.traces_abandoned, 0);
    assert_eq!(kept.len(), 4);
}

#[test]
fn a_million_kept_contexts_change_nothing() {
    let tracer = tracer_with_open_bound(4);
    let n = if cfg!(miri) { 1_000 } else { 1_000_000 };
    let mut kept = Vec::with_capacity(n);
    for _ in 0..n / 1_000 {
        let root = tracer.start_root("r");
        let ctx = root.context();
        kept.extend(std::iter::repeat_n(ctx, 1_000));
        drop(root.finish());
    }
    assert_eq!(kept.len(), n);
    let s = tracer.stats();
    assert_eq!(s.traces_open, 0);
    assert_eq!(s.traces_refused, 0);
    assert_eq!(s.traces_ended, (n / 1_000) as u64);
    // A context is its ids and flags: no pointer to anything.
    assert!(std::mem::size_of::<SpanContext>() <= 48);
}

#[test]
fn a_handle_keeps_its_trace_open_until_dropped() {
    let tracer = tracer_with_open_bound(1);
    let root = tracer.start_root("r");
    let handle: SpanHandle = root.handle();
    assert_eq!(handle.context(), &root.context());
    drop(root.finish());
    // Documented lifetime: the handle still holds the trace's state, which counts as open.
    assert_eq!(tracer.stats().traces_open, 1);
    assert!(!tracer.start_root("refused").is_recording());
    assert_eq!(tracer.stats().traces_refused, 1);
    // A span started under the handle of an ended trace is counted late, never exported.
    tracer.start_span_with_parent("late", &handle).end();
    drop(handle);
    let s = tracer.stats();
    assert_eq!(s.traces_open, 0);
    assert_eq!(s.dropped.late, 1);
    assert!(tracer.start_root("fits again").is_recording());
}

#[test]
fn a_plain_context_is_continued_as_its_own_trace_and_a_handle_joins_the_live_one() {
    let tracer = RequestTracer::new("contexts");
    let root = tracer.start_root("r");
    let value: SpanContext = root.context();
    let before = tracer.stats();
    // A value (as if parsed from a header) continues the trace id as a local trace of its
    // own, ended with the span or the guard (tests/remote_parent.rs): not the live root's.
    {
        let a = tracer.start_span_with_parent("a", &value);
        assert!(a.is_recording());
        assert_eq!(a.context().unwrap().trace_id, value.trace_id);
    }
    assert!(tracer.attach(&value).is_attached());
    // A detached span too: it owns a trace of its own, ended with it.
    assert!(
        tracer
            .start_detached_span_with_parent("b", &value)
            .is_recording()
    );
    let after = tracer.stats();
    assert_eq!(after.spans_without_trace, before.spans_without_trace);
    assert_eq!(after.traces_started, before.traces_started + 3);
    assert_eq!(after.traces_open, before.traces_open);
    // The same parent as a handle joins the trace.
    let handle = root.handle();
    drop(tracer.start_span_with_parent("c", &handle));
    {
        let _g = tracer.attach(&handle);
        drop(tracer.start_span("d"));
    }
    drop(handle);
    let trace = root.finish();
    let mut names: Vec<&str> = trace.spans.iter().map(|s| &*s.name).collect();
    names.sort_unstable();
    assert_eq!(names, ["c", "d", "r"]);
}

#[test]
fn contexts_compare_and_serialize_as_values() {
    let tracer = RequestTracer::new("contexts");
    let root = tracer.start_root("r");
    let a = root.context();
    let b = root.handle().context().clone();
    assert_eq!(a, b);
    let json = serde_json::to_string(&a).unwrap();
    let back: SpanContext = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    drop(root.finish());
}
