//! Every per-thread bound holds in every scope: `max_traces_per_thread` and
//! `max_open_spans_per_thread` inside `attach`, inside a closure run with `bind`, inside an
//! instrumented future's poll (across a pending), and after the future's parked trace frames are
//! put back on the next poll — with every evicted trace and refused span counted exactly.

use reqtrace_core::{RequestTracer, Stats};

mod common;
use common::parent_of;

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
    let scope = tracer.attach(&root.context());
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
