//! Behaviour of one tracer on one and many threads: nesting, cross-thread parenting, exact
//! accounting, limits, sampling, panics, thread exit, serde.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::thread;

use reqtrace_core::{
    KeyValue, Limits, RequestTracer, Sampler, SpanId, StatusCode, Trace, TraceFlags, Value,
};

fn by_name<'a>(trace: &'a Trace, name: &str) -> &'a reqtrace_core::SpanData {
    trace
        .span(name)
        .unwrap_or_else(|| panic!("no span {name} in {trace:#?}"))
}

#[test]
fn nested_spans_on_one_thread_get_their_parents() {
    let tracer = RequestTracer::new("svc");
    let trace_id = tracer.start_trace();
    assert_eq!(tracer.trace_id(), Some(trace_id));
    assert_eq!(tracer.current_span_id(), None);
    {
        let a = tracer.start_span("a");
        assert_eq!(tracer.current_span_id(), a.span_id());
        {
            let b = tracer.start_span("b");
            assert_eq!(tracer.current_span_id(), b.span_id());
            let _c = tracer.start_span("c");
        }
        let _d = tracer.start_span("d");
    }
    tracer.start_span("e").end();
    let trace = tracer.end_trace().unwrap();
    assert_eq!(tracer.trace_id(), None);
    assert_eq!(trace.trace_id, trace_id);
    assert_eq!(trace.spans.len(), 5);
    let (a, b, c, d, e) = (
        by_name(&trace, "a"),
        by_name(&trace, "b"),
        by_name(&trace, "c"),
        by_name(&trace, "d"),
        by_name(&trace, "e"),
    );
    assert_eq!(a.parent_id, None);
    assert_eq!(b.parent_id, Some(a.span_id));
    assert_eq!(c.parent_id, Some(b.span_id));
    assert_eq!(d.parent_id, Some(a.span_id));
    assert_eq!(e.parent_id, None);
    let ids: HashSet<SpanId> = trace.spans.iter().map(|s| s.span_id).collect();
    assert_eq!(ids.len(), 5, "span ids are unique");
    for s in &trace.spans {
        assert_eq!(s.trace_id, trace_id);
        assert!(s.end_unix_nanos >= s.start_unix_nanos);
        assert!(s.start_unix_nanos >= trace.start_unix_nanos);
        assert!(s.end_unix_nanos <= trace.end_unix_nanos);
        assert!(!s.unfinished);
    }
    // a contains b contains c in time
    assert!(a.start_unix_nanos <= b.start_unix_nanos && b.end_unix_nanos <= a.end_unix_nanos);
    assert!(trace.duration_seconds() >= 0.0);
}

#[test]
fn seed_api_attributes_events_errors() {
    let tracer = RequestTracer::new("llm-gateway");
    tracer.start_trace_with([KeyValue::new("request", "r-1")]);
    {
        let mut span = tracer.start_span("operation");
        span.set_attribute("model", "gpt-4o");
        span.set_attribute("tokens", 1500);
        span.set_attribute("temperature", 0.5);
        span.set_attribute("stream", true);
        span.set_attribute("stops", vec!["a", "b"]);
        span.set_attribute("user", format!("user-{}", 7));
        span.add_event("retry", [KeyValue::new("attempt", 2)]);
        span.set_error("upstream timeout");
        let mut child = tracer.start_span(format!("child-{}", 1));
        child.set_attribute("step", 1);
        child.set_ok();
    }
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.service_name, "llm-gateway");
    assert_eq!(trace.attributes, vec![KeyValue::new("request", "r-1")]);
    let op = by_name(&trace, "operation");
    assert_eq!(op.attribute("model"), Some(&Value::from("gpt-4o")));
    assert_eq!(op.attribute("tokens"), Some(&Value::I64(1500)));
    assert_eq!(op.attribute("temperature"), Some(&Value::F64(0.5)));
    assert_eq!(op.attribute("stream"), Some(&Value::Bool(true)));
    assert_eq!(
        op.attribute("stops"),
        Some(&Value::Array(vec![Value::from("a"), Value::from("b")]))
    );
    assert_eq!(op.attribute("user").and_then(Value::as_str), Some("user-7"));
    assert_eq!(op.events.len(), 1);
    assert_eq!(op.events[0].name, "retry");
    assert_eq!(op.events[0].attributes, vec![KeyValue::new("attempt", 2)]);
    assert!(op.events[0].time_unix_nanos >= op.start_unix_nanos);
    assert!(op.events[0].time_unix_nanos <= op.end_unix_nanos);
    assert_eq!(op.status, StatusCode::Error);
    assert_eq!(op.error.as_deref(), Some("upstream timeout"));
    let child = by_name(&trace, "child-1");
    assert_eq!(child.status, StatusCode::Ok);
    assert_eq!(child.error, None);
    assert_eq!(child.parent_id, Some(op.span_id));
    assert!(child.duration_ms() >= 0.0);
}

