//! # reqtrace-tracing
//!
//! A [`tracing_subscriber::Layer`] that records [`tracing`](https://docs.rs/tracing) spans as
//! reqtrace spans, so code instrumented with `tracing` (`#[instrument]`, `info_span!`, …) shows
//! up in the traces that [`RequestTracer::end_trace`] returns and that reqtrace's exporters
//! send.
//!
//! ```
//! use reqtrace_core::{RequestTracer, StatusCode, Value};
//! use reqtrace_tracing::ReqtraceLayer;
//! use tracing_subscriber::prelude::*;
//!
//! #[tracing::instrument]
//! fn load(user: u64) -> u64 {
//!     tracing::info!(rows = 3, "queried");
//!     user * 2
//! }
//!
//! #[tracing::instrument(fields(error))]
//! fn store() {
//!     tracing::Span::current().record("error", "disk full");
//! }
//!
//! let tracer = RequestTracer::new("api");
//! let subscriber = tracing_subscriber::registry().with(ReqtraceLayer::new(tracer.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     tracer.start_trace();
//!     {
//!         let _request = tracer.start_span("request");
//!         assert_eq!(load(7), 14);
//!         store();
//!     }
//!     let trace = tracer.end_trace().unwrap();
//!
//!     let request = trace.span("request").unwrap();
//!     let load = trace.span("load").unwrap();
//!     assert_eq!(load.parent_id, Some(request.span_id));
//!     assert_eq!(load.attribute("user"), Some(&Value::I64(7)));
//!     assert_eq!(load.events[0].name, "queried");
//!     assert_eq!(load.events[0].attributes[0].value, Value::I64(3));
//!
//!     let store = trace.span("store").unwrap();
//!     assert_eq!(store.status, StatusCode::Error);
//!     assert_eq!(store.error.as_deref(), Some("disk full"));
//!     println!("{} spans, load took {:.3} ms", trace.spans.len(), load.duration_ms());
//! });
//! ```
//!
//! ## What is recorded
//! - **Spans.** Each `tracing` span created while a reqtrace trace is active becomes a reqtrace
//!   span with the same name (a detached [`reqtrace_core::Span`], so it may be entered, moved
//!   and closed on any thread). Its parent is the reqtrace span of its `tracing` parent when
//!   that one is recorded, otherwise the calling thread's current reqtrace span. In an
//!   unsampled trace a span records nothing, and neither do its events.
//! - **Traces.** A `tracing` span with no parent, created while no reqtrace trace is current
//!   on the thread (the first span of a request in a service instrumented only with
//!   `#[instrument]`), starts a trace: it becomes the root of a [`reqtrace_core::RootSpan`]
//!   that the span owns, and the trace is finished when the span closes — its spans go to the
//!   tracer's exporter, or to [`ReqtraceLayer::on_trace`]. Turn this off with
//!   [`ReqtraceLayer::start_traces`]`(false)`; then such a span records nothing.
//!   (`tracing-subscriber`'s registry closes a span's parent through the *calling thread's*
//!   default subscriber: install the subscriber globally, or as the default of every runtime
//!   thread, or a root whose child closed on a thread without it never closes.)
//! - **Entering.** While a recorded `tracing` span is entered on a thread, it is also the
//!   current reqtrace span there: spans started with [`RequestTracer::start_span`] inside
//!   `#[instrument]`-ed code are its children, even on another thread that entered it.
//! - **Fields** become attributes: integers, floats, bools and strings keep their type, any
//!   other value is recorded as its `Debug` text (`%x` fields as their `Display` text). Fields
//!   recorded later with `Span::record` are added too.
//! - **Events** inside a recorded span become span events: the `message` is the event's name
//!   (the callsite's name when there is no message), the other fields its attributes, plus
//!   `level` (`"INFO"`, …). An event outside every `tracing` span goes to the thread's
//!   current reqtrace span (a guard, a root, a `#[trace]` function), so an `info!` in a request
//!   handler that has no `tracing` span is not lost.
//! - **Errors.** A field named `error`, on the span or on one of its events, marks the span
//!   failed ([`reqtrace_core::StatusCode::Error`]) with the field's text as the message
//!   (`error = true` gives the message `"error"`; `error = false` changes nothing). On a span
//!   it is not kept as an attribute. An event with an `error` field and no message — what
//!   `#[instrument(err)]` emits — is an `exception` event with `exception.message`, as the
//!   OpenTelemetry conventions name it; with a message it keeps its name and the `error`
//!   attribute. An `ERROR`-level event fails a span whose status is still unset.
//! - **tracing-opentelemetry's special fields** mean the same here: `otel.name` renames the
//!   span (`info_span!("request", otel.name = %route)`, or recorded later), `otel.kind` sets
//!   its kind (`"server"`, `"client"`, `"producer"`, `"consumer"`, `"internal"`, any case),
//!   `otel.status_code` (`"ok"` / `"error"`) and `otel.status_message` (or the older
//!   `otel.status_description`) its status; they are not kept as attributes.
//!
//! ## Log correlation
//! With the feature `fmt`, `TraceIdFormat` prefixes `tracing-subscriber`'s `fmt` lines with
//! the current span's `trace_id=… span_id=…`; for the `log` crate, `reqtrace-log` records
//! log lines as span events and adds the ids to what it forwards.
//!
//! ## Filters
//! A filter on the subscriber (a global `EnvFilter` or `LevelFilter`) disables callsites for
//! every layer: spans it hides are not recorded, and work inside them is parented to the
//! nearest recorded span. A *per-layer* filter (`fmt_layer.with_filter(...)`) only hides
//! spans and events from that layer: reqtrace still records them. So filter what is printed
//! per layer, and keep a global filter for what nobody should see (e.g. `hyper=off`); an
//! unfiltered bridge also records every TRACE-level span of the libraries below you.
//! - A span ends when `tracing` closes it (its last handle is dropped).
//!
//! ## Cost
//! Each recorded span costs one reqtrace detached span (one allocation, plus one for its
//! attributes when it has any) and, on every enter, attaching its context on the thread. See
//! `benches/bridge.rs` for the numbers beside plain `tracing`, and row i of `cargo xtask bench`
//! (README, Performance): a recorded span costs about 1.7× (1.8× in instructions) a `tracing`
//! span with a minimal recording layer, about 40% of it in reqtrace-core's detached span and
//! attach/detach.

