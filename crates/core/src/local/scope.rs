//! Scopes on the calling thread's stack: attaching a context from elsewhere (and detaching it),
//! starting a span under a given parent, and carrying a trace frame across an `.await`
//! (`exit_scope` parks it, `enter_scope` / `unpark` restore it). Layer: the per-thread side.

use std::borrow::Cow;
use std::sync::Arc;

use crate::collect::handle::Parent;
use crate::collect::trace::TraceStart;
use crate::collect::trace::{TraceShared, hand_over};
use crate::collect::tracer_state::TracerInner;
use crate::local::frames::finish_owned_trace;
use crate::local::span_ops::{FrameKey, SpanKey, start_in_top_frame, start_trace};
use crate::local::stack::with_state;
use crate::model::stats;
use crate::util::clock;

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
        let Some(frame) = tl.pop_frames_to(i, now) else {
            return;
        };
        if frame.is_trace {
            // The trace this guard continued from a remote parent ends with it.
            finish_owned_trace(tl, frame, now);
        } else if let Some(b) = hand_over(&frame.trace, frame.batch) {
            tl.keep_spare(b);
        }
    });
}

/// Continues a remote parent on the calling thread until the returned frame is detached:
/// starts trace `t` as a trace frame that [`detach`] ends (assembled and exported).
pub(crate) fn attach_continuing(inner: &Arc<TracerInner>, t: TraceStart) -> Option<FrameKey> {
    start_trace(inner, t);
    with_state(|st| {
        let slot = st.find(inner)?;
        let tl = &st.tracers[slot];
        let index = tl.frames.len().checked_sub(1)?;
        let frame = &tl.frames[index];
        frame.is_trace.then_some(FrameKey {
            slot: slot as u32,
            index: index as u32,
            serial: frame.serial,
        })
    })
    .flatten()
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