#[test]
fn trace_context_reports_current_state() {
    let tracer = RequestTracer::new("svc");
    assert!(tracer.trace_context().is_none());
    let id = tracer.start_trace();
    let span = tracer.start_span("s");
    let ctx = tracer.trace_context().unwrap();
    assert_eq!(ctx.trace_id, id);
    assert_eq!(ctx.span_id, span.span_id());
    assert!(ctx.trace_flags.is_sampled());
    assert!(ctx.trace_flags.is_random(), "uuid v4 ids are random");
    assert_eq!(ctx.service_name, "svc");
    let sc = tracer.current_span_context().unwrap();
    assert_eq!(sc.trace_id, id);
    assert_eq!(Some(sc.span_id), span.span_id());
    assert!(!sc.is_remote);
    drop(span);
    tracer.end_trace();
}

#[test]
fn spans_on_another_thread_join_the_trace() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let root = tracer.start_span("root");
    let ctx = root.handle().unwrap();
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let t = tracer.clone();
            let ctx = ctx.clone();
            thread::spawn(move || {
                let _w = t.start_span_with_parent(format!("worker-{i}"), &ctx);
                let _inner = t.start_span("inner");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // attach: a scope on another thread
    let t = tracer.clone();
    let ctx2 = ctx.clone();
    thread::spawn(move || {
        let guard = t.attach(&ctx2);
        assert!(guard.is_attached());
        assert_eq!(t.current_span_id(), Some(ctx2.span_id()));
        let _a = t.start_span("attached");
    })
    .join()
    .unwrap();
    drop(root);
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 1 + 3 * 2 + 1, "{trace:#?}");
    let root = by_name(&trace, "root");
    for i in 0..3 {
        let w = by_name(&trace, &format!("worker-{i}"));
        assert_eq!(w.parent_id, Some(root.span_id));
        assert_ne!(w.thread_id, root.thread_id);
        let inners: Vec<_> = trace.children_of(w.span_id).collect();
        assert_eq!(inners.len(), 1);
        assert_eq!(inners[0].name, "inner");
        assert_eq!(inners[0].thread_id, w.thread_id);
    }
    assert_eq!(by_name(&trace, "attached").parent_id, Some(root.span_id));
    let stats = tracer.stats();
    assert_eq!(stats.spans_started, 8);
    assert_eq!(stats.spans_finished, 8);
    assert_eq!(stats.spans_delivered, 8);
    assert_eq!(stats.dropped.total(), 0);
    assert_eq!(stats.spans_queued, 0);
}