mod diagnostics;
mod fields;
#[cfg(feature = "fmt")]
mod fmt_ids;

pub use diagnostics::forward_diagnostics;
#[cfg(feature = "fmt")]
pub use fmt_ids::TraceIdFormat;

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqtrace_core::{
    AttachGuard, KeyValue, RequestTracer, RootSpan, Span, SpanHandle, SpanKind, Trace, Value,
};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{Extensions, ExtensionsMut, LookupSpan};

use crate::fields::{EventVisitor, Fields, SpanVisitor, Status};

/// A [`Layer`] that records `tracing` spans, fields and events with a [`RequestTracer`].
///
/// Put it on a [`tracing_subscriber::Registry`] (or any subscriber that implements
/// [`LookupSpan`]):
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let tracer = reqtrace_core::RequestTracer::new("svc");
/// let subscriber = tracing_subscriber::registry()
///     .with(reqtrace_tracing::ReqtraceLayer::new(tracer.clone()));
/// # drop(subscriber);
/// ```
pub struct ReqtraceLayer {
    /// `None`: the global tracer, looked up on each use.
    tracer: Option<RequestTracer>,
    /// Tells this layer's entries on the per-thread entered stack from another layer's.
    token: u64,
    /// Whether a span with no parent, opened with no trace current, starts a trace.
    start_traces: bool,
    /// Receives the traces this layer started, when their root span closes.
    on_trace: Option<OnTrace>,
}

/// The callback given to [`ReqtraceLayer::on_trace`].
type OnTrace = Arc<dyn Fn(Trace) + Send + Sync>;

impl Default for ReqtraceLayer {
    /// [`ReqtraceLayer::global`].
    fn default() -> Self {
        Self::global()
    }
}

