//! [`RootSpan`]: a trace as an owned, `Send` value. It starts the trace with its root span,
//! can move to any thread or task, and finishes from wherever it is — giving back the whole
//! [`Trace`] ([`RootSpan::finish`], the seed's pull model) or, when dropped, handing the spans
//! to the exporter. This is the form for async services, where one request's future moves
//! between threads at every `.await`. Layer: API.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::api::future::Instrumented;
use crate::api::guard::AttachGuard;
use crate::api::span::Span;
use crate::api::trace_start::new_owned_trace;
use crate::collect::assemble;
use crate::collect::handle::SpanHandle;
use crate::collect::trace::TraceShared;
use crate::collect::tracer_state::TracerInner;
use crate::local::scope;
use crate::local::stack::current_thread;
use crate::model::data::{SpanKind, Trace};
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::value::{KeyValue, Value};
use crate::util::clock;

/// A trace and its root span, owned: `Send`, finished from any thread
/// ([`crate::RequestTracer::start_root`]).
///
/// - [`RootSpan::finish`] ends the root span and returns the trace with every span that
///   reached it: spans of other threads arrive when their scope ends (a poll of an
///   instrumented future, an attach guard, a thread's exit), so finish after the work's
///   futures and threads are done. Spans that end later are counted `late`.
/// - Dropping it finishes it too: the spans go to the exporter (if one is configured); with no
///   exporter they are counted as dropped (`abandoned`), since nobody took the trace.
///
/// ```
/// use reqtrace_core::RequestTracer;
///
/// let tracer = RequestTracer::new("api");
/// let mut root = tracer.start_root("GET /users");
/// root.set_attribute("http.route", "/users");
/// let handle = root.handle();
/// let t = tracer.clone();
/// std::thread::spawn(move || {
///     let _db = t.start_span_with_parent("db.query", &handle);
/// })
/// .join()
/// .unwrap();
/// let trace = root.finish(); // on any thread
/// assert_eq!(trace.spans.len(), 2);
/// let db = trace.span("db.query").unwrap();
/// assert_eq!(db.parent_id, Some(trace.span("GET /users").unwrap().span_id));
/// ```
#[must_use = "dropping a RootSpan finishes its trace at once"]
pub struct RootSpan {
    trace: Arc<TraceShared>,
    span: Option<Span>,
    span_id: SpanId,
    done: bool,
}

impl std::fmt::Debug for RootSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootSpan")
            .field("trace_id", &self.trace.trace_id)
            .field("span_id", &self.span_id)
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// Starts a trace as an owned value with root span `name` (what
/// [`crate::TraceBuilder::start_root`] does).
pub(crate) fn start_root_span(
    inner: &Arc<TracerInner>,
    name: Cow<'static, str>,
    parent: Option<&SpanContext>,
    trace_state: Option<String>,
    attributes: Vec<KeyValue>,
    kind: SpanKind,
) -> RootSpan {
    let (trace, remote) = new_owned_trace(inner, parent, trace_state, attributes);
    let span_id = SpanId::random();
    let mut span = Span::start_in(Arc::clone(&trace), name, span_id, remote);
    if kind != SpanKind::Internal {
        span.set_kind(kind);
    }
    RootSpan {
        span: Some(span),
        span_id,
        trace,
        done: false,
    }
}

impl RootSpan {
    /// The trace's id.
    pub fn trace_id(&self) -> TraceId {
        self.trace.trace_id
    }

    /// The root span's id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace's flags (sampled, random).
    pub fn trace_flags(&self) -> TraceFlags {
        self.trace.flags
    }

    /// Whether the trace is recorded (sampled and admitted under the tracer's limits).
    pub fn is_recording(&self) -> bool {
        self.span.as_ref().is_some_and(Span::is_recording)
    }

    /// The root span's context (a plain value), to inject into outgoing requests or log
    /// lines. In an unsampled trace it still carries the trace id (and a stand-in span id),
    /// so sampling decisions propagate.
    pub fn context(&self) -> SpanContext {
        self.trace.context(self.current_id(), false)
    }

    /// A handle on the root span: hand it to other threads and tasks, whose spans then join
    /// this trace (see [`SpanHandle`] for how long it keeps the trace open).
    pub fn handle(&self) -> SpanHandle {
        SpanHandle::new(Arc::clone(&self.trace), self.current_id(), false)
    }

