//! [`TraceBuilder`]: the one builder for traces — a remote parent, a trace state, attributes,
//! the root's kind — started on the calling thread ([`TraceBuilder::start`]) or as an owned
//! [`RootSpan`] ([`TraceBuilder::start_root`]). Layer: the API.

use std::borrow::Cow;

use crate::api::root::{RootSpan, start_root_span};
use crate::api::trace_start::new_trace_start;
use crate::api::tracer::RequestTracer;
use crate::local::span_ops;
use crate::model::data::SpanKind;
use crate::model::ids::{SpanContext, TraceId};
use crate::model::value::{KeyValue, Value};

/// A trace to start: with a remote parent, trace state, attributes or a root kind
/// ([`RequestTracer::trace_builder`]); then [`TraceBuilder::start`] makes it the calling
/// thread's current trace (ended by `end_trace`), or [`TraceBuilder::start_root`] makes it an
/// owned, `Send` [`RootSpan`] (the form for async services).
///
/// ```
/// use reqtrace_core::{RequestTracer, SpanContext, SpanKind};
///
/// let tracer = RequestTracer::new("api");
/// let remote: SpanContext = tracer.start_root("client").context(); // e.g. from a header
/// let root = tracer
///     .trace_builder()
///     .parent(&remote)
///     .kind(SpanKind::Server)
///     .attribute("request.id", 7)
///     .start_root("GET /users");
/// assert_eq!(root.trace_id(), remote.trace_id);
/// let trace = root.finish();
/// assert_eq!(trace.spans[0].parent_id, Some(remote.span_id));
/// assert_eq!(trace.spans[0].kind, SpanKind::Server);
///
/// // The same builder, bound to this thread:
/// let id = tracer.trace_builder().parent(&remote).start();
/// assert_eq!(id, remote.trace_id);
/// drop(tracer.start_span("work"));
/// assert_eq!(tracer.end_trace().unwrap().spans[0].parent_id, Some(remote.span_id));
/// ```
#[derive(Debug)]
#[must_use = "call .start() or .start_root(name) to start the trace"]
pub struct TraceBuilder<'a> {
    tracer: &'a RequestTracer,
    parent: Option<SpanContext>,
    trace_state: Option<String>,
    attributes: Vec<KeyValue>,
    kind: SpanKind,
}

impl<'a> TraceBuilder<'a> {
    /// A trace with no parent, no trace state and no attributes yet.
    pub(crate) fn new(tracer: &'a RequestTracer) -> Self {
        TraceBuilder {
            tracer,
            parent: None,
            trace_state: None,
            attributes: Vec::new(),
            kind: SpanKind::Internal,
        }
    }
}

impl TraceBuilder<'_> {
    /// Continue `parent` (usually remote, e.g. from a `traceparent` header): same trace id,
    /// spans with no local parent (the root) parent to it, and sampling follows the sampler
    /// (`ParentBased` honours the remote `sampled` flag).
    pub fn parent(mut self, parent: &SpanContext) -> Self {
        self.parent = Some(parent.clone());
        self
    }

    /// Like [`TraceBuilder::parent`], when there may be none.
    pub fn parent_opt(mut self, parent: Option<&SpanContext>) -> Self {
        self.parent = parent.cloned();
        self
    }

    /// The root span's kind (e.g. [`SpanKind::Server`] for a request handler); for
    /// [`TraceBuilder::start_root`] (a thread-bound trace has no root span of its own).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
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

    /// Starts the trace as an owned value: its root span, named `name`. The [`RootSpan`] is
    /// `Send`; finish it from any thread with [`RootSpan::finish`] (or drop it to send the
    /// spans to the exporter).
    pub fn start_root(self, name: impl Into<Cow<'static, str>>) -> RootSpan {
        start_root_span(
            &self.tracer.inner,
            name.into(),
            self.parent.as_ref(),
            self.trace_state,
            self.attributes,
            self.kind,
        )
    }
}
