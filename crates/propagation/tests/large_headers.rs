//! A 1 MB header of each kind gets a typed error or a result within the W3C limits (the time
//! this takes is measured by `benches/parse.rs`, never asserted here).

mod large_inputs;

use std::collections::HashMap;

use large_inputs::{PARENT, TRACE, baggage, list, traceparent_future, traceparent_ows};
use reqtrace_propagation::baggage::{MAX_BYTES, MAX_MEMBERS};
use reqtrace_propagation::tracestate::MAX_HEADER_LEN;
use reqtrace_propagation::{
    Baggage, BaggageError, Propagated, TraceState, TraceStateError, Traceparent, TraceparentError,
};

const MB: usize = 1024 * 1024;

#[test]
fn traceparent_of_1_mb() {
    let v00 = format!("00-{TRACE}-{PARENT}-01");
    assert_eq!(
        format!("{v00}-{}", "x".repeat(MB)).parse::<Traceparent>(),
        Err(TraceparentError::TrailingData)
    );
    // a higher version's extra fields are ignored
    assert_eq!(traceparent_future(MB).parse::<Traceparent>(), v00.parse());
    // whitespace around the value is allowed, however much of it there is
    assert_eq!(traceparent_ows(MB).parse::<Traceparent>(), v00.parse());
    assert_eq!(
        " ".repeat(MB).parse::<Traceparent>(),
        Err(TraceparentError::Empty)
    );
}

#[test]
fn tracestate_of_1_mb() {
    let members = list(MB, |i| format!("k{i}=v"));
    assert!(matches!(
        members.parse::<TraceState>(),
        Err(TraceStateError::TooLong { len }) if len == members.len()
    ));
    // the same shape within the length limit stops at the 33rd member
    assert_eq!(
        members[..MAX_HEADER_LEN].parse::<TraceState>(),
        Err(TraceStateError::TooManyMembers { count: 33 })
    );
    let commas = ",".repeat(MB);
    assert!(matches!(
        TraceState::from_headers(["a=1", commas.as_str()]),
        Err(TraceStateError::TooLong { .. })
    ));
}

#[test]
fn baggage_of_1_mb() {
    // 1 MB of 128-byte members: 63 of them fill the 8192 bytes
    let header = baggage(MB);
    assert_eq!(header.parse::<Baggage>(), Err(BaggageError::TooLong));
    let b = Baggage::from_header([header.as_str()]);
    assert_eq!(b.len(), 63);
    assert_eq!(b.to_string(), header[..63 * 129 - 1]);
    // 1 MB of short members stops at 64
    let header = list(MB, |i| format!("k{i}=v"));
    let b = Baggage::from_header([header.as_str()]);
    assert_eq!(b.len(), MAX_MEMBERS);
    assert_eq!(b.get("k63"), Some("v"));
    // one member of 1 MB is dropped whole
    let b = Baggage::from_header([format!("k={}", "v".repeat(MB)).as_str()]);
    assert!(b.is_empty());
    // as are 1 MB of members repeating one key, beyond byte 8192
    let header = list(MB, |i| format!("k={i}"));
    let b = Baggage::from_header([header.as_str()]);
    assert_eq!(b.len(), 1);
    // the last member followed by `,` (or the end) within the first 8192 bytes
    let last_read = header[..=MAX_BYTES].rsplit(',').nth(1).unwrap();
    assert_eq!(Some(b.get("k").unwrap()), last_read.strip_prefix("k="));
}

#[test]
fn extraction_of_1_mb_headers() {
    let carrier: HashMap<String, String> = [
        ("traceparent", traceparent_future(MB)),
        ("tracestate", list(MB, |i| format!("k{i}=v"))),
        ("baggage", list(MB, |i| format!("k{i}=v"))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (cx, used) = Propagated::extract_verbose(&carrier);
    assert_eq!(used, Ok(true));
    assert_eq!(cx.span_context.unwrap().trace_id.to_string(), TRACE);
    assert!(
        cx.trace_state.is_empty(),
        "an over-long tracestate is discarded"
    );
    assert_eq!(cx.baggage.len(), MAX_MEMBERS);
    assert!(cx.baggage.header_len() <= MAX_BYTES);
}
