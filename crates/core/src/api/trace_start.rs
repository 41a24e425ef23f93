//! How a trace starts: its id (the parent's or a new one), the sampler's decision as flags,
//! its trace state and attributes within the limits ([`new_trace_start`]), and a trace owned
//! by a value rather than a thread's stack ([`new_owned_trace`]). Layer: the API.

use std::sync::Arc;

use crate::collect::trace::{TraceShared, TraceStart};
use crate::collect::tracer_state::TracerInner;
use crate::local::scope;
use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::stats;
use crate::model::value::KeyValue;
use crate::record::recorder::Recorder;
use crate::util::clock;

/// A new trace owned by a value (not on a thread's stack), counted started; with the raw id
/// of its remote parent (0: none), the parent of its first span.
pub(crate) fn new_owned_trace(
    inner: &Arc<TracerInner>,
    parent: Option<&SpanContext>,
    trace_state: Option<String>,
    attributes: Vec<KeyValue>,
) -> (Arc<TraceShared>, u64) {
    let start = new_trace_start(inner, &inner.sampler, parent, trace_state, attributes);
    let remote = start.remote_parent.map_or(0, SpanId::to_u64);
    let trace = TraceShared::new(scope::thread_tracer_ref(inner), start);
    stats::add(&inner.counters.traces_started, 1);
    if !trace.is_sampled() {
        stats::add(&inner.counters.traces_unsampled, 1);
    }
    (trace, remote)
}

/// What a new trace starts with: its id (the parent's, or a new one), the sampler's decision
/// as flags, the parent, and the trace state and attributes within their limits.
pub(crate) fn new_trace_start(
    inner: &TracerInner,
    sampler: &crate::Sampler,
    parent: Option<&SpanContext>,
    trace_state: Option<String>,
    mut attributes: Vec<KeyValue>,
) -> TraceStart {
    let (trace_id, random) = match parent {
        Some(p) => (p.trace_id, p.trace_flags.is_random()),
        None => (TraceId::random(), true),
    };
    let sampled = sampler.should_sample(trace_id, parent);
    let mut flags = TraceFlags::NONE.with_sampled(sampled);
    if random {
        flags = flags | TraceFlags::RANDOM;
    }
    let rec = Recorder {
        limits: &inner.limits,
        counters: &inner.counters,
    };
    rec.attributes(&mut attributes);
    TraceStart {
        trace_id,
        flags,
        remote_parent: parent.map(|p| p.span_id),
        trace_state: rec.trace_state(trace_state),
        attributes,
        start: clock::now(),
    }
}
