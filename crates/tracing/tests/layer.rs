//! The bridge end to end: `tracing` spans, fields and events recorded by a `RequestTracer`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use reqtrace_core::{RequestTracer, Sampler, SpanData, StatusCode, Trace, Value};
use reqtrace_tracing::ReqtraceLayer;
use tracing::{Dispatch, Instrument, dispatcher, instrument};
use tracing_subscriber::prelude::*;

/// A tracer and a dispatcher whose only layer records into it.
fn setup() -> (RequestTracer, Dispatch) {
    let tracer = RequestTracer::new("bridge-test");
    let dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()))
        .into();
    (tracer, dispatch)
}

fn span<'a>(trace: &'a Trace, name: &str) -> &'a SpanData {
    trace
        .span(name)
        .unwrap_or_else(|| panic!("no span {name:?} in {:#?}", names(trace)))
}

fn names(trace: &Trace) -> Vec<&str> {
    trace.spans.iter().map(|s| &*s.name).collect()
}

#[instrument]
fn outer(n: u64) -> u64 {
    middle() + n
}

#[instrument]
fn middle() -> u64 {
    inner("leaf")
}

#[instrument]
fn inner(label: &str) -> u64 {
    label.len() as u64
}

#[test]
fn nested_instrumented_functions_become_nested_spans() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        assert_eq!(outer(10), 14);
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 3, "{:?}", names(&trace));
        let (o, m, i) = (
            span(&trace, "outer"),
            span(&trace, "middle"),
            span(&trace, "inner"),
        );
        assert_eq!(o.parent_id, None);
        assert_eq!(m.parent_id, Some(o.span_id));
        assert_eq!(i.parent_id, Some(m.span_id));
        assert_eq!(o.attribute("n"), Some(&Value::I64(10)));
        assert_eq!(i.attribute("label"), Some(&Value::from("leaf")));
        assert!(m.attributes.is_empty());
        for s in &trace.spans {
            assert_eq!(s.trace_id, trace.trace_id);
            assert!(!s.unfinished);
            assert_eq!(s.status, StatusCode::Unset);
        }
        // Children lie within their parents.
        assert!(o.start_unix_nanos <= i.start_unix_nanos && i.end_unix_nanos <= o.end_unix_nanos);
    });
}

#[instrument(skip(tracer))]
fn handler(tracer: &RequestTracer) {
    let mut db = tracer.start_span("db");
    db.set_attribute("rows", 2);
}

#[test]
fn tracing_spans_sit_between_native_spans() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        {
            let _root = tracer.start_span("request");
            handler(&tracer);
        }
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 3, "{:?}", names(&trace));
        let root = span(&trace, "request");
        let h = span(&trace, "handler");
        let db = span(&trace, "db");
        assert_eq!(h.parent_id, Some(root.span_id));
        assert_eq!(db.parent_id, Some(h.span_id));
        assert_eq!(db.attribute("rows"), Some(&Value::I64(2)));
    });
}

#[instrument]
fn worker(id: u64) {
    tracing::info!(id, "working");
}

#[instrument(skip(tracer, dispatch))]
fn fan_out(tracer: &RequestTracer, dispatch: &Dispatch) {
    let threads: Vec<_> = (0..2)
        .map(|id| {
            let span = tracing::Span::current();
            let dispatch = dispatch.clone();
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                dispatcher::with_default(&dispatch, || {
                    // Entering the span on this thread makes it the parent of everything
                    // started here: tracing spans and native ones alike.
                    span.in_scope(|| {
                        worker(id);
                        let _native = tracer.start_span("native");
                    });
                    // An explicit parent, not entered here.
                    let _explicit = tracing::info_span!(parent: &span, "explicit").entered();
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn spans_passed_to_other_threads_parent_the_work_done_there() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        fan_out(&tracer, &dispatch);
        let trace = tracer.end_trace().unwrap();
        // fan_out + 2 × (worker, native, explicit)
        assert_eq!(trace.spans.len(), 7, "{:?}", names(&trace));
        let f = span(&trace, "fan_out");
        assert_eq!(f.parent_id, None);
        for name in ["worker", "native", "explicit"] {
            let of_name: Vec<_> = trace.spans.iter().filter(|s| s.name == name).collect();
            assert_eq!(of_name.len(), 2, "{name}");
            for s in of_name {
                assert_eq!(s.parent_id, Some(f.span_id), "{name}");
                assert_ne!(s.thread_id, f.thread_id, "{name} ran on a worker thread");
                assert!(!s.unfinished, "{name}");
            }
        }
        let mut ids: Vec<_> = trace
            .spans
            .iter()
            .filter(|s| s.name == "worker")
            .map(|s| {
                assert_eq!(s.events.len(), 1);
                assert_eq!(s.events[0].name, "working");
                s.attribute("id").and_then(Value::as_i64).unwrap()
            })
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1]);
    });
}

