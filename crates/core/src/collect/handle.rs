//! [`SpanHandle`]: a span of a trace that is live in this process, to parent work on other
//! threads and tasks; and [`Parent`], what every "with a parent" function takes (a handle, or
//! a plain [`SpanContext`] such as one parsed from a header).
//! Layer: live traces (beside `trace.rs`, whose `TraceShared` a handle holds).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::collect::trace::TraceShared;
use crate::collect::tracer_state::TracerInner;
use crate::model::data::{Link, SpanKind, exception_attributes};
use crate::model::ids::{SpanContext, SpanId, TraceId};
use crate::model::value::{KeyValue, Value};
use crate::record::pending_edits::SpanEdit;
use crate::util::clock;

/// A span of a trace that is live in this process: its [`SpanContext`] plus a reference to
/// the trace, so that spans started under it on any thread or task join the same local trace
/// (and come back from `end_trace` / `RootSpan::finish`).
///
/// Take one with [`crate::SpanGuard::handle`], [`crate::Span::handle`],
/// [`crate::RootSpan::handle`] or [`crate::RequestTracer::current_span_handle`], and pass it
/// (by reference) wherever a parent is taken: `start_span_with_parent`, `attach`,
/// `start_detached_span_with_parent`, [`crate::FutureExt::with_context`], [`crate::bind`].
///
/// # Lifetime
/// A handle keeps its trace's shared state alive: until the last handle (and the last span)
/// of a trace is dropped, the trace counts in [`crate::Stats::traces_open`] and so toward
/// [`crate::Limits::max_open_traces`]. Spans started under a handle after its trace ended
/// are counted as late ([`crate::DroppedSpans::late`]), never exported. So hand a handle to
/// the work that needs it and drop it with that work; to *remember* a span (for a link, a
/// log line, a cache), keep its [`SpanContext`] — a plain value — instead.
///
/// ```
/// use reqtrace_core::RequestTracer;
///
/// let tracer = RequestTracer::new("api");
/// tracer.start_trace();
/// let span = tracer.start_span("fan-out");
/// let handle = span.handle().unwrap();
/// let t = tracer.clone();
/// std::thread::spawn(move || drop(t.start_span_with_parent("worker", &handle)))
///     .join()
///     .unwrap();
/// drop(span);
/// let trace = tracer.end_trace().unwrap();
/// let fan_out = trace.span("fan-out").unwrap();
/// assert_eq!(trace.span("worker").unwrap().parent_id, Some(fan_out.span_id));
/// ```
#[derive(Clone)]
pub struct SpanHandle {
    context: SpanContext,
    pub(crate) trace: Arc<TraceShared>,
}

impl SpanHandle {
    pub(crate) fn new(trace: Arc<TraceShared>, span_id: SpanId, is_remote: bool) -> Self {
        SpanHandle {
            context: SpanContext::new(trace.trace_id, span_id, trace.flags, is_remote),
            trace,
        }
    }

    /// The span's context (a plain value: ids and flags).
    pub fn context(&self) -> &SpanContext {
        &self.context
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.context.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.context.span_id
    }

    /// Whether the trace is sampled (spans started under the handle are recorded).
    pub fn is_sampled(&self) -> bool {
        self.context.is_sampled()
    }

    /// Sets an attribute on the handle's span, wherever the span is held (a `RootSpan` in a
    /// server's response future, a guard on another thread): applied when the span ends,
    /// within the same limits as the span's own `set_attribute`. Edits made after the span
    /// ended are dropped and counted ([`crate::Stats::attributes_dropped`]).
    pub fn set_attribute(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.edit(SpanEdit::Attribute(KeyValue::new(key, value)));
    }

    /// Adds an event (timestamped now) to the handle's span, applied when it ends.
    pub fn add_event<I>(&self, name: impl Into<Cow<'static, str>>, attributes: I)
    where
        I: IntoIterator<Item = KeyValue>,
    {
        self.edit(SpanEdit::Event {
            name: name.into(),
            attributes: attributes.into_iter().collect(),
            time: clock::unix_nanos_now(),
        });
    }

    /// Adds a link to another span (applied when the handle's span ends).
    pub fn add_link(&self, context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>) {
        self.edit(SpanEdit::Link(Link::new(context, attributes)));
    }

    /// Records `error` as an `exception` event (see [`crate::EditSpan::record_exception`]).
    pub fn record_exception<E: std::error::Error + ?Sized>(&self, error: &E) {
        self.add_event("exception", exception_attributes(error));
    }

    /// Marks the handle's span failed with `message`.
    pub fn set_error(&self, message: impl Into<String>) {
        self.edit(SpanEdit::Status(Err(message.into())));
    }

    /// Marks the handle's span successful.
    pub fn set_ok(&self) {
        self.edit(SpanEdit::Status(Ok(())));
    }

    /// Renames the handle's span.
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        self.edit(SpanEdit::Name(name.into()));
    }

    /// Sets the handle's span's kind.
    pub fn set_kind(&self, kind: SpanKind) {
        self.edit(SpanEdit::Kind(kind));
    }

    pub(crate) fn edit(&self, edit: SpanEdit) {
        if !self.trace.is_sampled() {
            return;
        }
        let refused = if self.trace.is_ended() {
            Some(edit)
        } else {
            self.trace
                .edits
                .push(self.context.span_id.to_u64(), edit)
                .err()
        };
        if let Some(edit) = refused {
            edit.count_dropped(&self.trace.tracer.counters);
        }
    }
}

impl From<SpanHandle> for SpanContext {
    fn from(handle: SpanHandle) -> Self {
        handle.context
    }
}

impl fmt::Debug for SpanHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanHandle")
            .field("context", &self.context)
            .field("trace_ended", &self.trace.is_ended())
            .finish()
    }
}

/// The parent of a span about to start: a [`SpanHandle`] (joins its live trace) or a
/// [`SpanContext`] (a value: joins nothing live; see each function for what it does with
/// one). Functions take `impl Into<Parent<'_>>`, so pass `&handle` or `&context`.
#[derive(Clone, Copy)]
pub struct Parent<'a> {
    context: &'a SpanContext,
    trace: Option<&'a Arc<TraceShared>>,
}

impl fmt::Debug for Parent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parent")
            .field("context", self.context)
            .field("live", &self.trace.is_some())
            .finish()
    }
}

impl Parent<'_> {
    /// The parent's context.
    pub fn context(&self) -> &SpanContext {
        self.context
    }

    /// The live trace, for a handle.
    /// Whether this parent is a handle on a live trace of the tracer `inner`.
    pub(crate) fn is_live_in(&self, inner: &Arc<TracerInner>) -> bool {
        self.live().is_some_and(|t| Arc::ptr_eq(&t.tracer.0, inner))
    }

    pub(crate) fn live(&self) -> Option<&Arc<TraceShared>> {
        self.trace
    }
}

impl<'a> From<&'a SpanContext> for Parent<'a> {
    fn from(context: &'a SpanContext) -> Self {
        Parent {
            context,
            trace: None,
        }
    }
}

impl<'a> From<&'a SpanHandle> for Parent<'a> {
    fn from(handle: &'a SpanHandle) -> Self {
        Parent {
            context: &handle.context,
            trace: Some(&handle.trace),
        }
    }
}
