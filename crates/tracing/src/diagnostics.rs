//! [`forward_diagnostics`]: reqtrace's own warnings (failing exports, dropped spans, ignored
//! `OTEL_*` values) as `tracing` events, so they reach the same logs as the service's.

use reqtrace_core::diagnostics::{self, Diagnostic};

/// Sends every later [`reqtrace_core::diagnostics`] report to `tracing` as a `WARN` event
/// with target `reqtrace`, fields `kind`, `subject` and `suppressed`, instead of standard
/// error. Call it once, after installing the subscriber.
///
/// The events carry no span: they come from the tracer's export thread (or from whoever
/// read the bad variable), and a `ReqtraceLayer` records nothing for them outside a span.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// tracing_subscriber::registry().init();
/// reqtrace_tracing::forward_diagnostics();
/// // e.g. `WARN reqtrace: OTEL_TRACES_SAMPLER="x" ignored: unknown sampler ...`
/// reqtrace_core::Sampler::from_env_with(|k| (k == "OTEL_TRACES_SAMPLER").then(|| "x".into()));
/// ```
pub fn forward_diagnostics() {
    diagnostics::set_handler(|d: &Diagnostic| {
        tracing::warn!(
            target: "reqtrace",
            kind = d.kind.as_str(),
            subject = d.subject.as_str(),
            suppressed = d.suppressed,
            "{}",
            d.message
        );
    });
}