impl fmt::Debug for ReqtraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqtraceLayer")
            .field("tracer", self.tracer())
            .field("start_traces", &self.start_traces)
            .field("on_trace", &self.on_trace.is_some())
            .finish_non_exhaustive()
    }
}

impl ReqtraceLayer {
    /// A layer recording into `tracer`'s traces. A span opened with no parent while no trace
    /// is current starts one (see [`ReqtraceLayer::start_traces`]).
    pub fn new(tracer: RequestTracer) -> Self {
        Self::with_tracer(Some(tracer))
    }

    /// A layer recording into the process-wide tracer
    /// ([`reqtrace_core::global::tracer`]), looked up on each use, so the subscriber may be
    /// installed before `global::set_tracer` runs. Also what `ReqtraceLayer::default()` gives.
    pub fn global() -> Self {
        Self::with_tracer(None)
    }

    fn with_tracer(tracer: Option<RequestTracer>) -> Self {
        static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
        ReqtraceLayer {
            tracer,
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            start_traces: true,
            on_trace: None,
        }
    }

    /// Whether a `tracing` span with no parent, opened while no reqtrace trace is current on
    /// the thread, starts a trace with itself as the root (default: yes, so a service
    /// instrumented only with `#[instrument]` records its requests). The trace is a
    /// [`RootSpan`] owned by the span and finished when the span closes: its spans go to the
    /// tracer's exporter, or to [`ReqtraceLayer::on_trace`]. With `false`, such spans record
    /// nothing (the seed's behaviour: only code inside `start_trace` … `end_trace` or a
    /// `RootSpan` is recorded).
    pub fn start_traces(mut self, on: bool) -> Self {
        self.start_traces = on;
        self
    }

    /// Calls `f` with each trace this layer started (see [`ReqtraceLayer::start_traces`])
    /// when its root span closes, on the thread that closes it. The trace holds its spans
    /// when the tracer retains traces (the default without an exporter); with an exporter
    /// the spans go there and `f` gets the trace's metadata. Without `on_trace` (and without
    /// an exporter) nobody takes such traces and their spans are counted as abandoned.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use reqtrace_core::RequestTracer;
    /// use reqtrace_tracing::ReqtraceLayer;
    /// use tracing_subscriber::prelude::*;
    ///
    /// let traces = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&traces);
    /// let layer = ReqtraceLayer::new(RequestTracer::new("svc"))
    ///     .on_trace(move |t| sink.lock().unwrap().push(t));
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     let _request = tracing::info_span!("request").entered(); // no trace yet: starts one
    ///     let _db = tracing::info_span!("db").entered();
    /// });
    /// let traces = traces.lock().unwrap();
    /// assert_eq!(traces.len(), 1);
    /// let request = traces[0].span("request").unwrap();
    /// assert_eq!(traces[0].span("db").unwrap().parent_id, Some(request.span_id));
    /// ```
    pub fn on_trace(mut self, f: impl Fn(Trace) + Send + Sync + 'static) -> Self {
        self.on_trace = Some(Arc::new(f));
        self
    }

    /// The tracer spans are recorded with.
    pub fn tracer(&self) -> &RequestTracer {
        self.tracer
            .as_ref()
            .unwrap_or_else(|| reqtrace_core::global::tracer())
    }

    /// Starts the reqtrace side of a new `tracing` span whose parent must be looked up in the
    /// registry (explicit parents, and spans made with none of this layer's spans entered on
    /// the thread).
    fn start_under_parent<S>(
        &self,
        span_ref: &tracing_subscriber::registry::SpanRef<'_, S>,
        name: &'static str,
    ) -> Target
    where
        S: for<'a> LookupSpan<'a>,
    {
        match span_ref.parent() {
            Some(parent) if !self.is_top_entered(&parent.id()) => {
                // An explicit parent, or one entered before this layer saw it: start the span
                // under the parent's reqtrace context.
                let ext = parent.extensions();
                Target::Span(match self.recorded(&ext) {
                    Some(r) => self
                        .tracer()
                        .start_detached_span_with_parent(name, &r.context),
                    None => self.tracer().start_detached_span(name),
                })
            }
            // No parent at all and no trace current: the span starts a trace (its root),
            // even an unsampled one, so that its children follow the sampling decision.
            None if self.start_traces && !self.tracer().has_trace() => {
                Target::Root(self.tracer().start_root(name))
            }
            // No parent, or the parent is the span entered last on this thread (already
            // current for reqtrace): the current reqtrace span is the parent.
            _ => Target::Span(self.tracer().start_detached_span(name)),
        }
    }

