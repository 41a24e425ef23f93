//! The process-wide tracer: set once at start-up, read anywhere.
//!
//! Libraries and `#[trace]` functions reach the tracer through [`tracer()`] instead of
//! threading a `RequestTracer` through every call. Before [`set_tracer`] runs, [`tracer()`]
//! returns a no-op tracer (it samples nothing and exports nothing), so instrumented code
//! never panics and costs one thread-local read per span while tracing is off.
//!
//! ```
//! use reqtrace_core::{global, RequestTracer};
//!
//! // At start-up, once (e.g. in `main`, after reading the configuration):
//! global::set_tracer(RequestTracer::new("checkout")).expect("set once");
//!
//! // Anywhere later, on any thread:
//! let tracer = global::tracer();
//! let root = tracer.start_root("GET /cart");
//! drop(tracer.start_span("load cart")); // no parent here: not attached
//! let trace = root.finish();
//! assert_eq!(trace.spans.len(), 1);
//! assert_eq!(global::tracer().service_name(), "checkout");
//! ```
//! Layer: the API (above the tracer it stores).

use std::sync::OnceLock;

use crate::api::current_span::CurrentSpan;
use crate::api::tracer::RequestTracer;
use crate::model::sampler::Sampler;

static GLOBAL: OnceLock<RequestTracer> = OnceLock::new();
static NOOP: OnceLock<RequestTracer> = OnceLock::new();

/// Makes `tracer` the process-wide tracer that [`tracer()`] returns from now on.
///
/// It can be set once: a second call returns its argument back as `Err` and leaves the first
/// in place (as `log::set_logger` does), so a library can never replace the application's
/// tracer. Spans started through the no-op tracer before this call stay unrecorded.
pub fn set_tracer(tracer: RequestTracer) -> Result<(), RequestTracer> {
    let mut slot = Some(tracer);
    GLOBAL.get_or_init(|| slot.take().expect("taken once"));
    match slot {
        None => Ok(()),
        Some(refused) => Err(refused),
    }
}

/// The process-wide tracer: the one given to [`set_tracer`], or until then a no-op tracer
/// (service `"unknown_service"`, sampler [`Sampler::AlwaysOff`], no exporter, keeps nothing).
///
/// Cheap enough for every call: one atomic load once set.
#[inline]
pub fn tracer() -> &'static RequestTracer {
    match GLOBAL.get() {
        Some(t) => t,
        None => noop(),
    }
}

/// The innermost span current on this thread in the global tracer's traces:
/// `global::tracer().current_span()`. See [`CurrentSpan`].
///
/// ```
/// use reqtrace_core::global;
/// // No tracer set, nothing current: the edit is a no-op.
/// global::current_span().set_attribute("user.id", 7);
/// ```
pub fn current_span() -> CurrentSpan {
    tracer().current_span()
}

/// Whether [`set_tracer`] has run.
pub fn is_set() -> bool {
    GLOBAL.get().is_some()
}

#[cold]
fn noop() -> &'static RequestTracer {
    NOOP.get_or_init(|| {
        RequestTracer::builder("unknown_service")
            .sampler(Sampler::AlwaysOff)
            .retain_traces(false)
            .build()
    })
}
