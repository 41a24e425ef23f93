//! Counters: what the tracer started, finished, delivered and dropped, by reason.
//!
//! Two kinds of counters, so the hot path does no read-modify-write on shared memory:
//! - [`ThreadCounters`]: one block per (thread, tracer), written only by its owning thread with
//!   a plain load and store (no atomic RMW, no contention); readers sum every block.
//! - [`SharedCounters`]: per-batch, per-trace and rare events (drops, deliveries), updated with
//!   `fetch_add` off the hot path.
//!
//! Accounting identities (exact whenever no span is in motion, e.g. after every thread's
//! traces ended):
//! `spans_started = spans_finished + spans_open()` and
//! `spans_finished = spans_delivered + dropped.total() + spans_buffered()`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// Counters owned by one thread for one tracer. Aligned to 128 bytes (two cache lines, for
/// adjacent-line prefetch) so that two threads' blocks never share a line: every span writes
/// here, and false sharing would make threads slow each other down.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ThreadCounters {
    pub started: AtomicU64,
    pub finished: AtomicU64,
    /// Spans returned by `end_trace` on this thread.
    pub delivered: AtomicU64,
    pub traces_ended: AtomicU64,
    pub traces_started: AtomicU64,
    pub traces_unsampled: AtomicU64,
    /// Set once when the owning thread exits: the registry folds the block into its totals.
    pub retired: std::sync::atomic::AtomicBool,
}

impl ThreadCounters {
    /// The block's values now.
    pub fn totals(&self) -> ThreadTotals {
        ThreadTotals {
            started: self.started.load(Relaxed),
            finished: self.finished.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            traces_ended: self.traces_ended.load(Relaxed),
            traces_started: self.traces_started.load(Relaxed),
            traces_unsampled: self.traces_unsampled.load(Relaxed),
        }
    }
}

/// Sums of [`ThreadCounters`] blocks (plain numbers).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ThreadTotals {
    pub started: u64,
    pub finished: u64,
    pub delivered: u64,
    pub traces_ended: u64,
    pub traces_started: u64,
    pub traces_unsampled: u64,
}

impl ThreadTotals {
    pub fn add(&mut self, o: &ThreadTotals) {
        self.started += o.started;
        self.finished += o.finished;
        self.delivered += o.delivered;
        self.traces_ended += o.traces_ended;
        self.traces_started += o.traces_started;
        self.traces_unsampled += o.traces_unsampled;
    }
}

/// Adds `n` to a counter that only the calling thread writes: a load and a store, not an RMW.
#[inline]
pub(crate) fn owner_add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Counters updated from any thread, off the hot path.
#[derive(Debug, Default)]
pub(crate) struct SharedCounters {
    pub delivered: AtomicU64,
    /// Traces started / ended off a thread stack (owned roots) are counted here.
    pub traces_started: AtomicU64,
    pub traces_unsampled: AtomicU64,
    pub traces_ended: AtomicU64,
    pub detached_started: AtomicU64,
    pub detached_finished: AtomicU64,
    pub dropped_buffer_full: AtomicU64,
    pub dropped_trace_limit: AtomicU64,
    pub dropped_late: AtomicU64,
    pub dropped_abandoned: AtomicU64,
    pub dropped_export_queue_full: AtomicU64,
    pub dropped_export_failed: AtomicU64,
    pub dropped_tail_sampled: AtomicU64,
    pub unfinished: AtomicU64,
    pub without_trace: AtomicU64,
    pub attributes_dropped: AtomicU64,
    pub events_dropped: AtomicU64,
    pub links_dropped: AtomicU64,
    pub values_truncated: AtomicU64,
    pub keys_truncated: AtomicU64,
    pub names_truncated: AtomicU64,
    pub depth_limited: AtomicU64,
    /// Live traces (a gauge bounded by `max_open_traces`).
    pub open_traces: AtomicU64,
    pub traces_refused: AtomicU64,
    pub traces_abandoned: AtomicU64,
    pub traces_evicted: AtomicU64,
    pub traces_parked: AtomicU64,
    pub queued: AtomicU64,
    /// Bytes of the batches in trace hand-off queues (a gauge, bounded by `max_buffered_bytes`).
    pub queued_bytes: AtomicU64,
    /// Bytes of the batches in the export queue (a gauge, bounded by `max_queue_bytes`).
    pub export_queue_bytes: AtomicU64,
    pub export_queued: AtomicU64,
    pub exported: AtomicU64,
    pub export_retries: AtomicU64,
    pub export_failed_batches: AtomicU64,
    pub export_dropped_queue_full: AtomicU64,
    pub export_dropped_failed: AtomicU64,
    /// Spans in the export queue, plus [`EXPORT_QUEUE_CLOSED`] once shutdown began (read it
    /// through [`export_in_queue`]).
    pub export_in_queue: AtomicU64,
    pub export_in_flight: AtomicU64,
}

