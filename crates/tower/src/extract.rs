//! The incoming trace context, read straight from an `http::HeaderMap`: the same W3C rules as
//! `reqtrace_propagation::Propagated::extract` (an invalid or repeated `traceparent` gives no
//! parent and the `tracestate` is then not read; an invalid `tracestate` is dropped while the
//! parent stands; `baggage` is read leniently on its own), built from the propagation crate's
//! parsers but iterating the header values in place — the carrier API collects them into a
//! `Vec` per header, which is a third of the layer's allocations per request.

use http::{HeaderMap, HeaderName};
use reqtrace_core::SpanContext;
use reqtrace_propagation::{Baggage, TraceState, Traceparent};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// What a request brings: the remote parent, its `tracestate` (as received, normalised), and
/// the baggage.
#[derive(Debug, Default)]
pub(crate) struct Incoming {
    pub(crate) parent: Option<SpanContext>,
    pub(crate) trace_state: Option<String>,
    pub(crate) baggage: Option<Baggage>,
}

/// A header's values; one that is not visible ASCII reads as `"\u{fffd}"`, which no format
/// accepts (it still counts, so two `traceparent` headers stay a duplicate).
fn values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Reads `traceparent`, `tracestate` and `baggage`.
pub(crate) fn extract(headers: &HeaderMap) -> Incoming {
    let mut incoming = Incoming::default();
    if let Ok(Some(tp)) = Traceparent::from_headers(values(headers, &TRACEPARENT)) {
        incoming.parent = Some(tp.to_span_context());
        if headers.contains_key(&TRACESTATE) {
            incoming.trace_state = TraceState::from_headers(values(headers, &TRACESTATE))
                .ok()
                .filter(|ts| !ts.is_empty())
                .map(|ts| ts.to_string());
        }
    }
    if headers.contains_key(&BAGGAGE) {
        let baggage = Baggage::from_header(values(headers, &BAGGAGE));
        incoming.baggage = (!baggage.is_empty()).then_some(baggage);
    }
    incoming
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqtrace_propagation::Propagated;

    /// The same answers as `Propagated::extract` on the same headers.
    #[test]
    fn agrees_with_propagated_extract() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("traceparent", tp)],
            vec![
                ("traceparent", tp),
                ("tracestate", "a=1,b=2"),
                ("tracestate", "c=3"),
            ],
            vec![("traceparent", tp), ("tracestate", "not valid")],
            vec![("traceparent", tp), ("traceparent", tp)],
            vec![("traceparent", "garbage"), ("tracestate", "a=1")],
            vec![(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            )],
            vec![("baggage", "user=alice,tier=gold"), ("baggage", "x=1")],
            vec![("baggage", "===")],
        ];
        for case in cases {
            let mut headers = HeaderMap::new();
            for (k, v) in &case {
                headers.append(HeaderName::from_static(k), v.parse().unwrap());
            }
            let ours = extract(&headers);
            let theirs = Propagated::extract(&headers);
            assert_eq!(ours.parent, theirs.span_context, "{case:?}");
            let theirs_ts =
                (!theirs.trace_state.is_empty()).then(|| theirs.trace_state.to_string());
            assert_eq!(ours.trace_state, theirs_ts, "{case:?}");
            assert_eq!(ours.baggage.unwrap_or_default(), theirs.baggage, "{case:?}");
        }
    }
}
