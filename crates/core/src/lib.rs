//! # reqtrace-core
//!
//! Request tracing for services with many threads: one [`RequestTracer`] shared by every
//! worker, a span stack per thread, a hot path with no lock and (in the common case) no heap
//! allocation, and whole traces back from [`RequestTracer::end_trace`] — including the spans
//! other threads recorded for the same request.
//!
//! ```
//! use reqtrace_core::RequestTracer;
//!
//! let tracer = RequestTracer::new("inference-api");
//! tracer.start_trace();
//! {
//!     let mut span = tracer.start_span("operation");
//!     span.set_attribute("model", "gpt-4o");
//!     span.set_attribute("tokens", 1500);
//!
//!     // Fan work out to another thread: it joins the same trace.
//!     let ctx = span.handle().unwrap();
//!     let t = tracer.clone();
//!     std::thread::spawn(move || {
//!         let mut child = t.start_span_with_parent("worker", &ctx);
//!         child.add_event("cache-miss", [reqtrace_core::KeyValue::new("key", "k1")]);
//!     })
//!     .join()
//!     .unwrap();
//! }
//! let trace = tracer.end_trace().unwrap();
//! assert_eq!(trace.spans.len(), 2);
//! let op = trace.span("operation").unwrap();
//! assert_eq!(trace.span("worker").unwrap().parent_id, Some(op.span_id));
//! println!("{} took {:.3} ms", op.name, op.duration_ms());
//! ```
//!
//! ## Where things are
//! - [`ids`]: [`TraceId`], [`SpanId`], [`TraceFlags`], [`SpanContext`].
//! - [`value`]: attribute [`Value`]s and [`KeyValue`].
//! - [`data`]: the finished [`Trace`] and [`SpanData`] (serde).
//! - `tracer`: [`RequestTracer`] and its builder; `guard`: [`SpanGuard`], [`AttachGuard`];
//!   `span`: the movable [`Span`]; `future`: [`Instrumented`].
//! - `local` (the per-thread hot path), `batch` (the 64-byte span record), `trace` (the
//!   lock-free hand-off), `export_worker` (the batching export thread): see ARCHITECTURE.md.
//! - [`Sampler`], [`Limits`], [`BatchConfig`], [`Stats`], [`SpanExporter`].
//!
//! A finished span is stored on the hot path as a 64-byte record (`size_of` checked by a test)
//! plus its attributes.

// Layers, bottom to top; a module imports only from its own layer or below
// (ARCHITECTURE.md, "Layers").
// 1. ids, values, finished data, and the small things everything uses.
mod clock;
mod config;
pub mod data;
pub mod diagnostics;
pub mod export;
pub mod ids;
mod rng;
mod sampler;
mod stats;
mod sync;
pub mod thread_name;
pub mod value;
// 2. span records, the limits applied to them, the tail sampler that judges whole traces,
//    and the export worker that consumes them.
mod batch;
mod export_worker;
mod pending_edits;
mod recorder;
pub mod tail_sampler;
// 3. the state a tracer's clones and threads share.
mod tracer_state;
// 4. a live trace and its hand-off queue, and the handle that joins it from elsewhere.
mod handle;
mod trace;
// 5. the per-thread stack and the operations on it (the hot path).
mod span_ops;
mod stack;
mod thread;
// 6. trace assembly.
mod assemble;
// 7. the API.
mod current_span;
mod future;
pub mod global;
mod guard;
mod root;
mod shutdown;
mod span;
mod tracer;

pub use config::{BatchConfig, Limits};
pub use current_span::CurrentSpan;
pub use data::{Event, SpanData, SpanKind, StatusCode, Trace};
pub use export::{ExportError, InMemoryExporter, Resource, SpanExporter};
pub use future::{FutureExt, Instrumented, bind};
pub use guard::{AttachGuard, SpanGuard};
pub use handle::{Parent, SpanHandle};
pub use ids::{IdError, SpanContext, SpanId, TraceFlags, TraceId};
pub use root::{RootBuilder, RootRun, RootSpan};
pub use sampler::Sampler;
pub use shutdown::Shutdown;
pub use span::Span;
pub use stats::{DroppedSpans, ExportStats, Stats};
pub use tail_sampler::{TailPolicy, TailRuleStats, TailSampler};
pub use tracer::{RequestTracer, RequestTracerBuilder, TraceBuilder, TraceContext};
pub use value::{KeyValue, Value};

/// Clock helpers: the raw tick source and its conversion to Unix nanoseconds.
pub mod time {
    pub use crate::clock::{to_unix_nanos, unix_nanos_now};
}
