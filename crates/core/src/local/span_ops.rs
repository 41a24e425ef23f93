//! The hot path: what the API does to the calling thread's stack (`stack.rs`) — start and end
//! spans, set their events, status, kind and name, attach contexts from elsewhere, start and
//! pop trace frames, carry a trace frame across an `.await` (park / restore) — plus movable
//! spans joining the thread's batch when they end here. Layer: with the per-thread stack.
//!
//! Starting a span: find the frame, take an id from the thread's generator, read the clock,
//! fill the next open entry. Ending it: read the clock, append a 64-byte record and the guard's
//! attributes to its frame's batch, pop the entry. No lock, no atomic read-modify-write; the
//! only shared writes are the owner-only counters in `ThreadCounters`.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use crate::collect::handle::{Parent, SpanHandle};
use crate::collect::trace::{TraceShared, TraceStart, hand_over};
use crate::collect::tracer_state::TracerInner;
use crate::local::stack::{
    Frame, GuardAttrs, OpenSpan, TracerLocal, UNSAMPLED_TOP, push_detached, set_entry_name,
    with_state,
};
use crate::model::data::SpanKind;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::stats::{self, owner_add};
use crate::model::value::KeyValue;
use crate::record::batch::{Extras, RawSpan, STATUS_ERROR, STATUS_OK, STATUS_UNSET, kind_to_u8};
use crate::record::pending_edits::SpanEdit;
use crate::record::recorder::Recorder;
use crate::util::clock;
use crate::util::rng;

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
    /// `max_attribute_key_len`, for the guard.
    pub max_key_len: u32,
    /// `max_array_len`, for the guard.
    pub max_array_len: u32,
}

/// Identifies an attached frame for its guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameKey {
    pub slot: u32,
    pub index: u32,
    pub serial: u64,
}

/// What a guard counted while collecting attributes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GuardCounts {
    pub dropped: u32,
    pub truncated: u32,
    pub keys_truncated: u32,
}

// ---------------------------------------------------------------------------------------------
// Trace frames (`start_trace` / `end_trace`).

/// Starts a trace on the calling thread (a trace frame). Evicts the thread's oldest trace
/// frame first when it holds `max_traces_per_thread`.
pub(crate) fn start_trace(inner: &Arc<TracerInner>, mut t: TraceStart) -> TraceId {
    let now = clock::now();
    t.start = now;
    let trace_id = t.trace_id;
    let parent = t.remote_parent.map_or(0, SpanId::to_u64);
    // Without thread state (thread teardown) nothing is recorded; the id is still returned.
    with_state(|st| {
        let slot = st.slot(inner);
        let tl = &mut st.tracers[slot];
        tl.evict_oldest_trace(inner.limits.max_traces_per_thread, now);
        let trace = TraceShared::new(Arc::clone(&tl.tref), t);
        owner_add(&tl.counters.traces_started, 1);
        if !trace.is_sampled() {
            owner_add(&tl.counters.traces_unsampled, 1);
        }
        st.push_frame(inner, trace, parent, true);
    });
    trace_id
}

/// Pops the calling thread's innermost trace frame (closing its open spans as unfinished and
/// handing over any attached frames above it). The caller assembles the trace, ending it at
/// the returned raw time (the end of the spans closed here).
pub(crate) fn pop_trace_frame(inner: &Arc<TracerInner>) -> Option<(Frame, u64)> {
    let now = clock::now();
    with_state(|st| {
        let slot = st.find(inner)?;
        let tl = &mut st.tracers[slot];
        let idx = tl.frames.iter().rposition(|f| f.is_trace)?;
        tl.pop_frames_to(idx, now).map(|f| (f, now))
    })
    .flatten()
}

/// Counts a trace assembled on this thread, and gives its batch back for reuse.
pub(crate) fn count_trace_end(
    inner: &Arc<TracerInner>,
    delivered: u64,
    batch: crate::record::batch::Batch,
) {
    let counted = with_state(|st| {
        let slot = st.slot(inner);
        let tl = &mut st.tracers[slot];
        tl.keep_spare(batch);
        owner_add(&tl.counters.traces_ended, 1);
        owner_add(&tl.counters.delivered, delivered);
    });
    if counted.is_none() {
        stats::add(&inner.counters.traces_ended, 1);
        stats::add(&inner.counters.delivered, delivered);
    }
}

