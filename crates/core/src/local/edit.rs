//! Edits and lookups on the calling thread's open spans: events, status, kind and name of a
//! span on the stack (or, through its trace's pending edits, of a span held elsewhere), the
//! current span and trace, and the contexts and handles of open spans. Layer: the per-thread side.

use std::borrow::Cow;
use std::sync::Arc;

use crate::collect::handle::SpanHandle;
use crate::collect::trace::TraceShared;
use crate::collect::tracer_state::TracerInner;
use crate::local::span_ops::SpanKey;
use crate::local::stack::{OpenSpan, set_entry_name, with_state};
use crate::model::data::SpanKind;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::stats;
use crate::model::value::KeyValue;
use crate::record::batch::{STATUS_ERROR, STATUS_OK, kind_to_u8};
use crate::record::pending_edits::SpanEdit;
use crate::record::recorder::Recorder;
use crate::util::clock;

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
        SpanEdit::Link(link) => {
            let x = e.extras();
            match rec.link(x.links.len(), link) {
                Some(l) => x.links.push(l),
                None => x.dropped_links += 1,
            }
        }
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
    with_open_frame(key, false, |trace, id| trace.context(id, false))
}

/// A handle on open span `key` that joins its live trace.
pub(crate) fn span_handle(key: SpanKey) -> Option<SpanHandle> {
    with_open_frame(key, true, |trace, id| {
        SpanHandle::new(Arc::clone(trace), id, false)
    })
}

fn with_open_frame<R>(
    key: SpanKey,
    take_handle: bool,
    f: impl FnOnce(&Arc<TraceShared>, SpanId) -> R,
) -> Option<R> {
    with_state(|st| {
        let tl = st.tracers.get_mut(key.slot as usize)?;
        let i = key.index as usize;
        let open_len = tl.open_len;
        let e = tl
            .open
            .get_mut(i)
            .filter(|e| i < open_len && e.span_id == key.span_id && !e.ended)?;
        let frame = tl.frames.get(e.frame as usize)?;
        e.handle_taken |= take_handle;
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
/// a detached span needs, without building a context.
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
        let tl = &mut st.tracers[slot];
        let frame = tl.frames.last()?;
        let open = if tl.open_len > frame.open_base {
            let top = &mut tl.open[tl.open_len - 1];
            // A handle on it is being made: its end must look for edits made through it.
            top.handle_taken |= want_context;
            Some(top.span_id)
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
