//! The export worker's thread: its loop (wait for work, a tick, a flush or shutdown), and the
//! [`Drain`] that cuts queued batches into chunks of `max_export_batch_size` for the lanes.
//! The invariants are in `worker.rs`. Layer: the export worker.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::model::data::SpanData;
use crate::model::exporter::{ExportError, SpanExporter};
use crate::model::resource::Resource;
use crate::model::stats::{self};
use crate::record::batch::{Batch, TraceKey};

use crate::export::lanes::Lanes;
use crate::export::worker::{Shared, deadline_after};

/// Marks the worker stopped if its thread ends without doing so (a panic outside the
/// exporter), so that `force_flush` and `shutdown` return instead of waiting for it.
struct StopGuard<'a>(&'a Shared);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        let s = self.0;
        let mut c = s.control.lock();
        if c.stopped.is_none() {
            s.begin_shutdown(&mut c);
            c.stopped = Some(Err(ExportError::permanent("the export worker stopped")));
            s.done.notify_all();
        }
    }
}

/// The batch being cut into chunks, and the chunk being filled.
struct Drain {
    /// A popped batch and the index of its next unconverted span.
    current: Option<(TraceKey, Batch, usize)>,
    chunk: Vec<SpanData>,
    max: usize,
}

impl Drain {
    /// Spans the worker holds that no export has been given yet.
    fn held(&self) -> u64 {
        let rest = self.current.as_ref().map_or(0, |(_, b, i)| b.len() - i);
        (self.chunk.len() + rest) as u64
    }

    /// Converts queued spans into the chunk until it is full or the queue is empty; whether
    /// it is full.
    fn fill(&mut self, s: &Shared) -> bool {
        while self.chunk.len() < self.max {
            let (key, batch, next) = match &mut self.current {
                Some(c) => c,
                None => {
                    let Some((key, batch)) = s.queue.pop() else {
                        return false;
                    };
                    let n = batch.len() as u64;
                    stats::add(&s.counters.export_in_flight, n);
                    s.counters
                        .export_queue_bytes
                        .fetch_sub(batch.approx_bytes(), Relaxed);
                    s.counters.export_in_queue.fetch_sub(n, Relaxed);
                    self.current.insert((key, batch, 0))
                }
            };
            let room = self.max - self.chunk.len();
            if *next == 0 && batch.len() <= room {
                // The whole batch fits (the usual case).
                batch.convert_into(key, &mut self.chunk);
                self.current = None;
                continue;
            }
            let end = (*next + room).min(batch.len());
            self.chunk.reserve(end - *next);
            for i in *next..end {
                self.chunk.push(batch.convert(i, key));
            }
            *next = end;
            if end == batch.len() {
                self.current = None;
            }
        }
        true
    }
}

pub(super) fn run(shared: Arc<Shared>, exporter: Box<dyn SpanExporter>, resource: Resource) {
    let s = &*shared;
    let guard = StopGuard(s);
    let max = s.config.max_export_batch_size.max(1);
    let mut lanes = Lanes::new(&shared, exporter, resource);
    let mut d = Drain {
        current: None,
        chunk: Vec::with_capacity(max),
        max,
    };
    let mut next_tick = deadline_after(s.config.flush_interval);
    loop {
        let (flush_want, flush_due, shutting) = {
            let mut c = s.control.lock();
            while c.flush_requested == c.flush_done
                && c.shutdown_deadline.is_none()
                && s.queued() + d.held() < s.wake_at
                && Instant::now() < next_tick
            {
                s.wake.wait_until(&mut c, next_tick);
            }
            (
                c.flush_requested,
                c.flush_requested > c.flush_done,
                c.shutdown_deadline.is_some(),
            )
        };
        s.report_queue_full();
        let tick = Instant::now() >= next_tick;
        if tick {
            next_tick = deadline_after(s.config.flush_interval);
        }
        // Woken by a full export's worth, send full chunks only; on a tick, a flush or
        // shutdown, send what there is.
        let everything = tick || shutting || flush_due;
        loop {
            if shutting && s.past_deadline() {
                // Nothing more is attempted: what the worker holds and what is queued is
                // counted as failed.
                let held = d.held();
                d.chunk.clear();
                d.current = None;
                s.count_failed(held);
                stats::sub(&s.counters.export_in_flight, held);
                s.discard_queued();
                if s.queued() > 0 {
                    std::thread::yield_now();
                    continue;
                }
                break;
            }
            let full = d.fill(s);
            if full || (everything && !d.chunk.is_empty()) {
                lanes.export(&mut d.chunk);
                continue;
            }
            // Shutting down: an offer counted before the queue closed may not have pushed yet.
            if shutting && s.queued() > 0 {
                std::thread::yield_now();
                continue;
            }
            break;
        }
        if shutting {
            let result = lanes.shutdown();
            let mut c = s.control.lock();
            c.flush_done = c.flush_requested;
            c.stopped = Some(result);
            s.done.notify_all();
            std::mem::forget(guard);
            return;
        }
        if flush_due {
            let result = lanes.flush();
            let mut c = s.control.lock();
            c.flush_done = flush_want;
            c.flush_result = result.err();
            s.done.notify_all();
        }
    }
}
