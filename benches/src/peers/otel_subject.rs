//! opentelemetry_sdk 0.33: an `SdkTracerProvider` with a `BatchSpanProcessor` (queue enlarged
//! from 2,048 to 1,048,576 so that a busy machine does not make it drop; batches of 512) into a
//! [`CountingExporter`]. Drops still show as received < made in the table.
//!
//! Per child span: `tracer.start` reads the current `Context` for the parent, asks the sampler
//! (`AlwaysOn`), draws a span id from the thread-local RNG, reads `SystemTime` for the start and
//! builds the span (attributes go into a `Vec` through `set_attribute`); `mark_span_as_active`
//! attaches a new `Context` holding the span behind an `Arc`. On drop the context is detached,
//! the span ends (`SystemTime` again), its `SpanData` is built and sent on the processor's
//! bounded channel. The processor's thread batches and calls the exporter, which counts the
//! spans it receives. [`Subject::flush`] is `force_flush`.
//!
//! Unsampled: a second provider with `Sampler::AlwaysOff` (same exporter type, which receives
//! nothing): `start` returns a non-recording span that is still attached as context.

use std::future::Future;
use std::sync::Arc;

use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _, mark_span_as_active};
use opentelemetry::{ContextGuard, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter,
};

use crate::{Counters, Subject};

/// The exporter: counts every span it receives.
#[derive(Debug)]
pub struct CountingExporter {
    counters: Arc<Counters>,
}

impl CountingExporter {
    /// An exporter that counts what it receives in `counters`.
    pub fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }
}

impl SpanExporter for CountingExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        crate::consume(&batch);
        self.counters.add_received(batch.len() as u64);
        std::future::ready(Ok(()))
    }
}

fn provider(sampler: Sampler, counters: Arc<Counters>) -> SdkTracerProvider {
    let processor = BatchSpanProcessor::builder(CountingExporter { counters })
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(1 << 20)
                .with_max_export_batch_size(512)
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler)
        .build()
}

/// OpenTelemetry SDK with a batch processor (and an always-off provider for scenario f).
#[derive(Debug)]
pub struct Otel {
    counters: Arc<Counters>,
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    off_provider: SdkTracerProvider,
    off_tracer: SdkTracer,
}

impl Otel {
    /// Builds both providers.
    pub fn new() -> Self {
        let counters = Arc::new(Counters::default());
        let provider = provider(Sampler::AlwaysOn, counters.clone());
        let tracer = provider.tracer("bench");
        let off_provider = provider_off();
        let off_tracer = off_provider.tracer("bench");
        Self {
            counters,
            provider,
            tracer,
            off_provider,
            off_tracer,
        }
    }
}

fn provider_off() -> SdkTracerProvider {
    provider(Sampler::AlwaysOff, Arc::new(Counters::default()))
}

impl Default for Otel {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Otel {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
        let _ = self.off_provider.shutdown();
    }
}

impl Subject for Otel {
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

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let mut span = self.tracer.start("child");
        span.set_attribute(KeyValue::new("model", model));
        span.set_attribute(KeyValue::new("tokens", tokens));
        let _g = mark_span_as_active(span);
    }

    fn end(&self, root: ContextGuard) {
        drop(root);
    }

    fn begin_unsampled(&self) -> ContextGuard {
        mark_span_as_active(self.off_tracer.start("root"))
    }

    #[inline]
    fn unsampled_child(&self) {
        let _g = mark_span_as_active(self.off_tracer.start("child"));
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}
