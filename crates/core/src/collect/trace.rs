//! One live trace ([`TraceShared`]): what it was started with, and the lock-free hand-off
//! queue where the batches of every thread that recorded its spans meet. Layer: above the
//! tracer state and the span records; below the per-thread stacks, trace assembly
//! (`assemble.rs`, which finishes a trace) and the API.
//!
//! # The hand-off
//! Every thread that records spans of a trace fills a [`Batch`] of its own and hands it over
//! whole ([`hand_over`]) when the batch is full, when its attach scope ends, or when the thread
//! exits. The trace's inbox is a `crossbeam_queue::SegQueue<Batch>`: many producers, one
//! consumer (`end_trace`), no lock. The thread that started the trace keeps its own batch and
//! reads it directly at `end_trace`, so a trace that never leaves its thread never touches the
//! queue.
//!
//! # Invariants
//! 1. Every span handed over is counted exactly once: delivered (popped by `end_trace`) or
//!    dropped (trace limit, buffer bound, late, abandoned).
//! 2. `ended` is set (SeqCst) before `end_trace` drains the inbox; a producer pushes, then
//!    (after a SeqCst fence) reads `ended` and, if set, drains the inbox itself as late. By the
//!    Dekker argument at least one side sees the other's write, and `SegQueue::pop` hands each
//!    batch to exactly one of them, so no batch stays behind unnoticed.
//! 3. Whatever is still in the inbox when the last handle drops is counted in `Drop`
//!    (late if the trace ended, abandoned if it never did), and a recorded trace that never
//!    ended is counted in `traces_abandoned` there. The live-trace gauge (`open_traces`,
//!    bounded by `max_open_traces`) is raised when a recorded trace is created and lowered
//!    in `Drop`: it counts `TraceShared` values, so it is exact whatever ends the trace.
//! 4. `queued` (the tracer-wide gauge) is raised before a push and lowered after each pop, and a
//!    push that would take it over `max_buffered_spans` is refused: memory is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::util::sync::{AtomicBool, Inbox, fence};

use crate::collect::tracer_state::TracerRef;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::stats;
use crate::model::value::KeyValue;
use crate::record::batch::{Batch, TraceKey};
use crate::record::pending_edits::PendingEdits;

/// What a trace is started with.
pub(crate) struct TraceStart {
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    /// The remote parent span, when continuing another service's trace.
    pub remote_parent: Option<SpanId>,
    pub trace_state: Option<String>,
    pub attributes: Vec<KeyValue>,
    /// Raw clock ticks.
    pub start: u64,
}

/// One live trace, shared by the threads that record into it and by whoever will finish it.
pub(crate) struct TraceShared {
    pub tracer: Arc<TracerRef>,
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    /// The remote parent span (0: none).
    pub remote_parent: u64,
    /// Raw clock ticks at the start.
    pub start: u64,
    pub trace_state: Option<String>,
    /// Trace-level attributes (carried by the trace's local root spans).
    pub attributes: Option<Arc<[KeyValue]>>,
    /// Span id used in propagated contexts of an unsampled trace.
    pub placeholder: SpanId,
    /// Counted in the live-trace gauge (a recorded trace admitted under `max_open_traces`).
    counted: bool,
    inbox: Inbox<Batch>,
    ended: AtomicBool,
    /// Spans accepted into this trace (for `max_spans_per_trace`).
    accepted: AtomicU64,
    /// Spans of this trace dropped by a bound.
    pub dropped: AtomicU64,
    /// Edits to spans of this trace made through handles, applied when each span ends.
    pub edits: PendingEdits,
    /// A span of this trace was given an explicit start time (imported from elsewhere), so
    /// the assembled spans are sorted again by their final start times.
    pub explicit_times: AtomicBool,
}

impl TraceShared {
    /// A new live trace. A sampled trace is recorded only if the tracer admits it under
    /// `max_open_traces`; otherwise it comes back unsampled (ids still propagate).
    pub fn new(tracer: Arc<TracerRef>, mut t: TraceStart) -> Arc<Self> {
        let counted = t.flags.is_sampled() && tracer.admit_trace();
        if !counted {
            t.flags = t.flags.with_sampled(false);
        }
        let attributes = (!t.attributes.is_empty()).then(|| Arc::from(t.attributes));
        Arc::new(TraceShared {
            tracer,
            trace_id: t.trace_id,
            flags: t.flags,
            remote_parent: t.remote_parent.map_or(0, SpanId::to_u64),
            start: t.start,
            trace_state: t.trace_state,
            attributes,
            placeholder: SpanId::random(),
            counted,
            inbox: Inbox::new(),
            ended: AtomicBool::new(false),
            explicit_times: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            edits: PendingEdits::default(),
        })
    }