#[test]
fn eight_threads_with_their_own_traces_never_mix() {
    const TRACES_PER_THREAD: usize = if cfg!(miri) { 3 } else { 50 };
    let tracer = RequestTracer::new("svc");
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let tracer = tracer.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut traces = Vec::new();
                for r in 0..TRACES_PER_THREAD {
                    tracer.start_trace_with([KeyValue::new("thread", t), KeyValue::new("req", r)]);
                    for s in 0..10 {
                        let mut span = tracer.start_span("work");
                        span.set_attribute("thread", t);
                        span.set_attribute("req", r);
                        let mut child = tracer.start_span("step");
                        child.set_attribute("thread", t);
                        child.set_attribute("req", r);
                        child.set_attribute("s", s);
                    }
                    traces.push(tracer.end_trace().unwrap());
                }
                (t, traces)
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for h in handles {
        let (t, traces) = h.join().unwrap();
        for (r, trace) in traces.iter().enumerate() {
            assert!(ids.insert(trace.trace_id));
            assert_eq!(trace.spans.len(), 20);
            for s in &trace.spans {
                assert_eq!(s.trace_id, trace.trace_id);
                assert_eq!(s.attribute("thread"), Some(&Value::from(t)));
                assert_eq!(s.attribute("req"), Some(&Value::from(r)));
            }
        }
    }
    let stats = tracer.stats();
    let traces = 8 * TRACES_PER_THREAD as u64;
    assert_eq!(stats.traces_started, traces);
    assert_eq!(stats.traces_ended, traces);
    assert_eq!(stats.spans_started, traces * 20);
    assert_eq!(stats.spans_delivered, traces * 20);
}

#[test]
fn n_threads_times_m_spans_add_up_exactly() {
    const N: usize = 6;
    // Smaller under miri, which interprets every instruction.
    const M: usize = if cfg!(miri) { 100 } else { 5_000 };
    // Small batches so spans cross the hand-off queue many times.
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().batch_size(7))
        .build();
    tracer.start_trace();
    let root = tracer.start_span("root");
    let ctx = root.handle().unwrap();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let t = tracer.clone();
            let ctx = ctx.clone();
            thread::spawn(move || {
                let _g = t.attach(&ctx);
                for _ in 0..M {
                    let _s = t.start_span("s");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(root);
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), N * M + 1);
    let stats = tracer.stats();
    assert_eq!(stats.spans_started, (N * M + 1) as u64);
    assert_eq!(stats.spans_finished, stats.spans_started);
    assert_eq!(stats.spans_delivered, stats.spans_finished);
    assert_eq!(stats.dropped.total(), 0);
    assert_eq!(stats.spans_buffered(), 0);
    assert_eq!(stats.spans_queued, 0);
}

#[test]
fn attribute_event_and_value_limits_drop_and_count_exactly() {
    let tracer = RequestTracer::builder("svc")
        .limits(
            Limits::default()
                .max_attributes_per_span(3)
                .max_events_per_span(2)
                .max_attribute_value_len(5),
        )
        .build();
    tracer.start_trace();
    {
        let mut s = tracer.start_span("s");
        for i in 0..10 {
            s.set_attribute("k", i);
        }
        for _ in 0..5 {
            s.add_event("e", []);
        }
        let mut t = tracer.start_span("t");
        t.set_attribute("long", "abcdefghij");
        t.set_attribute("multibyte", "ééé".to_string()); // 6 bytes: cut to 4 (2 chars)
    }
    let trace = tracer.end_trace().unwrap();
    let s = by_name(&trace, "s");
    assert_eq!(s.attributes.len(), 3);
    assert_eq!(s.dropped_attributes_count, 7);
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.dropped_events_count, 3);
    let t = by_name(&trace, "t");
    assert_eq!(t.attribute("long").and_then(Value::as_str), Some("abcde"));
    assert_eq!(t.attribute("multibyte").and_then(Value::as_str), Some("éé"));
    let stats = tracer.stats();
    assert_eq!(stats.attributes_dropped, 7);
    assert_eq!(stats.events_dropped, 3);
    assert_eq!(stats.values_truncated, 2);
}