// ---------------------------------------------------------------------------------------------
// Spans on the stack.

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
        start_in_top_frame(&mut st.tracers[slot], &mut st.ident.rng, slot, name, false)
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
    let index = tl.open_len;
    if index >= tl.max_depth {
        stats::add(&tl.inner.counters.depth_limited, 1);
        return None;
    }
    let parent_id = tl.current_parent(frame);
    let span_id = rng::step(rng_state).get();
    if index == tl.open.len() {
        tl.open.push(OpenSpan::default());
    }
    let e = &mut tl.open[index];
    e.span_id = span_id;
    e.parent_id = parent_id;
    e.frame = frame_idx as u32;
    match name {
        // Static names come from the program, not from input: only owned names are limited.
        Cow::Borrowed(n) => e.name = n,
        n => set_entry_name(e, n, &tl.inner),
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
        max_key_len: tl.max_key_len,
        max_array_len: tl.max_array_len,
    })
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
        if tl
            .frames
            .get(tl.open[i].frame as usize)
            .is_some_and(|f| f.trace.edits.any())
        {
            apply_pending_edits(tl, i);
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
        if counts.keys_truncated > 0 {
            stats::add(
                &tl.inner.counters.keys_truncated,
                u64::from(counts.keys_truncated),
            );
        }
        let frame_idx = tl.open[i].frame as usize;
        let owns_frame = tl.open[i].owns_frame;
        tl.record(i, end, false, attrs);
        owner_add(&tl.counters.finished, 1);
        if i + 1 == tl.open_len {
            tl.open_len -= 1;
            tl.trim_open();
        }
        if owns_frame {
            end_owned_frame(tl, frame_idx, end);
        } else if tl
            .frames
            .get(frame_idx)
            .is_some_and(|f| f.release_when_empty)
        {
            tl.release_empty_frames();
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

/// Applies the edits made through handles to open entry `i` (about to be recorded).
#[cold]
fn apply_pending_edits(tl: &mut TracerLocal, i: usize) {
    let Some(frame) = tl.frames.get(tl.open[i].frame as usize) else {
        return;
    };
    let edits = frame.trace.edits.take(tl.open[i].span_id);
    let inner = Arc::clone(&tl.inner);
    for edit in edits {
        apply_edit(&mut tl.open[i], &inner, edit);
    }
}

/// Applies one edit to an open stack entry, within the tracer's limits. Attributes wait in
/// the entry's extras and join the guard's when the span is recorded.
pub(crate) fn apply_edit(e: &mut OpenSpan, inner: &TracerInner, edit: SpanEdit) {
    let rec = Recorder {
        limits: &inner.limits,
        counters: &inner.counters,
    };
    match edit {
        SpanEdit::Attribute(mut kv) => {
            let x = e.extras();
            if x.attrs.len() < inner.limits.max_attributes_per_span {
                rec.attribute(&mut kv);
                x.attrs.push(kv);
            } else {
                x.dropped_attributes += 1;
                stats::add(&inner.counters.attributes_dropped, 1);
            }
        }
        SpanEdit::Event {
            name,
            attributes,
            time,
        } => {
            let x = e.extras();
            match rec.event(x.events.len(), name, attributes, time) {
                Some(ev) => x.events.push(ev),
                None => x.dropped_events += 1,
            }
        }
        SpanEdit::Status(Ok(())) => {
            e.status = STATUS_OK;
            if let Some(x) = &mut e.extras {
                x.error = None;
            }
        }
        SpanEdit::Status(Err(m)) => {
            e.status = STATUS_ERROR;
            e.extras().error = Some(rec.message(m));
        }
        SpanEdit::Name(n) => set_entry_name(e, n, inner),
        SpanEdit::Kind(k) => e.kind = kind_to_u8(k),
    }
}

/// Applies `edit` to open span `key` (a span on this thread's stack); `false` if it is not
/// open any more.
pub(crate) fn edit_open(key: SpanKey, edit: SpanEdit) -> bool {
    let mut edit = Some(edit);
    with_open(key, |e, inner| {
        if let Some(edit) = edit.take() {
            apply_edit(e, inner, edit);
        }
    })
    .is_some()
}

/// What the innermost current span of this thread is, for [`crate::CurrentSpan`]: an open
/// entry of the top frame, or (none open) the attached frame's parent, held elsewhere.
pub(crate) enum CurrentTarget {
    Stack(SpanKey),
    Held(SpanHandle),
}

pub(crate) fn current_target(inner: &Arc<TracerInner>) -> Option<CurrentTarget> {
    with_state(|st| {
        let slot = st.find(inner)?;
        let tl = &st.tracers[slot];
        let frame = tl.frames.last()?;
        if !frame.sampled {
            return None;
        }
        if tl.open_len > frame.open_base {
            let i = tl.open_len - 1;
            let e = &tl.open[i];
            if !e.ended {
                return Some(CurrentTarget::Stack(SpanKey {
                    slot: slot as u32,
                    index: i as u32,
                    span_id: e.span_id,
                    max_attrs: tl.max_attrs,
                    max_value_len: tl.max_value_len,
                    max_key_len: tl.max_key_len,
                    max_array_len: tl.max_array_len,
                }));
            }
        }
        if frame.is_trace {
            return None;
        }
        let id = SpanId::from_u64(frame.parent)?;
        Some(CurrentTarget::Held(SpanHandle::new(
            Arc::clone(&frame.trace),
            id,
            false,
        )))
    })
    .flatten()
}

/// The span that owned attached frame `idx` (`start_span_with_parent`) ended: pop the frame,
/// or — while spans it parents are still open — let the last of them pop it, so they end whole
/// (as they would on the trace's own thread).
#[cold]
fn end_owned_frame(tl: &mut TracerLocal, idx: usize, end: u64) {
    let Some(frame) = tl.frames.get_mut(idx) else {
        return;
    };
    if tl.open_len > frame.open_base {
        frame.release_when_empty = true;
        return;
    }
    if let Some(frame) = tl.pop_frames_to(idx, end)
        && let Some(b) = hand_over(&frame.trace, frame.batch)
    {
        tl.keep_spare(b);
    }
    tl.release_empty_frames();
}

/// Records a finished movable span into the calling thread's frame of the same trace, if it
/// has one (the cheap path). Gives the parts back otherwise.
#[allow(clippy::type_complexity)]
pub(crate) fn record_detached(
    trace: &Arc<TraceShared>,
    raw: RawSpan,
    attrs: Vec<KeyValue>,
    extras: Option<Extras>,
) -> Option<(RawSpan, Vec<KeyValue>, Option<Extras>)> {
    let inner = &trace.tracer.0;
    let mut parts = Some((attrs, extras));
    with_state(|st| {
        let slot = st.find(inner)?;
        let tl = &mut st.tracers[slot];
        let idx = tl
            .frames
            .iter()
            .rposition(|f| Arc::ptr_eq(&f.trace, trace))?;
        let (attrs, extras) = parts.take()?;
        push_detached(&mut tl.frames[idx], raw, attrs, extras);
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
    edit_open(
        key,
        SpanEdit::Event {
            name,
            attributes,
            time,
        },
    );
}

pub(crate) fn set_status(key: SpanKey, ok: bool, message: Option<String>) {
    let status = if ok {
        Ok(())
    } else {
        Err(message.unwrap_or_default())
    };
    edit_open(key, SpanEdit::Status(status));
}

pub(crate) fn set_kind(key: SpanKey, kind: SpanKind) {
    edit_open(key, SpanEdit::Kind(kind));
}

pub(crate) fn set_name(key: SpanKey, name: Cow<'static, str>) {
    edit_open(key, SpanEdit::Name(name));
}

/// The context of open span `key`.
pub(crate) fn span_context(key: SpanKey) -> Option<SpanContext> {
    with_open_frame(key, |trace, id| trace.context(id, false))
}

/// A handle on open span `key` that joins its live trace.
pub(crate) fn span_handle(key: SpanKey) -> Option<SpanHandle> {
    with_open_frame(key, |trace, id| {
        SpanHandle::new(Arc::clone(trace), id, false)
    })
}

fn with_open_frame<R>(key: SpanKey, f: impl FnOnce(&Arc<TraceShared>, SpanId) -> R) -> Option<R> {
    with_state(|st| {
        let tl = st.tracers.get(key.slot as usize)?;
        let i = key.index as usize;
        let e = tl
            .open
            .get(i)
            .filter(|e| i < tl.open_len && e.span_id == key.span_id && !e.ended)?;
        let frame = tl.frames.get(e.frame as usize)?;
        Some(f(&frame.trace, SpanId::from_u64(e.span_id)?))
    })
    .flatten()
}

/// What the calling thread's current frame says.
pub(crate) struct Current {
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    /// The innermost open span, or the attached parent.
    pub span_id: Option<SpanId>,
    /// Filled only when a context was asked for (no clone for `trace_id()`).
    pub handle: Option<SpanHandle>,
    /// Filled only when a context was asked for.
    pub trace_state: Option<String>,
}

/// The calling thread's current live trace and the parent a span started now would get: what
/// a movable span needs, without building a context.
pub(crate) fn current_trace(inner: &Arc<TracerInner>) -> Option<(Arc<TraceShared>, u64)> {
    with_state(|st| {
        let tl = &st.tracers[st.find(inner)?];
        let frame = tl.frames.last()?;
        Some((Arc::clone(&frame.trace), tl.current_parent(frame)))
    })
    .flatten()
}

/// Whether the calling thread is working in a trace of this tracer (one thread-local read).
pub(crate) fn has_trace(inner: &Arc<TracerInner>) -> bool {
    with_state(|st| {
        st.find(inner)
            .is_some_and(|i| !st.tracers[i].frames.is_empty())
    })
    .unwrap_or(false)
}

pub(crate) fn current(inner: &Arc<TracerInner>, want_context: bool) -> Option<Current> {
    with_state(|st| {
        let slot = st.find(inner)?;
        let tl = &st.tracers[slot];
        let frame = tl.frames.last()?;
        let open = if tl.open_len > frame.open_base {
            Some(tl.open[tl.open_len - 1].span_id)
        } else {
            None
        };
        let span = open.or(if frame.is_trace {
            None
        } else {
            Some(frame.parent)
        });
        let span_id = span.and_then(SpanId::from_u64);
        let trace = &frame.trace;
        let context = if want_context {
            match span_id {
                Some(id) => Some(SpanHandle::new(Arc::clone(trace), id, false)),
                None => {
                    // No span open: propagate the remote parent (or, unsampled, a stand-in id).
                    let remote = trace.remote_parent_id();
                    let id = match (frame.sampled, remote) {
                        (true, Some(p)) => p,
                        _ => trace.placeholder,
                    };
                    Some(SpanHandle::new(
                        Arc::clone(trace),
                        id,
                        frame.sampled && remote.is_some(),
                    ))
                }
            }
        } else {
            None
        };
        Some(Current {
            trace_id: trace.trace_id,
            flags: trace.flags,
            span_id,
            handle: context,
            trace_state: if want_context {
                trace.trace_state.clone()
            } else {
                None
            },
        })
    })
    .flatten()
}

// ---------------------------------------------------------------------------------------------
// Attached frames: a context from elsewhere made current here.

/// Pushes an attached frame joining `parent`'s live trace. `None` if `parent` is not a handle
/// on a live trace of this tracer.
pub(crate) fn attach(inner: &Arc<TracerInner>, parent: Parent<'_>) -> Option<FrameKey> {
    let trace = parent.live()?;
    if !Arc::ptr_eq(&trace.tracer.0, inner) {
        return None;
    }
    attach_trace(inner, Arc::clone(trace), parent.context().span_id.to_u64())
}

fn attach_trace(
    inner: &Arc<TracerInner>,
    trace: Arc<TraceShared>,
    parent: u64,
) -> Option<FrameKey> {
    with_state(|st| {
        let (slot, serial) = st.push_frame(inner, trace, parent, false);
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
        let Some(i) = tl.frame_index(key.index as usize, key.serial) else {
            return;
        };
        if let Some(frame) = tl.pop_frames_to(i, now)
            && let Some(b) = hand_over(&frame.trace, frame.batch)
        {
            tl.keep_spare(b);
        }
    });
}

/// Attaches `parent` and starts a span in it that detaches when it ends.
pub(crate) fn start_span_with_parent(
    inner: &Arc<TracerInner>,
    name: Cow<'static, str>,
    parent: Parent<'_>,
) -> Option<SpanKey> {
    let Some(frame) = attach(inner, parent) else {
        stats::add(&inner.counters.without_trace, 1);
        return None;
    };
    let key = with_state(|st| {
        let tl = st.tracers.get_mut(frame.slot as usize)?;
        start_in_top_frame(tl, &mut st.ident.rng, frame.slot as usize, name, true)
    })
    .flatten();
    if key.is_none() {
        detach(frame);
    }
    key
}

// ---------------------------------------------------------------------------------------------
// Carrying a thread's trace frame across an `.await`.

/// Trace frames taken off a thread while the future that was running in them waits: the one
/// right below the future's scope (a request that called `start_trace` and then awaited the
/// future) and those the future started inside its scope and has not ended yet.
pub(crate) struct Parked {
    below: Option<Arc<TraceShared>>,
    above: Vec<Arc<TraceShared>>,
}

/// Enters a poll scope: attaches span `parent` of `trace`, with parked trace frames (if any)
/// put back around it.
pub(crate) fn enter_scope(
    trace: &Arc<TraceShared>,
    parent: u64,
    parked: Option<Parked>,
) -> Option<FrameKey> {
    let inner = &trace.tracer.0;
    let Some(p) = parked else {
        return attach_trace(inner, Arc::clone(trace), parent);
    };
    if let Some(t) = p.below {
        restore(inner, t);
    }
    let key = attach_trace(inner, Arc::clone(trace), parent);
    for t in p.above {
        restore(inner, t);
    }
    key
}

/// Puts parked trace frames back on the calling thread without entering a scope: a future
/// dropped before it finished (a `select!` branch that lost, a timeout) gives back the
/// traces it carried, to the code that dropped it.
pub(crate) fn unpark(p: Parked) {
    for t in p.below.into_iter().chain(p.above) {
        let inner = Arc::clone(&t.tracer.0);
        restore(&inner, t);
    }
}

fn restore(inner: &Arc<TracerInner>, trace: Arc<TraceShared>) {
    let parent = trace.remote_parent;
    with_state(|st| {
        let slot = st.slot(inner);
        st.tracers[slot].evict_oldest_trace(inner.limits.max_traces_per_thread, clock::now());
        st.push_frame(inner, trace, parent, true);
    });
}

/// Leaves a poll scope. When the future is not finished (`pending`), trace frames started with
/// `start_trace` that belong to it leave the thread with it — the one right below its scope
/// if it is the scope's own trace (a request that called `start_trace` and is now waiting at
/// an `.await`), and those started inside the scope — provided they have no open spans on the
/// stack. Their spans so far are handed over; another task running on this thread meanwhile
/// can neither end them nor add to them, and the future puts them back wherever it is polled
/// next.
pub(crate) fn exit_scope(key: FrameKey, pending: bool) -> Option<Parked> {
    let now = clock::now();
    with_state(|st| {
        let tl = st.tracers.get_mut(key.slot as usize)?;
        let i = tl.frame_index(key.index as usize, key.serial)?;
        let mut above = Vec::new();
        if pending {
            for k in i + 1..tl.frames.len() {
                let f = &tl.frames[k];
                let end = tl.frames.get(k + 1).map_or(tl.open_len, |n| n.open_base);
                let has_open = tl.open[f.open_base..end].iter().any(|e| !e.ended);
                if f.is_trace && !has_open {
                    above.push(Arc::clone(&f.trace));
                }
            }
        }
        let frame = tl.pop_frames_to(i, now)?;
        let scope_trace = Arc::clone(&frame.trace);
        if let Some(b) = hand_over(&frame.trace, frame.batch) {
            tl.keep_spare(b);
        }
        if !pending {
            return None;
        }
        let mut below = None;
        if let Some(f) = tl.frames.last()
            && f.is_trace
            && Arc::ptr_eq(&f.trace, &scope_trace)
            && tl.open_len <= f.open_base
        {
            let idx = tl.frames.len() - 1;
            if let Some(f) = tl.pop_frames_to(idx, now) {
                if let Some(b) = hand_over(&f.trace, f.batch) {
                    tl.keep_spare(b);
                }
                below = Some(f.trace);
            }
        }
        let n = above.len() as u64 + u64::from(below.is_some());
        if n == 0 {
            return None;
        }
        stats::add(&tl.inner.counters.traces_parked, n);
        Some(Parked { below, above })
    })
    .flatten()
}

/// This thread's handle on `inner` for a trace it starts (no shared reference count touched).
pub(crate) fn thread_tracer_ref(
    inner: &Arc<TracerInner>,
) -> Arc<crate::collect::tracer_state::TracerRef> {
    with_state(|st| {
        let slot = st.slot(inner);
        Arc::clone(&st.tracers[slot].tref)
    })
    .unwrap_or_else(|| Arc::new(crate::collect::tracer_state::TracerRef(Arc::clone(inner))))
}
