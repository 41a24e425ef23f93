//! Carriers and the one-call extract/inject of all three headers.

use std::collections::HashMap;

use reqtrace_core::{SpanContext, SpanId, TraceFlags, TraceId};
use reqtrace_propagation::{
    Baggage, Extractor, Injector, Propagated, TraceState, TraceparentError,
};

const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn hashmap_carrier_is_case_insensitive() {
    let mut m: HashMap<String, String> = HashMap::new();
    m.insert("TrAcEpArEnT".into(), TP.into());
    assert_eq!(Extractor::get(&m, "traceparent"), Some(TP));
    m.set("TRACEPARENT", "x".into());
    assert_eq!(m.len(), 1, "set replaces the differently-cased header");
    assert_eq!(m.get("traceparent").map(String::as_str), Some("x"));
}

#[test]
fn hashmap_with_two_spellings_is_a_duplicate_traceparent() {
    let mut m: HashMap<String, String> = HashMap::new();
    m.insert("traceparent".into(), TP.into());
    m.insert("Traceparent".into(), TP.into());
    let (cx, why) = Propagated::extract_verbose(&m);
    assert_eq!(cx.span_context, None);
    assert_eq!(why, Err(TraceparentError::Duplicate));
}

#[test]
fn header_list_carrier_keeps_repeated_headers() {
    let h = headers(&[("tracestate", "a=1"), ("TraceState", "b=2")]);
    assert_eq!(h.get_all("tracestate"), vec!["a=1", "b=2"]);
    let mut out: Vec<(String, String)> = Vec::new();
    out.set("Baggage", "x=1".into());
    out.set("baggage", "x=2".into());
    assert_eq!(out, headers(&[("baggage", "x=2")]));
}

#[test]
fn one_call_extracts_all_three_headers() {
    let h = headers(&[
        ("traceparent", TP),
        ("tracestate", "foo=1,bar=2"),
        ("baggage", "user=alice;p"),
    ]);
    let cx = Propagated::extract(&h);
    let sc = cx.span_context.unwrap();
    assert_eq!(sc.trace_id.to_string(), "12345678901234567890123456789012");
    assert_eq!(sc.span_id.to_string(), "1234567890123456");
    assert!(sc.is_remote && sc.is_sampled());
    assert_eq!(cx.trace_state.to_string(), "foo=1,bar=2");
    assert_eq!(cx.baggage.get("user"), Some("alice"));
}

#[test]
fn one_call_injects_all_three_headers() {
    let mut cx = Propagated::new(SpanContext::new(
        TraceId::from_u128(1).unwrap(),
        SpanId::from_u64(2).unwrap(),
        TraceFlags::SAMPLED | TraceFlags::RANDOM,
        false,
    ));
    cx.trace_state.insert("congo", "t61rcWkgMzE").unwrap();
    cx.baggage.insert("user", "bob smith").unwrap();
    let mut out: HashMap<String, String> = HashMap::new();
    cx.inject(&mut out);
    assert_eq!(
        out["traceparent"],
        "00-00000000000000000000000000000001-0000000000000002-03"
    );
    assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
    assert_eq!(out["baggage"], "user=bob%20smith");
    assert_eq!(out.len(), 3);
}

#[test]
fn empty_tracestate_and_baggage_are_not_sent() {
    let cx = Propagated::new(SpanContext::new(
        TraceId::from_u128(1).unwrap(),
        SpanId::from_u64(2).unwrap(),
        TraceFlags::NONE,
        false,
    ));
    let mut out: Vec<(String, String)> = Vec::new();
    cx.inject(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "traceparent");
}

#[test]
fn invalid_traceparent_means_tracestate_is_not_used() {
    let h = headers(&[
        (
            "traceparent",
            "ff-12345678901234567890123456789012-1234567890123456-01",
        ),
        ("tracestate", "foo=1"),
        ("baggage", "k=v"),
    ]);
    let (cx, why) = Propagated::extract_verbose(&h);
    assert_eq!(why, Err(TraceparentError::ForbiddenVersion));
    assert_eq!(cx.span_context, None);
    assert!(cx.trace_state.is_empty());
    // baggage is a separate spec and still read
    assert_eq!(cx.baggage.get("k"), Some("v"));
}

#[test]
fn tracestate_without_traceparent_is_discarded() {
    let cx = Propagated::extract(&headers(&[("tracestate", "foo=1")]));
    assert_eq!(cx.span_context, None);
    assert!(cx.trace_state.is_empty());
}

#[test]
fn invalid_tracestate_is_discarded_and_traceparent_stands() {
    let too_many: String = (0..33)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    for bad in ["foo=1,FOO=2", "foo=1,foo", too_many.as_str()] {
        let cx = Propagated::extract(&headers(&[("traceparent", TP), ("tracestate", bad)]));
        assert!(cx.span_context.is_some(), "{bad}");
        assert_eq!(cx.trace_state, TraceState::new(), "{bad}");
    }
}

#[test]
fn multiple_tracestate_headers_are_joined() {
    let cx = Propagated::extract(&headers(&[
        ("traceparent", TP),
        ("tracestate", "foo=1,bar=2"),
        ("tracestate", ""),
        ("TRACESTATE", "baz=3"),
    ]));
    assert_eq!(cx.trace_state.to_string(), "foo=1,bar=2,baz=3");
}

#[test]
fn wrong_header_names_are_ignored() {
    let cx = Propagated::extract(&headers(&[("trace-parent", TP), ("trace.state", "foo=1")]));
    assert_eq!(cx, Propagated::default());
}

#[test]
fn absent_headers_extract_to_nothing() {
    let (cx, why) = Propagated::extract_verbose(&headers(&[]));
    assert_eq!(cx, Propagated::default());
    assert_eq!(why, Ok(false));
    assert_eq!(cx.baggage, Baggage::new());
}

#[cfg(feature = "http")]
#[test]
fn http_header_map_carrier() {
    use http::header::{HeaderMap, HeaderValue};
    let mut h = HeaderMap::new();
    h.insert("TraceParent", HeaderValue::from_static(TP));
    h.append("tracestate", HeaderValue::from_static("a=1"));
    h.append("tracestate", HeaderValue::from_static("b=2"));
    h.insert("baggage", HeaderValue::from_static("k=v"));
    let cx = Propagated::extract(&h);
    assert!(cx.span_context.is_some());
    assert_eq!(cx.trace_state.to_string(), "a=1,b=2");
    let mut out = HeaderMap::new();
    cx.inject(&mut out);
    assert_eq!(out.get("traceparent").unwrap(), TP);
    assert_eq!(out.get("tracestate").unwrap(), "a=1,b=2");
    assert_eq!(out.get("baggage").unwrap(), "k=v");
}

#[cfg(feature = "http")]
#[test]
fn http_header_map_duplicate_and_non_ascii_values() {
    use http::header::{HeaderMap, HeaderValue};
    let mut h = HeaderMap::new();
    h.append("traceparent", HeaderValue::from_static(TP));
    h.append("traceparent", HeaderValue::from_bytes(b"\xff").unwrap());
    assert_eq!(
        Propagated::extract_verbose(&h).1,
        Err(TraceparentError::Duplicate)
    );
}