#[test]
fn spans_per_trace_limit_drops_and_counts_exactly() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_spans_per_trace(100).batch_size(16))
        .build();
    tracer.start_trace();
    for _ in 0..250 {
        let _s = tracer.start_span("s");
    }
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 100);
    assert_eq!(trace.dropped_spans_count, 150);
    let stats = tracer.stats();
    assert_eq!(stats.dropped.trace_limit, 150);
    assert_eq!(stats.spans_delivered, 100);
    assert_eq!(stats.spans_finished, 250);
    assert_eq!(stats.spans_buffered(), 0);
}

#[test]
fn buffer_bound_drops_whole_batches_and_counts_them() {
    let tracer = RequestTracer::builder("svc")
        .limits(Limits::default().max_buffered_spans(40).batch_size(10))
        .build();
    tracer.start_trace();
    let root = tracer.start_span("root");
    let ctx = root.handle().unwrap();
    let t = tracer.clone();
    thread::spawn(move || {
        let _g = t.attach(&ctx);
        for _ in 0..100 {
            let _s = t.start_span("s");
        }
    })
    .join()
    .unwrap();
    drop(root);
    let trace = tracer.end_trace().unwrap();
    let stats = tracer.stats();
    // 4 batches of 10 fit the bound of 40; the other 6 are dropped whole.
    assert_eq!(stats.dropped.buffer_full, 60);
    assert_eq!(trace.spans.len(), 41);
    assert_eq!(trace.dropped_spans_count, 60);
    assert_eq!(
        stats.spans_finished,
        stats.spans_delivered + stats.dropped.total()
    );
}

#[test]
fn unsampled_trace_keeps_ids_and_records_nothing() {
    let tracer = RequestTracer::builder("svc")
        .sampler(Sampler::AlwaysOff)
        .build();
    let id = tracer.start_trace();
    {
        let mut s = tracer.start_span("s");
        s.set_attribute("k", 1);
        assert!(!s.is_recording());
        let ctx = tracer.current_span_context().unwrap();
        assert_eq!(ctx.trace_id, id);
        assert!(!ctx.is_sampled());
    }
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.trace_id, id);
    assert!(trace.spans.is_empty());
    assert!(!trace.trace_flags.is_sampled());
    let stats = tracer.stats();
    assert_eq!(stats.spans_started, 0);
    assert_eq!(stats.traces_unsampled, 1);
}

#[test]
fn parent_based_sampling_follows_a_remote_parent() {
    let tracer = RequestTracer::builder("svc")
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    let remote = reqtrace_core::SpanContext::new(
        "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap(),
        "00f067aa0ba902b7".parse().unwrap(),
        TraceFlags::NONE,
        true,
    );
    tracer.start_trace_from(&remote);
    let _s = tracer.start_span("s");
    drop(_s);
    let t = tracer.end_trace().unwrap();
    assert!(t.spans.is_empty());
    let sampled =
        reqtrace_core::SpanContext::new(remote.trace_id, remote.span_id, TraceFlags::SAMPLED, true);
    let id = tracer
        .trace_builder()
        .parent(&sampled)
        .trace_state("congo=t61rcWkgMzE")
        .start();
    assert_eq!(id, remote.trace_id);
    assert_eq!(
        tracer.trace_context().unwrap().trace_state.as_deref(),
        Some("congo=t61rcWkgMzE")
    );
    {
        let _s = tracer.start_span("s");
    }
    let t = tracer.end_trace().unwrap();
    assert_eq!(t.spans.len(), 1);
    assert_eq!(t.spans[0].parent_id, Some(remote.span_id));
    assert!(t.spans[0].parent_is_remote);
    assert_eq!(t.spans[0].trace_flags, t.trace_flags);
    assert!(t.spans[0].trace_flags.is_sampled());
    assert_eq!(t.remote_parent_id, Some(remote.span_id));
    assert_eq!(t.trace_state.as_deref(), Some("congo=t61rcWkgMzE"));
    assert!(
        !t.trace_flags.is_random(),
        "the remote flags said not random"
    );
}

