//! The shared state of one live trace ([`TraceShared`]) and its lock-free hand-off queue.
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
//!    (late if the trace ended, abandoned if it never did).
//! 4. `queued` (the tracer-wide gauge) is raised before a push and lowered after each pop, and a
//!    push that would take it over `max_buffered_spans` is refused: memory is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::{AtomicBool, Inbox, fence};

use crate::batch::{Batch, TraceKey};
use crate::data::SpanData;
use crate::ids::{TraceFlags, TraceId};
use crate::stats;
use crate::tracer::TracerInner;

/// A thread's own handle on its tracer. The traces a thread starts hold this rather than the
/// tracer's `Arc` itself, so starting and ending a trace changes a reference count that only
/// this thread touches (two threads starting traces never contend on one cache line).
pub(crate) struct TracerRef(pub Arc<TracerInner>);

impl std::ops::Deref for TracerRef {
    type Target = TracerInner;
    fn deref(&self) -> &TracerInner {
        &self.0
    }
}

/// One live trace, shared by the threads that record into it.
pub(crate) struct TraceShared {
    pub tracer: Arc<TracerRef>,
    pub trace_id: TraceId,
    pub flags: TraceFlags,
    /// The remote parent span (0: none).
    pub remote_parent: u64,
    inbox: Inbox<Batch>,
    ended: AtomicBool,
    /// Spans accepted into this trace (for `max_spans_per_trace`).
    accepted: AtomicU64,
    /// Spans of this trace dropped by a bound.
    pub dropped: AtomicU64,
}

/// A handle that lets a [`crate::SpanContext`] join a live local trace.
#[derive(Clone)]
pub(crate) struct LocalTrace(pub Arc<TraceShared>);

impl TraceShared {
    pub fn new(
        tracer: Arc<TracerRef>,
        trace_id: TraceId,
        flags: TraceFlags,
        remote_parent: u64,
    ) -> Arc<Self> {
        Arc::new(TraceShared {
            tracer,
            trace_id,
            flags,
            remote_parent,
            inbox: Inbox::new(),
            ended: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// What the trace's batches share, for conversion.
    pub fn key(&self) -> TraceKey {
        TraceKey {
            trace_id: self.trace_id,
            flags: self.flags,
            remote_parent: self.remote_parent,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Applies `max_spans_per_trace` to `batch`, cutting and counting what does not fit.
    fn admit(&self, batch: &mut Batch) {
        let n = batch.len() as u64;
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

    /// Drains the inbox, counting every span as late (ended) or abandoned (never ended).
    fn drain_undelivered(&self) {
        let c = &self.tracer.counters;
        let ended = self.is_ended();
        while let Some(b) = self.inbox.pop() {
            let n = b.len() as u64;
            stats::sub(&c.queued, n);
            if ended {
                stats::add(&c.dropped_late, n);
            } else {
                stats::add(&c.dropped_abandoned, n);
            }
        }
    }

    /// Marks the trace ended and converts its own thread's batch plus every batch in the inbox.
    /// Returns the spans (sorted by start; the caller counts them delivered) and leaves `own`
    /// cleared for reuse.
    pub fn finish(&self, own: &mut Batch) -> Vec<SpanData> {
        self.ended.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let c = &self.tracer.counters;
        let mut spans = Vec::new();
        if self.tracer.retain {
            self.admit(own);
            if self.tracer.has_exporter() && !own.is_empty() {
                self.tracer.export_batch(self.key(), own.clone());
            }
            let mut others = Vec::new();
            while let Some(b) = self.inbox.pop() {
                stats::sub(&c.queued, b.len() as u64);
                others.push(b);
            }
            // Order by start time through a small index, not by moving SpanData around.
            let total = own.len() + others.iter().map(Batch::len).sum::<usize>();
            let mut order: Vec<(u64, u32, u32)> = Vec::with_capacity(total);
            for (bn, b) in std::iter::once(&*own).chain(others.iter()).enumerate() {
                for (i, raw) in b.spans.iter().enumerate() {
                    order.push((raw.start, bn as u32, i as u32));
                }
            }
            // Stable and adaptive: a batch is already in end order, which is start order but for
            // parents, so this is a few run merges rather than a full sort.
            order.sort();
            spans.reserve_exact(total);
            for (_, bn, i) in order {
                let b = if bn == 0 {
                    &mut *own
                } else {
                    &mut others[bn as usize - 1]
                };
                spans.push(b.convert(i as usize, self.key()));
            }
            // Counted as delivered by the caller, on its own thread's counters.
            for b in others {
                self.tracer.recycle(b);
            }
        } else if !own.is_empty() {
            self.tracer.export_batch(self.key(), std::mem::take(own));
        }
        own.clear();
        spans
    }
}

impl Drop for TraceShared {
    fn drop(&mut self) {
        self.drain_undelivered();
    }
}

/// Hands a thread's batch of `trace` over: to the exporter (if any) and, when traces are
/// retained, to the trace's inbox. Returns the batch, emptied, when it can be reused.
pub(crate) fn hand_over(trace: &Arc<TraceShared>, mut batch: Batch) -> Option<Batch> {
    if batch.is_empty() {
        return Some(batch);
    }
    let tracer = &trace.tracer;
    let c = &tracer.counters;
    if !tracer.retain {
        tracer.export_batch(trace.key(), batch);
        return None;
    }
    trace.admit(&mut batch);
    if tracer.has_exporter() {
        tracer.export_batch(trace.key(), batch.clone());
    }
    let n = batch.len() as u64;
    if trace.is_ended() {
        stats::add(&c.dropped_late, n);
        batch.clear();
        return Some(batch);
    }
    let bound = tracer.limits.max_buffered_spans as u64;
    let before = c.queued.fetch_add(n, Ordering::Relaxed);
    if before + n > bound {
        stats::sub(&c.queued, n);
        stats::add(&c.dropped_buffer_full, n);
        stats::add(&trace.dropped, n);
        batch.clear();
        return Some(batch);
    }
    trace.inbox.push(batch);
    fence(Ordering::SeqCst);
    if trace.ended.load(Ordering::SeqCst) {
        trace.drain_undelivered();
    }
    None
}

/// Model checking of the hand-off with loom: `RUSTFLAGS="--cfg loom" cargo test -p
/// reqtrace-core --release --lib loom` (or `cargo xtask loom`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::batch::{NO_EXTRAS, RawSpan};
    use crate::tracer::RequestTracer;
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

    fn setup() -> (RequestTracer, Arc<TraceShared>) {
        let tracer = RequestTracer::new("loom");
        let trace = TraceShared::new(
            Arc::new(TracerRef(Arc::clone(tracer.inner()))),
            TraceId::random(),
            TraceFlags::SAMPLED,
            0,
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

    fn delivered_and_dropped(t: &RequestTracer) -> (u64, u64, u64) {
        let c = &t.inner().counters;
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
            let mut own = Batch::default();
            let spans = trace.finish(&mut own);
            producer.join().unwrap();
            // Invariant 2: nothing is left behind in the inbox once both sides are done,
            // even before the last handle drops.
            let (_, dropped, queued) = delivered_and_dropped(&tracer);
            assert_eq!(queued, 0, "a batch was left in the inbox");
            drop(trace);
            let (_, dropped_after, _) = delivered_and_dropped(&tracer);
            assert_eq!(dropped, dropped_after);
            assert_eq!(spans.len() as u64 + dropped, 1);
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
