//! [`RequestTracer`]: the entry point, its builder, and the state shared by all its clones.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;

use crate::batch::{Batch, TraceKey};
use crate::config::{BatchConfig, Limits};
use crate::data::Trace;
use crate::export::{ExportError, Resource, SpanExporter};
use crate::export_worker::ExportWorker;
use crate::future::Instrumented;
use crate::guard::{AttachGuard, SpanGuard};
use crate::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::local;
use crate::sampler::Sampler;
use crate::span::Span;
use crate::stats::{self, SharedCounters, Stats, ThreadCounters};
use crate::value::{KeyValue, Value};

/// State shared by every clone of a tracer and every thread using it.
pub(crate) struct TracerInner {
    pub resource: Resource,
    pub sampler: Sampler,
    pub limits: Limits,
    /// Whether finished spans are kept for `end_trace` (otherwise only exported).
    pub retain: bool,
    pub counters: Arc<SharedCounters>,
    threads: Mutex<Vec<Arc<ThreadCounters>>>,
    recycled: ArrayQueue<Batch>,
    exporter: Option<ExportWorker>,
    flush_interval_nanos: u64,
    /// False once every `RequestTracer` handle is gone (threads may still hold the state).
    alive: AtomicBool,
}

impl TracerInner {
    pub fn register_thread(&self) -> Arc<ThreadCounters> {
        let c = Arc::new(ThreadCounters::default());
        self.threads.lock().push(Arc::clone(&c));
        c
    }

    pub fn take_recycled(&self) -> Option<Batch> {
        self.recycled.pop()
    }

    pub fn recycle(&self, mut b: Batch) {
        b.clear();
        let _ = self.recycled.push(b);
    }

    /// Whether any `RequestTracer` handle still exists.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    #[inline]
    pub fn has_exporter(&self) -> bool {
        self.exporter.is_some()
    }

    #[inline]
    pub fn flush_interval_nanos(&self) -> u64 {
        self.flush_interval_nanos
    }

    /// Gives a batch to the export worker (or, with none and no retention, counts it lost).
    pub fn export_batch(&self, key: TraceKey, batch: Batch) {
        match &self.exporter {
            Some(w) => w.offer(key, batch),
            None => stats::add(&self.counters.dropped_export_failed, batch.len() as u64),
        }
    }
}

/// Records spans of requests, on any number of threads. Cheap to clone (an `Arc`).
///
/// When the last clone is dropped, the exporter (if any) begins shutting down without the
/// dropping thread waiting: the worker delivers what is queued within `shutdown_timeout` on its
/// own thread, and spans that finish afterwards are counted as dropped. Call
/// [`RequestTracer::shutdown`] before the process exits to wait for the delivery.
///
/// Each thread has its own span stack: a span's parent is the innermost open span of the same
/// thread and trace. To continue a trace on another thread or task, hand it a
/// [`SpanContext`] ([`RequestTracer::current_span_context`]) and start spans there with
/// [`RequestTracer::start_span_with_parent`] or under [`RequestTracer::attach`].
///
/// ```
/// use reqtrace_core::RequestTracer;
///
/// let tracer = RequestTracer::new("checkout");
/// tracer.start_trace();
/// {
///     let mut span = tracer.start_span("operation");
///     span.set_attribute("model", "gpt-4o");
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
    inner: Arc<TracerInner>,
    /// Dropped with the last clone: shuts the exporter down even while threads that used the
    /// tracer live on (their thread-local state keeps `inner` until they exit or the slot is
    /// reused).
    _handle: Arc<LastHandle>,
}

/// Runs when the last `RequestTracer` clone drops.
struct LastHandle(Arc<TracerInner>);

impl Drop for LastHandle {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
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
        RequestTracerBuilder {
            resource: Resource::new(service_name),
            sampler: Sampler::AlwaysOn,
            limits: Limits::default(),
            retain: None,
            exporter: None,
            batch: BatchConfig::default(),
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

    /// A builder for a trace with a remote parent, trace state and attributes.
    pub fn trace_builder(&self) -> TraceBuilder<'_> {
        TraceBuilder {
            tracer: self,
            parent: None,
            trace_state: None,
            attributes: Vec::new(),
        }
    }

    /// Starts a span in the calling thread's current trace, as a child of the innermost open
    /// span. The guard ends the span when dropped.
    ///
    /// With no trace active on the thread, or in an unsampled trace, the guard records nothing
    /// (the former is counted in [`Stats::spans_without_trace`]).
    #[inline]
    pub fn start_span(&self, name: impl Into<Cow<'static, str>>) -> SpanGuard {
        SpanGuard::new(local::start_span(&self.inner, name.into()))
    }

