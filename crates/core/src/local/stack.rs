//! The per-thread span stack: each thread's frames and open spans, and how frames come and go.
//! Operations on it: `span_ops.rs`, `edit.rs`, `scope.rs`; frame lifecycle and eviction:
//! `frames.rs`. Layer: the per-thread side (above `collect/`, below `api/`).
//!
//! Every thread has one [`ThreadState`] (a `thread_local!`), holding for each tracer it has
//! used a [`TracerLocal`]:
//! - `frames`: the traces this thread is working in, innermost last. A *trace frame* is pushed
//!   by `start_trace` and popped by `end_trace`; an *attached frame* is pushed when a span
//!   context from elsewhere is attached (`attach`, `start_span_with_parent`, a future being
//!   polled) and popped when that scope ends. A frame refers to its live trace
//!   (`Arc<TraceShared>`, which holds everything the trace was started with) and owns the
//!   [`Batch`] of finished spans it recorded.
//! - `open`: the open spans of all frames, innermost last, 64-byte entries reused in place
//!   (`open_len` marks the live prefix).
//!
//! # Invariants
//! - Only its own thread touches a `TracerLocal`; the `RefCell` is never contended, and a
//!   failed `try_borrow_mut` (re-entrance, thread teardown) degrades to a no-op.
//! - Open entries in `open[frames[k].open_base .. frames[k+1].open_base]` belong to frame `k`,
//!   and an open entry's `frame` is its frame's index. Evicting a trace frame from anywhere
//!   in `frames` (even below attached frames) keeps this: its entries are closed and stay as
//!   tombstones (in the range of the frame below it), and the open entries above have their
//!   `frame` lowered by one. Tombstones may sit in any frame's range; nothing reads their
//!   `frame`.
//! - `frames[k].open_base <= frames[k+1].open_base <= open_len`, and the top entry
//!   (`open[open_len - 1]`) is open: tombstones at the top are dropped at once
//!   (`trim_open`), and a frame whose range they emptied has its `open_base` lowered to
//!   `open_len`, so a span started in it is never below its range.
//! - Spans may end out of order: the entry is closed and left as a tombstone until the
//!   entries above it end. A guard finds its entry by (slot, index) and checks the span id, so
//!   a guard whose span was closed by `end_trace` or a detach is a no-op.
//! - Bounds, whatever frames are attached (`attach`, `bind`, a future's poll) and whatever
//!   parked frames a poll puts back: at most `max_open_spans_per_thread` entries, tombstones
//!   included (`open_len`; a span refused there is counted `depth_limited`), at most
//!   `max_traces_per_thread` trace frames (starting or restoring one more evicts the oldest,
//!   counted `traces_evicted`), at most `batch_size` spans in a frame's batch before it is
//!   handed over.
//! - A thread's exit hands every frame's batch over (open spans closed as unfinished, within
//!   the per-trace limit), and retires its counter block.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::collect::trace::TraceShared;
use crate::collect::tracer_state::{TracerInner, TracerRef};
use crate::local::thread::ThreadIdent;
use crate::model::stats::{self, ThreadCounters};
use crate::model::value::KeyValue;
use crate::record::batch::{Batch, Extras, FLAG_UNFINISHED, NO_EXTRAS, RawSpan};
use crate::record::recorder::Recorder;

