//! How `tracing` fields land on reqtrace spans, by tracing-opentelemetry's conventions (so a
//! service moving from it keeps its meaning):
//!
//! - span fields `otel.name` (the span's name), `otel.kind` (`server`, `client`, `producer`,
//!   `consumer`, `internal`, any case), `otel.status_code` (`ok`, `error`, any case; `Debug`
//!   of a status works too), `otel.status_message` / `otel.status_description` (an error
//!   status with that message, unless the span is already ok) set the span itself and are not
//!   kept as attributes;
//! - a span field `error` fails the span with its text (`true`: "error"; `false`: nothing);
//! - an event with an `error` field and no message (what `#[instrument(err)]` emits) is an
//!   `exception` event with `exception.message`, and fails the span; with a message it keeps
//!   its name and the `error` attribute, and fails the span too;
//! - an `ERROR`-level event fails a span whose status is still unset (with the event's
//!   message);
//! - other fields are attributes (typed: integers, floats, bools, strings; anything else as its
//!   `Debug` text), events get `level`.

use std::fmt;

use reqtrace_core::{KeyValue, SpanKind, StatusCode, Value};
use tracing_core::Level;
use tracing_core::field::{Field, Visit};

use crate::Target;

/// The field name that marks a span failed.
const ERROR_FIELD: &str = "error";
/// The field `tracing`'s macros put the event text in.
const MESSAGE_FIELD: &str = "message";
const OTEL_NAME: &str = "otel.name";
const OTEL_KIND: &str = "otel.kind";
const OTEL_STATUS_CODE: &str = "otel.status_code";
const OTEL_STATUS_MESSAGE: &str = "otel.status_message";
/// tracing-opentelemetry's older name for `otel.status_message`.
const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";

/// Receives `tracing` field values as reqtrace [`Value`]s.
pub(crate) trait FieldSink {
    fn set(&mut self, field: &Field, value: Value);
}

/// The one `Visit` implementation: converts each field's value and hands it to a sink.
pub(crate) struct Fields<'a, S>(pub &'a mut S);

impl<S: FieldSink> Visit for Fields<'_, S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.set(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.set(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.set(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.set(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.set(field, Value::from(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.set(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.set(field, Value::from(format!("{value:?}")));
    }
}

/// What the bridge has said about a span's status: an `ERROR` event fails a span only while
/// it is unset, an ok status is final, and `otel.status_message` is also the message of an
/// `otel.status_code = "error"` recorded after it.
#[derive(Default)]
pub(crate) struct Status {
    code: StatusCode,
    message: Option<String>,
}

/// Turns a span's fields into attributes, its name, kind and status.
pub(crate) struct SpanVisitor<'a> {
    pub span: &'a mut Target,
    pub status: &'a mut Status,
}

impl SpanVisitor<'_> {
    fn fail(&mut self, message: String) {
        self.status.code = StatusCode::Error;
        self.span.set_error(message);
    }
}

impl FieldSink for SpanVisitor<'_> {
    fn set(&mut self, field: &Field, value: Value) {
        match field.name() {
            ERROR_FIELD => {
                if let Some(message) = error_message(value) {
                    self.fail(message);
                }
            }
            OTEL_NAME => self.span.update_name(text(value)),
            OTEL_KIND => {
                if let Some(kind) = span_kind(&text(value)) {
                    self.span.set_kind(kind);
                }
            }
            OTEL_STATUS_CODE => {
                let code = text(value);
                if code.eq_ignore_ascii_case("ok") {
                    self.status.code = StatusCode::Ok;
                    self.span.set_ok();
                } else if code
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("error"))
                {
                    // `?Status::error("…")` reads `Error { description: "…" }`.
                    let message = self.status.message.clone().unwrap_or_default();
                    self.fail(message);
                }
            }
            // As in tracing-opentelemetry, a status message is an error status with that
            // message (unless the span was already marked ok, which is final).
            OTEL_STATUS_MESSAGE | OTEL_STATUS_DESCRIPTION => {
                let message = text(value);
                self.status.message = Some(message.clone());
                if self.status.code != StatusCode::Ok {
                    self.fail(message);
                }
            }
            name => self.span.set_attribute(name, value),
        }
    }
}

/// The span kind an `otel.kind` value names (any case), as tracing-opentelemetry reads it.
fn span_kind(s: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find(|(name, _)| s.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind)
}

/// A value as text (strings without quotes).
fn text(value: Value) -> String {
    match value {
        Value::String(s) => s.into_owned(),
        other => other.to_string(),
    }
}

/// The status message an `error` field's value stands for (`None`: not an error).
fn error_message(value: Value) -> Option<String> {
    match value {
        Value::Bool(false) => None,
        Value::Bool(true) => Some(ERROR_FIELD.to_owned()),
        other => Some(text(other)),
    }
}

/// Collects an event's message, error and other fields.
pub(crate) struct EventVisitor {
    message: Option<String>,
    error: Option<String>,
    attributes: Vec<KeyValue>,
}

/// An event, read: what to add to its span, and whether it fails it.
pub(crate) struct EventRecord {
    pub name: std::borrow::Cow<'static, str>,
    pub attributes: Vec<KeyValue>,
    /// The error message the event fails its span with, and whether only an unset status
    /// is failed (an `ERROR`-level event without an `error` field).
    pub fails: Option<(String, bool)>,
}

impl EventVisitor {
    /// Reads `event`'s fields.
    pub fn read(event: &tracing_core::Event<'_>) -> EventRecord {
        let meta = event.metadata();
        let mut v = EventVisitor {
            message: None,
            error: None,
            attributes: Vec::with_capacity(meta.fields().len() + 1),
        };
        event.record(&mut Fields(&mut v));
        v.attributes
            .push(KeyValue::new("level", meta.level().as_str()));
        let error_level = *meta.level() == Level::ERROR;
        let fails = match (&v.error, &v.message) {
            (Some(e), _) => Some((e.clone(), false)),
            (None, Some(m)) if error_level => Some((m.clone(), true)),
            (None, None) if error_level => Some((String::new(), true)),
            (None, _) => None,
        };
        let name = match (v.message, v.error) {
            (Some(m), _) => m.into(),
            // `#[instrument(err)]`: an `error` field and no message is an exception.
            (None, Some(e)) => {
                for kv in &mut v.attributes {
                    if kv.key == ERROR_FIELD {
                        *kv = KeyValue::new("exception.message", e.clone());
                    }
                }
                "exception".into()
            }
            (None, None) => meta.name().into(),
        };
        EventRecord {
            name,
            attributes: v.attributes,
            fails,
        }
    }
}

impl FieldSink for EventVisitor {
    fn set(&mut self, field: &Field, value: Value) {
        match field.name() {
            MESSAGE_FIELD => self.message = Some(text(value)),
            name => {
                if name == ERROR_FIELD {
                    self.error = error_message(value.clone());
                }
                self.attributes.push(KeyValue::new(name, value));
            }
        }
    }
}

impl Status {
    /// Applies an event's failure to the span: an `error` field always, an `ERROR` level
    /// only while the status is unset.
    pub fn apply(&mut self, span: &mut Target, fails: Option<(String, bool)>) {
        match fails {
            Some((message, only_unset)) if !only_unset || self.code == StatusCode::Unset => {
                self.code = StatusCode::Error;
                span.set_error(message);
            }
            _ => {}
        }
    }
}
