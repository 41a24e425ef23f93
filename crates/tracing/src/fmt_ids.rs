//! [`TraceIdFormat`] (feature `fmt`): log correlation for `tracing-subscriber`'s `fmt` layer,
//! each line prefixed with the current reqtrace span's `trace_id=… span_id=…`.

use std::fmt;

use reqtrace_core::RequestTracer;
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Wraps a `fmt` event formatter (e.g. `tracing_subscriber::fmt::format()`) so that each line
/// written while a reqtrace span is current starts with `trace_id=<hex> span_id=<hex> `, the
/// ids a trace backend finds the request by. A `tracing` span recorded by
/// [`crate::ReqtraceLayer`] is current while entered, so `#[instrument]`-ed code gets its ids.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use reqtrace_core::RequestTracer;
/// use reqtrace_tracing::{ReqtraceLayer, TraceIdFormat};
/// use tracing_subscriber::prelude::*;
///
/// #[derive(Clone, Default)]
/// struct Buf(Arc<Mutex<Vec<u8>>>);
/// impl std::io::Write for Buf {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let tracer = RequestTracer::new("api");
/// let out = Buf::default();
/// let sink = out.clone();
/// let fmt = tracing_subscriber::fmt::layer()
///     .with_ansi(false)
///     .with_writer(move || sink.clone())
///     .event_format(TraceIdFormat::new(
///         tracing_subscriber::fmt::format().without_time(),
///         tracer.clone(),
///     ));
/// let subscriber = tracing_subscriber::registry()
///     .with(ReqtraceLayer::new(tracer.clone()))
///     .with(fmt);
/// tracing::subscriber::with_default(subscriber, || {
///     let _request = tracing::info_span!("request").entered(); // starts a trace
///     let ctx = tracer.current_span_context().unwrap();
///     tracing::info!("handled");
///     let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
///     assert!(text.starts_with(&format!("trace_id={} span_id={} ", ctx.trace_id, ctx.span_id)), "{text}");
///     assert!(text.contains("handled"));
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TraceIdFormat<F> {
    inner: F,
    /// `None`: the global tracer.
    tracer: Option<RequestTracer>,
}

impl<F> TraceIdFormat<F> {
    /// `inner`'s lines, prefixed with `tracer`'s current span ids.
    pub fn new(inner: F, tracer: RequestTracer) -> Self {
        TraceIdFormat {
            inner,
            tracer: Some(tracer),
        }
    }

    /// `inner`'s lines, prefixed with the process-wide tracer's current span ids
    /// ([`reqtrace_core::global::tracer`]).
    pub fn global(inner: F) -> Self {
        TraceIdFormat {
            inner,
            tracer: None,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let tracer = self
            .tracer
            .as_ref()
            .unwrap_or_else(|| reqtrace_core::global::tracer());
        if let Some(c) = tracer.current_span_context() {
            write!(writer, "trace_id={} span_id={} ", c.trace_id, c.span_id)?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}