    /// Starts a span as a child of `parent`, typically a context taken on another thread. The
    /// span joins `parent`'s local trace: `end_trace` on the trace's thread returns it if it
    /// ended before. A context with no local trace of this tracer (e.g. one parsed from a
    /// header) records nothing: continue those with [`RequestTracer::start_trace_from`].
    pub fn start_span_with_parent(
        &self,
        name: impl Into<Cow<'static, str>>,
        parent: &SpanContext,
    ) -> SpanGuard {
        SpanGuard::new(local::start_span_with_parent(
            &self.inner,
            name.into(),
            parent,
        ))
    }

    /// Makes `parent` the current span on this thread until the guard drops: spans started
    /// meanwhile are its children and join its trace.
    pub fn attach(&self, parent: &SpanContext) -> AttachGuard {
        AttachGuard::new(local::attach(&self.inner, parent))
    }

    /// A span that is not tied to this thread's stack: it can be moved to other threads and
    /// ended anywhere. Its parent is the current span (if any). Costs an allocation; use
    /// [`RequestTracer::start_span`] on the hot path.
    pub fn start_detached_span(&self, name: impl Into<Cow<'static, str>>) -> Span {
        let current = local::current(&self.inner, true);
        let (ctx, parent_id) = match current {
            Some(c) => (c.context, c.parent_for_new),
            None => (None, 0),
        };
        Span::start(&self.inner, name.into(), ctx.as_ref(), parent_id)
    }

    /// A movable span ([`Span`]) whose parent is `parent`, typically a context from another
    /// thread or task. Like [`RequestTracer::start_span_with_parent`], it joins `parent`'s
    /// local trace; a context with no local trace of this tracer records nothing.
    pub fn start_detached_span_with_parent(
        &self,
        name: impl Into<Cow<'static, str>>,
        parent: &SpanContext,
    ) -> Span {
        Span::start(
            &self.inner,
            name.into(),
            Some(parent),
            parent.span_id.to_u64(),
        )
    }

    /// Wraps a future so that a span named `name` covers it and is current on every poll,
    /// whichever thread polls it; spans started inside are its children.
    pub fn in_span<F: Future>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Instrumented<F> {
        Instrumented::new(self.clone(), self.start_detached_span(name), fut)
    }

    /// Ends the calling thread's current trace and returns it with every span that finished:
    /// its own, and those of other threads handed over before now. Spans of this trace still
    /// open on this thread are closed and returned marked `unfinished`. `None` if no trace is
    /// active on this thread.
    pub fn end_trace(&self) -> Option<Trace> {
        local::end_trace(&self.inner)
    }

    /// The current trace's id on this thread.
    pub fn trace_id(&self) -> Option<TraceId> {
        local::current(&self.inner, false).map(|c| c.trace_id)
    }

    /// The innermost open span's id on this thread (or the attached parent's).
    pub fn current_span_id(&self) -> Option<SpanId> {
        local::current(&self.inner, false).and_then(|c| c.span_id)
    }

    /// The context to hand to another thread, task or service: the innermost open span's, or
    /// when none is open, the trace's remote parent (or, in an unsampled trace, a stand-in
    /// span id so the trace id still propagates).
    pub fn current_span_context(&self) -> Option<SpanContext> {
        local::current(&self.inner, true).and_then(|c| c.context)
    }

    /// The seed's `get_trace_context()`: trace id, current span id, flags, trace state and
    /// service name.
    pub fn trace_context(&self) -> Option<TraceContext> {
        let c = local::current(&self.inner, true)?;
        Some(TraceContext {
            trace_id: c.trace_id,
            span_id: c.span_id,
            trace_flags: c.flags,
            trace_state: c.trace_state,
            service_name: self.inner.resource.service_name.clone(),
        })
    }

    /// A snapshot of the counters. Exact accounting identities hold when no span is in motion
    /// (see [`Stats`]).
    pub fn stats(&self) -> Stats {
        let threads = self.inner.threads.lock().clone();
        stats::snapshot(&threads, &self.inner.counters)
    }

    /// Delivers everything queued for the exporter and flushes it; waits at most `timeout`.
    /// Returns the last export failure since the previous flush, if any (dropped spans are
    /// also counted in [`Stats::export`]).
    /// Spans still in a thread's batch (a trace that has not ended and whose batch is neither
    /// full nor older than the flush interval) are not reached.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), ExportError> {
        match &self.inner.exporter {
            Some(w) => w.force_flush(timeout),
            None => Ok(()),
        }
    }

    /// Delivers everything queued (retrying transient failures while the retry fits before the
    /// deadline), shuts the exporter down and stops its thread; waits at most the configured
    /// `shutdown_timeout`, once: dropping the tracer afterwards does not wait again. Batches
    /// offered after shutdown began are counted as dropped. Returns the last export failure
    /// since the previous flush, or the exporter's own flush or shutdown failure (a panic
    /// included); on timeout, a transient error, with the spans not yet settled still counted
    /// in [`crate::ExportStats::in_queue`] and [`crate::ExportStats::in_flight`].
    pub fn shutdown(&self) -> Result<(), ExportError> {
        match &self.inner.exporter {
            Some(w) => w.shutdown(),
            None => Ok(()),
        }
    }
}