    fn current_id(&self) -> SpanId {
        if self.is_recording() {
            self.span_id
        } else {
            self.trace.placeholder
        }
    }

    /// The W3C `tracestate` the trace was continued with.
    pub fn trace_state(&self) -> Option<&str> {
        self.trace.trace_state.as_deref()
    }

    /// Sets an attribute on the root span.
    pub fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(s) = &mut self.span {
            s.set_attribute(key, value);
        }
    }

    /// Adds an event to the root span.
    pub fn add_event<I>(&mut self, name: impl Into<Cow<'static, str>>, attributes: I)
    where
        I: IntoIterator<Item = KeyValue>,
    {
        if let Some(s) = &mut self.span {
            s.add_event(name, attributes);
        }
    }

    /// Adds a link to another span to the root span.
    pub fn add_link(
        &mut self,
        context: SpanContext,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if let Some(s) = &mut self.span {
            s.add_link(context, attributes);
        }
    }

    /// Records `error` as an `exception` event on the root span.
    pub fn record_exception<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        if let Some(s) = &mut self.span {
            s.record_exception(error);
        }
    }

    /// Marks the root span failed.
    pub fn set_error(&mut self, message: impl Into<String>) {
        if let Some(s) = &mut self.span {
            s.set_error(message);
        }
    }

    /// Marks the root span successful.
    pub fn set_ok(&mut self) {
        if let Some(s) = &mut self.span {
            s.set_ok();
        }
    }

    /// Sets the root span's kind.
    pub fn set_kind(&mut self, kind: SpanKind) {
        if let Some(s) = &mut self.span {
            s.set_kind(kind);
        }
    }

    /// Renames the root span (e.g. once the route is known).
    pub fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(s) = &mut self.span {
            s.update_name(name);
        }
    }

    /// Makes the root current on this thread until the guard drops (synchronous code: spans
    /// started meanwhile with `start_span` are its children).
    pub fn attach(&self) -> AttachGuard {
        AttachGuard::new(scope::attach(&self.trace.tracer.0, (&self.handle()).into()))
    }

    /// Runs `fut` with the root current on every poll, then finishes the trace: the output is
    /// the future's output and the [`Trace`].
    pub fn run<F: Future>(self, fut: F) -> RootRun<F> {
        let handle = self.handle();
        RootRun {
            inner: Instrumented::with_parts(None, Some(handle), fut),
            root: Some(self),
        }
    }

    /// Ends the root span and the trace, and returns the trace with every span that reached
    /// it (without retention, `spans` is empty: they went to the exporter).
    pub fn finish(mut self) -> Trace {
        self.finish_inner(true)
    }

    fn finish_inner(&mut self, claimed: bool) -> Trace {
        self.done = true;
        if let Some(s) = self.span.take() {
            s.end_to_trace();
        }
        let inner = &self.trace.tracer;
        let end = clock::now();
        match assemble::finish_owned(&self.trace, claimed, end, current_thread()) {
            Some(trace) => trace,
            None => Trace {
                trace_id: self.trace.trace_id,
                service_name: inner.resource.service_name.clone(),
                attributes: self.trace.attributes_vec(),
                start_unix_nanos: clock::to_unix_nanos(self.trace.start),
                end_unix_nanos: clock::to_unix_nanos(end),
                trace_flags: self.trace.flags,
                trace_state: self.trace.trace_state.clone(),
                remote_parent_id: self.trace.remote_parent_id(),
                spans: Vec::new(),
                dropped_spans_count: 0,
            },
        }
    }
}

impl Drop for RootSpan {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish_inner(false);
        }
    }
}

pin_project_lite::pin_project! {
    /// A future run under a [`RootSpan`] ([`RootSpan::run`]): yields the future's output and
    /// the finished [`Trace`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct RootRun<F> {
        #[pin]
        inner: Instrumented<F>,
        root: Option<RootSpan>,
    }
}

impl<F: Future> Future for RootRun<F> {
    type Output = (F::Output, Trace);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.poll(cx) {
            Poll::Ready(out) => {
                let trace = match this.root.take() {
                    Some(r) => r.finish(),
                    None => panic!("RootRun polled after completion"),
                };
                Poll::Ready((out, trace))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
