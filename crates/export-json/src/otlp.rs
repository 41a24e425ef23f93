//! OTLP/JSON: an `ExportTraceServiceRequest` in the OpenTelemetry protocol's JSON encoding,
//! ready to POST to a collector's `/v1/traces` or to load into any OTLP tool.
//!
//! The shape follows the protocol's JSON rules: lowerCamelCase field names; trace and span ids
//! as lowercase hex (not base64); 64-bit integers (`startTimeUnixNano`, `intValue`) as decimal
//! strings; enums (`kind`, `status.code`) as integers; a `doubleValue` that is NaN or infinite
//! as the string `"NaN"`, `"Infinity"` or `"-Infinity"` (proto3 JSON).
//!
//! ```text
//! {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},…]},
//!   "scopeSpans":[{"scope":{"name":"reqtrace","version":"0.1.0"},
//!     "spans":[{"traceId":"4bf9…","spanId":"00f0…","parentSpanId":"…","flags":257,"name":"llm",
//!               "kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"…",
//!               "attributes":[…],"droppedAttributesCount":0,"events":[…],"droppedEventsCount":0,
//!               "links":[],"status":{"code":2,"message":"timeout"}}]}]}]}
//! ```
//!
//! Mapping from reqtrace's model:
//! - one `resourceSpans` per service, with `service.name` and the `telemetry.sdk.*` attributes;
//!   one `scopeSpans` with scope `reqtrace` and this crate's version;
//! - span kinds: internal 1, server 2, client 3, producer 4, consumer 5; status: unset 0,
//!   ok 1, error 2, with [`reqtrace_core::SpanData::error`] as `status.message`;
//! - from a [`Trace`]: `traceState` from the trace, `flags` = the W3C trace flags plus the
//!   "parent is remote" bits (`0x100`, and `0x200` for the child of the remote parent); the
//!   trace's attributes go on its root spans (a span's own attribute of the same key wins);
//! - the span's thread as the semantic-convention attributes `thread.id` and `thread.name`
//!   (unless the span set them), and `reqtrace.unfinished: true` for a span still open when its
//!   trace ended;
//! - an attribute key set twice on one span is written once, with its last value; an end
//!   before the start (impossible from core) is written as the start.
//!
//! A streamed batch of [`SpanData`] takes `flags` (and "parent is remote") from each span;
//! it carries no trace state, so [`write_otlp_batch`] writes no `traceState`.

use std::io::{self, Write};

use reqtrace_core::{KeyValue, Resource, SpanData, SpanId, SpanKind, StatusCode, Trace, Value};

use crate::json_writer::{JsonWriter, Style, last_wins};

/// The instrumentation scope name written in every request.
pub const SCOPE_NAME: &str = "reqtrace";

/// What a span's trace adds to it (nothing, for a streamed batch).
#[derive(Clone, Copy, Default)]
struct TraceContext<'a> {
    flags: Option<u8>,
    trace_state: Option<&'a str>,
    remote_parent: Option<SpanId>,
    root_attributes: &'a [KeyValue],
}

/// Writes `traces` as one OTLP/JSON `ExportTraceServiceRequest`.
///
/// The output is buffered internally; `out` sees a few large writes.
pub fn write_otlp<W: Write>(out: W, traces: &[Trace], style: Style) -> io::Result<()> {
    let mut w = JsonWriter::new(io::BufWriter::with_capacity(64 * 1024, out), style);
    w.begin_object()?;
    w.key("resourceSpans")?;
    w.begin_array()?;
    // One resourceSpans per service, in order of first appearance.
    let mut services: Vec<&str> = Vec::new();
    for t in traces {
        if !services.contains(&&*t.service_name) {
            services.push(&t.service_name);
        }
    }
    for service in services {
        resource_spans_start(&mut w, service, &[])?;
        for t in traces.iter().filter(|t| t.service_name == service) {
            let ctx = TraceContext {
                flags: Some(t.trace_flags.known().to_u8()),
                trace_state: t.trace_state.as_deref().filter(|s| !s.is_empty()),
                remote_parent: t.remote_parent_id,
                root_attributes: &t.attributes,
            };
            for span in &t.spans {
                span_object(&mut w, span, &ctx)?;
            }
        }
        resource_spans_end(&mut w)?;
    }
    w.end_array()?;
    w.end_object()?;
    if style == Style::Pretty {
        w.raw(b"\n")?;
    }
    w.into_inner().flush()
}

