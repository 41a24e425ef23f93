//! Row j, the export path: producer threads make whole traces (root + 100 children) at full
//! speed for a fixed time, each library hands the finished spans to its background pipeline,
//! and a null consumer counts what arrives. All three at their default settings:
//!
//! | library | pipeline | consumer | when it cannot keep up |
//! | --- | --- | --- | --- |
//! | reqtrace | `RequestTracerBuilder::exporter(_, BatchConfig::default())`: `end_trace` offers the trace's spans to the export queue; the worker thread calls the exporter with batches | [`NullExporter`] counts | spans over `max_queue_spans` are dropped and counted (`Stats::dropped`) |
//! | opentelemetry_sdk 0.33 | `BatchSpanProcessor` with `BatchConfig::default()` (queue 2,048 spans, batches of 512) | `CountingExporter` counts | a full channel drops the span (counted internally, not public) |
//! | fastrace 0.7 | `Config::default()`: the root's drop ships the spans through the thread's ring to the collector thread | `CountingReporter` counts | a full ring spills into an unbounded thread-local queue (nothing dropped) |
//!
//! [`export_run`] runs `threads` producers for a given time, then drains and reports spans
//! made and received and the time until the last one arrived. Dropped = made − received (the
//! libraries' own counters are not all public; reqtrace's is recorded beside).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::ContextGuard;
use opentelemetry::trace::{Tracer as _, TracerProvider as _, mark_span_as_active};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use reqtrace_core::{
    BatchConfig, ExportError, RequestTracer, Resource, Sampler, SpanData, SpanExporter, SpanGuard,
};

use super::otel_subject::CountingExporter;
use crate::{CHILDREN, Counters, SPANS_PER_TRACE, Subject};

/// The null exporter: counts the spans of every batch and drops them.
#[derive(Debug)]
pub struct NullExporter {
    counters: Arc<Counters>,
}

impl SpanExporter for NullExporter {
    fn export(&mut self, batch: &[SpanData], _resource: &Resource) -> Result<(), ExportError> {
        crate::consume(batch);
        self.counters.add_received(batch.len() as u64);
        Ok(())
    }
}

/// reqtrace with a null exporter at `BatchConfig::default()`.
#[derive(Debug)]
pub struct ReqtraceExport {
    tracer: RequestTracer,
    counters: Arc<Counters>,
}

impl ReqtraceExport {
    /// A fresh tracer and export worker.
    pub fn new() -> Self {
        let counters = Arc::new(Counters::default());
        let tracer = RequestTracer::builder("bench")
            .sampler(Sampler::AlwaysOn)
            .exporter(
                NullExporter {
                    counters: counters.clone(),
                },
                BatchConfig::default(),
            )
            .build();
        Self { tracer, counters }
    }

    /// Spans the tracer itself counted as dropped (all reasons).
    pub fn dropped_counted(&self) -> u64 {
        self.tracer.stats().dropped.total()
    }
}

impl Default for ReqtraceExport {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ReqtraceExport {
    fn drop(&mut self) {
        let _ = self.tracer.shutdown();
    }
}

impl Subject for ReqtraceExport {
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

    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let mut s = self.tracer.start_span("child");
        s.set_attribute("model", model);
        s.set_attribute("tokens", tokens);
    }

    fn end(&self, root: SpanGuard) {
        drop(root);
        crate::consume(self.tracer.end_trace());
    }

    fn begin_unsampled(&self) -> SpanGuard {
        self.begin()
    }

    fn unsampled_child(&self) {
        self.child();
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn flush(&self) {
        let _ = self.tracer.force_flush(Duration::from_millis(200));
    }
}

/// opentelemetry_sdk with a `BatchSpanProcessor` at its default settings.
#[derive(Debug)]
pub struct OtelExport {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    counters: Arc<Counters>,
}

impl OtelExport {
    /// A fresh provider and batch processor.
    pub fn new() -> Self {
        let counters = Arc::new(Counters::default());
        let processor =
            BatchSpanProcessor::builder(CountingExporter::new(counters.clone())).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
            .build();
        let tracer = provider.tracer("bench");
        Self {
            provider,
            tracer,
            counters,
        }
    }
}

impl Default for OtelExport {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OtelExport {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

impl Subject for OtelExport {
    type Root<'a> = ContextGuard;

    fn name(&self) -> &'static str {
        "opentelemetry"
    }

    fn begin(&self) -> ContextGuard {
        mark_span_as_active(self.tracer.start("root"))
    }