    /// Whether spans of this trace are recorded.
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// What the trace's batches share, for conversion.
    pub fn key(&self) -> TraceKey {
        TraceKey {
            trace_id: self.trace_id,
            flags: self.flags,
            remote_parent: self.remote_parent,
            attributes: self.attributes.clone(),
        }
    }

    /// The remote parent's id, if any.
    pub fn remote_parent_id(&self) -> Option<SpanId> {
        SpanId::from_u64(self.remote_parent)
    }

    /// The trace-level attributes, cloned.
    pub fn attributes_vec(&self) -> Vec<KeyValue> {
        self.attributes
            .as_deref()
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// The context of span `span_id` of this trace (a value).
    pub fn context(&self, span_id: SpanId, is_remote: bool) -> SpanContext {
        SpanContext::new(self.trace_id, span_id, self.flags, is_remote)
    }

    /// Applies `max_spans_per_trace` to `batch`, cutting and counting what does not fit.
    pub fn admit(&self, batch: &mut Batch) {
        let n = batch.len() as u64;
        if n == 0 {
            return;
        }
        let limit = self.tracer.limits.max_spans_per_trace as u64;
        let before = self.accepted.fetch_add(n, Ordering::Relaxed);
        let allowed = limit.saturating_sub(before).min(n);
        if allowed < n {
            let cut = n - allowed;
            stats::add(&self.tracer.counters.dropped_trace_limit, cut);
            stats::add(&self.dropped, cut);
            batch.truncate(allowed as usize);
        }
    }

    /// Room left under `max_spans_per_trace` (a hint: concurrent hand-offs may take it).
    pub fn room(&self) -> u64 {
        (self.tracer.limits.max_spans_per_trace as u64)
            .saturating_sub(self.accepted.load(Ordering::Relaxed))
    }

    /// Drains the inbox, counting every span as late (ended) or abandoned (never ended).
    fn drain_undelivered(&self) {
        let c = &self.tracer.counters;
        let ended = self.is_ended();
        while let Some(b) = self.inbox.pop() {
            let n = b.len() as u64;
            stats::sub(&c.queued, n);
            stats::sub(&c.queued_bytes, b.approx_bytes());
            if ended {
                stats::add(&c.dropped_late, n);
            } else {
                stats::add(&c.dropped_abandoned, n);
            }
        }
    }

    /// Marks the trace ended (exactly once: `false` if it already was) and takes every batch
    /// waiting in the inbox. Batches handed over afterwards are counted late by their
    /// producers (invariant 2).
    pub fn end_and_drain(&self) -> Option<Vec<Batch>> {
        if self.ended.swap(true, Ordering::SeqCst) {
            return None;
        }
        fence(Ordering::SeqCst);
        let c = &self.tracer.counters;
        let mut out = Vec::new();
        while let Some(b) = self.inbox.pop() {
            stats::sub(&c.queued, b.len() as u64);
            stats::sub(&c.queued_bytes, b.approx_bytes());
            out.push(b);
        }
        Some(out)
    }
}

impl Drop for TraceShared {
    fn drop(&mut self) {
        self.drain_undelivered();
        self.edits.count_leftover(&self.tracer.counters);
        if self.counted {
            let c = &self.tracer.counters;
            stats::sub(&c.open_traces, 1);
            if !self.is_ended() {
                stats::add(&c.traces_abandoned, 1);
            }
        }
    }
}

/// Hands a thread's batch of `trace` over: when traces are held (retained, or waiting for the
/// tail sampler), to the trace's inbox (the exporter gets it when the trace is finished);
/// otherwise straight to the exporter.
/// Returns the batch, emptied, when it can be reused.
pub(crate) fn hand_over(trace: &Arc<TraceShared>, mut batch: Batch) -> Option<Batch> {
    if batch.is_empty() {
        return Some(batch);
    }
    let tracer = &trace.tracer;
    let c = &tracer.counters;
    trace.admit(&mut batch);
    let n = batch.len() as u64;
    if n == 0 {
        batch.clear();
        return Some(batch);
    }
    // What waits in a queue costs what it holds: a few spans in a grown buffer move into a
    // batch of their size, and the buffer goes back to the thread.
    let (queued, spare) = if batch.is_sparse() {
        let small = batch.compacted();
        (small, Some(batch))
    } else {
        (batch, None)
    };
    if !tracer.hold {
        tracer.export_batch(trace.key(), queued);
        return spare;
    }
    let give_back = |mut b: Batch, spare: Option<Batch>| {
        b.clear();
        Some(spare.unwrap_or(b))
    };
    if trace.is_ended() {
        stats::add(&c.dropped_late, n);
        return give_back(queued, spare);
    }
    let bytes = queued.approx_bytes();
    let before = c.queued.fetch_add(n, Ordering::Relaxed);
    let bytes_before = c.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
    if before + n > tracer.limits.max_buffered_spans as u64
        || bytes_before + bytes > tracer.limits.max_buffered_bytes as u64
    {
        stats::sub(&c.queued, n);
        stats::sub(&c.queued_bytes, bytes);
        stats::add(&c.dropped_buffer_full, n);
        stats::add(&trace.dropped, n);
        return give_back(queued, spare);
    }
    trace.inbox.push(queued);
    fence(Ordering::SeqCst);
    if trace.ended.load(Ordering::SeqCst) {
        trace.drain_undelivered();
    }
    spare
}

/// Model checking of the hand-off with loom: `RUSTFLAGS="--cfg loom" cargo test -p
/// reqtrace-core --release --lib loom` (or `cargo xtask loom`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::collect::tracer_state::{TracerInner, TracerParts};
    use crate::model::config::Limits;
    use crate::model::resource::Resource;
    use crate::model::sampler::Sampler;
    use crate::model::stats::SharedCounters;
    use crate::record::batch::{NO_EXTRAS, RawSpan};
    use loom::thread;