/// Added to `export_in_queue` when the export worker begins shutting down: every later offer
/// then overshoots `max_queue_spans` and is refused, with the one atomic add it already does.
pub(crate) const EXPORT_QUEUE_CLOSED: u64 = 1 << 62;

/// Spans in the export queue (the gauge without its closed flag).
pub(crate) fn export_in_queue(gauge: u64) -> u64 {
    gauge & (EXPORT_QUEUE_CLOSED - 1)
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Relaxed);
    }
}

pub(crate) fn sub(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_sub(n, Relaxed);
    }
}

/// Spans dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DroppedSpans {
    /// The configured bound on spans buffered in the process (`max_buffered_spans`) was reached
    /// when a batch was handed over.
    pub buffer_full: u64,
    /// The trace already had `max_spans_per_trace` spans.
    pub trace_limit: u64,
    /// The span finished after its trace had ended (and no exporter took it).
    pub late: u64,
    /// The span's trace was never ended: its thread exited or every handle to it was dropped
    /// while spans waited for `end_trace`.
    pub abandoned: u64,
    /// The export queue was full, or the exporter had shut down (counted here only when
    /// traces are not retained, i.e. the exporter is the spans' only consumer).
    pub export_queue_full: u64,
    /// The exporter failed permanently or ran out of retries, or the span was still queued
    /// for export when the shutdown deadline passed (same condition as above).
    pub export_failed: u64,
    /// The tail sampler dropped the span's trace (see `RequestTracer::tail_sampling_stats`).
    #[serde(default)]
    pub tail_sampled: u64,
}

impl DroppedSpans {
    /// All dropped spans.
    pub fn total(&self) -> u64 {
        self.buffer_full
            + self.trace_limit
            + self.late
            + self.abandoned
            + self.export_queue_full
            + self.export_failed
            + self.tail_sampled
    }
}

/// What the export worker did (zero when no exporter is configured).
///
/// Every span offered to the worker is in exactly one place: refused (`dropped_queue_full`),
/// or queued, and every queued span is exported, dropped as failed, still in the queue, or in
/// flight: `queued = exported + dropped_failed + in_queue + in_flight`, exact whenever no
/// batch is between two of these (e.g. while an export call is stuck, and after `shutdown`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans accepted into the export queue.
    pub queued: u64,
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Export attempts that failed and were retried.
    pub retries: u64,
    /// Batches given up on (permanent error or retries exhausted).
    pub failed_batches: u64,
    /// Spans not queued because the export queue was full or the exporter had shut down.
    pub dropped_queue_full: u64,
    /// Spans in batches given up on, and spans still queued when the shutdown deadline
    /// passed (never attempted).
    pub dropped_failed: u64,
    /// Spans waiting in the export queue now (a gauge, bounded by `max_queue_spans`).
    pub in_queue: u64,
    /// Spans the worker has taken from the queue and not yet settled: being converted,
    /// waiting for a free export slot, inside an `export` call, or waiting to retry (a gauge,
    /// at most `(max_concurrent_exports + 1) × max_export_batch_size` plus one hand-over
    /// batch). After a `shutdown` that timed out, the spans a stuck destination holds are here.
    pub in_flight: u64,
    /// Bytes held by the batches in the export queue now (a gauge, bounded by
    /// `BatchConfig::max_queue_bytes`).
    #[serde(default)]
    pub bytes_in_queue: u64,
}

