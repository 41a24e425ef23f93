//! The hot path's record format: [`RawSpan`] (64 bytes, no heap) and the [`Batch`] a thread
//! fills for one trace and hands over whole; plus the conversion to [`SpanData`] that runs off
//! the hot path.
//!
//! A batch keeps attributes in one flat `Vec` (each span owns a contiguous range, copied in
//! when the span ends) and the rare extras (owned names, events, error messages, dropped
//! counts) in another, so a span with a static name and a few attributes costs no allocation
//! once the batch's vectors have grown to their working size. Batches are recycled.

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::data::{Event, Link, SpanData, SpanKind, StatusCode};
use crate::model::ids::{SpanId, TraceFlags, TraceId};
use crate::model::value::{KeyValue, Value};
use crate::util::clock;

/// Status byte values in [`RawSpan::status`].
pub(crate) const STATUS_UNSET: u8 = 0;
pub(crate) const STATUS_OK: u8 = 1;
pub(crate) const STATUS_ERROR: u8 = 2;
/// Flag bit in [`RawSpan::status`]: the span was closed by its trace's end.
pub(crate) const FLAG_UNFINISHED: u8 = 0x80;

/// No extras.
pub(crate) const NO_EXTRAS: u32 = u32::MAX;

/// One finished span as the hot path stores it. 64 bytes (checked by a test).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawSpan {
    pub span_id: u64,
    /// Zero for a root.
    pub parent_id: u64,
    /// Raw clock ticks (see [`crate::util::clock`]).
    pub start: u64,
    pub end: u64,
    /// The name when it is static; owned names live in the extras.
    pub name: &'static str,
    /// First attribute in [`Batch::attrs`].
    pub attr_start: u32,
    /// Index in [`Batch::extras`], or [`NO_EXTRAS`].
    pub extras: u32,
    pub attr_len: u16,
    pub kind: u8,
    /// `STATUS_*`, plus [`FLAG_UNFINISHED`].
    pub status: u8,
}

/// What a span rarely has: kept out of [`RawSpan`] so the common record stays small.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extras {
    pub name: Option<Cow<'static, str>>,
    pub events: Vec<Event>,
    pub error: Option<String>,
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    /// Attributes set on a stack span from outside its guard ([`crate::CurrentSpan`]),
    /// appended to the guard's when the span is recorded.
    pub attrs: Vec<KeyValue>,
    /// Links to other spans, and how many the limit dropped.
    pub links: Vec<Link>,
    pub dropped_links: u32,
    /// Explicit start and end (Unix nanoseconds) of a span imported from elsewhere, which
    /// replace the recorded clock readings.
    pub start_unix: Option<u64>,
    pub end_unix: Option<u64>,
}

/// What a batch's spans share: their trace's id and flags, the remote parent (if the trace
/// continues another service's), so each span can say whether its parent is remote, and the
/// trace-level attributes, which the trace's local roots carry (so that streamed spans and
/// whole traces say the same thing).
#[derive(Clone, Debug)]
pub(crate) struct TraceKey {
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    /// Zero when the trace has no remote parent.
    pub remote_parent: u64,
    /// Trace-level attributes (`None` when there are none: no reference count to touch).
    pub attributes: Option<Arc<[KeyValue]>>,
}

/// Finished spans of one trace from one thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct Batch {
    pub spans: Vec<RawSpan>,
    pub attrs: Vec<KeyValue>,
    pub extras: Vec<Extras>,
    pub thread_id: u64,
    pub thread_name: Option<&'static str>,
}