#[test]
fn a_panic_inside_a_span_ends_it_with_error_status() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let t = tracer.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _s = t.start_span("boom");
        panic!("bad");
    }));
    assert!(r.is_err());
    let trace = tracer.end_trace().unwrap();
    let s = by_name(&trace, "boom");
    assert_eq!(s.status, StatusCode::Error);
    assert_eq!(s.error.as_deref(), Some("panicked"));
    assert!(!s.unfinished);
}

#[test]
fn spans_open_at_end_trace_are_returned_as_unfinished() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let outer = tracer.start_span("outer");
    let inner = tracer.start_span("inner");
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 2);
    for s in &trace.spans {
        assert!(s.unfinished);
        assert_eq!(s.end_unix_nanos, trace.end_unix_nanos);
    }
    // Dropping the guards afterwards does nothing more.
    drop(inner);
    drop(outer);
    let stats = tracer.stats();
    assert_eq!(stats.spans_unfinished, 2);
    assert_eq!(stats.spans_started, 2);
    assert_eq!(stats.spans_finished, 2);
    assert_eq!(stats.spans_delivered, 2);
}

#[test]
fn spans_finishing_after_their_trace_ended_are_counted_late() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let root = tracer.start_span("root");
    let ctx = root.handle().unwrap();
    drop(root);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let t = tracer.clone();
    let h = thread::spawn(move || {
        let _w = t.start_span_with_parent("slow", &ctx);
        started_tx.send(()).unwrap();
        go_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 1);
    go_tx.send(()).unwrap();
    h.join().unwrap();
    let stats = tracer.stats();
    assert_eq!(stats.dropped.late, 1);
    assert_eq!(stats.spans_finished, 2);
    assert_eq!(
        stats.spans_finished,
        stats.spans_delivered + stats.dropped.total()
    );
}

#[test]
fn a_thread_that_exits_hands_over_its_spans() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let root = tracer.start_span("root");
    let ctx = root.handle().unwrap();
    let t = tracer.clone();
    thread::spawn(move || {
        // The attach scope is never closed: the thread's exit must hand the spans over.
        std::mem::forget(t.attach(&ctx));
        let _done = t.start_span("done");
        std::mem::forget(t.start_span("left-open"));
    })
    .join()
    .unwrap();
    drop(root);
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 3, "{trace:#?}");
    assert!(!by_name(&trace, "done").unfinished);
    assert!(by_name(&trace, "left-open").unfinished);
    // A trace started on a thread that exits without ending it is counted abandoned.
    let t = tracer.clone();
    thread::spawn(move || {
        t.start_trace();
        let _s = t.start_span("s");
    })
    .join()
    .unwrap();
    let stats = tracer.stats();
    assert_eq!(stats.dropped.abandoned, 1);
    assert_eq!(
        stats.spans_finished,
        stats.spans_delivered + stats.dropped.total()
    );
}

#[test]
fn guards_dropped_out_of_order_keep_the_stack_consistent() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let a = tracer.start_span("a");
    let b = tracer.start_span("b");
    drop(a); // outer first
    let c = tracer.start_span("c"); // still a child of b, which is open
    drop(b);
    drop(c);
    let d = tracer.start_span("d"); // everything closed: a root again
    drop(d);
    let trace = tracer.end_trace().unwrap();
    let (a, b, c, d) = (
        by_name(&trace, "a"),
        by_name(&trace, "b"),
        by_name(&trace, "c"),
        by_name(&trace, "d"),
    );
    assert_eq!(b.parent_id, Some(a.span_id));
    assert_eq!(c.parent_id, Some(b.span_id));
    assert_eq!(d.parent_id, None);
    assert!(trace.spans.iter().all(|s| !s.unfinished));
}

#[test]
fn start_span_without_a_trace_is_counted_not_recorded() {
    let tracer = RequestTracer::new("svc");
    {
        let mut s = tracer.start_span("orphan");
        s.set_attribute("k", 1);
        assert_eq!(s.span_id(), None);
    }
    assert!(tracer.end_trace().is_none());
    assert_eq!(tracer.stats().spans_without_trace, 1);
    assert_eq!(tracer.stats().spans_started, 0);
}

