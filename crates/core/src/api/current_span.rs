//! [`CurrentSpan`]: the innermost span current on this thread, whatever made it — a
//! [`crate::SpanGuard`], a root made current with `attach`, the root `ServerLayer` started
//! for a request, a `#[trace]` function, a future's span, a `tracing` span through the
//! bridge — to set attributes, events, status and name on it without holding it.
//! Layer: the API.

use std::borrow::Cow;

use crate::collect::handle::SpanHandle;
use crate::local::edit::{self, CurrentTarget};
use crate::local::span_ops;
use crate::model::data::{Link, SpanKind, exception_attributes};
use crate::model::ids::{SpanContext, SpanId};
use crate::model::value::{KeyValue, Value};
use crate::record::pending_edits::SpanEdit;
use crate::util::clock;

/// The innermost span current on this thread when [`crate::RequestTracer::current_span`] (or
/// `global::current_span()`) was called. Edits go to that span even if others start
/// meanwhile; with no recorded span current they do nothing.
///
/// Finding it allocates nothing. A span on this thread's stack is edited in place (no lock);
/// a span held elsewhere (a root in a response future, a future's own span while its body
/// runs) receives the edits when it ends, as through a [`SpanHandle`].
///
/// ```
/// use reqtrace_core::{RequestTracer, Value};
///
/// fn load_user(tracer: &RequestTracer) {
///     // Deep in a call stack, with no span in hand:
///     tracer.current_span().set_attribute("user.id", 42);
/// }
///
/// let tracer = RequestTracer::new("api");
/// let root = tracer.start_root("GET /user");
/// {
///     let _scope = root.attach();
///     load_user(&tracer); // the root is current: it gets the attribute
///     let _db = tracer.start_span("db");
///     tracer.current_span().set_error("timeout"); // now "db" is current
/// }
/// let trace = root.finish();
/// assert_eq!(trace.span("GET /user").unwrap().attribute("user.id"), Some(&Value::I64(42)));
/// assert_eq!(trace.span("db").unwrap().status, reqtrace_core::StatusCode::Error);
/// ```
#[derive(Debug)]
#[must_use = "a CurrentSpan does nothing unless edited"]
pub struct CurrentSpan {
    target: Option<Target>,
}

#[derive(Debug)]
enum Target {
    Stack(span_ops::SpanKey),
    Held(SpanHandle),
}

impl CurrentSpan {
    pub(crate) fn find(inner: &std::sync::Arc<crate::collect::tracer_state::TracerInner>) -> Self {
        CurrentSpan {
            target: edit::current_target(inner).map(|t| match t {
                CurrentTarget::Stack(k) => Target::Stack(k),
                CurrentTarget::Held(h) => Target::Held(h),
            }),
        }
    }

    /// A `CurrentSpan` that edits nothing (no span was current).
    pub fn none() -> Self {
        CurrentSpan { target: None }
    }

    /// Whether a recorded span was current (edits will land).
    pub fn is_recording(&self) -> bool {
        self.target.is_some()
    }

    /// The span's id.
    pub fn span_id(&self) -> Option<SpanId> {
        match &self.target {
            Some(Target::Stack(k)) => SpanId::from_u64(k.span_id),
            Some(Target::Held(h)) => Some(h.span_id()),
            None => None,
        }
    }

    /// The span's context (a plain value).
    pub fn context(&self) -> Option<SpanContext> {
        match &self.target {
            Some(Target::Stack(k)) => edit::span_context(*k),
            Some(Target::Held(h)) => Some(h.context().clone()),
            None => None,
        }
    }

    /// A handle on the span, to parent work elsewhere or edit it later.
    pub fn handle(&self) -> Option<SpanHandle> {
        match &self.target {
            Some(Target::Stack(k)) => edit::span_handle(*k),
            Some(Target::Held(h)) => Some(h.clone()),
            None => None,
        }
    }

    /// Sets an attribute, within the span's limits (see [`crate::SpanGuard::set_attribute`]).
    pub fn set_attribute(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if self.target.is_some() {
            self.edit(SpanEdit::Attribute(KeyValue::new(key, value)));
        }
    }

    /// Adds an event, timestamped now.
    pub fn add_event<I>(&self, name: impl Into<Cow<'static, str>>, attributes: I)
    where
        I: IntoIterator<Item = KeyValue>,
    {
        if self.target.is_some() {
            self.edit(SpanEdit::Event {
                name: name.into(),
                attributes: attributes.into_iter().collect(),
                time: clock::unix_nanos_now(),
            });
        }
    }

    /// Marks the span failed with `message`.
    pub fn set_error(&self, message: impl Into<String>) {
        if self.target.is_some() {
            self.edit(SpanEdit::Status(Err(message.into())));
        }
    }

    /// Marks the span successful.
    pub fn set_ok(&self) {
        self.edit(SpanEdit::Status(Ok(())));
    }

    /// Renames the span (e.g. once the route is known).
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        if self.target.is_some() {
            self.edit(SpanEdit::Name(name.into()));
        }
    }

    /// Sets the span's kind.
    pub fn set_kind(&self, kind: SpanKind) {
        self.edit(SpanEdit::Kind(kind));
    }

    /// Adds a link to another span.
    pub fn add_link(&self, context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>) {
        if self.target.is_some() {
            self.edit(SpanEdit::Link(Link::new(context, attributes)));
        }
    }

    /// Records `error` as an `exception` event (see [`crate::EditSpan::record_exception`]).
    pub fn record_exception<E: std::error::Error + ?Sized>(&self, error: &E) {
        if self.target.is_some() {
            self.add_event("exception", exception_attributes(error));
        }
    }

    fn edit(&self, edit: SpanEdit) {
        match &self.target {
            Some(Target::Stack(k)) => {
                edit::edit_open(*k, edit);
            }
            Some(Target::Held(h)) => h.edit(edit),
            None => {}
        }
    }
}
