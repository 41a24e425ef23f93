//! Frame lifecycle on a thread's stack (`stack.rs` holds the data): handing a frame's
//! batch over when it is full or old, popping frames, releasing attached frames whose spans
//! ended, evicting the oldest trace when a thread holds too many, closing open spans, and the
//! thread's exit. Layer: the per-thread side.

use std::sync::atomic::Ordering;

use crate::collect::assemble;
use crate::collect::trace::hand_over;
use crate::local::stack::{Frame, GuardAttrs, ThreadState, TracerLocal};
use crate::model::stats::{self, owner_add};
use crate::util::clock;

impl Drop for ThreadState {
    /// Thread exit: every frame's spans are handed over (open spans closed as unfinished), so
    /// nothing buffered on a dying thread is lost silently; the counter blocks retire.
    fn drop(&mut self) {
        let now = clock::now();
        for tl in &mut self.tracers {
            tl.close_open_from(0, now);
            while let Some(frame) = tl.frames.pop() {
                let _ = hand_over(&frame.trace, frame.batch);
            }
            tl.counters.retired.store(true, Ordering::Release);
        }
    }
}

impl TracerLocal {
    /// Closes every open span at index `from` and above at time `now`, marking them
    /// unfinished. Within each trace's `max_spans_per_trace`: spans past it are not recorded
    /// but counted (a thread dying with a million open spans does not build a huge batch).
    pub fn close_open_from(&mut self, from: usize, now: u64) {
        let mut closed = 0u64;
        for i in (from..self.open_len).rev() {
            if self.open[i].ended {
                continue;
            }
            closed += 1;
            let f = self.open[i].frame as usize;
            let full = self
                .frames
                .get(f)
                .is_none_or(|fr| fr.batch.len() as u64 >= fr.trace.room());
            if full {
                let e = &mut self.open[i];
                e.ended = true;
                e.extras = None;
                if let Some(fr) = self.frames.get(f) {
                    stats::add(&self.inner.counters.dropped_trace_limit, 1);
                    stats::add(&fr.trace.dropped, 1);
                }
            } else {
                self.record(i, now, true, &mut GuardAttrs::new());
            }
        }
        self.open_len = self.open_len.min(from);
        // Spans below `from` that ended out of order while a frame above was active.
        self.trim_open();
        if closed > 0 {
            owner_add(&self.counters.finished, closed);
            stats::add(&self.inner.counters.unfinished, closed);
        }
    }

    /// Hands over a frame's batch if it is full, or (with an exporter) older than the flush
    /// interval.
    pub fn maybe_flush(&mut self, frame_idx: usize, now: u64) {
        let Some(frame) = self.frames.get(frame_idx) else {
            return;
        };
        let len = frame.batch.len();
        let full = len >= self.batch_size;
        let stale = len > 0
            && self.has_exporter
            && clock::delta_nanos(frame.batch_since, now) >= self.inner.flush_interval_nanos();
        if full || stale {
            let (id, name) = (frame.batch.thread_id, frame.batch.thread_name);
            let fresh = self.new_batch(id, name);
            let frame = &mut self.frames[frame_idx];
            let old = std::mem::replace(&mut frame.batch, fresh);
            if let Some(b) = hand_over(&frame.trace, old) {
                self.keep_spare(b);
            }
        }
    }

    /// Removes the top frame, handing its batch over. Returns its trace when it was a trace
    /// frame (its batch then stays with it, for the caller).
    fn pop_top(&mut self) -> Option<Frame> {
        let f = self.frames.pop()?;
        if f.is_trace {
            self.trace_frames -= 1;
        }
        Some(f)
    }

    /// Pops frames down to (and including) `idx`, closing their open spans and handing over
    /// the batches of the frames above it. Returns the popped frame at `idx`.
    pub fn pop_frames_to(&mut self, idx: usize, now: u64) -> Option<Frame> {
        let base = self.frames.get(idx)?.open_base;
        self.close_open_from(base, now);
        while self.frames.len() > idx + 1 {
            if let Some(f) = self.pop_top()
                && let Some(b) = hand_over(&f.trace, f.batch)
            {
                self.keep_spare(b);
            }
        }
        let popped = self.pop_top();
        self.refresh_unsampled_top();
        popped
    }

    /// Pops attached frames whose owning span ended and whose last span has now ended.
    pub fn release_empty_frames(&mut self) {
        while let Some(top) = self.frames.last()
            && top.release_when_empty
            && self.open_len <= top.open_base
        {
            if let Some(f) = self.pop_top()
                && let Some(b) = hand_over(&f.trace, f.batch)
            {
                self.keep_spare(b);
            }
            self.refresh_unsampled_top();
        }
    }

    /// Evicts the oldest trace frame when this thread holds `max` trace frames, wherever it
    /// sits (below attached frames too): its open spans are closed unfinished and left as
    /// tombstones (their guards become no-ops), the frames above it move down one index (their
    /// entries' `frame` with them), its batch is handed over, and the trace is counted evicted
    /// (and abandoned, when nothing else holds it). Returns whether one was evicted.
    pub fn evict_oldest_trace(&mut self, max: usize, now: u64) -> bool {
        if self.trace_frames < max.max(1) {
            return false;
        }
        let Some(idx) = self.frames.iter().position(|f| f.is_trace) else {
            return false;
        };
        let base = self.frames[idx].open_base;
        let end = self
            .frames
            .get(idx + 1)
            .map_or(self.open_len, |f| f.open_base);
        for i in (base..end).rev() {
            if !self.open[i].ended {
                debug_assert_eq!(self.open[i].frame as usize, idx);
                self.record(i, now, true, &mut GuardAttrs::new());
                owner_add(&self.counters.finished, 1);
                stats::add(&self.inner.counters.unfinished, 1);
            }
        }
        let frame = self.frames.remove(idx);
        self.trace_frames -= 1;
        // Entries above the evicted range belong to the frames above it.
        for e in &mut self.open[end..self.open_len] {
            if !e.ended {
                e.frame -= 1;
            }
        }
        // The closed entries are now tombstones in the range of the frame below (or of none);
        // with nothing open above them they go at once.
        self.trim_open();
        stats::add(&self.inner.counters.traces_evicted, 1);
        if let Some(b) = hand_over(&frame.trace, frame.batch) {
            self.keep_spare(b);
        }
        self.refresh_unsampled_top();
        true
    }
}

/// Ends the trace of trace frame `frame` (already popped) at raw time `end`, as its owner (a
/// span or an attach guard that continued a remote parent) ends: the trace is assembled and
/// goes to the exporter; with no exporter nobody takes it, and its spans are counted
/// abandoned (as for a root dropped without `finish`).
#[cold]
pub(crate) fn finish_owned_trace(tl: &mut TracerLocal, frame: Frame, end: u64) {
    let mut batch = frame.batch;
    if let Some(f) = assemble::finish(&frame.trace, &mut batch, end) {
        let c = &tl.inner.counters;
        stats::add(&c.traces_ended, 1);
        if tl.has_exporter {
            stats::add(&c.delivered, f.delivered);
        } else {
            stats::add(&c.dropped_abandoned, f.delivered);
            stats::add(&c.traces_abandoned, 1);
        }
    }
    tl.keep_spare(batch);
}