#[test]
fn a_span_closed_on_another_thread_is_recorded_with_its_fields() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        let span = tracing::info_span!("moved", step = tracing::field::Empty);
        let d = dispatch.clone();
        std::thread::spawn(move || {
            dispatcher::with_default(&d, || {
                span.record("step", 2);
                drop(span);
            });
        })
        .join()
        .unwrap();
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 1);
        assert_eq!(trace.spans[0].name, "moved");
        assert_eq!(trace.spans[0].attribute("step"), Some(&Value::I64(2)));
        assert!(!trace.spans[0].unfinished);
    });
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Order {
    id: u32,
}

#[instrument(skip_all, fields(
    int = -5,
    unsigned = 7_u64,
    huge = u64::MAX,
    ratio = 0.5,
    flag = true,
    label = "l",
    order = ?Order { id: 9 },
    shown = %"display",
    late = tracing::field::Empty,
))]
fn fields_and_events() {
    tracing::Span::current().record("late", 11);
    tracing::info!(count = 3, "hello {}", "world");
    tracing::warn!(code = 42);
    tracing::debug!(target: "custom", "plain");
}

#[test]
fn fields_become_typed_attributes_and_events_become_span_events() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        fields_and_events();
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 1);
        let s = &trace.spans[0];
        assert_eq!(s.attribute("int"), Some(&Value::I64(-5)));
        assert_eq!(s.attribute("unsigned"), Some(&Value::I64(7)));
        assert_eq!(s.attribute("huge"), Some(&Value::I64(i64::MAX)));
        assert_eq!(s.attribute("ratio"), Some(&Value::F64(0.5)));
        assert_eq!(s.attribute("flag"), Some(&Value::Bool(true)));
        assert_eq!(s.attribute("label"), Some(&Value::from("l")));
        assert_eq!(s.attribute("order"), Some(&Value::from("Order { id: 9 }")));
        assert_eq!(s.attribute("shown"), Some(&Value::from("display")));
        assert_eq!(s.attribute("late"), Some(&Value::I64(11)));
        assert_eq!(s.attributes.len(), 9, "{:?}", s.attributes);

        assert_eq!(s.events.len(), 3, "{:?}", s.events);
        let hello = &s.events[0];
        assert_eq!(hello.name, "hello world");
        assert_eq!(hello.attributes.len(), 2);
        assert_eq!(hello.attributes[0].key, "count");
        assert_eq!(hello.attributes[0].value, Value::I64(3));
        assert_eq!(hello.attributes[1].key, "level");
        assert_eq!(hello.attributes[1].value, Value::from("INFO"));
        // No message: the callsite's name.
        let warn = &s.events[1];
        assert!(warn.name.starts_with("event "), "{}", warn.name);
        assert!(warn.name.contains("layer.rs"), "{}", warn.name);
        assert_eq!(warn.attributes[0].value, Value::I64(42));
        assert_eq!(warn.attributes[1].value, Value::from("WARN"));
        assert_eq!(s.events[2].name, "plain");
        assert_eq!(s.events[2].attributes[0].value, Value::from("DEBUG"));
        assert!(hello.time_unix_nanos <= warn.time_unix_nanos);
        assert_eq!(s.status, StatusCode::Unset);
    });
}

#[instrument(fields(error = tracing::field::Empty))]
fn fails_by_field() {
    tracing::Span::current().record("error", tracing::field::display("disk full"));
}

#[instrument]
fn fails_by_event() {
    tracing::error!(error = %"timeout", retries = 3, "upstream failed");
}

#[instrument(fields(error = false))]
fn not_failed() {}

#[instrument(fields(error = true))]
fn failed_flag() {}

#[test]
fn an_error_field_sets_the_error_status() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        fails_by_field();
        fails_by_event();
        not_failed();
        failed_flag();
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 4);

        let f = span(&trace, "fails_by_field");
        assert_eq!(f.status, StatusCode::Error);
        assert_eq!(f.error.as_deref(), Some("disk full"));
        assert_eq!(
            f.attribute("error"),
            None,
            "the error is the status, not an attribute"
        );

        let e = span(&trace, "fails_by_event");
        assert_eq!(e.status, StatusCode::Error);
        assert_eq!(e.error.as_deref(), Some("timeout"));
        assert_eq!(e.events.len(), 1);
        assert_eq!(e.events[0].name, "upstream failed");
        let keys: Vec<_> = e.events[0].attributes.iter().map(|a| &*a.key).collect();
        assert_eq!(keys, ["error", "retries", "level"]);

        let ok = span(&trace, "not_failed");
        assert_eq!(ok.status, StatusCode::Unset);
        assert_eq!(ok.error, None);

        let flag = span(&trace, "failed_flag");
        assert_eq!(flag.status, StatusCode::Error);
        assert_eq!(flag.error.as_deref(), Some("error"));
    });
}

