//! [`EditSpan`]: the one set of span edits every kind of span takes — a [`SpanGuard`], a
//! detached [`Span`], a [`RootSpan`], a [`SpanHandle`] and the [`CurrentSpan`] — so code can
//! take "a span" whatever made it. Each type also has the same methods inherently (no import
//! needed to call them); the trait is for generic code. Layer: the API.

use std::borrow::Cow;

use crate::api::current_span::CurrentSpan;
use crate::api::guard::SpanGuard;
use crate::api::root::RootSpan;
use crate::api::span::Span;
use crate::collect::handle::SpanHandle;
use crate::model::data::SpanKind;
use crate::model::ids::SpanContext;
use crate::model::value::{KeyValue, Value};

/// Editing a span, whatever kind it is. Edits to a span that records nothing (unsampled, no
/// trace, already ended) are ignored; every edit is bounded by the tracer's [`crate::Limits`].
///
/// ```
/// use reqtrace_core::{EditSpan, RequestTracer};
///
/// /// Tags any span with the model it called.
/// fn tag_model(span: &mut impl EditSpan, model: &'static str) {
///     span.set_attribute("llm.model", model);
///     span.add_event("llm.called", []);
/// }
///
/// let tracer = RequestTracer::new("api");
/// let mut root = tracer.start_root("request");
/// tag_model(&mut root, "gpt-4o");
/// {
///     let _attached = root.attach();
///     let mut guard = tracer.start_span("call");
///     tag_model(&mut guard, "gpt-4o-mini");
///     tag_model(&mut tracer.current_span(), "overridden");
/// }
/// let trace = root.finish();
/// let call = trace.span("call").unwrap();
/// assert_eq!(call.attribute("llm.model").and_then(|v| v.as_str()), Some("overridden"));
/// assert_eq!(trace.span("request").unwrap().events.len(), 1);
/// ```
pub trait EditSpan {
    /// Sets an attribute (a later value for the same key wins on export).
    fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>);
    /// Adds a timestamped event.
    fn add_event(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        attributes: impl IntoIterator<Item = KeyValue>,
    );
    /// Marks the span failed, with a message.
    fn set_error(&mut self, message: impl Into<String>);
    /// Marks the span explicitly successful.
    fn set_ok(&mut self);
    /// Renames the span (e.g. once the route is known).
    fn update_name(&mut self, name: impl Into<Cow<'static, str>>);
    /// Sets the span's kind.
    fn set_kind(&mut self, kind: SpanKind);
    /// Adds a link to another span, of this trace or another (see [`crate::Link`]).
    fn add_link(&mut self, context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>);
    /// Records an error as an event named `exception`, per OpenTelemetry's exception
    /// conventions: `exception.type` (the error's Rust type; not known for a `dyn Error`) and
    /// `exception.message` (its `Display`, then its sources: `outer: inner: root`). As in
    /// OpenTelemetry it does not change the status: call `set_error` too when the error
    /// fails the span.
    ///
    /// ```
    /// use reqtrace_core::{EditSpan, RequestTracer};
    ///
    /// let tracer = RequestTracer::new("api");
    /// tracer.start_trace();
    /// {
    ///     let mut span = tracer.start_span("read config");
    ///     let err = std::fs::read("/no/such/file").unwrap_err();
    ///     EditSpan::record_exception(&mut span, &err);
    /// }
    /// let trace = tracer.end_trace().unwrap();
    /// let ev = &trace.spans[0].events[0];
    /// assert_eq!(ev.name, "exception");
    /// // The Rust type name (its path is not stable across Rust versions).
    /// assert!(ev.attributes[0].value.as_str().unwrap().ends_with("io::error::Error"));
    /// ```
    fn record_exception<E: std::error::Error + ?Sized>(&mut self, error: &E);
    /// The span's context, if it has one (a plain value).
    fn span_context(&self) -> Option<SpanContext>;
}

/// Implements [`EditSpan`] by delegating to the type's inherent methods of the same names.
macro_rules! delegate_edits {
    ($ty:ty, |$s:ident| $context:expr) => {
        impl EditSpan for $ty {
            fn set_attribute(
                &mut self,
                key: impl Into<Cow<'static, str>>,
                value: impl Into<Value>,
            ) {
                <$ty>::set_attribute(self, key, value)
            }
            fn add_event(
                &mut self,
                name: impl Into<Cow<'static, str>>,
                attributes: impl IntoIterator<Item = KeyValue>,
            ) {
                <$ty>::add_event(self, name, attributes)
            }
            fn set_error(&mut self, message: impl Into<String>) {
                <$ty>::set_error(self, message)
            }
            fn set_ok(&mut self) {
                <$ty>::set_ok(self)
            }
            fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
                <$ty>::update_name(self, name)
            }
            fn set_kind(&mut self, kind: SpanKind) {
                <$ty>::set_kind(self, kind)
            }
            fn add_link(
                &mut self,
                context: SpanContext,
                attributes: impl IntoIterator<Item = KeyValue>,
            ) {
                <$ty>::add_link(self, context, attributes)
            }
            fn record_exception<E: std::error::Error + ?Sized>(&mut self, error: &E) {
                <$ty>::record_exception(self, error)
            }
            fn span_context(&self) -> Option<SpanContext> {
                let $s = self;
                $context
            }
        }
    };
}

delegate_edits!(SpanGuard, |s| s.context());
delegate_edits!(Span, |s| s.context());
delegate_edits!(RootSpan, |s| Some(s.context()));
delegate_edits!(SpanHandle, |s| Some(s.context().clone()));
delegate_edits!(CurrentSpan, |s| s.context());
