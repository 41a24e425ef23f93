//! The tracer integration: `trace_header`, `from_header`, continuing and restarting traces.

use std::collections::HashMap;

use reqtrace_core::{RequestTracer, Sampler, SpanId, TraceId};
use reqtrace_propagation::{Baggage, Traceparent, TraceparentError, TracerExt};

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn incoming(flags: &str, tracestate: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![(
        "traceparent".to_string(),
        format!("00-{TRACE}-{PARENT}-{flags}"),
    )];
    if let Some(ts) = tracestate {
        h.push(("tracestate".to_string(), ts.to_string()));
    }
    h
}

fn header_flags(h: &str) -> &str {
    &h[53..]
}

#[test]
fn trace_header_is_none_without_a_trace() {
    let tracer = RequestTracer::new("t");
    assert_eq!(tracer.trace_header(), None);
    let mut out: HashMap<String, String> = HashMap::new();
    tracer.inject(&mut out);
    assert!(out.is_empty());
}

#[test]
fn new_random_trace_ids_set_the_random_flag() {
    let tracer = RequestTracer::new("t");
    let id = tracer.start_trace();
    let span = tracer.start_span("s");
    let h = tracer.trace_header().unwrap();
    let tp: Traceparent = h.parse().unwrap();
    assert_eq!(tp.trace_id, id);
    assert_eq!(Some(tp.parent_id), span.span_id());
    assert!(tp.trace_flags.is_random());
    drop(span);
    tracer.end_trace();
}

#[test]
fn trace_header_carries_the_real_sampled_flag() {
    let off = RequestTracer::builder("t")
        .sampler(Sampler::AlwaysOff)
        .build();
    off.start_trace();
    let _s = off.start_span("s");
    // not sampled, random id: 0x02
    assert_eq!(header_flags(&off.trace_header().unwrap()), "02");
    drop(_s);
    off.end_trace();

    let on = RequestTracer::new("t");
    on.start_trace();
    let _s = on.start_span("s");
    assert_eq!(header_flags(&on.trace_header().unwrap()), "03");
    drop(_s);
    on.end_trace();
}

#[test]
fn parent_based_sampling_follows_the_incoming_flag() {
    let tracer = RequestTracer::builder("t")
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    for (flags, expected) in [("00", "00"), ("01", "01"), ("02", "02"), ("03", "03")] {
        tracer.start_trace_from_carrier(&incoming(flags, None));
        let _s = tracer.start_span("s");
        assert_eq!(
            header_flags(&tracer.trace_header().unwrap()),
            expected,
            "{flags}"
        );
        drop(_s);
        tracer.end_trace();
    }
}

#[test]
fn from_header_gives_a_remote_context_or_a_typed_error() {
    let cx = RequestTracer::from_header(&format!("00-{TRACE}-{PARENT}-01")).unwrap();
    assert!(cx.is_remote && cx.is_sampled());
    assert_eq!(cx.trace_id.to_string(), TRACE);
    assert_eq!(cx.span_id.to_string(), PARENT);
    assert_eq!(
        RequestTracer::from_header(&format!("ff-{TRACE}-{PARENT}-01")),
        Err(TraceparentError::ForbiddenVersion)
    );
}

#[test]
fn continuing_a_trace_parents_local_spans_to_the_remote_span_and_keeps_tracestate() {
    let tracer = RequestTracer::new("svc");
    let cx = tracer.start_trace_from_carrier(&incoming("01", Some("congo=t61rcWkgMzE")));
    assert!(cx.span_context.is_some());
    assert_eq!(tracer.trace_id().unwrap().to_string(), TRACE);
    {
        let _root = tracer.start_span("handler");
        let mut out: HashMap<String, String> = HashMap::new();
        tracer.inject(&mut out);
        assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
        assert!(out["traceparent"].starts_with(&format!("00-{TRACE}-")));
        let sent: Traceparent = out["traceparent"].parse().unwrap();
        assert_ne!(
            sent.parent_id.to_string(),
            PARENT,
            "a new parent-id is sent"
        );
    }
    let trace = tracer.end_trace().unwrap();
    let remote: SpanId = PARENT.parse().unwrap();
    assert_eq!(trace.trace_id, TRACE.parse::<TraceId>().unwrap());
    assert_eq!(trace.remote_parent_id, Some(remote));
    assert_eq!(trace.trace_state.as_deref(), Some("congo=t61rcWkgMzE"));
    assert_eq!(trace.span("handler").unwrap().parent_id, Some(remote));
}

#[test]
fn invalid_headers_restart_the_trace_without_tracestate() {
    let tracer = RequestTracer::new("svc");
    let mut h = incoming("01", Some("foo=1"));
    h.push(("traceparent".into(), format!("00-{TRACE}-{PARENT}-01")));
    let cx = tracer.start_trace_from_carrier(&h);
    assert_eq!(cx.span_context, None);
    let id = tracer.trace_id().unwrap();
    assert_ne!(id.to_string(), TRACE);
    let _s = tracer.start_span("s");
    let mut out: HashMap<String, String> = HashMap::new();
    tracer.inject(&mut out);
    assert!(!out.contains_key("tracestate"));
    drop(_s);
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.trace_state, None);
    assert_eq!(trace.remote_parent_id, None);
}

#[test]
fn each_child_span_gets_a_new_parent_id_in_the_header() {
    let tracer = RequestTracer::new("svc");
    tracer.start_trace_from_carrier(&incoming("01", None));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let s = tracer.start_span("call");
        let tp: Traceparent = tracer.trace_header().unwrap().parse().unwrap();
        assert_eq!(Some(tp.parent_id), s.span_id());
        assert!(seen.insert(tp.parent_id));
    }
    tracer.end_trace();
}

#[test]
fn baggage_travels_alongside_the_trace() {
    let tracer = RequestTracer::new("svc");
    let mut h = incoming("01", None);
    h.push(("baggage".into(), "user=alice".into()));
    let mut cx = tracer.start_trace_from_carrier(&h);
    cx.baggage.insert("region", "eu west").unwrap();
    let _s = tracer.start_span("s");
    let mut out: Vec<(String, String)> = Vec::new();
    tracer.inject_with_baggage(&cx.baggage, &mut out);
    let got: HashMap<_, _> = out.into_iter().collect();
    assert_eq!(got["baggage"], "user=alice,region=eu%20west");
    assert!(got.contains_key("traceparent"));
    drop(_s);
    tracer.end_trace();

    // without a trace only the baggage goes out
    let mut out: Vec<(String, String)> = Vec::new();
    let b: Baggage = "k=v".parse().unwrap();
    tracer.inject_with_baggage(&b, &mut out);
    assert_eq!(out, vec![("baggage".to_string(), "k=v".to_string())]);
}