/// With `start_traces(false)` (by default such spans start a trace: `tests/roots.rs`).
#[test]
fn spans_outside_a_trace_record_nothing() {
    let tracer = RequestTracer::new("bridge-test");
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()).start_traces(false))
        .into();
    dispatcher::with_default(&dispatch, || {
        // No trace: runs normally, records nothing.
        assert_eq!(outer(1), 5);
        fails_by_event();
        let before = tracing::info_span!("before").entered();

        tracer.start_trace();
        // Children of the unrecorded span, inside a trace, parent to the trace's current span.
        tracing::info_span!("child_of_unrecorded").in_scope(|| {});
        drop(before);
        assert_eq!(middle(), 4);
        let trace = tracer.end_trace().unwrap();
        assert_eq!(
            names(&trace),
            ["child_of_unrecorded", "middle", "inner"],
            "only the spans started inside the trace"
        );
        assert_eq!(span(&trace, "child_of_unrecorded").parent_id, None);

        // After the trace: nothing again, and no trace to end.
        assert_eq!(outer(1), 5);
        assert!(tracer.end_trace().is_none());
    });
    assert!(tracer.stats().spans_without_trace >= 4);
}

#[test]
fn unsampled_traces_record_nothing() {
    let tracer = RequestTracer::builder("off")
        .sampler(Sampler::AlwaysOff)
        .build();
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()))
        .into();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        assert_eq!(outer(2), 6);
        fails_by_field();
        let trace = tracer.end_trace().unwrap();
        assert!(trace.spans.is_empty());
    });
}

#[test]
fn two_layers_record_into_their_own_tracers() {
    let a = RequestTracer::new("a");
    let b = RequestTracer::new("b");
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(a.clone()))
        .with(ReqtraceLayer::new(b.clone()))
        .into();
    dispatcher::with_default(&dispatch, || {
        a.start_trace();
        b.start_trace();
        assert_eq!(outer(0), 4);
        let ta = a.end_trace().unwrap();
        let tb = b.end_trace().unwrap();
        for t in [&ta, &tb] {
            assert_eq!(t.spans.len(), 3);
            assert_eq!(span(t, "inner").parent_id, Some(span(t, "middle").span_id));
        }
        assert_ne!(ta.trace_id, tb.trace_id);
    });
}

/// Pending once, then ready: makes an `.await` a point where the task can change threads.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[instrument]
async fn async_task(n: u64) -> u64 {
    let before = inner("ab");
    YieldOnce(false).await;
    let after = middle();
    n + before + after
}

#[test]
fn instrumented_futures_keep_their_span_across_threads() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        let mut fut = Box::pin(async_task(100).instrument(tracing::info_span!("task")));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let d = dispatch.clone();
        let out = std::thread::spawn(move || {
            dispatcher::with_default(&d, || {
                let mut cx = Context::from_waker(Waker::noop());
                match fut.as_mut().poll(&mut cx) {
                    Poll::Ready(v) => v,
                    Poll::Pending => panic!("YieldOnce is ready on the second poll"),
                }
            })
        })
        .join()
        .unwrap();
        assert_eq!(out, 100 + 2 + 4);
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 5, "{:?}", names(&trace));
        let task = span(&trace, "task");
        let a = span(&trace, "async_task");
        assert_eq!(a.parent_id, Some(task.span_id));
        assert_eq!(a.attribute("n"), Some(&Value::I64(100)));
        let before = span(&trace, "inner");
        let m = span(&trace, "middle");
        assert_eq!(before.parent_id, Some(a.span_id));
        assert_eq!(m.parent_id, Some(a.span_id), "after the hop");
        assert_ne!(m.thread_id, before.thread_id);
        let leaf: Vec<_> = trace.children_of(m.span_id).collect();
        assert_eq!(leaf.len(), 1);
    });
}

#[test]
fn with_a_per_layer_filter_skipped_spans_are_bridged_over() {
    let tracer = RequestTracer::new("filtered");
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(
            ReqtraceLayer::new(tracer.clone())
                .with_filter(tracing::level_filters::LevelFilter::INFO),
        )
        .into();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        tracing::info_span!("top").in_scope(|| {
            tracing::debug_span!("skipped").in_scope(|| {
                tracing::info_span!("kept").in_scope(|| {
                    tracing::debug!("dropped event");
                    tracing::info!("kept event");
                });
            });
        });
        let trace = tracer.end_trace().unwrap();
        assert_eq!(names(&trace), ["top", "kept"]);
        let kept = span(&trace, "kept");
        assert_eq!(kept.parent_id, Some(span(&trace, "top").span_id));
        let events: Vec<_> = kept.events.iter().map(|e| &*e.name).collect();
        assert_eq!(events, ["kept event"]);
    });
}

#[test]
fn current_span_reaches_an_entered_tracing_span() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        let t = tracer.clone();
        tracing::info_span!("handler").in_scope(|| {
            t.current_span().set_attribute("from.current_span", 7);
            t.current_span().update_name("handler (renamed)");
        });
        let trace = tracer.end_trace().unwrap();
        let s = span(&trace, "handler (renamed)");
        assert_eq!(s.attribute("from.current_span"), Some(&Value::I64(7)));
    });
}