thread_local! {
    static STATE: RefCell<ThreadState> = const { RefCell::new(ThreadState::new()) };
    /// The address of the tracer whose innermost frame on this thread is unsampled (0: none):
    /// lets `start_span` in an unsampled trace return after one plain thread-local read.
    pub(crate) static UNSAMPLED_TOP: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` on this thread's state; `None` if the state is unavailable (during thread
/// teardown, or re-entered from inside a tracer call).
#[inline]
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATE
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

/// reqtrace's number for the calling thread, and its name.
pub(crate) fn current_thread() -> (u64, Option<&'static str>) {
    with_state(|s| {
        s.ident.ensure();
        (s.ident.id, s.ident.name)
    })
    .unwrap_or((0, None))
}

pub(crate) struct ThreadState {
    pub ident: ThreadIdent,
    pub tracers: Vec<TracerLocal>,
    next_frame_serial: u64,
}

pub(crate) struct TracerLocal {
    pub inner: Arc<TracerInner>,
    /// This thread's handle for the traces it starts (see [`TracerRef`]).
    pub tref: Arc<TracerRef>,
    pub counters: Arc<ThreadCounters>,
    pub frames: Vec<Frame>,
    pub open: Vec<OpenSpan>,
    pub open_len: usize,
    pub spare: Vec<Batch>,
    /// Trace frames (pushed by `start_trace`) among `frames`.
    pub trace_frames: usize,
    // Copies of the tracer's settings, kept here so the hot path reads one cache line.
    pub max_attrs: u32,
    pub max_value_len: u32,
    pub max_key_len: u32,
    pub max_array_len: u32,
    pub max_depth: usize,
    pub batch_size: usize,
    pub has_exporter: bool,
}

/// A frame: one trace this thread is working in.
pub(crate) struct Frame {
    pub trace: Arc<TraceShared>,
    pub serial: u64,
    /// Parent of spans started with no open span in this frame (0: none).
    pub parent: u64,
    /// `open_len` when the frame was pushed.
    pub open_base: usize,
    pub sampled: bool,
    /// Pushed by `start_trace` (ended by `end_trace`), as opposed to attached.
    pub is_trace: bool,
    /// The span that owned this attached frame ended while spans it parents were still open:
    /// the frame is popped when the last of them ends.
    pub release_when_empty: bool,
    pub batch: Batch,
    /// Raw time of the oldest span in `batch` (for the export flush interval).
    pub batch_since: u64,
}

/// An open span: 64 bytes (a cache line), reused in place. The rare parts (owned name, events, error,
/// dropped counts) live behind `extras`, allocated only when a span has them.
#[derive(Default)]
pub(crate) struct OpenSpan {
    pub span_id: u64,
    pub parent_id: u64,
    pub start: u64,
    pub name: &'static str,
    pub extras: Option<Box<Extras>>,
    pub frame: u32,
    pub kind: u8,
    pub status: u8,
    pub ended: bool,
    pub owns_frame: bool,
    /// A [`crate::SpanHandle`] was taken on this span: edits made through it may wait in
    /// its trace, so its end looks there (spans without one never do).
    pub handle_taken: bool,
}

const _: () = assert!(std::mem::size_of::<OpenSpan>() <= 64);

impl OpenSpan {
    #[inline]
    pub fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }
}

/// Attributes a guard collected (inline for the first few: no allocation).
pub(crate) type GuardAttrs = smallvec::SmallVec<[KeyValue; 4]>;

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            ident: ThreadIdent::new(),
            tracers: Vec::new(),
            next_frame_serial: 1,
        }
    }

    /// The index of `inner`'s local state, registering this thread with it on first use.
    #[inline]
    pub fn slot(&mut self, inner: &Arc<TracerInner>) -> usize {
        if self
            .tracers
            .first()
            .is_some_and(|t| Arc::ptr_eq(&t.inner, inner))
        {
            return 0;
        }
        self.slot_slow(inner)
    }

    /// The index of `inner`'s local state if this thread has one.
    #[inline]
    pub fn find(&self, inner: &Arc<TracerInner>) -> Option<usize> {
        self.tracers
            .iter()
            .position(|t| Arc::ptr_eq(&t.inner, inner))
    }

    #[inline(never)]
    fn slot_slow(&mut self, inner: &Arc<TracerInner>) -> usize {
        if let Some(i) = self.find(inner) {
            return i;
        }
        self.ident.ensure();
        let limits = &inner.limits;
        let local = TracerLocal {
            inner: Arc::clone(inner),
            tref: Arc::new(TracerRef(Arc::clone(inner))),
            counters: inner.register_thread(),
            frames: Vec::new(),
            open: Vec::new(),
            open_len: 0,
            spare: Vec::new(),
            trace_frames: 0,
            max_attrs: u32::try_from(limits.max_attributes_per_span).unwrap_or(u32::MAX),
            max_value_len: u32::try_from(limits.max_attribute_value_len).unwrap_or(u32::MAX),
            max_key_len: u32::try_from(limits.max_attribute_key_len).unwrap_or(u32::MAX),
            max_array_len: u32::try_from(limits.max_array_len).unwrap_or(u32::MAX),
            max_depth: limits.max_open_spans_per_thread,
            batch_size: limits.batch_size,
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
            old.counters.retired.store(true, Ordering::Release);
            drop(old);
            return i;
        }
        self.tracers.push(local);
        self.tracers.len() - 1
    }

    /// Pushes a frame for `trace` on this thread. Returns the tracer's slot and the frame's
    /// serial.
    pub fn push_frame(
        &mut self,
        inner: &Arc<TracerInner>,
        trace: Arc<TraceShared>,
        parent: u64,
        is_trace: bool,
    ) -> (usize, u64) {
        let slot = self.slot(inner);
        let serial = self.next_frame_serial;
        self.next_frame_serial += 1;
        let (id, name) = (self.ident.id, self.ident.name);
        let tl = &mut self.tracers[slot];
        let batch = tl.new_batch(id, name);
        if is_trace {
            tl.trace_frames += 1;
        }
        tl.frames.push(Frame {
            sampled: trace.is_sampled(),
            trace,
            serial,
            parent,
            open_base: tl.open_len,
            is_trace,
            release_when_empty: false,
            batch,
            batch_since: 0,
        });
        tl.refresh_unsampled_top();
        (slot, serial)
    }
}

impl TracerLocal {
    pub(crate) fn new_batch(&mut self, thread_id: u64, thread_name: Option<&'static str>) -> Batch {
        if let Some(mut b) = self.spare.pop().or_else(|| self.inner.take_recycled()) {
            b.clear();
            b.thread_id = thread_id;
            b.thread_name = thread_name;
            return b;
        }
        Batch::with_capacity(self.batch_size.min(64), thread_id, thread_name)
    }

    /// Keeps a batch for reuse (emptied).
    pub fn keep_spare(&mut self, mut b: Batch) {
        b.clear();
        if self.spare.len() < 8 {
            self.spare.push(b);
        } else {
            self.inner.recycle(b);
        }
    }

    /// Keeps [`UNSAMPLED_TOP`] in step with this tracer's innermost frame.
    pub fn refresh_unsampled_top(&self) {
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

    /// The index of the frame with `serial`, looked for at `hint` first.
    pub fn frame_index(&self, hint: usize, serial: u64) -> Option<usize> {
        if self.frames.get(hint).is_some_and(|f| f.serial == serial) {
            return Some(hint);
        }
        self.frames.iter().rposition(|f| f.serial == serial)
    }

    /// Moves open entry `i` into its frame's batch as a finished span, with `attrs`.
    #[inline(always)]
    pub fn record(&mut self, i: usize, end: u64, unfinished: bool, attrs: &mut GuardAttrs) {
        let e = &mut self.open[i];
        e.ended = true;
        if let Some(frame) = self.frames.get_mut(e.frame as usize) {
            record_into(e, frame, &self.inner, end, unfinished, attrs);
        }
    }

    /// Drops the tombstones at the top of `open`, keeping every frame's `open_base` within
    /// `open_len` (a frame whose range that empties has no entries left, not stale ones).
    #[inline(always)]
    pub fn trim_open(&mut self) {
        while self.open_len > 0 && self.open[self.open_len - 1].ended {
            self.open_len -= 1;
        }
        if self
            .frames
            .last()
            .is_some_and(|f| f.open_base > self.open_len)
        {
            self.clamp_open_bases();
        }
    }

    /// Lowers the `open_base` of the frames above `open_len` to it: the tombstones they sat on
    /// (spans of a frame below that ended while they were current) are gone.
    #[cold]
    fn clamp_open_bases(&mut self) {
        for f in self.frames.iter_mut().rev() {
            if f.open_base <= self.open_len {
                break;
            }
            f.open_base = self.open_len;
        }
    }

    /// The parent for a span started now in `frame`.
    #[inline]
    pub fn current_parent(&self, frame: &Frame) -> u64 {
        if self.open_len > frame.open_base {
            let top = &self.open[self.open_len - 1];
            if !top.ended {
                return top.span_id;
            }
        }
        frame.parent
    }
}

/// Moves open entry `e` into `frame`'s batch as a finished span, with `attrs` (for callers
/// that already hold the frame; [`TracerLocal::record`] looks it up).
#[inline(always)]
pub(crate) fn record_into(
    e: &mut OpenSpan,
    frame: &mut Frame,
    inner: &TracerInner,
    end: u64,
    unfinished: bool,
    attrs: &mut GuardAttrs,
) {
    e.ended = true;
    let b = &mut frame.batch;
    if b.spans.is_empty() {
        frame.batch_since = end;
    }
    let attr_start = b.attrs.len() as u32;
    // At most u16::MAX: the builder caps `max_attributes_per_span`.
    let mut attr_len = attrs.len().min(usize::from(u16::MAX));
    if attr_len > 0 {
        // Keys and values were limited as they were set (`SpanGuard::set_attribute`).
        attrs.truncate(attr_len);
        b.attrs.extend(attrs.drain(..));
    }
    let extras = match e.extras.take() {
        Some(mut x) => {
            if !x.attrs.is_empty() {
                attr_len += merge_extra_attrs(&mut x, &mut b.attrs, attr_len, inner);
            }
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

/// Moves a finished detached span's parts into `frame`'s batch.
/// Appends the attributes set on a stack span from outside its guard after the guard's
/// `held`, within `max_attributes_per_span` (the rest dropped and counted). Returns how many
/// were appended.
#[cold]
fn merge_extra_attrs(
    x: &mut Extras,
    out: &mut Vec<KeyValue>,
    held: usize,
    inner: &TracerInner,
) -> usize {
    let room = inner
        .limits
        .max_attributes_per_span
        .min(usize::from(u16::MAX))
        .saturating_sub(held);
    let n = x.attrs.len().min(room);
    let dropped = x.attrs.len() - n;
    if dropped > 0 {
        x.dropped_attributes += dropped as u32;
        stats::add(&inner.counters.attributes_dropped, dropped as u64);
    }
    out.extend(x.attrs.drain(..).take(n));
    x.attrs = Vec::new();
    n
}

/// A span's name as the open entry stores it: static names inline (they come from the
/// program, not from input), owned ones in the extras (cut to `max_name_len`).
#[inline]
pub(crate) fn set_entry_name(e: &mut OpenSpan, name: Cow<'static, str>, inner: &TracerInner) {
    match name {
        Cow::Borrowed(n) => {
            e.name = n;
            if let Some(x) = &mut e.extras {
                x.name = None;
            }
        }
        mut n => {
            Recorder {
                limits: &inner.limits,
                counters: &inner.counters,
            }
            .name(&mut n);
            e.name = "";
            e.extras().name = Some(n);
        }
    }
}