#[test]
fn nested_traces_on_one_thread_suspend_the_outer_one() {
    let tracer = RequestTracer::new("svc");
    let outer = tracer.start_trace();
    let _a = tracer.start_span("a");
    let inner = tracer.start_trace();
    assert_eq!(tracer.trace_id(), Some(inner));
    {
        let _b = tracer.start_span("b");
    }
    let t_inner = tracer.end_trace().unwrap();
    assert_eq!(tracer.trace_id(), Some(outer));
    drop(_a);
    let t_outer = tracer.end_trace().unwrap();
    assert_eq!(t_inner.spans.len(), 1);
    assert_eq!(t_inner.spans[0].parent_id, None);
    assert_eq!(t_outer.spans.len(), 1);
    assert_eq!(t_outer.spans[0].name, "a");
}

#[test]
fn detached_span_moves_between_threads() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let root = tracer.start_span("root");
    let mut span = tracer.start_detached_span("moved");
    span.set_attribute("k", "v");
    let ctx = span.handle().unwrap();
    let t = tracer.clone();
    thread::spawn(move || {
        let _child = t.start_span_with_parent("child", &ctx);
        span.end();
    })
    .join()
    .unwrap();
    let root_id = root.span_id().unwrap();
    drop(root);
    let trace = tracer.end_trace().unwrap();
    let moved = by_name(&trace, "moved");
    assert_eq!(moved.parent_id, Some(root_id));
    assert_eq!(by_name(&trace, "child").parent_id, Some(moved.span_id));
    assert_eq!(moved.attribute("k").and_then(Value::as_str), Some("v"));
}

#[test]
fn an_instrumented_future_keeps_its_span_across_threads() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    /// Ready on the second poll.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }

    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let root = tracer.start_span("root");
    let t = tracer.clone();
    let fut = tracer.in_span("task", async move {
        {
            let _a = t.start_span("before-await");
        }
        YieldOnce(false).await;
        let _b = t.start_span("after-await");
    });
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    // Second poll on another thread.
    thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    })
    .join()
    .unwrap();
    drop(root);
    let trace = tracer.end_trace().unwrap();
    let task = by_name(&trace, "task");
    assert_eq!(task.parent_id, Some(by_name(&trace, "root").span_id));
    let before = by_name(&trace, "before-await");
    let after = by_name(&trace, "after-await");
    assert_eq!(before.parent_id, Some(task.span_id));
    assert_eq!(after.parent_id, Some(task.span_id));
    assert_ne!(before.thread_id, after.thread_id);
}

#[test]
fn serde_round_trip_keeps_the_seed_names() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    {
        let mut s = tracer.start_span("op");
        s.set_attribute("model", "gpt-4o");
        s.set_attribute("tokens", 1500);
        s.add_event("e", [KeyValue::new("x", 1.5)]);
        s.set_error("boom");
        let _c = tracer.start_span("child");
    }
    let trace = tracer.end_trace().unwrap();
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json["trace_id"], trace.trace_id.to_string());
    let spans = json["spans"].as_array().unwrap();
    let op = spans.iter().find(|s| s["name"] == "op").unwrap();
    assert!(op["parent_id"].is_null());
    assert_eq!(op["attributes"]["model"], "gpt-4o");
    assert_eq!(op["attributes"]["tokens"], 1500);
    assert_eq!(op["status"], "error");
    assert_eq!(op["error"], "boom");
    assert!(op["thread_id"].is_u64());
    let child = spans.iter().find(|s| s["name"] == "child").unwrap();
    assert_eq!(child["parent_id"], op["span_id"]);
    let back: Trace = serde_json::from_value(json).unwrap();
    assert_eq!(back, trace);
}

