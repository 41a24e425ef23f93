//! [`Propagated`]: everything that crosses a process boundary with a request — the remote
//! span context, its `tracestate` and the `baggage` — extracted or injected in one call.

use reqtrace_core::SpanContext;

use crate::baggage::Baggage;
use crate::carrier::{Extractor, Injector};
use crate::traceparent::{Traceparent, TraceparentError};
use crate::tracestate::{TraceState, TraceStateError};

/// Header name of the trace parent (W3C Trace Context).
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// Header name of the vendor trace state (W3C Trace Context).
pub const TRACESTATE_HEADER: &str = "tracestate";
/// Header name of the baggage (W3C Baggage).
pub const BAGGAGE_HEADER: &str = "baggage";

/// Reads the `traceparent` header(s): `Ok(None)` when absent, an error when malformed or
/// repeated (the receiver then restarts the trace).
pub fn extract_traceparent<E: Extractor + ?Sized>(
    carrier: &E,
) -> Result<Option<Traceparent>, TraceparentError> {
    Traceparent::from_headers(carrier.get_all(TRACEPARENT_HEADER))
}

/// Reads and joins the `tracestate` header(s). Callers must only use this when the
/// `traceparent` was valid (the spec forbids parsing `tracestate` otherwise);
/// [`Propagated::extract`] does that.
pub fn extract_trace_state<E: Extractor + ?Sized>(
    carrier: &E,
) -> Result<TraceState, TraceStateError> {
    TraceState::from_headers(carrier.get_all(TRACESTATE_HEADER))
}

/// Reads the `baggage` header(s) leniently (see [`Baggage::from_header`]).
pub fn extract_baggage<E: Extractor + ?Sized>(carrier: &E) -> Baggage {
    Baggage::from_header(carrier.get_all(BAGGAGE_HEADER))
}

/// The context that travels with a request: the remote parent span, the trace state and the
/// baggage.
///
/// This is the crate's answer to "read and set baggage alongside the trace": the tracer keeps
/// spans, not baggage, so baggage lives in this value. A server gets one from
/// [`Propagated::extract`] (or `TracerExt::start_trace_from_carrier`), reads and edits
/// [`Propagated::baggage`], and a client writes one with [`Propagated::inject`] (or
/// `TracerExt::inject_with_baggage`, which takes the span context and trace state from the
/// tracer's current span).
///
/// ```
/// use std::collections::HashMap;
/// use reqtrace_propagation::Propagated;
///
/// let mut incoming = HashMap::new();
/// incoming.insert("TraceParent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string());
/// incoming.insert("tracestate".to_string(), "congo=t61rcWkgMzE".to_string());
/// incoming.insert("baggage".to_string(), "user=alice".to_string());
///
/// let mut cx = Propagated::extract(&incoming);
/// assert_eq!(cx.baggage.get("user"), Some("alice"));
/// cx.baggage.insert("tier", "gold").unwrap();
///
/// let mut outgoing: HashMap<String, String> = HashMap::new();
/// cx.inject(&mut outgoing);
/// assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE");
/// assert_eq!(outgoing["baggage"], "user=alice,tier=gold");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Propagated {
    /// The span to parent to: from `traceparent` when extracted (with `is_remote` set), or
    /// the local span to announce when injecting. `None` when absent or invalid.
    pub span_context: Option<SpanContext>,
    /// The `tracestate`; empty when absent, invalid, or when `traceparent` was invalid.
    pub trace_state: TraceState,
    /// The baggage; independent of the trace context.
    pub baggage: Baggage,
}

impl Propagated {
    /// A value for `span_context` with empty trace state and baggage.
    pub fn new(span_context: SpanContext) -> Self {
        Propagated {
            span_context: Some(span_context),
            ..Propagated::default()
        }
    }

    /// Extracts all three headers following the W3C rules: an invalid or repeated
    /// `traceparent` gives no span context and the `tracestate` is then not parsed; an invalid
    /// `tracestate` is discarded while the `traceparent` stands; `baggage` is read leniently
    /// on its own.
    pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Self {
        let (cx, _) = Self::extract_verbose(carrier);
        cx
    }

    /// Like [`Propagated::extract`], also returning why the `traceparent` was rejected
    /// (`Ok(false)` when it was absent, `Ok(true)` when it was used).
    pub fn extract_verbose<E: Extractor + ?Sized>(
        carrier: &E,
    ) -> (Self, Result<bool, TraceparentError>) {
        let baggage = extract_baggage(carrier);
        match extract_traceparent(carrier) {
            Ok(Some(tp)) => (
                Propagated {
                    span_context: Some(tp.to_span_context()),
                    trace_state: extract_trace_state(carrier).unwrap_or_default(),
                    baggage,
                },
                Ok(true),
            ),
            Ok(None) => (
                Propagated {
                    baggage,
                    ..Propagated::default()
                },
                Ok(false),
            ),
            Err(e) => (
                Propagated {
                    baggage,
                    ..Propagated::default()
                },
                Err(e),
            ),
        }
    }

    /// Writes `traceparent` (when there is a span context), `tracestate` (when there is a span
    /// context and the state is not empty) and `baggage` (when not empty).
    pub fn inject<I: Injector + ?Sized>(&self, carrier: &mut I) {
        if let Some(cx) = &self.span_context {
            carrier.set(TRACEPARENT_HEADER, Traceparent::from(cx).to_string());
            if !self.trace_state.is_empty() {
                carrier.set(TRACESTATE_HEADER, self.trace_state.to_string());
            }
        }
        if !self.baggage.is_empty() {
            carrier.set(BAGGAGE_HEADER, self.baggage.to_string());
        }
    }
}
