//! The peer libraries, each set up so that its spans are really collected and every span
//! reaches a consumer that counts it. Built only with the `peers` feature.
//!
//! | library | per span (sampled) | consumer |
//! | --- | --- | --- |
//! | fastrace 0.7 | [`fastrace_subject`]: `LocalSpan` pushes a record into the thread-local span queue (TSC start), writes the end on drop; properties are `Cow<str>` pairs (the integer is formatted) | a `Reporter` on fastrace's collector thread, fed when the root `Span` drops and the collector drains (every 1 s, or on `flush`) |
//! | fastrace 0.7, async (rows g, h) | [`fastrace_async`]: `FutureExt::in_span`, the span the local parent on every poll | the same reporter |
//! | tokio `tracing` 0.1 | [`tracing_subject`]: `info_span!(..).entered()`; `Registry` allocates the span slot, the recording layer stores TSC start + owned field values in the span's extensions, on close the end time, ids and fields go to a thread-local buffer | the buffer is handed over when the root closes |
//! //! | opentelemetry_sdk 0.33 | [`otel_subject`]: `tracer.start` (random ids, sampler, `SystemTime` start, attributes `Vec`), `mark_span_as_active` attaches a `Context`; on drop the span ends and its `SpanData` is sent to the `BatchSpanProcessor` channel | the exporter, called on the processor's thread with batches of up to 512 |

pub mod bridge_subject;
pub mod encode;
pub mod export_path;
pub mod fastrace_async;
pub mod fastrace_subject;
pub mod otel_subject;
pub mod tracing_subject;
