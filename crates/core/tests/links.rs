//! Span links, `record_exception` and explicit timestamps: on every kind of span, within their
//! limits, and what cannot be kept is counted.

use std::time::{Duration, SystemTime};

use reqtrace_core::{
    EditSpan, KeyValue, Limits, RequestTracer, SpanContext, SpanId, TraceFlags, TraceId, Value,
};

fn remote(n: u64) -> SpanContext {
    SpanContext::new(
        TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap(),
        SpanId::from_u64(n).unwrap(),
        TraceFlags::SAMPLED,
        true,
    )
}

#[test]
fn every_kind_of_span_takes_links() {
    let tracer = RequestTracer::new("links");
    let mut root = tracer.start_root("consume batch");
    root.add_link(remote(1), [KeyValue::new("messaging.message.id", "m1")]);
    let handle = root.handle();
    {
        let _attached = root.attach();
        let mut guard = tracer.start_span("process");
        guard.add_link(remote(2), []);
        tracer.current_span().add_link(remote(3), []);
        let mut detached = tracer.start_detached_span("detached");
        detached.add_link(remote(4), [KeyValue::new("n", 4)]);
        // Generic code through the trait.
        EditSpan::add_link(&mut detached, remote(5), []);
        drop(detached);
    }
    let t = tracer.clone();
    std::thread::spawn(move || {
        handle.add_link(remote(6), []);
        drop(t);
    })
    .join()
    .unwrap();
    let trace = root.finish();
    let ids = |name: &str| -> Vec<u64> {
        trace
            .span(name)
            .unwrap()
            .links
            .iter()
            .map(|l| l.context.span_id.to_u64())
            .collect()
    };
    assert_eq!(
        ids("consume batch"),
        [1, 6],
        "at start and later, from another thread"
    );
    assert_eq!(ids("process"), [2, 3]);
    assert_eq!(ids("detached"), [4, 5]);
    let first = &trace.span("consume batch").unwrap().links[0];
    assert_eq!(first.context, remote(1));
    assert_eq!(
        first.attributes,
        [KeyValue::new("messaging.message.id", "m1")]
    );
    assert_eq!(tracer.stats().links_dropped, 0);
}

#[test]
fn links_obey_their_limits_and_what_is_cut_is_counted() {
    let tracer = RequestTracer::builder("links")
        .limits(
            Limits::default()
                .max_links_per_span(2)
                .max_attributes_per_link(1)
                .max_attribute_value_len(4),
        )
        .build();
    tracer.start_trace();
    {
        let mut g = tracer.start_span("guard");
        g.add_link(
            remote(1),
            [KeyValue::new("a", "long value"), KeyValue::new("b", 2)],
        );
        g.add_link(remote(2), []);
        g.add_link(remote(3), []);
    }
    let mut detached = tracer.start_detached_span("detached");
    for n in 1..=5 {
        detached.add_link(remote(n), []);
    }
    drop(detached);
    let trace = tracer.end_trace().unwrap();
    let g = trace.span("guard").unwrap();
    assert_eq!(g.links.len(), 2);
    assert_eq!(g.dropped_links_count, 1);
    assert_eq!(g.links[0].attributes, [KeyValue::new("a", "long")]);
    assert_eq!(g.links[0].dropped_attributes_count, 1);
    let d = trace.span("detached").unwrap();
    assert_eq!((d.links.len(), d.dropped_links_count), (2, 3));
    let s = tracer.stats();
    assert_eq!(s.links_dropped, 4);
    assert_eq!(s.attributes_dropped, 1);
    assert_eq!(s.values_truncated, 1);
}

#[test]
fn a_link_through_a_handle_after_the_trace_ended_is_counted() {
    let tracer = RequestTracer::new("links");
    let root = tracer.start_root("r");
    let handle = root.handle();
    let _ = root.finish();
    handle.add_link(remote(1), []);
    drop(handle);
    assert_eq!(tracer.stats().links_dropped, 1);
}

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the model failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn record_exception_follows_the_exception_conventions() {
    let tracer = RequestTracer::new("errors");
    tracer.start_trace();
    let err = Outer(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "model.bin missing",
    ));
    {
        let mut g = tracer.start_span("typed");
        g.record_exception(&err);
    }
    {
        let mut g = tracer.start_span("dyn");
        let boxed: Box<dyn std::error::Error> = Box::new(Outer(std::io::Error::other("x")));
        g.record_exception(&*boxed);
    }
    let trace = tracer.end_trace().unwrap();
    let typed = trace.span("typed").unwrap();
    assert_eq!(typed.events.len(), 1);
    let ev = &typed.events[0];
    assert_eq!(ev.name, "exception");
    let attr = |k: &str| {
        ev.attributes
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attr("exception.type"), Some(Value::from("links::Outer")));
    assert_eq!(
        attr("exception.message"),
        Some(Value::from("loading the model failed: model.bin missing"))
    );
    assert_eq!(
        typed.status,
        reqtrace_core::StatusCode::Unset,
        "recording an exception does not set the status"
    );
    let dyn_ev = &trace.span("dyn").unwrap().events[0];
    assert!(
        dyn_ev
            .attributes
            .iter()
            .all(|kv| kv.key != "exception.type"),
        "a dyn Error's type is not known: no exception.type"
    );
}

#[test]
fn explicit_times_replace_the_clock_and_keep_the_trace_in_start_order() {
    let tracer = RequestTracer::new("importer");
    let root = tracer.start_root("import");
    let handle = root.handle();
    let earlier = SystemTime::now() - Duration::from_secs(3600);
    let mut imported = tracer.start_detached_span_with_parent("imported", &handle);
    imported.set_start_time(earlier);
    imported.end_at(earlier + Duration::from_millis(1500));
    // An end before the start is taken as the start.
    let mut backwards = tracer.start_detached_span_with_parent("backwards", &handle);
    backwards.set_start_time(earlier + Duration::from_secs(10));
    backwards.end_at(earlier);
    drop(handle);
    let trace = root.finish();
    let nanos = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let s = trace.span("imported").unwrap();
    assert_eq!(s.start_unix_nanos, nanos(earlier));
    assert_eq!(s.end_unix_nanos, nanos(earlier) + 1_500_000_000);
    let b = trace.span("backwards").unwrap();
    assert_eq!(b.end_unix_nanos, b.start_unix_nanos);
    let names: Vec<&str> = trace.spans.iter().map(|s| &*s.name).collect();
    assert_eq!(
        names,
        ["imported", "backwards", "import"],
        "sorted by start time"
    );
}
