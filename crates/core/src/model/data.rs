//! Finished data: the [`Trace`] that [`crate::RequestTracer::end_trace`] returns and the
//! [`SpanData`], [`Event`]s and [`StatusCode`] inside it. Plain owned values with serde, ready
//! to encode (see `reqtrace-export-json`).
//!
//! In JSON the seed's names stay: `trace_id`, `spans`, `span_id`, `parent_id` (null for a root),
//! `name`, `attributes` (an object), `events`, `status` (`"unset"`, `"ok"`, `"error"`), `error`
//! (the message), `thread_id`. Times are Unix nanoseconds.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::model::value::{KeyValue, attribute_map};

/// A span's status, as in OpenTelemetry: unset until someone says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    /// Nothing was said about the outcome.
    #[default]
    Unset,
    /// The operation was marked successful.
    Ok,
    /// The operation failed; [`SpanData::error`] holds the message.
    Error,
}

/// What a span represents in a remote call, as in OpenTelemetry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// Handling a request from a remote client.
    Server,
    /// Making a request to a remote server.
    Client,
    /// Sending a message to a broker.
    Producer,
    /// Receiving a message from a broker.
    Consumer,
}

/// A timestamped annotation on a span, with attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's name.
    pub name: Cow<'static, str>,
    /// When it happened, Unix nanoseconds.
    pub time_unix_nanos: u64,
    /// Its attributes.
    #[serde(with = "attribute_map", default)]
    pub attributes: Vec<KeyValue>,
}

/// A link from a span to another span, of this trace or another: the message a consumer
/// handles, the requests a batch job gathered, the trace a retry continues (OpenTelemetry's
/// `Link`). Added at a span's start or later ([`crate::EditSpan::add_link`]); bounded by
/// [`crate::Limits::max_links_per_span`] and [`crate::Limits::max_attributes_per_link`].
///
/// ```
/// use reqtrace_core::{KeyValue, RequestTracer};
///
/// let tracer = RequestTracer::new("worker");
/// // The producer's context, e.g. parsed from a message header.
/// let producer = RequestTracer::new("producer");
/// producer.start_trace();
/// let sent = producer.start_span("send").context().unwrap();
///
/// tracer.start_trace();
/// {
///     let mut span = tracer.start_span("process message");
///     span.add_link(sent.clone(), [KeyValue::new("messaging.operation", "process")]);
/// }
/// let trace = tracer.end_trace().unwrap();
/// let link = &trace.spans[0].links[0];
/// assert_eq!(link.context.span_id, sent.span_id);
/// assert_eq!(link.attributes.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The linked span (its ids, flags and tracestate).
    pub context: SpanContext,
    /// Attributes describing the link.
    #[serde(with = "attribute_map", default)]
    pub attributes: Vec<KeyValue>,
    /// Attributes not kept because of `max_attributes_per_link`.
    #[serde(default)]
    pub dropped_attributes_count: u32,
}

impl Link {
    /// A link to `context` with `attributes`.
    pub fn new(context: SpanContext, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        Link {
            context,
            attributes: attributes.into_iter().collect(),
            dropped_attributes_count: 0,
        }
    }
}

