//! reqtrace: a `RequestTracer` with `Sampler::AlwaysOn`, no exporter, so `end_trace` returns
//! the whole `Trace` — the consumer (this subject's `end`) counts `trace.spans`.
//!
//! Per child span: `start_span` takes the thread's span stack (one thread-local), reads the
//! TSC, draws a span id and pushes a 64-byte record; `set_attribute` stores the key/value in the
//! guard (inline storage); the drop reads the TSC again and finishes the record. `end_trace`
//! hands the thread's records over, assembles `SpanData` (Unix times, ids, attributes) and
//! returns the `Trace`.
//!
//! Unsampled: a second tracer with `Sampler::AlwaysOff`; the trace is started, spans record
//! nothing, `end_trace` returns a trace with no spans (checked).

use reqtrace_core::{RequestTracer, Sampler, SpanGuard};

use crate::{Counters, Subject};

/// reqtrace's subject.
#[derive(Debug)]
pub struct Reqtrace {
    tracer: RequestTracer,
    off: RequestTracer,
    counters: Counters,
}

impl Reqtrace {
    /// Builds the sampled and the unsampled tracer.
    pub fn new() -> Self {
        Self {
            tracer: RequestTracer::builder("bench")
                .sampler(Sampler::AlwaysOn)
                .build(),
            off: RequestTracer::builder("bench-off")
                .sampler(Sampler::AlwaysOff)
                .build(),
            counters: Counters::default(),
        }
    }

    /// The sampled tracer (for its `stats()`).
    pub fn tracer(&self) -> &RequestTracer {
        &self.tracer
    }
}

impl Default for Reqtrace {
    fn default() -> Self {
        Self::new()
    }
}

impl Subject for Reqtrace {
    type Root<'a> = SpanGuard;

    fn name(&self) -> &'static str {
        "reqtrace"
    }

    fn begin(&self) -> SpanGuard {
        self.tracer.start_trace();
        self.tracer.start_span("root")
    }

    #[inline]
    fn child(&self) {
        let _s = self.tracer.start_span("child");
    }

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let mut s = self.tracer.start_span("child");
        s.set_attribute("model", model);
        s.set_attribute("tokens", tokens);
    }

    fn end(&self, root: SpanGuard) {
        drop(root);
        if let Some(trace) = self.tracer.end_trace() {
            // The consumer: count what arrived, then drop it.
            crate::consume(&trace);
            self.counters.add_received(trace.spans.len() as u64);
        }
    }

    fn begin_unsampled(&self) -> SpanGuard {
        self.off.start_trace();
        self.off.start_span("root")
    }

    #[inline]
    fn unsampled_child(&self) {
        let _s = self.off.start_span("child");
    }

    fn end_unsampled(&self, root: SpanGuard) {
        drop(root);
        if let Some(trace) = self.off.end_trace() {
            crate::consume(&trace);
            // An unsampled trace must deliver nothing; anything it did is counted as received
            // without being made, which the accounting reports.
            self.counters.add_received(trace.spans.len() as u64);
        }
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}
