//! The hot path: each thread's span stack and batches.
//!
//! Every thread has one [`ThreadState`] (a `thread_local!`), holding for each tracer it has
//! used a [`TracerLocal`]:
//! - `frames`: the traces this thread is working in, innermost last. A *trace frame* is pushed
//!   by `start_trace` and popped by `end_trace`; an *attached frame* is pushed when a span
//!   context from another thread is attached (`attach`, `start_span_with_parent`, a
//!   `Future` being polled) and popped when that scope ends. Each frame owns the [`Batch`] of
//!   finished spans it recorded.
//! - `open`: the open spans of all frames, innermost last, 48-byte entries reused in place
//!   (`open_len` marks the live prefix). A span's attributes are not here: its guard collects
//!   them (inline for the first four) and hands them over when it ends, so after warm-up a span
//!   with a static name and a few attributes allocates nothing.
//!
//! Starting a span: find the frame, take an id from the thread's generator, read the clock,
//! fill the next open entry. Ending it: read the clock, append a 64-byte record and the guard's
//! attributes to its frame's batch, pop the entry. No lock, no atomic read-modify-write; the
//! only shared writes are the owner-only counters in [`ThreadCounters`].
//!
//! Spans may end out of order (an outer guard dropped first): the entry is closed and left as a
//! tombstone until the entries above it end. A guard whose entry was already closed (its trace
//! ended, its scope was detached) finds a different span id at its index and does nothing.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batch::{
    Batch, Extras, FLAG_UNFINISHED, NO_EXTRAS, RawSpan, STATUS_ERROR, STATUS_OK, STATUS_UNSET,
    kind_to_u8,
};
use crate::clock;
use crate::data::{Event, SpanKind, Trace};
use crate::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::rng;
use crate::stats::{self, ThreadCounters, owner_add};
use crate::trace::{LocalTrace, TraceShared, TracerRef, hand_over};
use crate::tracer::TracerInner;
use crate::value::{KeyValue, Value};

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static STATE: RefCell<ThreadState> = const { RefCell::new(ThreadState::new()) };
    /// The address of the tracer whose innermost frame on this thread is unsampled (0: none):
    /// lets `start_span` in an unsampled trace return after one plain thread-local read.
    static UNSAMPLED_TOP: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` on this thread's state; `None` if the state is unavailable (during thread
/// teardown, or re-entered from inside a tracer call).
#[inline]
fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATE
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

/// reqtrace's number for the calling thread.
pub(crate) fn current_thread_id() -> u64 {
    with_state(|s| {
        if s.thread_id == 0 {
            s.identify();
        }
        s.thread_id
    })
    .unwrap_or(0)
}

pub(crate) struct ThreadState {
    thread_id: u64,
    thread_name: Option<&'static str>,
    tracers: Vec<TracerLocal>,
    next_frame_serial: u64,
    rng: u64,
}

pub(crate) struct TracerLocal {
    inner: Arc<TracerInner>,
    /// This thread's handle for the traces it starts (see [`TracerRef`]).
    tref: Arc<TracerRef>,
    counters: Arc<ThreadCounters>,
    frames: Vec<Frame>,
    open: Vec<OpenSpan>,
    open_len: usize,
    spare: Vec<Batch>,
    // Copies of the tracer's settings, kept here so the hot path reads one cache line.
    max_attrs: u32,
    max_value_len: u32,
    batch_size: usize,
    has_exporter: bool,
}

/// A trace frame (pushed by `start_trace`) has `meta`; an attached frame has none.
struct Frame {
    trace: Arc<TraceShared>,
    serial: u64,
    /// Parent of spans started with no open span in this frame (0: none).
    parent: u64,
    /// `open_len` when the frame was pushed.
    open_base: usize,
    sampled: bool,
    batch: Batch,
    /// Raw time of the oldest span in `batch` (for the export flush interval).
    batch_since: u64,
    meta: Option<Box<TraceMeta>>,
}

/// What a trace frame knows that an attached frame does not.
struct TraceMeta {
    start: u64,
    attributes: Vec<KeyValue>,
    trace_state: Option<String>,
    remote_parent: Option<SpanId>,
    /// Span id used in propagated contexts of an unsampled trace.
    placeholder: SpanId,
}

/// An open span: 48 bytes, reused in place. The rare parts (owned name, events, error,
/// dropped counts) live behind `extras`, allocated only when a span has them.
#[derive(Default)]
struct OpenSpan {
    span_id: u64,
    parent_id: u64,
    start: u64,
    name: &'static str,
    extras: Option<Box<Extras>>,
    frame: u32,
    kind: u8,
    status: u8,
    ended: bool,
    owns_frame: bool,
}

impl OpenSpan {
    #[inline]
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }
}

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            thread_id: 0,
            thread_name: None,
            tracers: Vec::new(),
            next_frame_serial: 1,
            rng: 0,
        }
    }

    /// Numbers the thread and reads its name, once.
    #[cold]
    fn identify(&mut self) {
        self.thread_id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        self.thread_name = crate::thread_name::current();
        self.rng = rng::seed();
    }

    /// The index of `inner`'s local state, registering this thread with it on first use.
    #[inline]
    fn slot(&mut self, inner: &Arc<TracerInner>) -> usize {
        if self
            .tracers
            .first()
            .is_some_and(|t| Arc::ptr_eq(&t.inner, inner))
        {
            return 0;
        }
        self.slot_slow(inner)
    }

    #[inline(never)]
    fn slot_slow(&mut self, inner: &Arc<TracerInner>) -> usize {
        if let Some(i) = self
            .tracers
            .iter()
            .position(|t| Arc::ptr_eq(&t.inner, inner))
        {
            return i;
        }
        if self.thread_id == 0 {
            self.identify();
        }
        let counters = inner.register_thread();
        let local = TracerLocal {
            inner: Arc::clone(inner),
            tref: Arc::new(TracerRef(Arc::clone(inner))),
            counters,
            frames: Vec::new(),
            open: Vec::new(),
            open_len: 0,
            spare: Vec::new(),
            max_attrs: u32::try_from(inner.limits.max_attributes_per_span).unwrap_or(u32::MAX),
            max_value_len: u32::try_from(inner.limits.max_attribute_value_len).unwrap_or(u32::MAX),
            batch_size: inner.limits.batch_size,
            has_exporter: inner.has_exporter(),
        };
        // Reuse the slot of a tracer whose handles are all gone and that has nothing open
        // here, so a long-lived thread using short-lived tracers does not accumulate them.
        if let Some(i) = self
            .tracers
            .iter()
            .position(|t| !t.inner.is_alive() && t.frames.is_empty())
        {
            let old = std::mem::replace(&mut self.tracers[i], local);
            drop(old);
            return i;
        }
        self.tracers.push(local);
        self.tracers.len() - 1
    }

    /// Pushes a frame for `trace` on this thread: a trace frame when `meta` is given, an
    /// attached frame otherwise. Returns the tracer's slot and the frame's serial.
    fn push_frame(
        &mut self,
        inner: &Arc<TracerInner>,
        trace: Arc<TraceShared>,
        parent: u64,
        since: u64,
        meta: Option<Box<TraceMeta>>,
    ) -> (usize, u64) {
        let slot = self.slot(inner);
        let serial = self.next_frame_serial;
        self.next_frame_serial += 1;
        let mut spare = std::mem::take(&mut self.tracers[slot].spare);
        let batch = self.new_batch(&mut spare, inner);
        let tl = &mut self.tracers[slot];
        tl.spare = spare;
        tl.frames.push(Frame {
            sampled: trace.flags.is_sampled(),
            trace,
            serial,
            parent,
            open_base: tl.open_len,
            batch,
            batch_since: since,
            meta,
        });
        tl.refresh_unsampled_top();
        (slot, serial)
    }

    fn new_batch(&self, tl_spare: &mut Vec<Batch>, inner: &TracerInner) -> Batch {
        if let Some(mut b) = tl_spare.pop().or_else(|| inner.take_recycled()) {
            b.clear();
            b.thread_id = self.thread_id;
            b.thread_name = self.thread_name;
            return b;
        }
        Batch::with_capacity(
            inner.limits.batch_size.min(64),
            self.thread_id,
            self.thread_name,
        )
    }
}

impl Drop for ThreadState {
    /// Thread exit: every frame's spans are handed over (open spans closed as unfinished), so
    /// nothing buffered on a dying thread is lost silently.
    fn drop(&mut self) {
        let now = clock::now();
        for tl in &mut self.tracers {
            tl.close_open_from(0, now);
            while let Some(frame) = tl.frames.pop() {
                let _ = hand_over(&frame.trace, frame.batch);
            }
        }
    }
}

impl TracerLocal {
    /// Keeps [`UNSAMPLED_TOP`] in step with this tracer's innermost frame.
    fn refresh_unsampled_top(&self) {
        let me = Arc::as_ptr(&self.inner) as usize;
        let unsampled = self.frames.last().is_some_and(|f| !f.sampled);
        let _ = UNSAMPLED_TOP.try_with(|c| {
            if unsampled {
                c.set(me);
            } else if c.get() == me {
                c.set(0);
            }
        });
    }

    /// Closes every open span at index `from` and above at time `now`, marking them unfinished.
    fn close_open_from(&mut self, from: usize, now: u64) {
        let mut closed = 0u64;
        for i in (from..self.open_len).rev() {
            if !self.open[i].ended {
                self.record(i, now, true, &mut GuardAttrs::new());
                closed += 1;
            }
        }
        self.open_len = self.open_len.min(from);
        // Spans below `from` that ended out of order while a frame above was active.
        while self.open_len > 0 && self.open[self.open_len - 1].ended {
            self.open_len -= 1;
        }
        if closed > 0 {
            owner_add(&self.counters.finished, closed);
            stats::add(&self.inner.counters.unfinished, closed);
        }
    }

    /// Moves open entry `i` into its frame's batch as a finished span.
    #[inline(always)]
    fn record(&mut self, i: usize, end: u64, unfinished: bool, attrs: &mut GuardAttrs) {
        let e = &mut self.open[i];
        e.ended = true;
        let Some(frame) = self.frames.get_mut(e.frame as usize) else {
            return;
        };
        let b = &mut frame.batch;
        if b.spans.is_empty() {
            frame.batch_since = end;
        }
        let attr_start = b.attrs.len() as u32;
        // At most u16::MAX: the builder caps `max_attributes_per_span`.
        let attr_len = attrs.len().min(usize::from(u16::MAX));
        if attr_len > 0 {
            attrs.truncate(attr_len);
            b.attrs.extend(attrs.drain(..));
        }
        let extras = match e.extras.take() {
            Some(x) => {
                b.extras.push(*x);
                (b.extras.len() - 1) as u32
            }
            None => NO_EXTRAS,
        };
        b.spans.push(RawSpan {
            span_id: e.span_id,
            parent_id: e.parent_id,
            start: e.start,
            end: end.max(e.start),
            name: e.name,
            attr_start,
            extras,
            attr_len: attr_len as u16,
            kind: e.kind,
            status: e.status | if unfinished { FLAG_UNFINISHED } else { 0 },
        });
    }

    /// The parent for a span started now in the top frame.
    #[inline]
    fn current_parent(&self, frame: &Frame) -> u64 {
        if self.open_len > frame.open_base {
            let top = &self.open[self.open_len - 1];
            if !top.ended {
                return top.span_id;
            }
        }
        frame.parent
    }

    /// Hands over a frame's batch if it is full, or (with an exporter) older than the flush
    /// interval.
    fn maybe_flush(&mut self, frame_idx: usize, now: u64) {
        let Some(frame) = self.frames.get_mut(frame_idx) else {
            return;
        };
        let len = frame.batch.len();
        let full = len >= self.inner.limits.batch_size;
        let stale = len > 0
            && self.inner.has_exporter()
            && clock::delta_nanos(frame.batch_since, now) >= self.inner.flush_interval_nanos();
        if full || stale {
            let mut fresh = self
                .spare
                .pop()
                .or_else(|| self.inner.take_recycled())
                .unwrap_or_default();
            fresh.clear();
            fresh.thread_id = frame.batch.thread_id;
            fresh.thread_name = frame.batch.thread_name;
            let old = std::mem::replace(&mut frame.batch, fresh);
            if let Some(mut b) = hand_over(&frame.trace, old) {
                b.clear();
                self.spare.push(b);
            }
        }
    }

    /// Pops frames down to (and including) `idx`, closing their open spans and handing over
    /// their batches. Returns the popped frame at `idx`.
    fn pop_frames_to(&mut self, idx: usize, now: u64) -> Option<Frame> {
        let base = self.frames.get(idx)?.open_base;
        self.close_open_from(base, now);
        while self.frames.len() > idx + 1 {
            if let Some(f) = self.frames.pop()
                && let Some(mut b) = hand_over(&f.trace, f.batch)
            {
                b.clear();
                self.spare.push(b);
            }
        }
        let popped = self.frames.pop();
        self.refresh_unsampled_top();
        popped
    }
}

// ---------------------------------------------------------------------------------------------
// Operations used by the tracer and the guards.

/// Identifies an open span for its guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanKey {
    pub slot: u32,
    pub index: u32,
    pub span_id: u64,
    /// `max_attributes_per_span`, for the guard.
    pub max_attrs: u32,
    /// `max_attribute_value_len`, for the guard.
    pub max_value_len: u32,
}

/// Identifies an attached frame for its guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameKey {
    pub slot: u32,
    pub index: u32,
    pub serial: u64,
}

pub(crate) struct NewTrace {
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    pub parent: Option<SpanContext>,
    pub trace_state: Option<String>,
    pub attributes: Vec<KeyValue>,
}

pub(crate) fn start_trace(inner: &Arc<TracerInner>, t: NewTrace) {
    let sampled = t.flags.is_sampled();
    let start = clock::now();
    let remote_parent = t.parent.as_ref().map(|p| p.span_id);
    let meta = Box::new(TraceMeta {
        start,
        attributes: t.attributes,
        trace_state: t.trace_state,
        remote_parent,
        placeholder: SpanId::random(),
    });
    let parent = remote_parent.map_or(0, SpanId::to_u64);
    with_state(|st| {
        let slot = st.slot(inner);
        let tref = Arc::clone(&st.tracers[slot].tref);
        let trace = TraceShared::new(tref, t.trace_id, t.flags, parent);
        st.push_frame(inner, trace, parent, start, Some(meta));
        let tl = &st.tracers[slot];
        owner_add(&tl.counters.traces_started, 1);
        if !sampled {
            owner_add(&tl.counters.traces_unsampled, 1);
        }
    });
}

pub(crate) fn end_trace(inner: &Arc<TracerInner>) -> Option<Trace> {
    let now = clock::now();
    let (trace, mut batch, meta, sampled) = with_state(|st| {
        let slot = st.slot(inner);
        let tl = &mut st.tracers[slot];
        let idx = tl.frames.iter().rposition(|f| f.meta.is_some())?;
        let frame = tl.pop_frames_to(idx, now)?;
        Some((frame.trace, frame.batch, frame.meta, frame.sampled))
    })
    .flatten()?;
    let meta = meta?;
    let spans = if sampled {
        trace.finish(&mut batch)
    } else {
        Vec::new()
    };
    batch.clear();
    let delivered = spans.len() as u64;
    with_state(|st| {
        let slot = st.slot(inner);
        let tl = &mut st.tracers[slot];
        tl.spare.push(batch);
        owner_add(&tl.counters.traces_ended, 1);
        owner_add(&tl.counters.delivered, delivered);
    });
    Some(Trace {
        trace_id: trace.trace_id,
        service_name: inner.resource.service_name.clone(),
        attributes: meta.attributes,
        start_unix_nanos: clock::to_unix_nanos(meta.start),
        end_unix_nanos: clock::to_unix_nanos(now).max(clock::to_unix_nanos(meta.start)),
        trace_flags: trace.flags,
        trace_state: meta.trace_state,
        remote_parent_id: meta.remote_parent,
        spans,
        dropped_spans_count: trace.dropped.load(Ordering::Relaxed),
    })
}

/// Starts a span in the calling thread's current frame.
#[inline]
pub(crate) fn start_span(inner: &Arc<TracerInner>, name: Cow<'static, str>) -> Option<SpanKey> {
    if UNSAMPLED_TOP.with(Cell::get) == Arc::as_ptr(inner) as usize {
        return None;
    }
    start_recorded_span(inner, name)
}

#[inline(never)]
fn start_recorded_span(inner: &Arc<TracerInner>, name: Cow<'static, str>) -> Option<SpanKey> {
    with_state(|st| {
        let slot = st.slot(inner);
        start_in_top_frame(&mut st.tracers[slot], &mut st.rng, slot, name, false)
    })
    .flatten()
}

#[inline(always)]
fn start_in_top_frame(
    tl: &mut TracerLocal,
    rng_state: &mut u64,
    slot: usize,
    name: Cow<'static, str>,
    owns_frame: bool,
) -> Option<SpanKey> {
    let Some(frame_idx) = tl.frames.len().checked_sub(1) else {
        stats::add(&tl.inner.counters.without_trace, 1);
        return None;
    };
    let frame = &tl.frames[frame_idx];
    if !frame.sampled {
        return None;
    }
    let parent_id = tl.current_parent(frame);
    let span_id = rng::step(rng_state).to_u64();
    let index = tl.open_len;
    if index == tl.open.len() {
        tl.open.push(OpenSpan::default());
    }
    let e = &mut tl.open[index];
    e.span_id = span_id;
    e.parent_id = parent_id;
    e.frame = frame_idx as u32;
    match name {
        Cow::Borrowed(n) => e.name = n,
        Cow::Owned(n) => {
            e.name = "";
            e.extras().name = Some(Cow::Owned(n));
        }
    }
    e.kind = 0;
    e.status = STATUS_UNSET;
    e.ended = false;
    e.owns_frame = owns_frame;
    e.start = clock::now();
    tl.open_len = index + 1;
    owner_add(&tl.counters.started, 1);
    Some(SpanKey {
        slot: slot as u32,
        index: index as u32,
        span_id,
        max_attrs: tl.max_attrs,
        max_value_len: tl.max_value_len,
    })
}

/// Attributes a guard collected (inline for the first few: no allocation).
pub(crate) type GuardAttrs = smallvec::SmallVec<[KeyValue; 4]>;

/// What a guard counted while collecting attributes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GuardCounts {
    pub dropped: u32,
    pub truncated: u32,
}

/// Ends the span `key` (no-op if it was already closed), recording `attrs`.
#[inline(never)]
pub(crate) fn end_span(key: SpanKey, attrs: &mut GuardAttrs, counts: GuardCounts) {
    let panicking = std::thread::panicking();
    let end = clock::now();
    with_state(|st| {
        let Some(tl) = st.tracers.get_mut(key.slot as usize) else {
            return;
        };
        let i = key.index as usize;
        if i >= tl.open_len || tl.open[i].span_id != key.span_id || tl.open[i].ended {
            return;
        }
        if panicking && tl.open[i].status != STATUS_ERROR {
            let e = &mut tl.open[i];
            e.status = STATUS_ERROR;
            e.extras().error = Some("panicked".to_owned());
        }
        if counts.dropped > 0 {
            tl.open[i].extras().dropped_attributes += counts.dropped;
            stats::add(
                &tl.inner.counters.attributes_dropped,
                u64::from(counts.dropped),
            );
        }
        if counts.truncated > 0 {
            stats::add(
                &tl.inner.counters.values_truncated,
                u64::from(counts.truncated),
            );
        }
        let frame_idx = tl.open[i].frame as usize;
        let owns_frame = tl.open[i].owns_frame;
        tl.record(i, end, false, attrs);
        owner_add(&tl.counters.finished, 1);
        if i + 1 == tl.open_len {
            tl.open_len -= 1;
            while tl.open_len > 0 && tl.open[tl.open_len - 1].ended {
                tl.open_len -= 1;
            }
        }
        if owns_frame {
            if let Some(frame) = tl.pop_frames_to(frame_idx, end)
                && let Some(mut b) = hand_over(&frame.trace, frame.batch)
            {
                b.clear();
                tl.spare.push(b);
            }
        } else if tl.has_exporter
            || tl
                .frames
                .get(frame_idx)
                .is_some_and(|f| f.batch.len() >= tl.batch_size)
        {
            tl.maybe_flush(frame_idx, end);
        }
    });
}

/// Whether `v` may be longer than `max` (cheap pre-check before [`Value::truncate`]).
#[inline]
pub(crate) fn needs_truncation(v: &Value, max: usize) -> bool {
    match v {
        Value::String(s) => s.len() > max,
        Value::Array(_) => true,
        _ => false,
    }
}

/// Records a finished detached span into the calling thread's frame of the same trace, if it
/// has one (the cheap path). Gives the parts back otherwise.
#[allow(clippy::type_complexity)]
pub(crate) fn record_detached(
    trace: &Arc<TraceShared>,
    mut raw: RawSpan,
    attrs: Vec<KeyValue>,
    extras: Option<Extras>,
) -> Option<(RawSpan, Vec<KeyValue>, Option<Extras>)> {
    let inner = &trace.tracer.0;
    let mut parts = Some((attrs, extras));
    with_state(|st| {
        let slot = st
            .tracers
            .iter()
            .position(|t| Arc::ptr_eq(&t.inner, inner))?;
        let tl = &mut st.tracers[slot];
        let idx = tl
            .frames
            .iter()
            .rposition(|f| Arc::ptr_eq(&f.trace, trace))?;
        let (attrs, extras) = parts.take()?;
        let frame = &mut tl.frames[idx];
        if frame.batch.spans.is_empty() {
            frame.batch_since = raw.end;
        }
        let b = &mut frame.batch;
        raw.attr_start = b.attrs.len() as u32;
        b.attrs.extend(attrs);
        if let Some(x) = extras {
            b.extras.push(x);
            raw.extras = (b.extras.len() - 1) as u32;
        }
        b.spans.push(raw);
        if tl.has_exporter || tl.frames[idx].batch.len() >= tl.batch_size {
            tl.maybe_flush(idx, raw.end);
        }
        Some(())
    });
    parts.map(|(a, x)| (raw, a, x))
}

/// Applies `f` to the open span `key`, if it is still open.
#[inline]
fn with_open<R>(key: SpanKey, f: impl FnOnce(&mut OpenSpan, &TracerInner) -> R) -> Option<R> {
    with_state(|st| {
        let tl = st.tracers.get_mut(key.slot as usize)?;
        let i = key.index as usize;
        if i >= tl.open_len || tl.open[i].span_id != key.span_id || tl.open[i].ended {
            return None;
        }
        Some(f(&mut tl.open[i], &tl.inner))
    })
    .flatten()
}

pub(crate) fn add_event(key: SpanKey, name: Cow<'static, str>, attributes: Vec<KeyValue>) {
    let time = clock::to_unix_nanos(clock::now());
    with_open(key, |e, inner| {
        let limits = &inner.limits;
        let x = e.extras();
        if x.events.len() < limits.max_events_per_span {
            let mut attributes = attributes;
            let max_attrs = limits.max_attributes_per_span;
            if attributes.len() > max_attrs {
                stats::add(
                    &inner.counters.attributes_dropped,
                    (attributes.len() - max_attrs) as u64,
                );
                attributes.truncate(max_attrs);
            }
            for kv in &mut attributes {
                if kv.value.truncate(limits.max_attribute_value_len) {
                    stats::add(&inner.counters.values_truncated, 1);
                }
            }
            x.events.push(Event {
                name,
                time_unix_nanos: time,
                attributes,
            });
        } else {
            x.dropped_events += 1;
            stats::add(&inner.counters.events_dropped, 1);
        }
    });
}

pub(crate) fn set_status(key: SpanKey, ok: bool, message: Option<String>) {
    with_open(key, |e, inner| {
        if ok {
            e.status = STATUS_OK;
            if let Some(x) = &mut e.extras {
                x.error = None;
            }
        } else {
            e.status = STATUS_ERROR;
            let mut m = message.unwrap_or_default();
            let max = inner.limits.max_attribute_value_len;
            if m.len() > max {
                let mut cut = max;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
                stats::add(&inner.counters.values_truncated, 1);
            }
            e.extras().error = Some(m);
        }
    });
}

pub(crate) fn set_kind(key: SpanKey, kind: SpanKind) {
    with_open(key, |e, _| e.kind = kind_to_u8(kind));
}

pub(crate) fn set_name(key: SpanKey, name: Cow<'static, str>) {
    with_open(key, |e, _| match name {
        Cow::Borrowed(n) => {
            e.name = n;
            if let Some(x) = &mut e.extras {
                x.name = None;
            }
        }
        Cow::Owned(n) => e.extras().name = Some(Cow::Owned(n)),
    });
}

/// The context of open span `key`, with a link to its local trace.
pub(crate) fn span_context(key: SpanKey) -> Option<SpanContext> {
    with_state(|st| {
        let tl = st.tracers.get(key.slot as usize)?;
        let i = key.index as usize;
        let e = tl
            .open
            .get(i)
            .filter(|e| i < tl.open_len && e.span_id == key.span_id && !e.ended)?;
        let frame = tl.frames.get(e.frame as usize)?;
        Some(context_for(frame, e.span_id))
    })
    .flatten()
}

fn context_for(frame: &Frame, span_id: u64) -> SpanContext {
    let mut ctx = SpanContext::new(
        frame.trace.trace_id,
        SpanId::from_u64(span_id).unwrap_or_else(SpanId::random),
        frame.trace.flags,
        false,
    );
    ctx.local = Some(LocalTrace(Arc::clone(&frame.trace)));
    ctx
}

/// What the calling thread's current frame says.
pub(crate) struct Current {
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    /// The innermost open span, or the attached parent.
    pub span_id: Option<SpanId>,
    pub context: Option<SpanContext>,
    pub trace_state: Option<String>,
    /// The parent a span started now would get (0: none).
    pub parent_for_new: u64,
}

pub(crate) fn current(inner: &Arc<TracerInner>, want_context: bool) -> Option<Current> {
    with_state(|st| {
        let slot = st
            .tracers
            .iter()
            .position(|t| Arc::ptr_eq(&t.inner, inner))?;
        let tl = &st.tracers[slot];
        let frame = tl.frames.last()?;
        let open = if tl.open_len > frame.open_base {
            Some(tl.open[tl.open_len - 1].span_id)
        } else {
            None
        };
        let span = open.or(if frame.meta.is_none() {
            Some(frame.parent)
        } else {
            None
        });
        let span_id = span.and_then(SpanId::from_u64);
        // The trace state lives on the trace frame below any attached frames.
        let trace_state = tl
            .frames
            .iter()
            .rev()
            .find(|f| Arc::ptr_eq(&f.trace, &frame.trace) && f.meta.is_some())
            .and_then(|f| f.meta.as_ref().and_then(|m| m.trace_state.clone()));
        let context = if want_context {
            match span_id {
                Some(id) => Some(context_for(frame, id.to_u64())),
                None => frame.meta.as_ref().map(|m| {
                    // No span open: propagate the remote parent (or, unsampled, a stand-in id).
                    let id = match (frame.sampled, m.remote_parent) {
                        (true, Some(p)) => p,
                        _ => m.placeholder,
                    };
                    let mut c = context_for(frame, id.to_u64());
                    c.is_remote = frame.sampled && m.remote_parent.is_some();
                    c
                }),
            }
        } else {
            None
        };
        Some(Current {
            parent_for_new: tl.current_parent(frame),
            trace_id: frame.trace.trace_id,
            flags: frame.trace.flags,
            span_id,
            context,
            trace_state,
        })
    })
    .flatten()
}

/// Pushes an attached frame joining `ctx`'s local trace. `None` if `ctx` has no local trace
/// of this tracer.
pub(crate) fn attach(inner: &Arc<TracerInner>, ctx: &SpanContext) -> Option<FrameKey> {
    let trace = ctx.local.as_ref()?;
    if !Arc::ptr_eq(&trace.0.tracer.0, inner) {
        return None;
    }
    let trace = Arc::clone(&trace.0);
    with_state(|st| {
        let (slot, serial) = st.push_frame(inner, trace, ctx.span_id.to_u64(), 0, None);
        FrameKey {
            slot: slot as u32,
            index: (st.tracers[slot].frames.len() - 1) as u32,
            serial,
        }
    })
}

/// Pops the attached frame `key` (and anything above it), handing its spans over.
pub(crate) fn detach(key: FrameKey) {
    let now = clock::now();
    with_state(|st| {
        let Some(tl) = st.tracers.get_mut(key.slot as usize) else {
            return;
        };
        let i = key.index as usize;
        if tl.frames.get(i).is_none_or(|f| f.serial != key.serial) {
            return;
        }
        if let Some(frame) = tl.pop_frames_to(i, now)
            && let Some(mut b) = hand_over(&frame.trace, frame.batch)
        {
            b.clear();
            tl.spare.push(b);
        }
    });
}

/// Attaches `ctx` and starts a span in it that detaches when it ends.
pub(crate) fn start_span_with_parent(
    inner: &Arc<TracerInner>,
    name: Cow<'static, str>,
    ctx: &SpanContext,
) -> Option<SpanKey> {
    let Some(frame) = attach(inner, ctx) else {
        stats::add(&inner.counters.without_trace, 1);
        return None;
    };
    let key = with_state(|st| {
        let tl = st.tracers.get_mut(frame.slot as usize)?;
        start_in_top_frame(tl, &mut st.rng, frame.slot as usize, name, true)
    })
    .flatten();
    if key.is_none() {
        detach(frame);
    }
    key
}
