//! `current_span()` reaches the innermost current span whatever made it, and `SpanHandle`
//! edits a span wherever it is held; both within the span's limits, edits that cannot land
//! are counted.

mod common;

use common::{YieldOnce, block_on};
use reqtrace_core::{FutureExt, KeyValue, Limits, RequestTracer, SpanKind, StatusCode, Value};

#[test]
fn edits_reach_a_guard_on_this_thread() {
    let tracer = RequestTracer::new("current");
    tracer.start_trace();
    {
        let mut own = tracer.start_span("op");
        own.set_attribute("from.guard", 1);
        let cur = tracer.current_span();
        assert!(cur.is_recording());
        assert_eq!(cur.span_id(), own.span_id());
        cur.set_attribute("from.current", 2);
        cur.add_event("cache.miss", [KeyValue::new("key", "k1")]);
        cur.update_name("renamed");
        cur.set_kind(SpanKind::Client);
        cur.set_error("boom");
    }
    let trace = tracer.end_trace().unwrap();
    let s = trace.span("renamed").expect("renamed through current_span");
    assert_eq!(s.attribute("from.guard"), Some(&Value::I64(1)));
    assert_eq!(s.attribute("from.current"), Some(&Value::I64(2)));
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].name, "cache.miss");
    assert_eq!(s.kind, SpanKind::Client);
    assert_eq!(s.status, StatusCode::Error);
}

#[test]
fn edits_reach_an_attached_root_and_the_innermost_span_only() {
    let tracer = RequestTracer::new("current");
    let root = tracer.start_root("GET /");
    {
        let _scope = root.attach();
        tracer.current_span().set_attribute("http.route", "/");
        let child = tracer.start_span("child");
        tracer.current_span().set_attribute("in.child", true);
        drop(child);
        // The child ended: the root is current again.
        tracer.current_span().set_attribute("after.child", true);
    }
    let trace = root.finish();
    let r = trace.span("GET /").unwrap();
    let c = trace.span("child").unwrap();
    assert_eq!(r.attribute("http.route"), Some(&Value::from("/")));
    assert_eq!(r.attribute("after.child"), Some(&Value::Bool(true)));
    assert_eq!(r.attribute("in.child"), None);
    assert_eq!(c.attribute("in.child"), Some(&Value::Bool(true)));
}

#[test]
fn edits_reach_a_futures_own_span_across_awaits() {
    let tracer = RequestTracer::new("current");
    let root = tracer.start_root("request");
    let t = tracer.clone();
    let span = tracer.start_detached_span_with_parent("step", &root.handle());
    block_on(
        async move {
            t.current_span().set_attribute("before.await", 1);
            YieldOnce::default().await;
            t.current_span().add_event("resumed", []);
            t.current_span().set_attribute("after.await", 2);
        }
        .in_span(span),
    );
    let trace = root.finish();
    let step = trace.span("step").unwrap();
    assert_eq!(step.attribute("before.await"), Some(&Value::I64(1)));
    assert_eq!(step.attribute("after.await"), Some(&Value::I64(2)));
    assert_eq!(step.events.len(), 1);
    assert_eq!(trace.span("request").unwrap().attributes.len(), 0);
}

#[test]
fn a_handle_edits_a_span_held_on_another_thread() {
    let tracer = RequestTracer::new("current");
    tracer.start_trace();
    let span = tracer.start_span("held here");
    let handle = span.handle().unwrap();
    std::thread::spawn(move || {
        handle.set_attribute("from.thread", "worker");
        handle.set_ok();
    })
    .join()
    .unwrap();
    drop(span);
    let trace = tracer.end_trace().unwrap();
    let s = trace.span("held here").unwrap();
    assert_eq!(s.attribute("from.thread"), Some(&Value::from("worker")));
    assert_eq!(s.status, StatusCode::Ok);
}

#[test]
fn edits_land_whichever_way_the_handle_was_taken() {
    let tracer = RequestTracer::new("current");
    tracer.start_trace();
    let span = tracer.start_span("held here");
    // Taken as the current span's handle (no guard method), edited from two other threads:
    // directly, and as the current span of a thread that attached the handle.
    let handle = tracer.current_span_handle().unwrap();
    let t = tracer.clone();
    std::thread::spawn(move || {
        handle.set_attribute("direct", 1);
        let _scope = t.attach(&handle);
        t.current_span().set_attribute("through.current", 2);
    })
    .join()
    .unwrap();
    drop(span);
    let trace = tracer.end_trace().unwrap();
    let s = trace.span("held here").unwrap();
    assert_eq!(s.attribute("direct"), Some(&Value::I64(1)));
    assert_eq!(s.attribute("through.current"), Some(&Value::I64(2)));
}

#[test]
fn a_panic_wins_over_an_ok_edit_and_edits_for_other_spans_keep_waiting() {
    let tracer = RequestTracer::new("current");
    tracer.start_trace();
    let outer = tracer.start_span("outer");
    let outer_handle = outer.handle().unwrap();
    let t = tracer.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let inner = t.start_span("inner");
        let inner_handle = inner.handle().unwrap();
        let outer_handle = outer_handle.clone();
        std::thread::spawn(move || {
            inner_handle.set_ok();
            inner_handle.set_attribute("edited", true);
            // Waits in the same trace while `inner` ends: must still reach `outer`.
            outer_handle.set_attribute("outer.edited", 1);
        })
        .join()
        .unwrap();
        panic!("after the edits");
    }));
    assert!(r.is_err());
    drop(outer);
    let trace = tracer.end_trace().unwrap();
    let inner = trace.span("inner").unwrap();
    assert_eq!(inner.status, StatusCode::Error, "the panic wins");
    assert_eq!(inner.error.as_deref(), Some("panicked"));
    assert_eq!(inner.attribute("edited"), Some(&Value::Bool(true)));
    let outer = trace.span("outer").unwrap();
    assert_eq!(outer.attribute("outer.edited"), Some(&Value::I64(1)));
    assert_eq!(outer.status, StatusCode::Unset);
}

#[test]
fn edits_obey_the_attribute_limit_and_late_edits_are_counted() {
    let tracer = RequestTracer::builder("current")
        .limits(Limits::default().max_attributes_per_span(3))
        .build();
    tracer.start_trace();
    let handle;
    {
        let mut g = tracer.start_span("op");
        g.set_attribute("a", 1);
        g.set_attribute("b", 2);
        handle = g.handle().unwrap();
        for i in 0..4 {
            tracer.current_span().set_attribute(format!("c{i}"), i);
        }
    }
    let before = tracer.stats().attributes_dropped;
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans[0].attributes.len(), 3);
    // The span ended and its trace too: an edit through the handle cannot land.
    handle.set_attribute("late", 1);
    handle.add_event("late", []);
    drop(handle);
    let s = tracer.stats();
    assert_eq!(before, 3, "2 held by the guard, 4 added, limit 3");
    assert_eq!(s.attributes_dropped, before + 1);
    assert_eq!(s.events_dropped, 1);
}

#[test]
fn nothing_current_or_unsampled_means_no_op() {
    let tracer = RequestTracer::new("current");
    let cur = tracer.current_span();
    assert!(!cur.is_recording());
    cur.set_attribute("x", 1);
    assert_eq!(cur.span_id(), None);
    let off = RequestTracer::builder("off")
        .sampler(reqtrace_core::Sampler::AlwaysOff)
        .build();
    off.start_trace();
    let _s = off.start_span("s");
    assert!(!off.current_span().is_recording());
    drop(_s);
    drop(off.end_trace());
    assert_eq!(off.stats().attributes_dropped, 0);
}