    /// An event with no `tracing` span, on the calling thread's current reqtrace span.
    fn event_on_current_span(&self, event: &Event<'_>) {
        let current = self.tracer().current_span();
        if !current.is_recording() {
            return;
        }
        let e = EventVisitor::read(event);
        if let Some((message, _)) = e.fails {
            current.set_error(message);
        }
        current.add_event(e.name, e.attributes);
    }

    /// Whether this layer has a span entered (and attached) on the calling thread.
    fn has_entered_here(&self) -> bool {
        ENTERED
            .try_with(|e| {
                e.try_borrow()
                    .is_ok_and(|e| e.iter().any(|x| x.token == self.token))
            })
            .unwrap_or(false)
    }

    /// Whether the innermost span this layer attached on the calling thread is `id`.
    fn is_top_entered(&self, id: &Id) -> bool {
        ENTERED
            .try_with(|e| {
                e.try_borrow().is_ok_and(|e| {
                    e.last()
                        .is_some_and(|top| top.token == self.token && top.id == id.into_u64())
                })
            })
            .unwrap_or(false)
    }
}

/// What the layer keeps in a recorded span's registry extensions. The registry holds one
/// value per type, so when several `ReqtraceLayer`s record the same span their entries are
/// chained behind the first (no extra allocation in the usual one-layer case).
struct Recorded {
    token: u64,
    span: Target,
    context: SpanHandle,
    status: Status,
    next: Option<Box<Recorded>>,
}

/// What a recorded `tracing` span is on the reqtrace side: a span of a trace, or the root of
/// a trace it started.
enum Target {
    Span(Span),
    Root(RootSpan),
}

impl Target {
    fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        match self {
            Target::Span(s) => s.set_attribute(key, value),
            Target::Root(r) => r.set_attribute(key, value),
        }
    }

    fn set_error(&mut self, message: impl Into<String>) {
        match self {
            Target::Span(s) => s.set_error(message),
            Target::Root(r) => r.set_error(message),
        }
    }

    fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        match self {
            Target::Span(s) => s.add_event(name, attributes),
            Target::Root(r) => r.add_event(name, attributes),
        }
    }

    fn set_ok(&mut self) {
        match self {
            Target::Span(s) => s.set_ok(),
            Target::Root(r) => r.set_ok(),
        }
    }

    fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        match self {
            Target::Span(s) => s.update_name(name),
            Target::Root(r) => r.update_name(name),
        }
    }

    fn set_kind(&mut self, kind: SpanKind) {
        match self {
            Target::Span(s) => s.set_kind(kind),
            Target::Root(r) => r.set_kind(kind),
        }
    }
}

impl Recorded {
    fn find(&self, token: u64) -> Option<&Recorded> {
        if self.token == token {
            return Some(self);
        }
        self.next.as_deref()?.find(token)
    }

    fn find_mut(&mut self, token: u64) -> Option<&mut Recorded> {
        if self.token == token {
            return Some(self);
        }
        self.next.as_deref_mut()?.find_mut(token)
    }

    fn push(&mut self, r: Recorded) {
        match &mut self.next {
            Some(n) => n.push(r),
            None => self.next = Some(Box::new(r)),
        }
    }
}

impl ReqtraceLayer {
    /// This layer's entry for `ext`'s span.
    fn recorded<'e>(&self, ext: &'e Extensions<'_>) -> Option<&'e Recorded> {
        ext.get::<Recorded>()?.find(self.token)
    }