    #[inline]
    fn child(&self) {
        let _g = mark_span_as_active(self.tracer.start("child"));
    }

    fn child_attrs(&self, _model: &'static str, _tokens: i64) {
        self.child();
    }

    fn end(&self, root: ContextGuard) {
        drop(root);
    }

    fn begin_unsampled(&self) -> ContextGuard {
        self.begin()
    }

    fn unsampled_child(&self) {
        self.child();
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

/// What one run of the export path did.
#[derive(Clone, Copy, Debug)]
pub struct ExportRun {
    /// Spans the producers made.
    pub made: u64,
    /// Spans the consumer received.
    pub received: u64,
    /// Seconds the producers ran.
    pub produce_secs: f64,
    /// Seconds from the start until the last span arrived.
    pub deliver_secs: f64,
}

impl ExportRun {
    /// Spans made per second (millions).
    pub fn made_mps(&self) -> f64 {
        self.made as f64 / self.produce_secs / 1e6
    }

    /// Spans through the pipeline per second (millions): received ÷ time until the last one
    /// arrived.
    pub fn received_mps(&self) -> f64 {
        self.received as f64 / self.deliver_secs / 1e6
    }

    /// Spans made and never received.
    pub fn dropped(&self) -> u64 {
        self.made.saturating_sub(self.received)
    }

    /// Dropped as a percentage of made.
    pub fn dropped_pct(&self) -> f64 {
        if self.made == 0 {
            0.0
        } else {
            100.0 * self.dropped() as f64 / self.made as f64
        }
    }
}

/// How long the consumer's count may stand still before a run counts what is missing as
/// dropped. Generous: a collector working through a backlog of millions of spans may report
/// nothing for over a second (fastrace reports once per drained interval).
const PATIENCE: Duration = Duration::from_secs(5);

/// Flushes `s` until its consumer has every span made so far, or the count stood still for
/// [`PATIENCE`] (or 60 s in all).
fn settle_patiently<S: Subject>(s: &S) {
    let start = Instant::now();
    let mut last = u64::MAX;
    let mut last_progress = start;
    loop {
        let acc = s.counters().snapshot();
        if acc.received >= acc.made
            || last_progress.elapsed() > PATIENCE
            || start.elapsed() > Duration::from_secs(60)
        {
            return;
        }
        if acc.received != last {
            last = acc.received;
            last_progress = Instant::now();
        }
        s.flush();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `threads` producers of whole traces on `s` for `time`; then each producer settles
/// (flushes until its consumer has every span, or the count stood still for `PATIENCE` (5 s))
/// before it exits, while this thread watches the consumer's count until the producers are
/// done and the count is complete or stood still for `PATIENCE` (5 s). Counts are this run's (the
/// counters may be shared with earlier runs, as fastrace's global reporter's are).
///
/// Producers settle before exiting because fastrace keeps spans that did not fit its ring in
/// a thread-local queue, which moves on only when that thread sends again (and is lost when it
/// exits).
pub fn export_run<S: Subject>(s: &S, threads: usize, time: Duration) -> ExportRun {
    let before = s.counters().snapshot();
    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let t0 = Instant::now();
    let (stopped, last_change) = std::thread::scope(|scope| {
        for _ in 0..threads {
            let (stop, done) = (&stop, &done);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let root = s.begin();
                    for _ in 0..CHILDREN {
                        s.child();
                    }
                    s.end(root);
                    s.counters().add_made(SPANS_PER_TRACE);
                }
                settle_patiently(s);
                done.fetch_add(1, Ordering::Release);
            });
        }
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
        let stopped = Instant::now();
        let mut last = s.counters().snapshot().received;
        let mut last_change = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(1));
            let acc = s.counters().snapshot();
            if acc.received != last {
                last = acc.received;
                last_change = Instant::now();
            }
            let producers_done = done.load(Ordering::Acquire) == threads;
            if (producers_done && (acc.received >= acc.made || last_change.elapsed() > PATIENCE))
                || t0.elapsed() > Duration::from_secs(120)
            {
                break;
            }
        }
        (stopped, last_change)
    });
    let after = s.counters().snapshot();
    let produce_secs = stopped.duration_since(t0).as_secs_f64();
    ExportRun {
        made: after.made - before.made,
        received: after.received - before.received,
        produce_secs,
        deliver_secs: last_change
            .duration_since(t0)
            .as_secs_f64()
            .max(produce_secs),
    }
}
