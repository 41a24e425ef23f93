//! [`Span`], a *detached span*: one that is not on any thread's stack. It is `Send`, can be
//! ended on any thread, and is what async tasks use to keep one span across polls on
//! different threads.
//! It owns its data (one allocation for its attributes when it has any); when it ends it joins
//! the batch of the ending thread's frame of its trace, or is handed over as a one-span batch.
//! Limits are applied by the same recorder as for spans on a stack. Layer: API.

use std::borrow::Cow;
use std::sync::Arc;

use crate::api::trace_start::new_owned_trace;
use crate::collect::assemble;
use crate::collect::handle::{Parent, SpanHandle};
use crate::collect::trace::{TraceShared, hand_over};
use crate::collect::tracer_state::TracerInner;
use crate::local::span_ops;
use crate::local::stack;
use crate::model::data::{Link, SpanKind, exception_attributes};
use crate::model::ids::{SpanContext, SpanId};
use crate::model::stats;
use crate::model::value::{KeyValue, Value};
use crate::record::batch::{
    Batch, Extras, NO_EXTRAS, RawSpan, STATUS_ERROR, STATUS_OK, kind_to_u8,
};
use crate::record::pending_edits::SpanEdit;
use crate::record::recorder::Recorder;
use crate::util::clock;

/// A detached span: off any thread's stack, `Send`, ended on any thread
/// ([`crate::RequestTracer::start_detached_span`]).
/// Ends when dropped or at [`Span::end`]; if dropped while its thread panics, ends with status
/// error `"panicked"`.
#[must_use = "the span ends when dropped"]
pub struct Span {
    state: Option<Box<Open>>,
}

struct Open {
    trace: Arc<TraceShared>,
    span_id: SpanId,
    parent_id: u64,
    start: u64,
    name: Cow<'static, str>,
    attrs: Vec<KeyValue>,
    extras: Extras,
    kind: u8,
    status: u8,
    /// The span continued a remote parent in a trace of its own, which ends with it.
    owns_trace: bool,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Some(o) => f
                .debug_struct("Span")
                .field("name", &o.name)
                .field("span_id", &o.span_id)
                .finish(),
            None => f.write_str("Span(not recording)"),
        }
    }
}

impl Span {
    pub(crate) fn start(
        inner: &Arc<TracerInner>,
        name: Cow<'static, str>,
        parent: Option<Parent<'_>>,
        parent_id: u64,
    ) -> Span {
        let Some(trace) = parent.as_ref().and_then(Parent::live) else {
            stats::add(&inner.counters.without_trace, 1);
            return Span { state: None };
        };
        if !Arc::ptr_eq(&trace.tracer.0, inner) {
            stats::add(&inner.counters.without_trace, 1);
            return Span { state: None };
        }
        Span::start_in(Arc::clone(trace), name, SpanId::random(), parent_id)
    }

    /// A span that continues the remote `parent` in a new trace of its own, which ends (and
    /// is exported) when the span does.
    pub(crate) fn start_continuing(
        inner: &Arc<TracerInner>,
        name: Cow<'static, str>,
        parent: &SpanContext,
    ) -> Span {
        let (trace, remote) = new_owned_trace(inner, Some(parent), None, Vec::new());
        let mut span = Span::start_in(Arc::clone(&trace), name, SpanId::random(), remote);
        match &mut span.state {
            Some(o) => o.owns_trace = true,
            // Unsampled: nothing is recorded, but the trace still ends (counted ended).
            None => {
                let _ =
                    assemble::finish_owned(&trace, false, clock::now(), stack::current_thread());
            }
        }
        span
    }

    /// A span of `trace` with a given id (a root's id is chosen before its trace exists).
    pub(crate) fn start_in(
        trace: Arc<TraceShared>,
        mut name: Cow<'static, str>,
        span_id: SpanId,
        parent_id: u64,
    ) -> Span {
        if !trace.is_sampled() {
            return Span { state: None };
        }
        let inner = &trace.tracer;
        stats::add(&inner.counters.detached_started, 1);
        Recorder {
            limits: &inner.limits,
            counters: &inner.counters,
        }
        .name(&mut name);
        Span {
            state: Some(Box::new(Open {
                trace,
                span_id,
                parent_id,
                start: clock::now(),
                name,
                attrs: Vec::new(),
                extras: Extras::default(),
                kind: 0,
                status: 0,
                owns_trace: false,
            })),
        }
    }

