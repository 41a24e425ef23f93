//! [`RequestTracer`]: the entry point (its builder is in `tracer_builder.rs`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::api::current_span::CurrentSpan;
use crate::api::future::{self, Instrumented};
use crate::api::guard::{AttachGuard, SpanGuard};
use crate::api::root::RootSpan;
use crate::api::span::Span;
use crate::api::trace_builder::TraceBuilder;
use crate::api::trace_start::new_trace_start;
use crate::api::tracer_builder::RequestTracerBuilder;
use crate::collect::assemble;
use crate::collect::handle::{Parent, SpanHandle};
use crate::collect::tail_sampler::{TailRuleStats, TailState};
use crate::collect::trace::TraceStart;
use crate::collect::tracer_state::TracerInner;
use crate::local::edit;
use crate::local::scope;
use crate::local::span_ops;
use crate::model::config::Limits;
use crate::model::current_trace::CurrentTrace;
use crate::model::data::Trace;
use crate::model::ids::{SpanContext, SpanId, TraceId};
use crate::model::resource::Resource;
use crate::model::sampler::Sampler;
use crate::model::stats::Stats;
use crate::model::value::KeyValue;

/// Records spans of requests, on any number of threads. Cheap to clone (an `Arc`).
///
/// When the last clone is dropped, the exporter (if any) begins shutting down without the
/// dropping thread waiting: the worker delivers what is queued within `shutdown_timeout` on its
/// own thread, and spans that finish afterwards are counted as dropped. Call
/// [`RequestTracer::shutdown`] before the process exits to wait for the delivery.
///
/// Each thread has its own span stack: a span's parent is the innermost open span of the same
/// thread and trace. To continue a trace on another thread or task, hand it a [`SpanHandle`]
/// ([`RequestTracer::current_span_handle`]) and start spans there with
/// [`RequestTracer::start_span_with_parent`] or under [`RequestTracer::attach`].
///
/// ```
/// use reqtrace_core::RequestTracer;
///
/// let tracer = RequestTracer::new("checkout");
/// tracer.start_trace();
/// {
///     let mut span = tracer.start_span("operation");
///     span.set_attribute("tokens", 1500);
///     let mut child = tracer.start_span("child");
///     child.set_attribute("step", 1);
/// }
/// let trace = tracer.end_trace().unwrap();
/// assert_eq!(trace.spans.len(), 2);
/// let op = trace.span("operation").unwrap();
/// assert_eq!(trace.span("child").unwrap().parent_id, Some(op.span_id));
/// ```
#[derive(Clone)]
pub struct RequestTracer {
    pub(crate) inner: Arc<TracerInner>,
    /// Dropped with the last clone: shuts the exporter down even while threads that used the
    /// tracer live on (their thread-local state keeps `inner` until they exit).
    _handle: Arc<LastHandle>,
}

/// Runs when the last `RequestTracer` clone drops.
struct LastHandle(Arc<TracerInner>);

impl Drop for LastHandle {
    fn drop(&mut self) {
        self.0.mark_dead();
        // Never waits: the dropping thread may be a traced one (see `ExportWorker`).
        if let Some(w) = &self.0.exporter {
            w.begin_shutdown();
        }
    }
}

impl fmt::Debug for RequestTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTracer")
            .field("service_name", &self.inner.resource.service_name)
            .field("sampler", &self.inner.sampler)
            .field("limits", &self.inner.limits)
            .field("exporter", &self.inner.has_exporter())
            .finish()
    }
}

impl Default for RequestTracer {
    /// A tracer for the service named by `OTEL_SERVICE_NAME`, or `"unknown_service"`.
    fn default() -> Self {
        RequestTracer::builder(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "unknown_service".to_owned()),
        )
        .build()
    }
}

impl RequestTracer {
    /// A tracer with default configuration (sample everything, keep traces for `end_trace`).
    pub fn new(service_name: impl Into<Cow<'static, str>>) -> Self {
        Self::builder(service_name).build()
    }

    /// A builder for the configuration.
    pub fn builder(service_name: impl Into<Cow<'static, str>>) -> RequestTracerBuilder {
        RequestTracerBuilder::new(service_name)
    }