    /// This layer's entry for `ext`'s span, mutable.
    fn recorded_mut<'e>(&self, ext: &'e mut ExtensionsMut<'_>) -> Option<&'e mut Recorded> {
        ext.get_mut::<Recorded>()?.find_mut(self.token)
    }
}

/// A recorded span entered on this thread, with the guard that makes it current for reqtrace.
struct Entered {
    token: u64,
    id: u64,
    _guard: AttachGuard,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

impl<S> Layer<S> for ReqtraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let name = attrs.metadata().name();
        let mut span = if attrs.is_contextual() && self.has_entered_here() {
            // Hot path (a span made inside an entered recorded span, as `#[instrument]` and
            // `info_span!(..).entered()` do): the contextual parent is the thread's current
            // `tracing` span, so it is either this layer's innermost entered span (attached:
            // the current reqtrace span) or a span this layer does not record (the lookup
            // below would also take the current reqtrace span). No registry lookup of the
            // parent is needed.
            Target::Span(self.tracer().start_detached_span(name))
        } else {
            self.start_under_parent(&span_ref, name)
        };
        let context = match &span {
            Target::Span(s) => match s.handle() {
                Some(c) => c,
                None => return,
            },
            Target::Root(r) => r.handle(),
        };
        let mut status = Status::default();
        attrs.record(&mut Fields(&mut SpanVisitor {
            span: &mut span,
            status: &mut status,
        }));
        let recorded = Recorded {
            token: self.token,
            span,
            context,
            status,
            next: None,
        };
        let mut ext = span_ref.extensions_mut();
        match ext.get_mut::<Recorded>() {
            Some(first) => first.push(recorded),
            None => ext.insert(recorded),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let mut ext = span_ref.extensions_mut();
        if let Some(r) = self.recorded_mut(&mut ext) {
            values.record(&mut Fields(&mut SpanVisitor {
                span: &mut r.span,
                status: &mut r.status,
            }));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.event_span(event) else {
            // Outside every `tracing` span: the event goes to the current reqtrace span (a
            // guard, a root, `#[trace]`), if the thread has one.
            if !event.is_root() {
                self.event_on_current_span(event);
            }
            return;
        };
        let mut ext = span_ref.extensions_mut();
        let Some(r) = self.recorded_mut(&mut ext) else {
            return;
        };
        let e = EventVisitor::read(event);
        r.status.apply(&mut r.span, e.fails);
        r.span.add_event(e.name, e.attributes);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let ext = span_ref.extensions();
        let Some(r) = self.recorded(&ext) else {
            return;
        };
        let guard = self.tracer().attach(&r.context);
        if !guard.is_attached() {
            return;
        }
        let entry = Entered {
            token: self.token,
            id: id.into_u64(),
            _guard: guard,
        };
        // If the stack is out of reach (thread exiting, re-entrant call), the guard drops here
        // and the span is simply not current for reqtrace.
        let _ = ENTERED.try_with(|e| {
            if let Ok(mut e) = e.try_borrow_mut() {
                e.push(entry);
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let id = id.into_u64();
        let removed = ENTERED
            .try_with(|e| {
                let mut e = e.try_borrow_mut().ok()?;
                let i = e
                    .iter()
                    .rposition(|x| x.token == self.token && x.id == id)?;
                Some(e.remove(i))
            })
            .ok()
            .flatten();
        // Detach outside the borrow.
        drop(removed);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else {
            return;
        };
        // Only the reqtrace side is taken out; the entry itself (holding a no-op span now) is
        // dropped with the span's other extensions when the registry frees the slot, right
        // after this call. That spares a map removal and moving the entry out of its box.
        let recorded = {
            let mut ext = span_ref.extensions_mut();
            self.recorded_mut(&mut ext)
                .map(|r| std::mem::replace(&mut r.span, Target::Span(Span::noop())))
        };
        match recorded {
            Some(Target::Span(s)) => s.end(),
            Some(Target::Root(root)) => match &self.on_trace {
                Some(f) => f(root.finish()),
                // Finishing hands the spans to the exporter (if any).
                None => drop(root),
            },
            None => {}
        }
    }
}
