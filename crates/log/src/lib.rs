//! # reqtrace-log
//!
//! Log correlation for the [`log`] crate: a [`log::Log`] that
//!
//! - records each log record made inside a reqtrace span (a guard, a root, a `#[trace]`
//!   function, a bridged `tracing` span) as an event of that span: the message is the
//!   event's name, the record's level, target and key-values its attributes; bounded by the
//!   tracer's `max_events_per_span` like any event, what the limit drops counted in
//!   `Stats::events_dropped`;
//! - forwards every record to the logger you had (env_logger, a JSON logger, …) with
//!   `trace_id` and `span_id` added to its key-values when a span is current, so log lines and
//!   traces join on the trace id.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use reqtrace_core::{RequestTracer, Value};
//! use reqtrace_log::ReqtraceLogger;
//!
//! /// Your logger: here one that keeps the key-values it sees.
//! struct Keep(Arc<Mutex<Vec<String>>>);
//! impl log::Log for Keep {
//!     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
//!     fn log(&self, record: &log::Record<'_>) {
//!         struct Keys(Vec<String>);
//!         impl<'kvs> log::kv::VisitSource<'kvs> for Keys {
//!             fn visit_pair(&mut self, k: log::kv::Key<'kvs>, v: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
//!                 self.0.push(format!("{k}={v}"));
//!                 Ok(())
//!             }
//!         }
//!         let mut keys = Keys(Vec::new());
//!         record.key_values().visit(&mut keys).unwrap();
//!         self.0.lock().unwrap().push(format!("{} {}", record.args(), keys.0.join(" ")));
//!     }
//!     fn flush(&self) {}
//! }
//!
//! let lines = Arc::new(Mutex::new(Vec::new()));
//! let tracer = RequestTracer::new("api");
//! let logger = ReqtraceLogger::new(tracer.clone()).forward_to(Keep(Arc::clone(&lines)));
//!
//! tracer.start_trace();
//! {
//!     let span = tracer.start_span("load user");
//!     let record = log::Record::builder()
//!         .args(format_args!("cache miss"))
//!         .level(log::Level::Info)
//!         .target("api::users")
//!         .build();
//!     log::Log::log(&logger, &record); // what `log::info!` does once the logger is installed
//!     let line = &lines.lock().unwrap()[0];
//!     let ctx = span.context().unwrap();
//!     assert!(line.contains(&format!("trace_id={}", ctx.trace_id)), "{line}");
//!     assert!(line.contains(&format!("span_id={}", ctx.span_id)), "{line}");
//! }
//! let trace = tracer.end_trace().unwrap();
//! let event = &trace.spans[0].events[0];
//! assert_eq!(event.name, "cache miss");
//! assert_eq!(event.attributes[0].value, Value::from("INFO"));
//! ```
//!
//! Install it as the process's logger with [`ReqtraceLogger::install`]. Records outside any
//! span are only forwarded (unchanged). `tracing` users get the same through
//! `reqtrace-tracing` (its layer records events) and its `TraceIdFormat` for
//! `tracing-subscriber`'s `fmt`.

use std::borrow::Cow;
use std::fmt::Write as _;

use log::kv::{self, Key, Source, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};
use reqtrace_core::{KeyValue, RequestTracer, SpanContext, Value};

/// A [`Log`] that records log records as span events and forwards them, with `trace_id` and
/// `span_id`, to another logger (see the crate docs).
pub struct ReqtraceLogger {
    /// `None`: the global tracer, looked up on each record.
    tracer: Option<RequestTracer>,
    inner: Option<Box<dyn Log>>,
    events: LevelFilter,
}

impl std::fmt::Debug for ReqtraceLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqtraceLogger")
            .field("tracer", &self.tracer)
            .field("forwards", &self.inner.is_some())
            .field("events", &self.events)
            .finish()
    }
}

impl ReqtraceLogger {
    /// Records into `tracer`'s spans; forwards nowhere until [`ReqtraceLogger::forward_to`].
    pub fn new(tracer: RequestTracer) -> Self {
        ReqtraceLogger {
            tracer: Some(tracer),
            inner: None,
            events: LevelFilter::Info,
        }
    }

