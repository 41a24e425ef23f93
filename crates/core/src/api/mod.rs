//! The public API: the tracer and its builder, span guards and owned spans, roots, futures, the current span, the global tracer, async shutdown.

pub(crate) mod current_span;
pub(crate) mod edit_span;
pub(crate) mod future;
pub mod global;
pub(crate) mod guard;
pub(crate) mod root;
pub(crate) mod shutdown;
pub(crate) mod span;
pub(crate) mod trace_builder;
pub(crate) mod trace_start;
pub(crate) mod tracer;
pub(crate) mod tracer_builder;
