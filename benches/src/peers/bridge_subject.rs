//! Row i, the `tracing` bridge: the same `info_span!(..).entered()` children recorded two ways,
//! each under its own scoped dispatcher (`tracing::dispatcher::set_default`, held by the bench
//! around each run, so both pay the same dispatcher lookup):
//!
//! - [`Bridged`] (column `reqtrace`): `Registry` + `LevelFilter::INFO` + `reqtrace-tracing`'s
//!   `ReqtraceLayer` on a `RequestTracer` (`Sampler::AlwaysOn`, no exporter). `begin` starts a
//!   reqtrace trace and enters a `tracing` root span; every `tracing` span is recorded as a
//!   reqtrace span; `end` drops the root and `end_trace` returns the trace, whose spans are
//!   counted.
//! - [`Layered`] (column `tracing`): `Registry` + `LevelFilter::INFO` + the same
//!   [`RecordingLayer`] as the `tracing` peer of rows a–f (owned field values, timestamps,
//!   closed spans handed over when the root closes).
//!
//! Only the public APIs of `tracing`, `tracing-subscriber`, `reqtrace-core` and
//! `reqtrace-tracing` are used.

use std::sync::Arc;

use reqtrace_core::{RequestTracer, Sampler};
use reqtrace_tracing::ReqtraceLayer;
use tracing::span::EnteredSpan;
use tracing::{Dispatch, info_span};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use super::tracing_subject::RecordingLayer;
use crate::{Counters, Subject};

/// `tracing` spans recorded by reqtrace through `ReqtraceLayer`.
#[derive(Debug)]
pub struct Bridged {
    tracer: RequestTracer,
    dispatch: Dispatch,
    counters: Counters,
}

impl Bridged {
    /// A tracer and a subscriber with the bridge layer on it.
    pub fn new() -> Self {
        let tracer = RequestTracer::builder("bench")
            .sampler(Sampler::AlwaysOn)
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(ReqtraceLayer::new(tracer.clone()));
        Self {
            tracer,
            dispatch: Dispatch::new(subscriber),
            counters: Counters::default(),
        }
    }

    /// The dispatcher to make current around a run.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}

impl Default for Bridged {
    fn default() -> Self {
        Self::new()
    }
}

impl Subject for Bridged {
    type Root<'a> = EnteredSpan;

    fn name(&self) -> &'static str {
        "reqtrace"
    }

    fn begin(&self) -> EnteredSpan {
        self.tracer.start_trace();
        info_span!("root").entered()
    }

    #[inline]
    fn child(&self) {
        let _s = info_span!("child").entered();
    }

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let _s = info_span!("child", model = model, tokens = tokens).entered();
    }

    fn end(&self, root: EnteredSpan) {
        drop(root);
        if let Some(trace) = self.tracer.end_trace() {
            crate::consume(&trace);
            self.counters.add_received(trace.spans.len() as u64);
        }
    }

    /// No reqtrace trace active: the bridge records nothing.
    fn begin_unsampled(&self) -> EnteredSpan {
        info_span!("root").entered()
    }

    #[inline]
    fn unsampled_child(&self) {
        let _s = info_span!("child").entered();
    }

    fn end_unsampled(&self, root: EnteredSpan) {
        drop(root);
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Plain `tracing` with the recording layer of the `tracing` peer, under a scoped dispatcher.
#[derive(Debug)]
pub struct Layered {
    dispatch: Dispatch,
    counters: Arc<Counters>,
}

impl Layered {
    /// A subscriber with the recording layer on it.
    pub fn new() -> Self {
        let counters = Arc::new(Counters::default());
        let subscriber = tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(RecordingLayer::new(counters.clone()));
        Self {
            dispatch: Dispatch::new(subscriber),
            counters,
        }
    }

    /// The dispatcher to make current around a run.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}

impl Default for Layered {
    fn default() -> Self {
        Self::new()
    }
}

impl Subject for Layered {
    type Root<'a> = EnteredSpan;

    fn name(&self) -> &'static str {
        "tracing"
    }

    fn begin(&self) -> EnteredSpan {
        info_span!("root").entered()
    }

    #[inline]
    fn child(&self) {
        let _s = info_span!("child").entered();
    }

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let _s = info_span!("child", model = model, tokens = tokens).entered();
    }

    fn end(&self, root: EnteredSpan) {
        drop(root);
    }

    /// A disabled root (below the `INFO` filter).
    fn begin_unsampled(&self) -> EnteredSpan {
        tracing::trace_span!("root").entered()
    }

    #[inline]
    fn unsampled_child(&self) {
        let _s = tracing::trace_span!("child").entered();
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}
