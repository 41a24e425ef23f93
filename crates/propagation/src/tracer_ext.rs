//! [`TracerExt`]: propagation methods on [`RequestTracer`].

use std::borrow::Cow;

use reqtrace_core::{RequestTracer, RootSpan, SpanContext, TraceBuilder};

use crate::baggage::Baggage;
use crate::carrier::{Extractor, Injector};
use crate::propagated::Propagated;
use crate::traceparent::{Traceparent, TraceparentError};
use crate::tracestate::TraceState;

mod sealed {
    pub trait Sealed {}
    impl Sealed for reqtrace_core::RequestTracer {}
}

/// Trace Context on the tracer: the seed's `get_trace_header()` / `from_header()` and the
/// server and client paths. Bring it into scope with `use reqtrace_propagation::TracerExt;`.
///
/// Server: [`TracerExt::start_trace_from_carrier`] continues the caller's trace (or starts a
/// new one when its headers are missing or invalid) and hands back the [`Propagated`] context,
/// whose `baggage` the handler can read and change. Client: [`TracerExt::inject`] writes the
/// current span as `traceparent` plus the trace's `tracestate`;
/// [`TracerExt::inject_with_baggage`] adds `baggage`.
///
/// ```
/// use std::collections::HashMap;
/// use reqtrace_core::RequestTracer;
/// use reqtrace_propagation::TracerExt;
///
/// let tracer = RequestTracer::new("checkout");
/// let mut incoming = HashMap::new();
/// incoming.insert("traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string());
/// incoming.insert("baggage".to_string(), "user=alice".to_string());
///
/// let cx = tracer.start_trace_from_carrier(&incoming);
/// assert_eq!(cx.baggage.get("user"), Some("alice"));
/// {
///     let span = tracer.start_span("call-inventory");
///     let mut outgoing: HashMap<String, String> = HashMap::new();
///     tracer.inject_with_baggage(&cx.baggage, &mut outgoing);
///     let header = &outgoing["traceparent"];
///     assert!(header.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
///     assert!(header.contains(&span.span_id().unwrap().to_string()));
///     assert_eq!(outgoing["baggage"], "user=alice");
/// }
/// let trace = tracer.end_trace().unwrap();
/// assert_eq!(trace.spans[0].parent_id.unwrap().to_string(), "00f067aa0ba902b7");
///
/// let parent = RequestTracer::from_header("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?;
/// assert!(parent.is_remote && !parent.is_sampled());
/// # Ok::<(), reqtrace_propagation::TraceparentError>(())
/// ```
pub trait TracerExt: sealed::Sealed {
    /// The current span's `traceparent` on this thread, with the trace's real flags (sampled
    /// and random as decided for this trace); `None` when no trace is active.
    fn trace_header(&self) -> Option<String>;

    /// Parses a `traceparent` into the remote [`SpanContext`] to continue with
    /// `start_trace_from`.
    fn from_header(header: &str) -> Result<SpanContext, TraceparentError>
    where
        Self: Sized;

    /// The current context to send: span context and trace state of this thread's current
    /// trace, with empty baggage. `None` when no trace is active.
    fn current_propagated(&self) -> Option<Propagated>;

    /// Writes `traceparent` and (when not empty) `tracestate` for the current span. Writes
    /// nothing when no trace is active.
    fn inject<I: Injector + ?Sized>(&self, carrier: &mut I);

    /// Like [`TracerExt::inject`], and also writes `baggage` when it is not empty.
    fn inject_with_baggage<I: Injector + ?Sized>(&self, baggage: &Baggage, carrier: &mut I);

    /// Server side: extracts all three headers and starts a trace on this thread that continues
    /// the remote parent, keeping its `tracestate`; when `traceparent` is absent or invalid
    /// (including duplicated), starts a new trace instead (with no `tracestate`). Returns what
    /// was extracted; its `span_context` is `None` exactly when the trace was restarted.
    fn start_trace_from_carrier<E: Extractor + ?Sized>(&self, carrier: &E) -> Propagated;

    /// Server side, for async services: like [`TracerExt::start_trace_from_carrier`], but the
    /// trace is an owned [`RootSpan`] named `name` (its parent the remote span, its
    /// `tracestate` kept), finished from any thread or task. Returns it with what was
    /// extracted (`span_context` is `None` exactly when the trace was restarted).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use reqtrace_core::RequestTracer;
    /// use reqtrace_propagation::TracerExt;
    ///
    /// let tracer = RequestTracer::new("backend");
    /// let mut headers = HashMap::new();
    /// headers.insert(
    ///     "traceparent".to_owned(),
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    /// );
    /// let (root, extracted) = tracer.start_root_from_carrier("GET /x", &headers);
    /// assert!(extracted.span_context.is_some());
    /// let trace = root.finish();
    /// assert_eq!(trace.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(trace.spans[0].parent_id.unwrap().to_string(), "00f067aa0ba902b7");
    /// ```
    fn start_root_from_carrier<E: Extractor + ?Sized>(
        &self,
        name: impl Into<Cow<'static, str>>,
        carrier: &E,
    ) -> (RootSpan, Propagated) {
        let (builder, cx) = self.trace_builder_from_carrier(carrier);
        (builder.start_root(name), cx)
    }

    /// A [`TraceBuilder`] that continues the carrier's remote parent and `tracestate` (or
    /// starts fresh when `traceparent` is absent or invalid), to set the kind or attributes
    /// before starting it (`.start()` on this thread, `.start_root(name)` as an owned root).
    fn trace_builder_from_carrier<E: Extractor + ?Sized>(
        &self,
        carrier: &E,
    ) -> (TraceBuilder<'_>, Propagated);
}

impl TracerExt for RequestTracer {
    fn trace_header(&self) -> Option<String> {
        self.current_span_context()
            .map(|cx| Traceparent::from(&cx).to_string())
    }

    fn from_header(header: &str) -> Result<SpanContext, TraceparentError> {
        header.parse::<Traceparent>().map(|tp| tp.to_span_context())
    }

    fn current_propagated(&self) -> Option<Propagated> {
        let span_context = self.current_span_context()?;
        let trace_state = self
            .trace_context()
            .and_then(|c| c.trace_state)
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        Some(Propagated {
            span_context: Some(span_context),
            trace_state,
            baggage: Baggage::new(),
        })
    }

    fn inject<I: Injector + ?Sized>(&self, carrier: &mut I) {
        if let Some(cx) = self.current_propagated() {
            cx.inject(carrier);
        }
    }

    fn inject_with_baggage<I: Injector + ?Sized>(&self, baggage: &Baggage, carrier: &mut I) {
        let mut cx = self.current_propagated().unwrap_or_default();
        cx.baggage = baggage.clone();
        cx.inject(carrier);
    }

    fn trace_builder_from_carrier<E: Extractor + ?Sized>(
        &self,
        carrier: &E,
    ) -> (TraceBuilder<'_>, Propagated) {
        let cx = Propagated::extract(carrier);
        let mut builder = self.trace_builder();
        if let Some(parent) = &cx.span_context {
            builder = builder.parent(parent);
            if !cx.trace_state.is_empty() {
                builder = builder.trace_state(cx.trace_state.to_string());
            }
        }
        (builder, cx)
    }

    fn start_trace_from_carrier<E: Extractor + ?Sized>(&self, carrier: &E) -> Propagated {
        let (builder, cx) = self.trace_builder_from_carrier(carrier);
        builder.start();
        cx
    }
}
