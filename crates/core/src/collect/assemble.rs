//! Trace assembly: finishing a live trace into the [`Trace`] its consumer gets — the
//! finishing thread's own batch plus every batch other threads handed over, ordered by start
//! time and converted to [`SpanData`] — and handing the spans to the exporter. Used by
//! `end_trace` (a trace on a thread's stack) and by `RootSpan::finish` (an owned root) alike.
//! Layer: above live traces and the span records; below the API.

use std::sync::Arc;

use crate::collect::tail_sampler::{SAMPLING_RULE_KEY, SpanView};
use crate::collect::trace::TraceShared;
use crate::model::data::{SpanData, Trace};
use crate::model::stats;
use crate::model::value::KeyValue;
use crate::record::batch::{Batch, FLAG_UNFINISHED, STATUS_ERROR, TraceKey};
use crate::util::clock;

/// A finished trace and how many spans it delivered (for the caller to count).
pub(crate) struct Finished {
    pub trace: Trace,
    pub delivered: u64,
}

/// Ends `trace` at raw time `end` with `own` (the finishing thread's batch of it, possibly
/// empty; left cleared for reuse). `None` if the trace had already been finished: then `own`'s
/// spans are counted late by the caller's hand-off.
pub(crate) fn finish(trace: &Arc<TraceShared>, own: &mut Batch, end: u64) -> Option<Finished> {
    let mut others = trace.end_and_drain()?;
    let tracer = &trace.tracer;
    let mut spans: Vec<SpanData> = Vec::new();
    let mut attributes = trace.attributes.clone();
    if tracer.hold {
        trace.admit(own);
        let mut key = trace.key();
        let keep = match &tracer.tail {
            None => true,
            Some(tail) => {
                let views = views(trace, own, &others);
                let d = tail.decide(trace.trace_id, &views, trace.remote_parent != 0);
                if d.keep {
                    // The kept trace says why: its local roots carry `sampling.rule`.
                    let mut attrs = trace.attributes_vec();
                    attrs.push(KeyValue::new(SAMPLING_RULE_KEY, tail.rule_name(d.rule)));
                    attributes = Some(Arc::from(attrs));
                    key.attributes = attributes.clone();
                } else {
                    let n = views.len() as u64;
                    stats::add(&tracer.counters.dropped_tail_sampled, n);
                    stats::add(&trace.dropped, n);
                }
                d.keep
            }
        };
        if !keep {
            for b in others {
                tracer.recycle(b);
            }
        } else if tracer.retain {
            if tracer.has_exporter() {
                for b in std::iter::once(&*own).chain(others.iter()) {
                    if !b.is_empty() {
                        tracer.export_batch(key.clone(), b.clone());
                    }
                }
            }
            spans = sorted_spans(own, &mut others, &key);
            if trace
                .explicit_times
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                // Explicit start times are not clock readings: order by the final times.
                spans.sort_by_key(|s| s.start_unix_nanos);
            }
            for b in others {
                tracer.recycle(b);
            }
        } else {
            for b in others {
                tracer.export_batch(key.clone(), b);
            }
            if !own.is_empty() {
                tracer.export_batch(key, std::mem::take(own));
            }
        }
    } else if !own.is_empty() {
        // Streaming: other threads' batches went straight to the exporter.
        trace.admit(own);
        tracer.export_batch(trace.key(), std::mem::take(own));
    }
    own.clear();
    let delivered = spans.len() as u64;
    let start_unix = clock::to_unix_nanos(trace.start);
    Some(Finished {
        trace: Trace {
            trace_id: trace.trace_id,
            service_name: tracer.resource.service_name.clone(),
            attributes: attributes.as_deref().map(<[_]>::to_vec).unwrap_or_default(),
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

/// Every span of the trace (own batch and others), converted and ordered by start time.
fn sorted_spans(own: &mut Batch, others: &mut [Batch], key: &TraceKey) -> Vec<SpanData> {
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
    // Collected from an exact-size iterator: each `SpanData` is written straight into the
    // vector (a push per span copies the 224-byte value once more).
    order
        .into_iter()
        .map(|(_, bn, i)| {
            let b = if bn == 0 {
                &mut *own
            } else {
                &mut others[bn as usize - 1]
            };
            b.convert(i as usize, key)
        })
        .collect()
}

/// What the tail sampler sees of every span of the trace.
fn views<'a>(trace: &TraceShared, own: &'a Batch, others: &'a [Batch]) -> Vec<SpanView<'a>> {
    let mut out = Vec::with_capacity(own.len() + others.iter().map(Batch::len).sum::<usize>());
    for b in std::iter::once(own).chain(others.iter()) {
        for raw in &b.spans {
            let x = b.extras.get(raw.extras as usize);
            let a = raw.attr_start as usize;
            out.push(SpanView {
                name: x.and_then(|x| x.name.as_deref()).unwrap_or(raw.name),
                error: raw.status & !FLAG_UNFINISHED == STATUS_ERROR,
                start: raw.start,
                end: raw.end,
                root: raw.parent_id == 0 || raw.parent_id == trace.remote_parent,
                attrs: b.attrs.get(a..a + raw.attr_len as usize).unwrap_or(&[]),
            });
        }
    }
    out
}

/// Finishes a trace that a value owns (a [`crate::RootSpan`], or a detached span that
/// continued a remote parent) at raw time `end`, and counts it: delivered when `claimed` (the
/// caller takes the trace) or when an exporter takes the spans; otherwise nobody can, and the
/// spans are counted abandoned. `thread` is the finishing thread's id and name. `None` if the
/// trace had already been finished.
pub(crate) fn finish_owned(
    trace: &Arc<TraceShared>,
    claimed: bool,
    end: u64,
    (thread_id, thread_name): (u64, Option<&'static str>),
) -> Option<Trace> {
    let inner = &trace.tracer;
    let mut own = Batch::with_capacity(0, thread_id, thread_name);
    let f = finish(trace, &mut own, end)?;
    stats::add(&inner.counters.traces_ended, 1);
    if claimed || inner.has_exporter() {
        stats::add(&inner.counters.delivered, f.delivered);
    } else {
        stats::add(&inner.counters.dropped_abandoned, f.delivered);
        stats::add(&inner.counters.traces_abandoned, 1);
    }
    Some(f.trace)
}
