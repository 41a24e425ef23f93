//! [`TracerInner`]: the state shared by every clone of a tracer and every thread using it —
//! configuration, counters, the registry of per-thread counter blocks, the pool of recycled
//! batches and the export worker's handle. Layer: above the span records and the export worker,
//! below live traces, the per-thread stacks and the API.
//!
//! # The thread registry
//! Each thread that uses a tracer owns a [`ThreadCounters`] block it writes without atomic
//! read-modify-writes. Readers ([`TracerInner::stats`]) must find every block, live or not, so
//! blocks are registered — but a traced thread must never wait for a reader:
//! - registering pushes onto a lock-free queue (`joining`); no lock;
//! - a thread's exit marks its block `retired` (one store); no lock;
//! - `stats()` takes the registry lock (readers only), moves `joining` into its list, sums
//!   every block, and folds retired blocks into `retired_totals` before freeing them: a dead
//!   thread costs nothing after the next `stats()` (or the next registration that finds the
//!   lock free, which prunes opportunistically with `try_lock`).
//!
//! A block is summed exactly once per snapshot: it is either in `joining`, in the list, or
//! already folded into `retired_totals` (folding and unlinking happen under the same lock).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::{ArrayQueue, SegQueue};
use parking_lot::Mutex;

use crate::collect::tail_sampler::TailState;
use crate::export::worker::ExportWorker;
use crate::model::config::Limits;
use crate::model::resource::Resource;
use crate::model::sampler::Sampler;
use crate::model::stats::{self, SharedCounters, Stats, ThreadCounters, ThreadTotals};
use crate::record::batch::{Batch, TraceKey};

/// State shared by every clone of a tracer and every thread using it.
pub(crate) struct TracerInner {
    pub resource: Resource,
    pub sampler: Sampler,
    pub limits: Limits,
    /// Whether finished spans are kept for the trace's consumer (`end_trace`, `RootSpan::finish`).
    pub retain: bool,
    /// Whether a trace's spans wait in its inbox until it finishes (retention, or a tail
    /// sampler that must see the whole trace before anything is exported).
    pub hold: bool,
    /// The tail sampler, if any.
    pub tail: Option<TailState>,
    pub counters: Arc<SharedCounters>,
    registry: Registry,
    recycled: ArrayQueue<Batch>,
    pub(crate) exporter: Option<ExportWorker>,
    flush_interval_nanos: u64,
    /// False once every `RequestTracer` handle is gone (threads may still hold the state).
    alive: AtomicBool,
}

/// What a [`TracerInner`] is made of (the builder's output).
pub(crate) struct TracerParts {
    pub resource: Resource,
    pub sampler: Sampler,
    pub limits: Limits,
    pub retain: bool,
    pub counters: Arc<SharedCounters>,
    pub exporter: Option<ExportWorker>,
    pub flush_interval_nanos: u64,
    pub tail: Option<TailState>,
}

#[derive(Default)]
struct Registry {
    joining: SegQueue<Arc<ThreadCounters>>,
    live: Mutex<RegistryList>,
}

#[derive(Default)]
struct RegistryList {
    blocks: Vec<Arc<ThreadCounters>>,
    retired_totals: ThreadTotals,
}

impl RegistryList {
    /// Moves newly registered blocks in and folds retired ones into the totals.
    fn settle(&mut self, joining: &SegQueue<Arc<ThreadCounters>>) {
        while let Some(b) = joining.pop() {
            self.blocks.push(b);
        }
        let totals = &mut self.retired_totals;
        self.blocks.retain(|b| {
            if b.retired.load(Ordering::Acquire) {
                totals.add(&b.totals());
                false
            } else {
                true
            }
        });
    }
}

impl TracerInner {
    pub fn new(p: TracerParts) -> Self {
        TracerInner {
            resource: p.resource,
            sampler: p.sampler,
            limits: p.limits,
            retain: p.retain,
            hold: p.retain || p.tail.is_some(),
            tail: p.tail,
            counters: p.counters,
            registry: Registry::default(),
            recycled: ArrayQueue::new(256),
            exporter: p.exporter,
            flush_interval_nanos: p.flush_interval_nanos,
            alive: AtomicBool::new(true),
        }
    }

    /// A counter block for a thread starting to use this tracer. Never waits.
    pub fn register_thread(&self) -> Arc<ThreadCounters> {
        let c = Arc::new(ThreadCounters::default());
        self.registry.joining.push(Arc::clone(&c));
        // Opportunistic pruning, so churned threads are freed even if nobody reads stats.
        if let Some(mut list) = self.registry.live.try_lock() {
            list.settle(&self.registry.joining);
        }
        c
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        let mut list = self.registry.live.lock();
        list.settle(&self.registry.joining);
        let mut totals = list.retired_totals;
        for b in &list.blocks {
            totals.add(&b.totals());
        }
        let blocks = list.blocks.len() as u64;
        drop(list);
        let mut s = stats::snapshot(totals, &self.counters);
        s.thread_blocks = blocks;
        s
    }

    pub fn take_recycled(&self) -> Option<Batch> {
        self.recycled.pop()
    }

    pub fn recycle(&self, mut b: Batch) {
        b.clear();
        // Don't keep oversized batches around: a burst must not pin its memory.
        if b.spans.capacity() <= 4 * self.limits.batch_size.max(64) {
            let _ = self.recycled.push(b);
        }
    }

    /// Whether any `RequestTracer` handle still exists.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the tracer as having no handles left.
    pub fn mark_dead(&self) {
        self.alive.store(false, Ordering::Release);
    }

    #[inline]
    pub fn has_exporter(&self) -> bool {
        self.exporter.is_some()
    }

    #[inline]
    pub fn flush_interval_nanos(&self) -> u64 {
        self.flush_interval_nanos
    }

    /// Gives a batch to the export worker (or, with none and no retention, counts it lost).
    pub fn export_batch(&self, key: TraceKey, batch: Batch) {
        match &self.exporter {
            Some(w) => w.offer(key, batch),
            None => stats::add(&self.counters.dropped_export_failed, batch.len() as u64),
        }
    }

    /// The gauge of live traces, raised by one; `false` (and not raised) over `max_open_traces`.
    pub fn admit_trace(&self) -> bool {
        let c = &self.counters.open_traces;
        let before = c.fetch_add(1, Ordering::Relaxed);
        if before >= self.limits.max_open_traces as u64 {
            c.fetch_sub(1, Ordering::Relaxed);
            stats::add(&self.counters.traces_refused, 1);
            return false;
        }
        true
    }
}

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
