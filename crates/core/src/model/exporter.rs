//! Streaming export: the [`SpanExporter`] trait that destinations implement (files, OTLP/HTTP,
//! anything); the [`Resource`] they are given lives in `resource.rs`.
//!
//! The tracer feeds exporters from a batching worker thread of its own (see
//! [`crate::RequestTracerBuilder::exporter`]); each exporter handle is only ever called from
//! one thread at a time, so it takes `&mut self` and needs no locking. An exporter that can
//! give further handles on its destination ([`SpanExporter::try_clone`]) lets the worker run
//! up to `BatchConfig::max_concurrent_exports` exports at once, one per handle.

use std::fmt;

use crate::model::data::SpanData;
use crate::model::resource::Resource;

/// Why an export failed, and whether trying again may help.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// A passing failure (connection refused, 429, 503, timeout): the worker retries with
    /// backoff up to its bound. `retry_after_ms` is the destination's own hint, if it gave one.
    Transient {
        /// What went wrong.
        message: String,
        /// The destination's `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// A failure that retrying will not fix (bad request, encoding error): the batch is dropped
    /// and counted.
    Permanent(String),
}

impl ExportError {
    /// A transient error with no retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        ExportError::Transient {
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError::Permanent(message.into())
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Transient { message, .. } => {
                write!(f, "transient export error: {message}")
            }
            ExportError::Permanent(m) => write!(f, "permanent export error: {m}"),
        }
    }
}

impl std::error::Error for ExportError {}

/// A destination for finished spans.
///
/// Called from the tracer's export worker only, never from a traced thread, and never
/// concurrently on one handle. `export` may block; the worker bounds how long it waits overall
/// through its retry policy and its shutdown timeout.
pub trait SpanExporter: Send + 'static {
    /// Sends one batch. Spans of several traces may be mixed; they are in finishing order.
    fn export(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError>;

    /// Makes everything exported so far durable (flush buffers). Called by `force_flush`.
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases the destination. Called once per handle, after its last `export`.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.flush()
    }

    /// Another handle on the same destination, so the worker can run up to
    /// `BatchConfig::max_concurrent_exports` exports at once (each handle on its own thread;
    /// each gets its own `flush` and `shutdown`). `None` (the default): one export at a time.
    ///
    /// Return `Some` only when concurrent exports through separate handles are safe and
    /// batches may arrive out of order (a network exporter sharing a connection pool, not a
    /// file writer).
    fn try_clone(&self) -> Option<Box<dyn SpanExporter>> {
        None
    }
}

impl<E: SpanExporter + ?Sized> SpanExporter for Box<E> {
    fn export(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError> {
        (**self).export(batch, resource)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        (**self).flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
    fn try_clone(&self) -> Option<Box<dyn SpanExporter>> {
        (**self).try_clone()
    }
}

/// An exporter that keeps every span it is given in memory: for tests, examples and small
/// tools. Clones share the spans (keep one clone, give the other to the tracer), and it offers
/// itself for concurrent exports.
///
/// ```
/// use reqtrace_core::{BatchConfig, InMemoryExporter, RequestTracer};
///
/// let sink = InMemoryExporter::new();
/// let tracer = RequestTracer::builder("svc")
///     .exporter(sink.clone(), BatchConfig::default())
///     .build();
/// drop(tracer.start_root("request"));
/// tracer.shutdown().unwrap();
/// assert_eq!(sink.take().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemoryExporter {
    spans: std::sync::Arc<parking_lot::Mutex<Vec<SpanData>>>,
}

impl InMemoryExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        InMemoryExporter::default()
    }

    /// A copy of the spans received so far, in the order they arrived.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.lock().clone()
    }

    /// The spans received so far, leaving it empty.
    pub fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.spans.lock())
    }

    /// How many spans it holds.
    pub fn len(&self) -> usize {
        self.spans.lock().len()
    }

    /// Whether it holds no span.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SpanExporter for InMemoryExporter {
    fn export(&mut self, batch: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        self.spans.lock().extend_from_slice(batch);
        Ok(())
    }

    fn try_clone(&self) -> Option<Box<dyn SpanExporter>> {
        Some(Box::new(self.clone()))
    }
}
