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
//! Everything public is at the crate root, except the [`global`] tracer and the
//! [`diagnostics`] handler, which are namespaces of free functions. The source is in one
//! folder per layer, bottom to top (a module imports only from its folder or below; see
//! ARCHITECTURE.md):
//! - `util/`: clock, span-id generator, the hand-off's atomics, interned thread names;
//! - `model/`: [`TraceId`], [`SpanId`], [`TraceFlags`], [`SpanContext`]; [`Value`] and
//!   [`KeyValue`]; the finished [`Trace`] and [`SpanData`]; [`Limits`], [`BatchConfig`],
//!   [`Sampler`], [`Stats`], [`SpanExporter`]; [`diagnostics`];
//! - `record/`: the 64-byte span record, the limits applied to what a span records, edits
//!   waiting for a span held elsewhere;
//! - `export/`: the batching export worker and its lanes;
//! - `collect/`: a live trace and its lock-free inbox, [`SpanHandle`], [`TailSampler`],
//!   trace assembly, the state a tracer's clones share;
//! - `local/`: the per-thread span stack and the hot path on it;
//! - `api/`: [`RequestTracer`], [`SpanGuard`], [`Span`], [`RootSpan`], [`Instrumented`],
//!   [`CurrentSpan`], [`global`], [`Shutdown`].
//!
//! A finished span is stored on the hot path as a 64-byte record (`size_of` checked by a test)
//! plus its attributes.

// Layers, bottom to top, one folder each; a module imports only from its own folder or a
// folder below it (ARCHITECTURE.md, "Layers"; checked by tests/layers.rs).
mod api;
mod collect;
mod export;
mod local;
mod model;
mod record;
mod util;

pub use api::current_span::CurrentSpan;
pub use api::edit_span::EditSpan;
pub use api::future::{FutureExt, Instrumented, bind};
pub use api::global;
pub use api::guard::{AttachGuard, SpanGuard};
pub use api::root::{RootRun, RootSpan};
pub use api::shutdown::Shutdown;
pub use api::span::Span;
pub use api::trace_builder::TraceBuilder;
pub use api::tracer::RequestTracer;
pub use api::tracer_builder::RequestTracerBuilder;
pub use collect::handle::{Parent, SpanHandle};
pub use collect::tail_sampler::{
    ContinuedTraces, SAMPLING_RULE_KEY, TailPolicy, TailRuleStats, TailSampler,
};
pub use model::config::{BatchConfig, Limits};
pub use model::current_trace::CurrentTrace;
pub use model::data::{Event, Link, SpanData, SpanKind, StatusCode, Trace};
pub use model::diagnostics;
pub use model::exporter::{ExportError, InMemoryExporter, SpanExporter};
pub use model::ids::{IdError, SpanContext, SpanId, TraceFlags, TraceId};
pub use model::resource::{
    HostDetector, ProcessDetector, Resource, ResourceDetector, SdkDetector, ServiceDetector,
    UNKNOWN_SERVICE,
};
pub use model::sampler::Sampler;
pub use model::stats::{DroppedSpans, ExportStats, Stats};
pub use model::value::{KeyValue, Value};
