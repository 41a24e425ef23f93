//! Edits to a span made from outside its owner: through a [`crate::SpanHandle`] or
//! [`crate::CurrentSpan`] while the span itself is held elsewhere (a `RootSpan` in a server's
//! response future, a future's span while its body runs, a `tracing` span in the registry).
//! They wait in the span's live trace and are applied when the span ends.
//! Layer: span records (below live traces, which hold one [`PendingEdits`] each).
//!
//! Off the hot path: a stack span looks here at its end only if a handle was taken on it (a
//! flag in its own entry), a detached span or root reads one relaxed flag; only when edits
//! are waiting is the (parking_lot) lock taken. Bounded: at most [`MAX_PENDING_EDITS`] per trace, the rest
//! dropped and counted; edits whose span has ended already are counted dropped when the
//! trace's state goes away.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::model::data::{Link, SpanKind};
use crate::model::stats::{self, SharedCounters};
use crate::model::value::KeyValue;

/// At most this many edits wait in one trace; more are dropped (counted as dropped
/// attributes or events).
pub(crate) const MAX_PENDING_EDITS: usize = 1024;

/// One edit to a span.
#[derive(Debug)]
pub(crate) enum SpanEdit {
    Attribute(KeyValue),
    Event {
        name: Cow<'static, str>,
        attributes: Vec<KeyValue>,
        /// Unix nanoseconds when the event was added.
        time: u64,
    },
    /// `Ok(())` marks the span ok, `Err(message)` failed.
    Status(Result<(), String>),
    Name(Cow<'static, str>),
    Kind(SpanKind),
    Link(Link),
}

impl SpanEdit {
    /// Counts the edit as dropped: a dropped event, link, or (anything else) attribute.
    pub fn count_dropped(&self, c: &SharedCounters) {
        let counter = match self {
            SpanEdit::Event { .. } => &c.events_dropped,
            SpanEdit::Link(_) => &c.links_dropped,
            _ => &c.attributes_dropped,
        };
        stats::add(counter, 1);
    }
}

/// The edits waiting in one trace, by span id.
#[derive(Debug, Default)]
pub(crate) struct PendingEdits {
    any: AtomicBool,
    edits: Mutex<Vec<(u64, SpanEdit)>>,
}

impl PendingEdits {
    /// Whether any edit waits (one relaxed load).
    #[inline]
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Queues `edit` for span `span_id`. Gives the edit back when the trace already holds
    /// [`MAX_PENDING_EDITS`].
    pub fn push(&self, span_id: u64, edit: SpanEdit) -> Result<(), SpanEdit> {
        let mut edits = self.edits.lock();
        if edits.len() >= MAX_PENDING_EDITS {
            return Err(edit);
        }
        edits.push((span_id, edit));
        self.any.store(true, Ordering::Release);
        Ok(())
    }

    /// Takes the edits of span `span_id`, in the order they were made.
    #[cold]
    pub fn take(&self, span_id: u64) -> Vec<SpanEdit> {
        let mut edits = self.edits.lock();
        let mut out = Vec::new();
        let mut kept = Vec::with_capacity(edits.len());
        for (id, e) in edits.drain(..) {
            if id == span_id {
                out.push(e);
            } else {
                kept.push((id, e));
            }
        }
        if kept.is_empty() {
            self.any.store(false, Ordering::Relaxed);
        }
        *edits = kept;
        out
    }

    /// Counts what is left (edits whose span ended before they were made) as dropped.
    pub fn count_leftover(&mut self, c: &SharedCounters) {
        for (_, e) in self.edits.get_mut().drain(..) {
            e.count_dropped(c);
        }
    }
}
