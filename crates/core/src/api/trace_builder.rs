//! [`TraceBuilder`]: a trace started with a remote parent, a trace state or attributes
//! ([`RequestTracer::trace_builder`]). Layer: the API.

use std::borrow::Cow;

use crate::api::root::new_trace_start;
use crate::api::tracer::RequestTracer;
use crate::local::span_ops;
use crate::model::ids::{SpanContext, TraceId};
use crate::model::value::{KeyValue, Value};

/// Starts a trace with a remote parent, trace state or attributes
/// ([`RequestTracer::trace_builder`]).
#[derive(Debug)]
pub struct TraceBuilder<'a> {
    tracer: &'a RequestTracer,
    parent: Option<SpanContext>,
    trace_state: Option<String>,
    attributes: Vec<KeyValue>,
}

impl<'a> TraceBuilder<'a> {
    /// A trace with no parent, no trace state and no attributes yet.
    pub(crate) fn new(tracer: &'a RequestTracer) -> Self {
        TraceBuilder {
            tracer,
            parent: None,
            trace_state: None,
            attributes: Vec::new(),
        }
    }
}

impl TraceBuilder<'_> {
    /// Continue `parent` (usually remote): same trace id, spans parent to it.
    pub fn parent(mut self, parent: &SpanContext) -> Self {
        self.parent = Some(parent.clone());
        self
    }

    /// The W3C `tracestate` received with the parent, kept with the trace.
    pub fn trace_state(mut self, trace_state: impl Into<String>) -> Self {
        self.trace_state = Some(trace_state.into());
        self
    }

    /// One trace-level attribute.
    pub fn attribute(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Several trace-level attributes.
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Starts the trace on the calling thread and returns its id.
    pub fn start(self) -> TraceId {
        let inner = &self.tracer.inner;
        let start = new_trace_start(
            inner,
            &inner.sampler,
            self.parent.as_ref(),
            self.trace_state,
            self.attributes,
        );
        span_ops::start_trace(inner, start)
    }
}
