//! [`TraceContext`]: the seed's trace context, a plain value (what
//! [`crate::RequestTracer::trace_context`] returns). Layer: the model.

use std::borrow::Cow;

use crate::model::ids::{SpanId, TraceFlags, TraceId};

/// The seed's trace context: what [`crate::RequestTracer::trace_context`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TraceContext {
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