    /// The first handle on a tracer's state (the builder's output).
    pub(crate) fn from_inner(inner: Arc<TracerInner>) -> Self {
        RequestTracer {
            _handle: Arc::new(LastHandle(Arc::clone(&inner))),
            inner,
        }
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        &self.inner.resource.service_name
    }

    /// The resource (service name and attributes) spans are recorded under.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The sampler deciding which traces are recorded.
    pub fn sampler(&self) -> &Sampler {
        &self.inner.sampler
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Starts a new trace on the calling thread and returns its id. Spans started on this
    /// thread belong to it until [`RequestTracer::end_trace`]. Starting a trace while another
    /// is active on the thread suspends the outer one until the inner one ends.
    ///
    /// This is the seed's model, for code that runs a request on one thread (a worker pool, a
    /// blocking handler). In async code, where a request's future moves between threads and
    /// many requests share a thread, use [`RequestTracer::start_root`]: the trace is then an
    /// owned value that any thread or task can finish. (A trace started here and held across
    /// an `.await` inside an instrumented future travels with that future; held across a bare
    /// `.await` it stays on the thread, where another task could end it.)
    pub fn start_trace(&self) -> TraceId {
        self.trace_builder().start()
    }

    /// Starts a new trace with trace-level attributes.
    pub fn start_trace_with<I>(&self, attributes: I) -> TraceId
    where
        I: IntoIterator<Item = KeyValue>,
    {
        self.trace_builder().attributes(attributes).start()
    }

    /// Continues a trace received from another service: the trace keeps `parent`'s trace id,
    /// spans with no local parent get `parent` as theirs, and sampling follows the sampler
    /// (`ParentBased` honours the remote `sampled` flag).
    pub fn start_trace_from(&self, parent: &SpanContext) -> TraceId {
        self.trace_builder().parent(parent).start()
    }

    /// The builder for a trace with a remote parent, trace state, attributes or root kind,
    /// started on this thread (`.start()`) or as an owned [`RootSpan`] (`.start_root(name)`).
    pub fn trace_builder(&self) -> TraceBuilder<'_> {
        TraceBuilder::new(self)
    }

    /// Starts a span in the calling thread's current trace, as a child of the innermost open
    /// span. The guard ends the span when dropped.
    ///
    /// With no trace active on the thread, or in an unsampled trace, the guard records nothing
    /// (the former is counted in [`Stats::spans_without_trace`]).
    #[inline]
    pub fn start_span(&self, name: impl Into<Cow<'static, str>>) -> SpanGuard {
        SpanGuard::new(span_ops::start_span(&self.inner, name.into()))
    }