#[test]
fn many_traces_interleaved_across_threads_are_each_complete() {
    const REQUESTS_PER_CLIENT: usize = if cfg!(miri) { 3 } else { 25 };
    // Each request's root runs on one thread, fans work to a pool thread, and ends there.
    let tracer = RequestTracer::new("svc");
    let (tx, rx) = crossbeam_channel_like();
    let pool: Vec<_> = (0..2)
        .map(|_| {
            let t = tracer.clone();
            let rx = Arc::clone(&rx);
            thread::spawn(move || {
                loop {
                    let job = rx.lock().unwrap().recv();
                    let Ok((ctx, done)): Result<
                        (reqtrace_core::SpanHandle, std::sync::mpsc::Sender<()>),
                        _,
                    > = job
                    else {
                        break;
                    };
                    {
                        let _s = t.start_span_with_parent("pool-work", &ctx);
                        let _c = t.start_span("pool-child");
                    }
                    done.send(()).unwrap();
                }
            })
        })
        .collect();
    let mut counts = HashMap::new();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let t = tracer.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                for _ in 0..REQUESTS_PER_CLIENT {
                    t.start_trace();
                    {
                        let root = t.start_span("root");
                        let (dtx, drx) = std::sync::mpsc::channel();
                        tx.send((root.handle().unwrap(), dtx)).unwrap();
                        drx.recv().unwrap();
                    }
                    out.push(t.end_trace().unwrap());
                }
                out
            })
        })
        .collect();
    for c in clients {
        for trace in c.join().unwrap() {
            assert_eq!(trace.spans.len(), 3, "{trace:#?}");
            let root = by_name(&trace, "root");
            let work = by_name(&trace, "pool-work");
            assert_eq!(work.parent_id, Some(root.span_id));
            assert_eq!(by_name(&trace, "pool-child").parent_id, Some(work.span_id));
            *counts.entry(trace.trace_id).or_insert(0) += 1;
        }
    }
    drop(tx);
    for p in pool {
        p.join().unwrap();
    }
    assert_eq!(counts.len(), 4 * REQUESTS_PER_CLIENT);
    let stats = tracer.stats();
    assert_eq!(stats.spans_delivered, 3 * 4 * REQUESTS_PER_CLIENT as u64);
    assert_eq!(stats.dropped.total(), 0);
}

type Job = (reqtrace_core::SpanHandle, std::sync::mpsc::Sender<()>);

#[allow(clippy::type_complexity)]
fn crossbeam_channel_like() -> (
    std::sync::mpsc::Sender<Job>,
    Arc<std::sync::Mutex<std::sync::mpsc::Receiver<Job>>>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    (tx, Arc::new(std::sync::Mutex::new(rx)))
}

#[test]
fn detached_spans_with_an_explicit_parent_join_its_trace_from_any_thread() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace();
    let root = tracer.start_span("root");
    let ctx = root.handle().unwrap();
    let t = tracer.clone();
    let ctx2 = ctx.clone();
    // Ended on a thread that has no frame of the trace: handed over as its own batch.
    thread::spawn(move || {
        let mut s = t.start_detached_span_with_parent("remote-thread", &ctx2);
        s.set_attribute("k", 1);
    })
    .join()
    .unwrap();
    // Ended on the trace's own thread: joins that thread's batch directly.
    let mut local = tracer.start_detached_span_with_parent("same-thread", &ctx);
    local.set_error("nope");
    drop(local);
    let root_id = root.span_id().unwrap();
    drop(root);
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 3);
    let remote = by_name(&trace, "remote-thread");
    assert_eq!(remote.parent_id, Some(root_id));
    assert_eq!(remote.attribute("k"), Some(&Value::I64(1)));
    let same = by_name(&trace, "same-thread");
    assert_eq!(same.parent_id, Some(root_id));
    assert_eq!(same.error.as_deref(), Some("nope"));
    let stats = tracer.stats();
    assert_eq!(stats.spans_started, 3);
    assert_eq!(stats.spans_delivered, 3);
}
