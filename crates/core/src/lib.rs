//! reqtrace-core (in progress)
pub mod data;
pub mod export;
pub mod ids;
mod rng;
mod trace;
pub mod value;

pub use data::{Event, SpanData, SpanKind, StatusCode, Trace};
pub use ids::{IdError, SpanContext, SpanId, TraceFlags, TraceId};
pub use value::{KeyValue, Value};
pub use export::{ExportError, Resource, SpanExporter};