    /// Starts a span as a child of `parent`. A [`SpanHandle`] (taken on another thread or
    /// task) joins its local trace: `end_trace` on the trace's thread returns the span if it
    /// ended before. A plain [`SpanContext`] (parsed from a `traceparent` header, or a
    /// handle of another tracer) is continued here: the span starts a local trace with the
    /// context's trace id, sampled as the sampler decides for that parent, and the trace
    /// ends (and is exported) when the span does. The guard ends the span when dropped.
    ///
    /// ```
    /// use reqtrace_core::{InMemoryExporter, RequestTracer};
    /// let exporter = InMemoryExporter::default();
    /// let tracer = RequestTracer::builder("api").exporter(exporter.clone(), Default::default()).build();
    /// let remote = RequestTracer::new("client").start_root("call").context(); // as if from a header
    /// drop(tracer.start_span_with_parent("handle", &remote));
    /// tracer.shutdown().unwrap();
    /// let spans = exporter.spans();
    /// assert_eq!((spans[0].trace_id, spans[0].parent_id), (remote.trace_id, Some(remote.span_id)));
    /// ```
    pub fn start_span_with_parent<'p>(
        &self,
        name: impl Into<Cow<'static, str>>,
        parent: impl Into<Parent<'p>>,
    ) -> SpanGuard {
        let parent = parent.into();
        if !parent.is_live_in(&self.inner) {
            let start = self.remote_trace_start(parent.context());
            return SpanGuard::new(span_ops::start_span_continuing(
                &self.inner,
                start,
                name.into(),
            ));
        }
        SpanGuard::new(scope::start_span_with_parent(
            &self.inner,
            name.into(),
            parent,
        ))
    }

    /// Makes `parent` current on this thread until the guard drops: spans started meanwhile
    /// are its children. A [`SpanHandle`] joins its live trace; a plain [`SpanContext`] (from
    /// a header) is continued as a local trace that ends, and is exported, when the guard
    /// drops.
    pub fn attach<'p>(&self, parent: impl Into<Parent<'p>>) -> AttachGuard {
        let parent = parent.into();
        if !parent.is_live_in(&self.inner) {
            let start = self.remote_trace_start(parent.context());
            return AttachGuard::new(scope::attach_continuing(&self.inner, start));
        }
        AttachGuard::new(scope::attach(&self.inner, parent))
    }

    /// How a trace continuing a remote `parent` starts.
    fn remote_trace_start(&self, parent: &SpanContext) -> TraceStart {
        new_trace_start(
            &self.inner,
            &self.inner.sampler,
            Some(parent),
            None,
            Vec::new(),
        )
    }

    /// A span that is not tied to this thread's stack: it can be moved to other threads and
    /// ended anywhere. Its parent is the current span (if any). Costs an allocation; use
    /// [`RequestTracer::start_span`] on the hot path.
    pub fn start_detached_span(&self, name: impl Into<Cow<'static, str>>) -> Span {
        match edit::current_trace(&self.inner) {
            Some((trace, parent_id)) => {
                Span::start_in(trace, name.into(), SpanId::random(), parent_id)
            }
            None => Span::start(&self.inner, name.into(), None, 0),
        }
    }

    /// A detached span ([`Span`]) whose parent is `parent`, typically a [`SpanHandle`] from
    /// another thread or task. Like [`RequestTracer::start_span_with_parent`], it joins the
    /// handle's local trace; a plain [`SpanContext`] (from a header) is continued in a trace
    /// of the span's own, which ends (and is exported) when the span does, on any thread.
    pub fn start_detached_span_with_parent<'p>(
        &self,
        name: impl Into<Cow<'static, str>>,
        parent: impl Into<Parent<'p>>,
    ) -> Span {
        let parent = parent.into();
        if !parent.is_live_in(&self.inner) {
            return Span::start_continuing(&self.inner, name.into(), parent.context());
        }
        let parent_id = parent.context().span_id.to_u64();
        Span::start(&self.inner, name.into(), Some(parent), parent_id)
    }

    /// Wraps a future so that a span named `name` covers it and is current on every poll,
    /// whichever thread polls it; spans started inside are its children. The span's parent
    /// is the current span *now*, when `in_span` is called (not at the first poll).
    pub fn in_span<F: Future>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Instrumented<F> {
        Instrumented::new(self.start_detached_span(name), fut)
    }

    /// Wraps a future so that the current context (taken now) is current on every poll:
    /// what to hand to `tokio::spawn` so the task's spans join this trace.
    ///
    /// ```
    /// # use reqtrace_core::RequestTracer;
    /// # let tracer = RequestTracer::new("api");
    /// # let root = tracer.start_root("request");
    /// # let _g = root.attach();
    /// let t = tracer.clone();
    /// let task = tracer.in_current_span(async move {
    ///     let _s = t.start_span("in the spawned task");
    /// });
    /// // tokio::spawn(task);
    /// # drop(task);
    /// ```
    pub fn in_current_span<F: Future>(&self, fut: F) -> Instrumented<F> {
        Instrumented::with_parts(None, self.current_span_handle(), fut)
    }

    /// Wraps a closure so that it runs with the current context (taken now) attached, on
    /// whatever thread runs it: what to hand to `tokio::task::spawn_blocking`, a thread pool
    /// or `std::thread::spawn`.
    ///
    /// ```
    /// use reqtrace_core::RequestTracer;
    ///
    /// let tracer = RequestTracer::new("api");
    /// let root = tracer.start_root("request");
    /// let guard = root.attach();
    /// let t = tracer.clone();
    /// std::thread::spawn(tracer.bind(move || drop(t.start_span("blocking work"))))
    ///     .join()
    ///     .unwrap();
    /// drop(guard);
    /// let trace = root.finish();
    /// assert_eq!(trace.span("blocking work").unwrap().parent_id, Some(trace.span("request").unwrap().span_id));
    /// ```
    pub fn bind<R>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> impl FnOnce() -> R + Send + 'static {
        future::bind(self.current_span_handle(), f)
    }

    /// Starts a trace as an owned value: its root span, named `name`, with no parent. The
    /// [`RootSpan`] is `Send`; finish it from any thread with [`RootSpan::finish`] (or drop it
    /// to send the spans to the exporter). The form for async services.
    pub fn start_root(&self, name: impl Into<Cow<'static, str>>) -> RootSpan {
        self.trace_builder().start_root(name)
    }

    /// Ends the calling thread's current trace (the innermost one started with
    /// [`RequestTracer::start_trace`] on this thread) and returns it with every span that
    /// finished: its own, and those of other threads handed over before now. Spans of this
    /// trace still open on this thread are closed and returned marked `unfinished`. `None` if
    /// no trace started with `start_trace` is active on this thread.
    pub fn end_trace(&self) -> Option<Trace> {
        let (frame, end) = span_ops::pop_trace_frame(&self.inner)?;
        let mut batch = frame.batch;
        let finished = assemble::finish(&frame.trace, &mut batch, end);
        let delivered = finished.as_ref().map_or(0, |f| f.delivered);
        span_ops::count_trace_end(&self.inner, delivered, batch);
        finished.map(|f| f.trace)
    }

    /// Whether a trace of this tracer is current on this thread (started with `start_trace`,
    /// or attached from a context): cheaper than [`RequestTracer::trace_id`].
    pub fn has_trace(&self) -> bool {
        edit::has_trace(&self.inner)
    }

    /// The current trace's id on this thread.
    pub fn trace_id(&self) -> Option<TraceId> {
        edit::current(&self.inner, false).map(|c| c.trace_id)
    }

    /// The innermost open span's id on this thread (or the attached parent's).
    pub fn current_span_id(&self) -> Option<SpanId> {
        edit::current(&self.inner, false).and_then(|c| c.span_id)
    }

    /// The current context (a plain value), to inject into an outgoing request or a log
    /// line: the innermost open span's, or when none is open, the trace's remote parent (or,
    /// in an unsampled trace, a stand-in span id so the trace id still propagates).
    pub fn current_span_context(&self) -> Option<SpanContext> {
        edit::current(&self.inner, true).and_then(|c| c.handle.map(SpanContext::from))
    }

    /// The innermost span current on this thread, whatever started it (a guard, an attached
    /// root, `ServerLayer`'s request root, `#[trace]`, a future's span), to set attributes,
    /// events, status or name on it. Finding it allocates nothing; with no recorded span
    /// current the edits do nothing. See [`CurrentSpan`].
    pub fn current_span(&self) -> CurrentSpan {
        CurrentSpan::find(&self.inner)
    }

    /// A handle on the current span (the same span as [`RequestTracer::current_span_context`]),
    /// to hand to another thread or task so that its spans join this trace.
    pub fn current_span_handle(&self) -> Option<SpanHandle> {
        edit::current(&self.inner, true).and_then(|c| c.handle)
    }

    /// The seed's `get_trace_context()`: trace id, current span id, flags, trace state and
    /// service name.
    pub fn trace_context(&self) -> Option<CurrentTrace> {
        let c = edit::current(&self.inner, true)?;
        Some(CurrentTrace {
            trace_id: c.trace_id,
            span_id: c.span_id,
            trace_flags: c.flags,
            trace_state: c.trace_state,
            service_name: self.inner.resource.service_name.clone(),
        })
    }

    /// What each tail-sampling policy kept and dropped (empty without a tail sampler). The
    /// last entry, `"default"`, counts traces no policy kept.
    pub fn tail_sampling_stats(&self) -> Vec<TailRuleStats> {
        self.inner
            .tail
            .as_ref()
            .map(TailState::stats)
            .unwrap_or_default()
    }

    /// A snapshot of the counters. Exact accounting identities hold when no span is in motion
    /// (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }
}