/// A snapshot of a tracer's counters ([`crate::RequestTracer::stats`]).
///
/// Only sampled spans count as started; spans of unsampled traces are not recorded at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Spans started in sampled traces.
    pub spans_started: u64,
    /// Spans ended (including spans closed because their trace ended: see `spans_unfinished`).
    pub spans_finished: u64,
    /// Spans handed to a consumer: returned in a [`crate::Trace`] by `end_trace`, or, when
    /// traces are not retained, accepted by the exporter (`SpanExporter::export` returned
    /// `Ok`).
    pub spans_delivered: u64,
    /// Spans dropped, by reason.
    pub dropped: DroppedSpans,
    /// Spans still open on the thread that ended their trace; they are closed at the trace's
    /// end, marked `unfinished`, and delivered with it.
    pub spans_unfinished: u64,
    /// Spans handed over in batches and not yet consumed (a gauge).
    pub spans_queued: u64,
    /// `start_span` calls with no trace active on the thread (nothing recorded).
    pub spans_without_trace: u64,
    /// Attributes dropped by `max_attributes_per_span`.
    pub attributes_dropped: u64,
    /// Events dropped by `max_events_per_span`.
    pub events_dropped: u64,
    /// Links dropped by `max_links_per_span` (attributes of kept links cut by
    /// `max_attributes_per_link` count in `attributes_dropped`).
    pub links_dropped: u64,
    /// String values cut to `max_attribute_value_len`, and arrays cut to `max_array_len`
    /// (counted once per value).
    pub values_truncated: u64,
    /// Attribute keys cut to `max_attribute_key_len`.
    pub keys_truncated: u64,
    /// Span and event names, error messages and trace states cut to their limits
    /// (`max_name_len`, `max_attribute_value_len`, `max_trace_state_len`).
    pub names_truncated: u64,
    /// `start_span` calls refused because the thread already had `max_open_spans_per_thread`
    /// spans open (nothing recorded).
    pub spans_depth_limited: u64,
    /// Traces started (sampled or not).
    pub traces_started: u64,
    /// Traces started unsampled.
    pub traces_unsampled: u64,
    /// Traces ended (by `end_trace` or by finishing a [`crate::RootSpan`]).
    pub traces_ended: u64,
    /// Traces live now (a gauge, bounded by `max_open_traces`).
    pub traces_open: u64,
    /// Traces not recorded because `max_open_traces` traces were live (they still propagate
    /// their ids; their spans record nothing).
    pub traces_refused: u64,
    /// Traces dropped without being ended: every handle to them went away (a thread exited
    /// inside one, a `RootSpan` was dropped with no exporter to take its spans, a trace was
    /// evicted). Their buffered spans are counted in `dropped.abandoned`.
    pub traces_abandoned: u64,
    /// Of those, traces evicted from a thread that held `max_traces_per_thread` traces started
    /// with `start_trace` and never ended (the oldest goes first).
    pub traces_evicted: u64,
    /// Times a trace started with `start_trace` was carried by an instrumented future across an
    /// `.await` (taken off the thread when the future yielded, put back when it was polled).
    pub traces_parked: u64,
    /// The export worker's counters.
    pub export: ExportStats,
    /// Bytes held by finished spans waiting in trace hand-off queues (a gauge, bounded by
    /// `Limits::max_buffered_bytes`).
    pub bytes_queued: u64,
    /// Per-thread counter blocks the tracer holds (a gauge): one per live thread that used
    /// the tracer; an exited thread's block is folded into the totals and freed.
    pub thread_blocks: u64,
}

impl Stats {
    /// Spans started and not yet finished.
    pub fn spans_open(&self) -> u64 {
        self.spans_started.saturating_sub(self.spans_finished)
    }

    /// Spans finished but neither delivered nor dropped yet: still in a thread's buffer, a
    /// trace's hand-off queue, or (without retention) the export queue or worker.
    pub fn spans_buffered(&self) -> u64 {
        self.spans_finished
            .saturating_sub(self.spans_delivered)
            .saturating_sub(self.dropped.total())
    }
}

pub(crate) fn snapshot(t: ThreadTotals, shared: &SharedCounters) -> Stats {
    let mut s = Stats {
        spans_started: t.started,
        spans_finished: t.finished,
        spans_delivered: t.delivered,
        traces_started: t.traces_started,
        traces_unsampled: t.traces_unsampled,
        traces_ended: t.traces_ended,
        ..Stats::default()
    };
    let l = |c: &AtomicU64| c.load(Relaxed);
    s.traces_ended += l(&shared.traces_ended);
    s.traces_started += l(&shared.traces_started);
    s.traces_unsampled += l(&shared.traces_unsampled);
    s.traces_open = l(&shared.open_traces);
    s.traces_refused = l(&shared.traces_refused);
    s.traces_abandoned = l(&shared.traces_abandoned);
    s.traces_evicted = l(&shared.traces_evicted);
    s.traces_parked = l(&shared.traces_parked);
    s.keys_truncated = l(&shared.keys_truncated);
    s.names_truncated = l(&shared.names_truncated);
    s.spans_depth_limited = l(&shared.depth_limited);
    s.bytes_queued = l(&shared.queued_bytes);
    s.spans_started += l(&shared.detached_started);
    s.spans_finished += l(&shared.detached_finished);
    s.spans_delivered += l(&shared.delivered);
    s.dropped = DroppedSpans {
        buffer_full: l(&shared.dropped_buffer_full),
        trace_limit: l(&shared.dropped_trace_limit),
        late: l(&shared.dropped_late),
        abandoned: l(&shared.dropped_abandoned),
        export_queue_full: l(&shared.dropped_export_queue_full),
        export_failed: l(&shared.dropped_export_failed),
        tail_sampled: l(&shared.dropped_tail_sampled),
    };
    s.spans_unfinished = l(&shared.unfinished);
    s.spans_queued = l(&shared.queued);
    s.spans_without_trace = l(&shared.without_trace);
    s.attributes_dropped = l(&shared.attributes_dropped);
    s.events_dropped = l(&shared.events_dropped);
    s.links_dropped = l(&shared.links_dropped);
    s.values_truncated = l(&shared.values_truncated);
    s.export = ExportStats {
        queued: l(&shared.export_queued),
        exported: l(&shared.exported),
        retries: l(&shared.export_retries),
        failed_batches: l(&shared.export_failed_batches),
        dropped_queue_full: l(&shared.export_dropped_queue_full),
        dropped_failed: l(&shared.export_dropped_failed),
        in_queue: export_in_queue(l(&shared.export_in_queue)),
        in_flight: l(&shared.export_in_flight),
        bytes_in_queue: l(&shared.export_queue_bytes),
    };
    s
}
