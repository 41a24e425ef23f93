//! Trace assembly: finishing a live trace into the [`Trace`] its consumer gets — the
//! finishing thread's own batch plus every batch other threads handed over, ordered by start
//! time and converted to [`SpanData`] — and handing the spans to the exporter. Used by
//! `end_trace` (a trace on a thread's stack) and by `RootSpan::finish` (an owned root) alike.
//! Layer: above live traces and the span records; below the API.

use std::sync::Arc;

use crate::batch::Batch;
use crate::clock;
use crate::data::{SpanData, Trace};
use crate::trace::TraceShared;

/// A finished trace and how many spans it delivered (for the caller to count).
pub(crate) struct Finished {
    pub trace: Trace,
    pub delivered: u64,
}

/// Ends `trace` at raw time `end` with `own` (the finishing thread's batch of it, possibly
/// empty; left cleared for reuse). `None` if the trace had already been finished: then `own`'s
/// spans are counted late by the caller's hand-off.
pub(crate) fn finish(trace: &Arc<TraceShared>, own: &mut Batch, end: u64) -> Option<Finished> {
    let others = trace.end_and_drain()?;
    let tracer = &trace.tracer;
    let mut spans: Vec<SpanData> = Vec::new();
    if tracer.retain {
        trace.admit(own);
        if tracer.has_exporter() {
            for b in std::iter::once(&*own).chain(others.iter()) {
                if !b.is_empty() {
                    tracer.export_batch(trace.key(), b.clone());
                }
            }
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
        let key = trace.key();
        let mut others = others;
        for (_, bn, i) in order {
            let b = if bn == 0 {
                &mut *own
            } else {
                &mut others[bn as usize - 1]
            };
            spans.push(b.convert(i as usize, &key));
        }
        for b in others {
            tracer.recycle(b);
        }
    } else {
        // Streaming only: whatever the inbox held (nothing, without retention) and the own
        // batch go to the exporter.
        for b in others {
            tracer.export_batch(trace.key(), b);
        }
        if !own.is_empty() {
            trace.admit(own);
            tracer.export_batch(trace.key(), std::mem::take(own));
        }
    }
    own.clear();
    let delivered = spans.len() as u64;
    let start_unix = clock::to_unix_nanos(trace.start);
    Some(Finished {
        trace: Trace {
            trace_id: trace.trace_id,
            service_name: tracer.resource.service_name.clone(),
            attributes: trace.attributes_vec(),
            start_unix_nanos: start_unix,
            end_unix_nanos: clock::to_unix_nanos(end).max(start_unix),
            trace_flags: trace.flags,
            trace_state: trace.trace_state.clone(),
            remote_parent_id: trace.remote_parent_id(),
            spans,
            dropped_spans_count: trace.dropped.load(std::sync::atomic::Ordering::Relaxed),
        },
        delivered,
    })
}