    fn one_span_batch() -> Batch {
        let mut b = Batch::default();
        b.spans.push(RawSpan {
            span_id: 1,
            parent_id: 0,
            start: 1,
            end: 2,
            name: "s",
            attr_start: 0,
            extras: NO_EXTRAS,
            attr_len: 0,
            kind: 0,
            status: 0,
        });
        b
    }

    fn setup() -> (Arc<TracerInner>, Arc<TraceShared>) {
        let tracer = Arc::new(TracerInner::new(TracerParts {
            resource: Resource::new("loom"),
            sampler: Sampler::AlwaysOn,
            limits: Limits::default(),
            retain: true,
            counters: Arc::new(SharedCounters::default()),
            exporter: None,
            flush_interval_nanos: u64::MAX,
            tail: None,
        }));
        let trace = TraceShared::new(
            Arc::new(TracerRef(Arc::clone(&tracer))),
            TraceStart {
                trace_id: TraceId::random(),
                flags: TraceFlags::SAMPLED,
                remote_parent: None,
                trace_state: None,
                attributes: Vec::new(),
                start: 0,
            },
        );
        (tracer, trace)
    }

    /// A thread that hands one span of `trace` over (as a detach or a thread exit does).
    fn spawn_producer(trace: &Arc<TraceShared>) -> thread::JoinHandle<()> {
        let trace = Arc::clone(trace);
        thread::spawn(move || {
            let _ = hand_over(&trace, one_span_batch());
        })
    }

    fn delivered_and_dropped(t: &TracerInner) -> (u64, u64, u64) {
        let c = &t.counters;
        (
            c.delivered.load(Ordering::Relaxed),
            c.dropped_late.load(Ordering::Relaxed) + c.dropped_abandoned.load(Ordering::Relaxed),
            c.queued.load(Ordering::Relaxed),
        )
    }

    /// A producer hands a batch over while the owner ends the trace: the span is delivered or
    /// counted late — exactly once — in every interleaving, and nothing stays queued.
    #[test]
    fn hand_over_racing_end_trace_counts_every_span_once() {
        loom::model(|| {
            let (tracer, trace) = setup();
            let producer = spawn_producer(&trace);
            // The consumer's side of `assemble::finish`: end the trace, take the inbox.
            let spans: usize = trace.end_and_drain().unwrap().iter().map(Batch::len).sum();
            producer.join().unwrap();
            // Invariant 2: nothing is left behind in the inbox once both sides are done,
            // even before the last handle drops.
            let (_, dropped, queued) = delivered_and_dropped(&tracer);
            assert_eq!(queued, 0, "a batch was left in the inbox");
            drop(trace);
            let (_, dropped_after, _) = delivered_and_dropped(&tracer);
            assert_eq!(dropped, dropped_after);
            assert_eq!(spans as u64 + dropped, 1);
            assert_eq!(queued, 0);
        });
    }

    /// Two producers (one of them a thread exiting, as `ThreadState::drop` does) and no
    /// `end_trace`: when the last handle drops, both spans are counted abandoned.
    #[test]
    fn a_trace_never_ended_counts_its_spans_abandoned() {
        loom::model(|| {
            let (tracer, trace) = setup();
            let handles: Vec<_> = (0..2).map(|_| spawn_producer(&trace)).collect();
            drop(trace);
            for h in handles {
                h.join().unwrap();
            }
            let (delivered, dropped, queued) = delivered_and_dropped(&tracer);
            assert_eq!(delivered, 0);
            assert_eq!(dropped, 2);
            assert_eq!(queued, 0);
        });
    }
}
