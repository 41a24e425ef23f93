//! Configuration: the [`Limits`] that bound memory, and [`BatchConfig`] for the export worker.

use std::time::Duration;

/// Bounds on what the tracer keeps. Over a bound the extra data is dropped and counted
/// (see [`crate::Stats`]); the caller is never blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Finished spans that may wait in hand-off queues across the whole tracer (not counting
    /// each thread's current batch, which is bounded by `batch_size`). Default 262,144.
    pub max_buffered_spans: usize,
    /// Spans kept per trace. Default 65,536.
    pub max_spans_per_trace: usize,
    /// Attributes kept per span (at most 65,535). Default 128.
    pub max_attributes_per_span: usize,
    /// Events kept per span. Default 128.
    pub max_events_per_span: usize,
    /// Links kept per span. Default 128 (OpenTelemetry's).
    pub max_links_per_span: usize,
    /// Attributes kept per link. Default 128 (OpenTelemetry's).
    pub max_attributes_per_link: usize,
    /// Bytes kept of a string attribute value (cut at a character boundary). Default 4,096.
    pub max_attribute_value_len: usize,
    /// Spans a thread buffers for one trace before handing them over as a batch. Default 512.
    pub batch_size: usize,
    /// Bytes kept of an attribute key (cut at a character boundary). Default 256.
    pub max_attribute_key_len: usize,
    /// Bytes kept of a span or event name. Default 1,024.
    pub max_name_len: usize,
    /// Elements kept of an array attribute value. Default 128.
    pub max_array_len: usize,
    /// Bytes kept of a received W3C `tracestate` (W3C: 512 is the size a vendor must be able
    /// to propagate). Default 512; a longer one is dropped whole, not cut.
    pub max_trace_state_len: usize,
    /// Traces live at once across the tracer (started and not yet ended or dropped). Over it
    /// a new trace is refused: it propagates its ids but records nothing (counted in
    /// [`crate::Stats::traces_refused`]). Default 65,536.
    pub max_open_traces: usize,
    /// Traces started with `start_trace` and not yet ended that one thread may hold. Starting
    /// one more evicts the oldest (its buffered spans handed over, the trace counted
    /// abandoned and evicted): a thread that starts traces and never ends them (an async task
    /// that moved to another thread) cannot grow without bound. Holds in every scope: inside
    /// `attach`, a `bind` closure or an instrumented future's poll too. Default 64.
    pub max_traces_per_thread: usize,
    /// Bytes that finished spans waiting in trace hand-off queues may hold across the tracer
    /// (records, attributes, names, events: [`crate::Stats::bytes_queued`]). A batch that would
    /// go over is dropped and counted (`buffer_full`). Default 64 MiB.
    pub max_buffered_bytes: usize,
    /// Spans open at once on one thread (stack depth), across every trace and attached scope
    /// on it. Deeper spans are not recorded (counted in
    /// [`crate::Stats::spans_depth_limited`]). Default 4,096.
    pub max_open_spans_per_thread: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffered_spans: 262_144,
            max_spans_per_trace: 65_536,
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_link: 128,
            max_attribute_value_len: 4_096,
            batch_size: 512,
            max_attribute_key_len: 256,
            max_name_len: 1_024,
            max_array_len: 128,
            max_trace_state_len: 512,
            max_open_traces: 65_536,
            max_traces_per_thread: 64,
            max_open_spans_per_thread: 4_096,
            max_buffered_bytes: 64 << 20,
        }
    }
}

/// How the export worker batches, retries and shuts down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Spans that may wait in the export queue, however they are batched; more are dropped
    /// and counted. Default 262,144 (about 18 MB of small spans; `max_queue_bytes` caps it in bytes).
    pub max_queue_spans: usize,
    /// Bytes that spans waiting in the export queue may hold (see
    /// [`crate::ExportStats::bytes_in_queue`]); a batch that would go over is dropped and
    /// counted like a full queue. Default 64 MiB.
    pub max_queue_bytes: usize,
    /// Spans per `export` call at most; the worker wakes as soon as this many are queued and
    /// sends full calls, and sends what is left at each `flush_interval`. Default 512.
    pub max_export_batch_size: usize,
    /// How often the worker exports what is queued, and how long a thread keeps finished spans
    /// of a still-open trace before handing them over. Default 1 s.
    pub flush_interval: Duration,
    /// Retries of a transiently failing batch before it is dropped. Default 5.
    pub max_retries: u32,
    /// First retry delay; doubled each retry. Default 100 ms.
    pub initial_backoff: Duration,
    /// Longest retry delay (also caps a destination's `Retry-After`). Default 5 s.
    pub max_backoff: Duration,
    /// How long `shutdown` waits for the worker to deliver what is queued, retries included.
    /// One deadline for the whole shutdown: dropping the tracer afterwards does not wait
    /// again. Default 10 s.
    pub shutdown_timeout: Duration,
    /// `export` calls that may run at once (OpenTelemetry's name), when the exporter can give
    /// more handles on its destination ([`crate::SpanExporter::try_clone`]); otherwise one.
    /// Each extra concurrent export costs one thread and up to `max_export_batch_size`
    /// converted spans. Default 2: a network export spends most of its time waiting for the
    /// answer, and a second call in flight overlaps that round trip with the next request
    /// (one at a time dropped most of a 100 k spans/s stream into a local receiver), while
    /// exporters that cannot clone (files) are unaffected. Zero counts as one.
    pub max_concurrent_exports: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_spans: 262_144,
            max_queue_bytes: 64 << 20,
            max_export_batch_size: 512,
            flush_interval: Duration::from_secs(1),
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            max_concurrent_exports: 2,
        }
    }
}

/// One chained setter per field, named like it: `Limits::default().max_name_len(256)`. With
/// `#[non_exhaustive]` on the struct, this is how code outside the crate changes a few fields
/// and keeps the defaults of the rest (a struct literal would break at every new field).
macro_rules! setters {
    ($ty:ident { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($ty), "::", stringify!($field), "`].")]
                #[must_use]
                pub fn $field(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters!(Limits {
    max_buffered_spans: usize,
    max_spans_per_trace: usize,
    max_attributes_per_span: usize,
    max_events_per_span: usize,
    max_links_per_span: usize,
    max_attributes_per_link: usize,
    max_attribute_value_len: usize,
    batch_size: usize,
    max_attribute_key_len: usize,
    max_name_len: usize,
    max_array_len: usize,
    max_trace_state_len: usize,
    max_open_traces: usize,
    max_traces_per_thread: usize,
    max_buffered_bytes: usize,
    max_open_spans_per_thread: usize,
});

setters!(BatchConfig {
    max_queue_spans: usize,
    max_queue_bytes: usize,
    max_export_batch_size: usize,
    flush_interval: Duration,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    shutdown_timeout: Duration,
    max_concurrent_exports: usize,
});