impl Batch {
    pub fn with_capacity(spans: usize, thread_id: u64, thread_name: Option<&'static str>) -> Self {
        Batch {
            spans: Vec::with_capacity(spans),
            attrs: Vec::with_capacity(spans * 2),
            extras: Vec::new(),
            thread_id,
            thread_name,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Empties the batch, keeping its capacity.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.attrs.clear();
        self.extras.clear();
    }

    /// What the batch holds in memory, roughly: its vectors' capacity plus the heap bytes of
    /// owned strings, arrays and events. Deterministic for an unchanged batch, so a gauge can
    /// add it when the batch is queued and subtract the same when it leaves.
    pub fn approx_bytes(&self) -> u64 {
        use std::mem::size_of;
        let mut n = size_of::<Batch>()
            + self.spans.capacity() * size_of::<RawSpan>()
            + self.attrs.capacity() * size_of::<KeyValue>()
            + self.extras.capacity() * size_of::<Extras>();
        for kv in &self.attrs {
            n += kv_heap(kv);
        }
        for x in &self.extras {
            n += x.name.as_ref().map_or(0, owned_len);
            n += x.error.as_ref().map_or(0, String::capacity);
            n += x.events.capacity() * size_of::<Event>();
            for e in &x.events {
                n += owned_len(&e.name) + e.attributes.capacity() * size_of::<KeyValue>();
                n += e.attributes.iter().map(kv_heap).sum::<usize>();
            }
            n += x.links.capacity() * size_of::<Link>();
            for l in &x.links {
                n += l.attributes.capacity() * size_of::<KeyValue>();
                n += l.attributes.iter().map(kv_heap).sum::<usize>();
            }
        }
        n as u64
    }

    /// Moves the spans into a batch of exactly their size, leaving `self` empty with its
    /// capacity (to be reused): what waits in a queue costs what it holds, not what the
    /// thread's buffer had grown to.
    pub fn compacted(&mut self) -> Batch {
        Batch {
            spans: self.spans.drain(..).collect(),
            attrs: self.attrs.drain(..).collect(),
            extras: self.extras.drain(..).collect(),
            thread_id: self.thread_id,
            thread_name: self.thread_name,
        }
    }

    /// Whether the batch's buffers are much larger than its contents.
    pub fn is_sparse(&self) -> bool {
        self.spans.capacity() > 2 * self.spans.len() + 4
            || self.attrs.capacity() > 2 * self.attrs.len() + 8
    }

    /// Keeps only the first `n` spans (their attributes and extras stay behind, unreferenced,
    /// until the batch is cleared).
    pub fn truncate(&mut self, n: usize) {
        self.spans.truncate(n);
    }

    /// Moves every span out as [`SpanData`] of trace `trace_id` into `out` (the batch's
    /// attributes and extras are taken, not cloned; clear the batch afterwards).
    pub fn convert_into(&mut self, key: &TraceKey, out: &mut Vec<SpanData>) {
        out.reserve(self.spans.len());
        for i in 0..self.spans.len() {
            out.push(self.convert(i, key));
        }
    }

    /// Moves span `i` out as [`SpanData`] of the trace `key`. Each span is converted once.
    #[inline(always)]
    pub fn convert(&mut self, i: usize, key: &TraceKey) -> SpanData {
        let raw = self.spans[i];
        let mut start = clock::to_unix_nanos(raw.start);
        let mut end = clock::to_unix_nanos(raw.end);
        let a = raw.attr_start as usize;
        // Local roots carry the trace-level attributes (checked only when there are some).
        let trace_attrs: &[KeyValue] = match &key.attributes {
            Some(t) if raw.parent_id == 0 || raw.parent_id == key.remote_parent => t,
            _ => &[],
        };
        let take = |kv: &mut KeyValue| {
            std::mem::replace(
                kv,
                KeyValue {
                    key: Cow::Borrowed(""),
                    value: Value::Bool(false),
                },
            )
        };
        let n = raw.attr_len as usize;
        let own = self.attrs.get_mut(a..a + n);
        let attributes = match (trace_attrs.is_empty(), own) {
            // Most spans have no attributes: no collect machinery for them.
            (true, _) if n == 0 => Vec::new(),
            (true, Some(range)) => range.iter_mut().map(take).collect(),
            (true, None) => Vec::new(),
            (false, range) => {
                let range = range.unwrap_or_default();
                let mut v = Vec::with_capacity(trace_attrs.len() + range.len());
                v.extend_from_slice(trace_attrs);
                v.extend(range.iter_mut().map(take));
                v
            }
        };
        // Most spans have no extras: build nothing for them (no default `Extras` to drop).
        let (name, x) = match self.extras.get_mut(raw.extras as usize) {
            Some(x) => {
                let mut x = std::mem::take(x);
                (x.name.take().unwrap_or(Cow::Borrowed(raw.name)), Some(x))
            }
            None => (Cow::Borrowed(raw.name), None),
        };
        if let Some(x) = &x {
            start = x.start_unix.unwrap_or(start);
            end = x.end_unix.unwrap_or(end);
        }
        let end = end.max(start);
        let (events, links, error, dropped) = match x {
            Some(x) => (
                x.events,
                x.links,
                x.error,
                (x.dropped_attributes, x.dropped_events, x.dropped_links),
            ),
            None => (Vec::new(), Vec::new(), None, (0, 0, 0)),
        };
        SpanData {
            name,
            trace_id: key.trace_id,
            trace_flags: key.flags,
            parent_is_remote: raw.parent_id != 0 && raw.parent_id == key.remote_parent,
            // Span ids are created from non-zero values; fall back defensively.
            span_id: SpanId::from_u64(raw.span_id).unwrap_or_else(SpanId::random),
            parent_id: SpanId::from_u64(raw.parent_id),
            kind: kind_from_u8(raw.kind),
            start_unix_nanos: start,
            end_unix_nanos: end,
            attributes,
            events,
            links,
            status: match raw.status & !FLAG_UNFINISHED {
                STATUS_OK => StatusCode::Ok,
                STATUS_ERROR => StatusCode::Error,
                _ => StatusCode::Unset,
            },
            error,
            thread_id: self.thread_id,
            thread_name: self.thread_name.map(Cow::Borrowed),
            dropped_attributes_count: dropped.0,
            dropped_events_count: dropped.1,
            dropped_links_count: dropped.2,
            unfinished: raw.status & FLAG_UNFINISHED != 0,
        }
    }
}

#[allow(clippy::ptr_arg)] // whether it is owned is the point
fn owned_len(c: &Cow<'static, str>) -> usize {
    match c {
        Cow::Owned(s) => s.capacity(),
        Cow::Borrowed(_) => 0,
    }
}

fn value_heap(v: &Value) -> usize {
    match v {
        Value::String(c) => owned_len(c),
        Value::Array(items) => {
            items.capacity() * std::mem::size_of::<Value>()
                + items.iter().map(value_heap).sum::<usize>()
        }
        _ => 0,
    }
}

fn kv_heap(kv: &KeyValue) -> usize {
    owned_len(&kv.key) + value_heap(&kv.value)
}

pub(crate) fn kind_to_u8(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Internal => 0,
        SpanKind::Server => 1,
        SpanKind::Client => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
    }
}

fn kind_from_u8(v: u8) -> SpanKind {
    match v {
        1 => SpanKind::Server,
        2 => SpanKind::Client,
        3 => SpanKind::Producer,
        4 => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_span_fits_in_64_bytes() {
        assert!(std::mem::size_of::<RawSpan>() <= 64);
    }
}