    fn recorder(t: &TraceShared) -> Recorder<'_> {
        Recorder {
            limits: &t.tracer.limits,
            counters: &t.tracer.counters,
        }
    }

    /// A span that records nothing.
    pub fn noop() -> Span {
        Span { state: None }
    }

    /// Whether the span is recorded.
    pub fn is_recording(&self) -> bool {
        self.state.is_some()
    }

    /// The span's context (a plain value), to inject into a header or a log line.
    pub fn context(&self) -> Option<SpanContext> {
        self.state
            .as_ref()
            .map(|o| o.trace.context(o.span_id, false))
    }

    /// A handle on the span, to parent work on another thread or task so that it joins this
    /// trace (see [`SpanHandle`]).
    pub fn handle(&self) -> Option<SpanHandle> {
        self.state
            .as_ref()
            .map(|o| SpanHandle::new(Arc::clone(&o.trace), o.span_id, false))
    }

    /// The span's id, if it is recorded.
    pub fn span_id(&self) -> Option<SpanId> {
        self.state.as_ref().map(|o| o.span_id)
    }

    /// Sets an attribute (same limits as on [`crate::SpanGuard`]).
    pub fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(o) = &mut self.state {
            let rec = Span::recorder(&o.trace);
            if o.attrs.len() < rec.limits.max_attributes_per_span {
                if o.attrs.capacity() == 0 {
                    // One allocation for the common case (an HTTP span has ~8), not 4 → 8 → 16.
                    o.attrs
                        .reserve_exact(8.min(rec.limits.max_attributes_per_span));
                }
                let mut kv = KeyValue {
                    key: key.into(),
                    value: value.into(),
                };
                rec.attribute(&mut kv);
                o.attrs.push(kv);
            } else {
                o.extras.dropped_attributes += 1;
                stats::add(&rec.counters.attributes_dropped, 1);
            }
        }
    }

    /// Adds a timestamped event (same limits as on [`crate::SpanGuard`]).
    pub fn add_event<I>(&mut self, name: impl Into<Cow<'static, str>>, attributes: I)
    where
        I: IntoIterator<Item = KeyValue>,
    {
        if let Some(o) = &mut self.state {
            let rec = Span::recorder(&o.trace);
            match rec.event(
                o.extras.events.len(),
                name.into(),
                attributes.into_iter().collect(),
                clock::unix_nanos_now(),
            ) {
                Some(ev) => o.extras.events.push(ev),
                None => o.extras.dropped_events += 1,
            }
        }
    }

    /// Adds a link to another span (see [`crate::Link`]).
    pub fn add_link(
        &mut self,
        context: SpanContext,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if let Some(o) = &mut self.state {
            match Span::recorder(&o.trace)
                .link(o.extras.links.len(), Link::new(context, attributes))
            {
                Some(l) => o.extras.links.push(l),
                None => o.extras.dropped_links += 1,
            }
        }
    }

    /// Records `error` as an `exception` event (see [`crate::EditSpan::record_exception`]).
    pub fn record_exception<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        if self.state.is_some() {
            self.add_event("exception", exception_attributes(error));
        }
    }

    /// Sets the span's start time explicitly, for a span imported from elsewhere (another
    /// tracing system, a log, a replay): it replaces the clock reading taken when the span
    /// was started. Pair with [`Span::end_at`].
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use reqtrace_core::RequestTracer;
    ///
    /// let tracer = RequestTracer::new("importer");
    /// let root = tracer.start_root("import");
    /// let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let mut span = tracer.start_detached_span_with_parent("imported call", &root.handle());
    /// span.set_start_time(started);
    /// span.end_at(started + Duration::from_millis(250));
    /// let trace = root.finish();
    /// let s = trace.span("imported call").unwrap();
    /// assert_eq!(s.start_unix_nanos, 1_700_000_000_000_000_000);
    /// assert_eq!(s.duration_ms(), 250.0);
    /// ```
    pub fn set_start_time(&mut self, start: std::time::SystemTime) {
        if let Some(o) = &mut self.state {
            o.extras.start_unix = Some(unix_nanos(start));
            o.trace
                .explicit_times
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Ends the span with an explicit end time (see [`Span::set_start_time`]). An end before
    /// the start is taken as the start (durations are never negative).
    pub fn end_at(mut self, end: std::time::SystemTime) {
        if let Some(o) = &mut self.state {
            o.extras.end_unix = Some(unix_nanos(end));
        }
        self.finish(true);
    }

    /// Marks the span failed.
    pub fn set_error(&mut self, message: impl Into<String>) {
        if let Some(o) = &mut self.state {
            o.status = STATUS_ERROR;
            let m = Span::recorder(&o.trace).message(message.into());
            o.extras.error = Some(m);
        }
    }

    /// Renames the span.
    pub fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(o) = &mut self.state {
            let mut name = name.into();
            Span::recorder(&o.trace).name(&mut name);
            o.name = name;
        }
    }

    /// Marks the span successful.
    pub fn set_ok(&mut self) {
        if let Some(o) = &mut self.state {
            o.status = STATUS_OK;
            o.extras.error = None;
        }
    }

    /// Sets the span's kind.
    pub fn set_kind(&mut self, kind: SpanKind) {
        if let Some(o) = &mut self.state {
            o.kind = kind_to_u8(kind);
        }
    }

    /// Applies the edits made to this span through handles while it was held here.
    #[cold]
    fn apply_pending_edits(&mut self) {
        let Some(o) = &self.state else { return };
        for edit in o.trace.edits.take(o.span_id.to_u64()) {
            match edit {
                SpanEdit::Attribute(kv) => self.set_attribute(kv.key, kv.value),
                SpanEdit::Event {
                    name,
                    attributes,
                    time,
                } => {
                    if let Some(o) = &mut self.state {
                        let rec = Span::recorder(&o.trace);
                        match rec.event(o.extras.events.len(), name, attributes, time) {
                            Some(ev) => o.extras.events.push(ev),
                            None => o.extras.dropped_events += 1,
                        }
                    }
                }
                SpanEdit::Status(Ok(())) => self.set_ok(),
                SpanEdit::Status(Err(m)) => self.set_error(m),
                SpanEdit::Name(n) => self.update_name(n),
                SpanEdit::Kind(k) => self.set_kind(k),
                SpanEdit::Link(l) => self.add_link(l.context, l.attributes),
            }
        }
    }

    /// Ends the span now.
    pub fn end(mut self) {
        self.finish(true);
    }

    /// Ends the span now, handing it straight to its trace (never into a thread's batch: a
    /// root ends this way just before its trace is assembled).
    pub(crate) fn end_to_trace(mut self) {
        self.finish(false);
    }

    fn finish(&mut self, may_join_thread: bool) {
        if let Some(o) = &self.state
            && o.trace.edits.any()
        {
            self.apply_pending_edits();
        }
        let Some(mut o) = self.state.take() else {
            return;
        };
        let end = clock::now();
        let may_join_thread = may_join_thread && !o.owns_trace;
        if std::thread::panicking() && o.status != STATUS_ERROR {
            o.status = STATUS_ERROR;
            o.extras.error = Some("panicked".to_owned());
        }
        let inner = Arc::clone(&o.trace.tracer);
        stats::add(&inner.counters.detached_finished, 1);
        let name: &'static str = match o.name {
            Cow::Borrowed(s) => s,
            Cow::Owned(_) => {
                o.extras.name = Some(std::mem::take(&mut o.name));
                ""
            }
        };
        let has_extras = o.extras.name.is_some()
            || !o.extras.events.is_empty()
            || o.extras.error.is_some()
            || o.extras.dropped_attributes > 0
            || o.extras.dropped_events > 0
            || !o.extras.links.is_empty()
            || o.extras.dropped_links > 0
            || o.extras.start_unix.is_some()
            || o.extras.end_unix.is_some();
        let attr_len = o.attrs.len().min(usize::from(u16::MAX));
        o.attrs.truncate(attr_len);
        let raw = RawSpan {
            span_id: o.span_id.to_u64(),
            parent_id: o.parent_id,
            start: o.start,
            end: end.max(o.start),
            name,
            attr_start: 0,
            extras: NO_EXTRAS,
            attr_len: attr_len as u16,
            kind: o.kind,
            status: o.status,
        };
        let attrs = std::mem::take(&mut o.attrs);
        let extras = has_extras.then(|| std::mem::take(&mut o.extras));
        // Cheap path: this thread is working in the span's trace, so the span joins that
        // frame's batch like any other.
        let (raw, attrs, extras) = if may_join_thread {
            match span_ops::record_detached(&o.trace, raw, attrs, extras) {
                None => return,
                Some(parts) => parts,
            }
        } else {
            (raw, attrs, extras)
        };
        let (thread_id, thread_name) = stack::current_thread();
        let mut batch = Batch::with_capacity(1, thread_id, thread_name);
        batch.attrs = attrs;
        let mut raw = raw;
        if let Some(x) = extras {
            batch.extras.push(x);
            raw.extras = 0;
        }
        batch.spans.push(raw);
        if let Some(b) = hand_over(&o.trace, batch) {
            inner.recycle(b);
        }
        if o.owns_trace {
            let _ = assemble::finish_owned(&o.trace, false, end, stack::current_thread());
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.finish(true);
    }
}

/// `t` in Unix nanoseconds (0 before the epoch, saturating far after it).
fn unix_nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