    /// Records into the process-wide tracer ([`reqtrace_core::global::tracer`]), looked up on
    /// each record (so it may be installed before the tracer is set).
    pub fn global() -> Self {
        ReqtraceLogger {
            tracer: None,
            inner: None,
            events: LevelFilter::Info,
        }
    }

    /// Forwards every record to `inner` (your logger), with `trace_id` and `span_id` added
    /// while a span is current.
    pub fn forward_to(mut self, inner: impl Log + 'static) -> Self {
        self.inner = Some(Box::new(inner));
        self
    }

    /// The most verbose level recorded as span events (default `Info`: `debug!` and `trace!`
    /// are only forwarded). `LevelFilter::Off` records none.
    pub fn span_events(mut self, level: LevelFilter) -> Self {
        self.events = level;
        self
    }

    /// Installs this logger as the `log` crate's, with `max_level` as its maximum level.
    pub fn install(self, max_level: LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max_level);
        Ok(())
    }

    fn tracer(&self) -> &RequestTracer {
        self.tracer
            .as_ref()
            .unwrap_or_else(|| reqtrace_core::global::tracer())
    }
}

impl Log for ReqtraceLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.events || self.inner.as_ref().is_some_and(|i| i.enabled(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        let tracer = self.tracer();
        if record.level() <= self.events {
            let current = tracer.current_span();
            if current.is_recording() {
                current.add_event(message(record), attributes(record));
            }
        }
        let Some(inner) = &self.inner else { return };
        match tracer.current_span_context() {
            Some(ctx) => {
                let ids = WithIds::new(record.key_values(), &ctx);
                inner.log(
                    &Record::builder()
                        .args(*record.args())
                        .metadata(record.metadata().clone())
                        .module_path(record.module_path())
                        .file(record.file())
                        .line(record.line())
                        .key_values(&ids)
                        .build(),
                );
            }
            None => inner.log(record),
        }
    }

    fn flush(&self) {
        if let Some(inner) = &self.inner {
            inner.flush();
        }
    }
}

/// The record's message: its arguments, formatted.
fn message(record: &Record<'_>) -> Cow<'static, str> {
    match record.args().as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(record.args().to_string()),
    }
}

/// The event attributes of a record: `level`, `log.target`, `code.*` when known, then its
/// key-values (typed where `log` can say the type).
fn attributes(record: &Record<'_>) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new("level", record.level().as_str()),
        KeyValue::new("log.target", record.target().to_owned()),
    ];
    if let Some(m) = record.module_path() {
        attrs.push(KeyValue::new("code.namespace", m.to_owned()));
    }
    if let Some(f) = record.file() {
        attrs.push(KeyValue::new("code.filepath", f.to_owned()));
    }
    if let Some(l) = record.line() {
        attrs.push(KeyValue::new("code.lineno", i64::from(l)));
    }
    struct Collect<'a>(&'a mut Vec<KeyValue>);
    impl<'kvs> VisitSource<'kvs> for Collect<'_> {
        fn visit_pair(&mut self, key: Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
            let v = if let Some(b) = value.to_bool() {
                Value::Bool(b)
            } else if let Some(i) = value.to_i64() {
                Value::I64(i)
            } else if let Some(f) = value.to_f64() {
                Value::F64(f)
            } else {
                let mut s = String::new();
                let _ = write!(s, "{value}");
                Value::from(s)
            };
            self.0.push(KeyValue::new(key.as_str().to_owned(), v));
            Ok(())
        }
    }
    let _ = record.key_values().visit(&mut Collect(&mut attrs));
    attrs
}

/// A record's key-values followed by `trace_id` and `span_id`.
struct WithIds<'a> {
    inner: &'a dyn Source,
    trace_id: String,
    span_id: String,
}

impl<'a> WithIds<'a> {
    fn new(inner: &'a dyn Source, ctx: &SpanContext) -> Self {
        WithIds {
            inner,
            trace_id: ctx.trace_id.to_string(),
            span_id: ctx.span_id.to_string(),
        }
    }
}

impl Source for WithIds<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        self.inner.visit(visitor)?;
        visitor.visit_pair(Key::from_str("trace_id"), kv::Value::from(&*self.trace_id))?;
        visitor.visit_pair(Key::from_str("span_id"), kv::Value::from(&*self.span_id))
    }
}
