//! The hot path: what the API does to the calling thread's stack (`stack.rs`) to start and end
//! spans and to start and pop trace frames, plus detached spans joining the thread's batch
//! when they end here. Layer: the per-thread side. Edits and lookups on open spans are in
//! `edit.rs`; attaching contexts and carrying a frame across an `.await` in `scope.rs`.
//!
//! Starting a span: find the frame, take an id from the thread's generator, read the clock,
//! fill the next open entry. Ending it: read the clock, append a 64-byte record and the guard's
//! attributes to its frame's batch, pop the entry. No lock, no atomic read-modify-write; the
//! only shared writes are the owner-only counters in `ThreadCounters`.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use crate::collect::trace::{TraceShared, TraceStart, hand_over};
use crate::collect::tracer_state::TracerInner;
use crate::local::edit::apply_edit;
use crate::local::frames::finish_owned_trace;
use crate::local::stack::{
    Frame, GuardAttrs, OpenSpan, TracerLocal, UNSAMPLED_TOP, record_into, set_entry_name,
    with_state,
};
use crate::model::ids::{SpanId, TraceId};
use crate::model::stats::{self, owner_add};
use crate::model::value::KeyValue;
use crate::record::batch::{Extras, RawSpan, STATUS_ERROR, STATUS_UNSET};
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

/// Continues a remote parent on the calling thread: starts trace `t` (a trace frame) and in it
/// a span that owns the frame, so the trace ends when the span does. When no span starts (the
/// trace is unsampled, or the stack is full), the frame is popped again at once, the trace
/// counted ended.
pub(crate) fn start_span_continuing(
    inner: &Arc<TracerInner>,
    t: TraceStart,
    name: Cow<'static, str>,
) -> Option<SpanKey> {
    start_trace(inner, t);
    with_state(|st| {
        let slot = st.find(inner)?;
        let key = start_in_top_frame(&mut st.tracers[slot], &mut st.ident.rng, slot, name, true);
        if key.is_none() {
            let tl = &mut st.tracers[slot];
            let idx = tl.frames.len().checked_sub(1)?;
            if tl.frames[idx].is_trace
                && let Some(frame) = tl.pop_frames_to(idx, clock::now())
            {
                finish_owned_trace(tl, frame, clock::now());
            }
        }
        key
    })
    .flatten()
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
pub(crate) fn start_in_top_frame(
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
    e.handle_taken = false;
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
        let frame_idx = tl.open[i].frame as usize;
        let owns_frame = tl.open[i].owns_frame;
        let handle_taken = tl.open[i].handle_taken;
        let limits_hit = counts.dropped | counts.truncated | counts.keys_truncated != 0;
        // One look at the span's frame: record into it, and read what happens next.
        let (release, flush) = {
            let TracerLocal {
                open,
                frames,
                inner,
                ..
            } = &mut *tl;
            let e = &mut open[i];
            match frames.get_mut(frame_idx) {
                Some(frame) => {
                    // One branch for every rare case (edits may wait, a panic, limits hit).
                    if handle_taken | panicking | limits_hit {
                        before_record(e, Some(&frame.trace), inner, panicking, counts);
                    }
                    record_into(e, frame, inner, end, false, attrs);
                    (frame.release_when_empty, frame.batch.len())
                }
                None => {
                    before_record(e, None, inner, panicking, counts);
                    e.ended = true;
                    (false, 0)
                }
            }
        };
        owner_add(&tl.counters.finished, 1);
        if i + 1 == tl.open_len {
            tl.open_len = i;
            // The common case needs no trimming: the span was the top entry of the top frame
            // and the entry below it is open (so no tombstones, no frame range emptied).
            let below_open = i.checked_sub(1).is_none_or(|b| !tl.open[b].ended);
            if !(below_open && frame_idx + 1 == tl.frames.len()) {
                tl.trim_open();
            }
        }
        if owns_frame {
            end_owned_frame(tl, frame_idx, end);
        } else if release {
            tl.release_empty_frames();
        } else if tl.has_exporter || flush >= tl.batch_size {
            tl.maybe_flush(frame_idx, end);
        }
    });
}

/// The rare work before a span is recorded: edits made through handles (waiting in `trace`),
/// the panic status (after the edits: a panic wins), and the counts of what the limits cut.
#[cold]
#[inline(never)]
fn before_record(
    e: &mut OpenSpan,
    trace: Option<&TraceShared>,
    inner: &TracerInner,
    panicking: bool,
    counts: GuardCounts,
) {
    if let Some(trace) = trace.filter(|t| t.edits.any()) {
        for edit in trace.edits.take(e.span_id) {
            apply_edit(e, inner, edit);
        }
    }
    if panicking && e.status != STATUS_ERROR {
        e.status = STATUS_ERROR;
        e.extras().error = Some("panicked".to_owned());
    }
    if counts.dropped > 0 {
        e.extras().dropped_attributes += counts.dropped;
        stats::add(
            &inner.counters.attributes_dropped,
            u64::from(counts.dropped),
        );
    }
    if counts.truncated > 0 {
        stats::add(
            &inner.counters.values_truncated,
            u64::from(counts.truncated),
        );
    }
    if counts.keys_truncated > 0 {
        stats::add(
            &inner.counters.keys_truncated,
            u64::from(counts.keys_truncated),
        );
    }
}

/// The span that owned frame `idx` (`start_span_with_parent`) ended. An attached frame is popped
/// or — while spans it parents are still open — let the last of them pop it, so they end whole
/// (as they would on the trace's own thread).
#[cold]
fn end_owned_frame(tl: &mut TracerLocal, idx: usize, end: u64) {
    let Some(frame) = tl.frames.get_mut(idx) else {
        return;
    };
    if frame.is_trace {
        // A trace this span continued from a remote parent: it ends with the span, like a
        // root (spans it parents that are still open are closed unfinished).
        if let Some(frame) = tl.pop_frames_to(idx, end) {
            finish_owned_trace(tl, frame, end);
        }
        return;
    }
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

/// Records a finished detached span into the calling thread's frame of the same trace, if it
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

/// Appends a detached span that ended on this thread to `frame`'s batch.
pub(crate) fn push_detached(
    frame: &mut Frame,
    mut raw: RawSpan,
    attrs: Vec<KeyValue>,
    extras: Option<Extras>,
) {
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
}