impl RequestTracer {
    /// The shared state (for the crate's own model-checking tests).
    #[cfg(all(test, loom))]
    pub(crate) fn inner(&self) -> &Arc<TracerInner> {
        &self.inner
    }
}

/// The seed's trace context: what [`RequestTracer::trace_context`] returns.
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

/// Configuration for a [`RequestTracer`].
///
/// ```
/// use reqtrace_core::{Limits, RequestTracer, Sampler};
/// let tracer = RequestTracer::builder("api")
///     .sampler(Sampler::TraceIdRatio(0.25))
///     .limits(Limits { max_attributes_per_span: 16, ..Limits::default() })
///     .build();
/// assert_eq!(tracer.limits().max_attributes_per_span, 16);
/// ```
pub struct RequestTracerBuilder {
    resource: Resource,
    sampler: Sampler,
    limits: Limits,
    retain: Option<bool>,
    exporter: Option<Box<dyn SpanExporter>>,
    batch: BatchConfig,
}

impl fmt::Debug for RequestTracerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTracerBuilder")
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("limits", &self.limits)
            .field("exporter", &self.exporter.is_some())
            .finish()
    }
}

impl RequestTracerBuilder {
    /// Which traces are recorded (default: all).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Takes the sampler from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` when they are
    /// set and valid; keeps the current one otherwise.
    pub fn sampler_from_env(mut self) -> Self {
        if let Some(s) = Sampler::from_env() {
            self.sampler = s;
        }
        self
    }

    /// Memory bounds.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds a resource attribute (e.g. `service.version`).
    pub fn resource_attribute(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Self {
        self.resource.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Streams finished spans to `exporter` from a worker thread, batched per `config`.
    /// Spans leave as they finish (a thread hands over a trace's spans when its batch fills
    /// or is older than `config.flush_interval`), so long-lived traces are exported too.
    pub fn exporter(mut self, exporter: impl SpanExporter, config: BatchConfig) -> Self {
        self.exporter = Some(Box::new(exporter));
        self.batch = config;
        self
    }

    /// Whether `end_trace` returns the trace's spans. Default: yes without an exporter, no
    /// with one (spans then go only to the exporter and `end_trace` returns the trace's
    /// metadata with no spans). With both, each span is delivered to both.
    pub fn retain_traces(mut self, retain: bool) -> Self {
        self.retain = Some(retain);
        self
    }

    /// Builds the tracer (and starts the export worker, if an exporter was given).
    pub fn build(self) -> RequestTracer {
        let mut limits = self.limits;
        limits.batch_size = limits.batch_size.max(1);
        // A span's attribute count is stored in 16 bits; more are dropped and counted.
        limits.max_attributes_per_span = limits.max_attributes_per_span.min(usize::from(u16::MAX));
        let retain = self.retain.unwrap_or(self.exporter.is_none());
        let counters = Arc::new(SharedCounters::default());
        let flush_interval_nanos =
            u64::try_from(self.batch.flush_interval.as_nanos()).unwrap_or(u64::MAX);
        let exporter = self.exporter.map(|e| {
            ExportWorker::start(
                e,
                self.resource.clone(),
                self.batch.clone(),
                Arc::clone(&counters),
                retain,
            )
        });
        let inner = Arc::new(TracerInner {
            resource: self.resource,
            sampler: self.sampler,
            limits,
            retain,
            counters,
            threads: Mutex::new(Vec::new()),
            recycled: ArrayQueue::new(256),
            exporter,
            flush_interval_nanos,
            alive: AtomicBool::new(true),
        });
        RequestTracer {
            _handle: Arc::new(LastHandle(Arc::clone(&inner))),
            inner,
        }
    }
}

/// Starts a trace with a remote parent, trace state or attributes
/// ([`RequestTracer::trace_builder`]).
#[derive(Debug)]
pub struct TraceBuilder<'a> {
    tracer: &'a RequestTracer,
    parent: Option<SpanContext>,
    trace_state: Option<String>,
    attributes: Vec<KeyValue>,
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
        let (trace_id, random) = match &self.parent {
            Some(p) => (p.trace_id, p.trace_flags.is_random()),
            None => (TraceId::random(), true),
        };
        let sampled = inner.sampler.should_sample(trace_id, self.parent.as_ref());
        let mut flags = TraceFlags::NONE.with_sampled(sampled);
        if random {
            flags = flags | TraceFlags::RANDOM;
        }
        let mut attributes = self.attributes;
        attributes.truncate(inner.limits.max_attributes_per_span);
        local::start_trace(
            inner,
            local::NewTrace {
                trace_id,
                flags,
                parent: self.parent,
                trace_state: self.trace_state,
                attributes,
            },
        );
        trace_id
    }
}