/// The attributes of an `exception` event for `error`, per OpenTelemetry's exception
/// conventions: `exception.type` (the error's Rust type, when it is known: not for a
/// `dyn Error`) and `exception.message` (its `Display`, then its sources, as
/// `outer: inner: root`; at most 16 of them).
pub(crate) fn exception_attributes<E: std::error::Error + ?Sized>(error: &E) -> Vec<KeyValue> {
    use std::fmt::Write;
    let mut message = error.to_string();
    let mut source = error.source();
    for _ in 0..16 {
        let Some(s) = source else { break };
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    let ty = std::any::type_name::<E>();
    let mut attrs = Vec::with_capacity(2);
    if !ty.starts_with("dyn ") {
        attrs.push(KeyValue::new("exception.type", ty));
    }
    attrs.push(KeyValue::new("exception.message", message));
    attrs
}

/// One finished span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanData {
    /// The operation's name.
    pub name: Cow<'static, str>,
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// The trace's W3C flags (sampled, random).
    #[serde(default)]
    pub trace_flags: TraceFlags,
    /// Its own id.
    pub span_id: SpanId,
    /// The parent span (local or remote); `None` for a root.
    pub parent_id: Option<SpanId>,
    /// True when the parent is a remote span (the trace was continued from another service).
    #[serde(default)]
    pub parent_is_remote: bool,
    /// What the span represents in a remote call.
    #[serde(default)]
    pub kind: SpanKind,
    /// Start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// End, Unix nanoseconds; never before the start.
    pub end_unix_nanos: u64,
    /// Attributes, in the order they were set (a repeated key keeps both; the last wins on export).
    #[serde(with = "attribute_map", default)]
    pub attributes: Vec<KeyValue>,
    /// Events, in the order they were added.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Links to other spans, in the order they were added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// Outcome.
    #[serde(default)]
    pub status: StatusCode,
    /// The error message when `status` is `Error`.
    #[serde(default)]
    pub error: Option<String>,
    /// reqtrace's number for the thread the span ran on (stable for the thread's life).
    pub thread_id: u64,
    /// The thread's name, when it has one (interned: at most 4,096 distinct names of up to
    /// 128 bytes are kept per process).
    #[serde(default)]
    pub thread_name: Option<Cow<'static, str>>,
    /// Attributes not kept because of the per-span limit.
    #[serde(default)]
    pub dropped_attributes_count: u32,
    /// Events not kept because of the per-span limit.
    #[serde(default)]
    pub dropped_events_count: u32,
    /// Links not kept because of the per-span limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_links_count: u32,
    /// True when the span was still open as its trace ended: `end_unix_nanos` is then the
    /// trace's end.
    #[serde(default)]
    pub unfinished: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SpanData {
    /// The span's duration in milliseconds (fractional).
    pub fn duration_ms(&self) -> f64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos) as f64 / 1e6
    }

    /// The value of the last attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&crate::Value> {
        crate::model::value::last_value(&self.attributes, key)
    }
}

/// A finished trace: what [`crate::RequestTracer::end_trace`] returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The trace id.
    pub trace_id: TraceId,
    /// The service that recorded it.
    pub service_name: Cow<'static, str>,
    /// Trace-level attributes (from `start_trace_with`).
    #[serde(with = "attribute_map", default)]
    pub attributes: Vec<KeyValue>,
    /// When the trace started, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// When it ended, Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// The trace's flags (sampled, random).
    #[serde(default)]
    pub trace_flags: TraceFlags,
    /// The W3C `tracestate` received with the trace, if it was continued from a header.
    #[serde(default)]
    pub trace_state: Option<String>,
    /// The remote parent span, if the trace was continued from another service.
    #[serde(default)]
    pub remote_parent_id: Option<SpanId>,
    /// The spans, sorted by start time.
    pub spans: Vec<SpanData>,
    /// Spans of this trace dropped by a limit before it ended (see [`crate::Stats`] for reasons).
    #[serde(default)]
    pub dropped_spans_count: u64,
}

impl Trace {
    /// The trace's duration in seconds (fractional).
    pub fn duration_seconds(&self) -> f64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos) as f64 / 1e9
    }

    /// The spans with no parent in this trace (roots, or children of a remote parent).
    pub fn root_spans(&self) -> impl Iterator<Item = &SpanData> {
        self.spans
            .iter()
            .filter(|s| s.parent_id.is_none() || s.parent_id == self.remote_parent_id)
    }

    /// The spans whose parent is `id`.
    pub fn children_of(&self, id: SpanId) -> impl Iterator<Item = &SpanData> {
        self.spans.iter().filter(move |s| s.parent_id == Some(id))
    }

    /// The first span named `name`.
    pub fn span(&self, name: &str) -> Option<&SpanData> {
        self.spans.iter().find(|s| s.name == name)
    }
}