/// Writes one exported batch as a compact OTLP/JSON `ExportTraceServiceRequest` on one line
/// (no trailing newline): the format of OTLP JSON-lines files.
pub fn write_otlp_batch<W: Write>(
    out: W,
    spans: &[SpanData],
    resource: &Resource,
) -> io::Result<()> {
    let mut w = JsonWriter::new(out, Style::Compact);
    otlp_batch(&mut w, spans, resource)
}

pub(crate) fn otlp_batch<W: Write>(
    w: &mut JsonWriter<W>,
    spans: &[SpanData],
    resource: &Resource,
) -> io::Result<()> {
    w.begin_object()?;
    w.key("resourceSpans")?;
    w.begin_array()?;
    resource_spans_start(w, &resource.service_name, &resource.attributes)?;
    let ctx = TraceContext::default();
    for span in spans {
        span_object(w, span, &ctx)?;
    }
    resource_spans_end(w)?;
    w.end_array()?;
    w.end_object()
}

fn has_key(attrs: &[KeyValue], key: &str) -> bool {
    attrs.iter().any(|kv| kv.key == key)
}

/// Opens `{"resource": {...}, "scopeSpans": [{"scope": {...}, "spans": [` .
fn resource_spans_start<W: Write>(
    w: &mut JsonWriter<W>,
    service: &str,
    extra: &[KeyValue],
) -> io::Result<()> {
    w.begin_object()?;
    w.key("resource")?;
    w.begin_object()?;
    w.key("attributes")?;
    w.begin_array()?;
    key_value(w, "service.name", &AnyRef::Str(service))?;
    let sdk = [
        ("telemetry.sdk.name", SCOPE_NAME),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    for (k, v) in sdk {
        if !has_key(extra, k) {
            key_value(w, k, &AnyRef::Str(v))?;
        }
    }
    for kv in last_wins(extra).filter(|kv| kv.key != "service.name") {
        key_value(w, &kv.key, &AnyRef::Value(&kv.value))?;
    }
    w.end_array()?;
    w.end_object()?;
    w.key("scopeSpans")?;
    w.begin_array()?;
    w.begin_object()?;
    w.key("scope")?;
    w.begin_object()?;
    w.key("name")?;
    w.string(SCOPE_NAME)?;
    w.key("version")?;
    w.string(env!("CARGO_PKG_VERSION"))?;
    w.end_object()?;
    w.key("spans")?;
    w.begin_array()
}

/// Closes what [`resource_spans_start`] opened.
fn resource_spans_end<W: Write>(w: &mut JsonWriter<W>) -> io::Result<()> {
    w.end_array()?; // spans
    w.end_object()?; // scopeSpans[0]
    w.end_array()?; // scopeSpans
    w.end_object() // resourceSpans[i]
}

/// An attribute value to write: one of reqtrace's, or a borrowed string or integer.
enum AnyRef<'a> {
    Value(&'a Value),
    Str(&'a str),
    Int(i64),
}

fn key_value<W: Write>(w: &mut JsonWriter<W>, key: &str, v: &AnyRef<'_>) -> io::Result<()> {
    w.begin_object()?;
    w.key("key")?;
    w.string(key)?;
    w.key("value")?;
    match v {
        AnyRef::Value(v) => any_value(w, v)?,
        AnyRef::Str(s) => {
            w.begin_object()?;
            w.key("stringValue")?;
            w.string(s)?;
            w.end_object()?;
        }
        AnyRef::Int(i) => {
            w.begin_object()?;
            w.key("intValue")?;
            w.i64_string(*i)?;
            w.end_object()?;
        }
    }
    w.end_object()
}

/// An `AnyValue`.
fn any_value<W: Write>(w: &mut JsonWriter<W>, v: &Value) -> io::Result<()> {
    w.begin_object()?;
    match v {
        Value::Bool(b) => {
            w.key("boolValue")?;
            w.bool(*b)?;
        }
        Value::I64(i) => {
            w.key("intValue")?;
            w.i64_string(*i)?;
        }
        Value::F64(f) => {
            w.key("doubleValue")?;
            if f.is_finite() {
                w.f64(*f)?;
            } else if f.is_nan() {
                w.string("NaN")?;
            } else if *f > 0.0 {
                w.string("Infinity")?;
            } else {
                w.string("-Infinity")?;
            }
        }
        Value::String(s) => {
            w.key("stringValue")?;
            w.string(s)?;
        }
        Value::Array(items) => {
            w.key("arrayValue")?;
            w.begin_object()?;
            w.key("values")?;
            w.begin_array()?;
            for item in items {
                any_value(w, item)?;
            }
            w.end_array()?;
            w.end_object()?;
        }
    }
    w.end_object()
}

fn kind_number(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn status_number(status: StatusCode) -> u64 {
    match status {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`
const HAS_IS_REMOTE: u64 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`
const IS_REMOTE: u64 = 0x200;

fn span_object<W: Write>(
    w: &mut JsonWriter<W>,
    s: &SpanData,
    ctx: &TraceContext<'_>,
) -> io::Result<()> {
    let remote_child =
        s.parent_is_remote || (s.parent_id.is_some() && s.parent_id == ctx.remote_parent);
    let is_root = s.parent_id.is_none() || remote_child;
    w.begin_object()?;
    w.key("traceId")?;
    w.trace_id(s.trace_id)?;
    w.key("spanId")?;
    w.span_id(s.span_id)?;
    if let Some(ts) = ctx.trace_state {
        w.key("traceState")?;
        w.string(ts)?;
    }
    if let Some(parent) = s.parent_id {
        w.key("parentSpanId")?;
        w.span_id(parent)?;
    }
    let flags = ctx.flags.unwrap_or_else(|| s.trace_flags.known().to_u8());
    w.key("flags")?;
    let remote = if remote_child { IS_REMOTE } else { 0 };
    w.u64(u64::from(flags) | HAS_IS_REMOTE | remote)?;
    w.key("name")?;
    w.string(&s.name)?;
    w.key("kind")?;
    w.u64(kind_number(s.kind))?;
    w.key("startTimeUnixNano")?;
    w.u64_string(s.start_unix_nanos)?;
    w.key("endTimeUnixNano")?;
    w.u64_string(s.end_unix_nanos.max(s.start_unix_nanos))?;

    w.key("attributes")?;
    w.begin_array()?;
    let root_attrs: &[KeyValue] = if is_root { ctx.root_attributes } else { &[] };
    let set_by_data = |k: &str| has_key(&s.attributes, k) || has_key(root_attrs, k);
    if !set_by_data("thread.id") {
        key_value(
            w,
            "thread.id",
            &AnyRef::Int(i64::try_from(s.thread_id).unwrap_or(i64::MAX)),
        )?;
    }
    if let Some(name) = s
        .thread_name
        .as_deref()
        .filter(|_| !set_by_data("thread.name"))
    {
        key_value(w, "thread.name", &AnyRef::Str(name))?;
    }
    for kv in last_wins(root_attrs).filter(|kv| !has_key(&s.attributes, &kv.key)) {
        key_value(w, &kv.key, &AnyRef::Value(&kv.value))?;
    }
    for kv in last_wins(&s.attributes) {
        key_value(w, &kv.key, &AnyRef::Value(&kv.value))?;
    }
    if s.unfinished && !set_by_data("reqtrace.unfinished") {
        key_value(w, "reqtrace.unfinished", &AnyRef::Value(&Value::Bool(true)))?;
    }
    w.end_array()?;
    w.key("droppedAttributesCount")?;
    w.u64(u64::from(s.dropped_attributes_count))?;

    w.key("events")?;
    w.begin_array()?;
    for e in &s.events {
        w.begin_object()?;
        w.key("timeUnixNano")?;
        w.u64_string(e.time_unix_nanos)?;
        w.key("name")?;
        w.string(&e.name)?;
        w.key("attributes")?;
        w.begin_array()?;
        for kv in last_wins(&e.attributes) {
            key_value(w, &kv.key, &AnyRef::Value(&kv.value))?;
        }
        w.end_array()?;
        w.end_object()?;
    }
    w.end_array()?;
    w.key("droppedEventsCount")?;
    w.u64(u64::from(s.dropped_events_count))?;
    w.key("links")?;
    w.begin_array()?;
    w.end_array()?;

    w.key("status")?;
    w.begin_object()?;
    if let Some(msg) = &s.error {
        w.key("message")?;
        w.string(msg)?;
    }
    w.key("code")?;
    w.u64(status_number(s.status))?;
    w.end_object()?;
    w.end_object()
}
