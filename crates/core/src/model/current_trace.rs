//! [`CurrentTrace`]: the calling thread's current trace as a plain value (what the seed's
//! [`crate::RequestTracer::trace_context`] returns). Named apart from W3C Trace Context (the
//! header format, `reqtrace-propagation`) and from [`crate::SpanContext`]. Layer: the model.

use std::borrow::Cow;

use crate::model::ids::{SpanId, TraceFlags, TraceId};

/// The calling thread's current trace: ids, flags, trace state and service name, what the
/// seed's [`crate::RequestTracer::trace_context`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CurrentTrace {
    /// The current trace.
    pub trace_id: TraceId,
    /// The innermost open span, if any.
    pub span_id: Option<SpanId>,
    /// The trace's flags.
    pub trace_flags: TraceFlags,
    /// The W3C `tracestate` the trace was continued with.
    pub trace_state: Option<String>,
    /// The tracer's service name.
    pub service_name: Cow<'static, str>,
}
