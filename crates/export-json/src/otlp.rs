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
//! What each field holds is [`crate::otlp_mapping`]'s (shared with `reqtrace-otlp`'s protobuf
//! bodies); this module only writes it as JSON.

use std::io::{self, Write};

use reqtrace_core::{Resource, SpanData, Trace};

use crate::json_writer::{JsonWriter, Style};
use crate::otlp_mapping::{
    self, AnyValue, OtlpResource, OtlpSerializer, OtlpSpan, SCOPE_NAME, SCOPE_VERSION,
};

/// Writes `traces` as one OTLP/JSON `ExportTraceServiceRequest`.
///
/// `resource` describes the process that recorded them (pass the tracer's
/// [`resource`](reqtrace_core::RequestTracer::resource), so the file carries the same resource as
/// what an exporter sends): its attributes go on the resource of its service's traces; traces
/// of another service get a resource with only their `service.name`.
///
/// The output is buffered internally; `out` sees a few large writes.
pub fn write_otlp<W: Write>(
    out: W,
    traces: &[Trace],
    resource: &Resource,
    style: Style,
) -> io::Result<()> {
    let mut w = JsonWriter::new(io::BufWriter::with_capacity(64 * 1024, out), style);
    request(&mut w, |s| otlp_mapping::map_traces(s, traces, resource))?;
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
    request(w, |s| otlp_mapping::map_batch(s, spans, resource))
}

/// `{"resourceSpans":[` what `map` writes `]}`.
fn request<W: Write>(
    w: &mut JsonWriter<W>,
    map: impl FnOnce(&mut JsonWriter<W>) -> io::Result<()>,
) -> io::Result<()> {
    w.begin_object()?;
    w.field("resourceSpans")?;
    w.begin_array()?;
    map(w)?;
    w.end_array()?;
    w.end_object()
}

impl<W: Write> OtlpSerializer for JsonWriter<W> {
    type Error = io::Error;

    /// Opens `{"resource": {...}, "scopeSpans": [{"scope": {...}, "spans": [`.
    fn begin_resource_spans(&mut self, resource: &OtlpResource<'_>) -> io::Result<()> {
        let w = self;
        w.begin_object()?;
        w.field("resource")?;
        w.begin_object()?;
        w.field("attributes")?;
        w.begin_array()?;
        for (k, v) in resource.attributes() {
            key_value(w, k, v)?;
        }
        w.end_array()?;
        w.end_object()?;
        w.field("scopeSpans")?;
        w.begin_array()?;
        w.begin_object()?;
        w.field("scope")?;
        w.begin_object()?;
        w.field("name")?;
        w.string(SCOPE_NAME)?;
        w.field("version")?;
        w.string(SCOPE_VERSION)?;
        w.end_object()?;
        w.field("spans")?;
        w.begin_array()
    }

    fn span(&mut self, s: &OtlpSpan<'_>) -> io::Result<()> {
        span_object(self, s)
    }

    /// Closes what `begin_resource_spans` opened.
    fn end_resource_spans(&mut self) -> io::Result<()> {
        self.end_array()?; // spans
        self.end_object()?; // scopeSpans[0]
        self.end_array()?; // scopeSpans
        self.end_object() // resourceSpans[i]
    }
}

fn key_value<W: Write>(w: &mut JsonWriter<W>, key: &str, v: AnyValue<'_>) -> io::Result<()> {
    w.begin_object()?;
    w.field("key")?;
    w.string(key)?;
    w.field("value")?;
    any_value(w, v)?;
    w.end_object()
}

/// An `AnyValue`.
fn any_value<W: Write>(w: &mut JsonWriter<W>, v: AnyValue<'_>) -> io::Result<()> {
    w.begin_object()?;
    match v {
        AnyValue::Bool(b) => {
            w.field("boolValue")?;
            w.bool(b)?;
        }
        AnyValue::Int(i) => {
            w.field("intValue")?;
            w.i64_string(i)?;
        }
        AnyValue::Double(f) => {
            w.field("doubleValue")?;
            if f.is_finite() {
                w.f64(f)?;
            } else if f.is_nan() {
                w.string("NaN")?;
            } else if f > 0.0 {
                w.string("Infinity")?;
            } else {
                w.string("-Infinity")?;
            }
        }
        AnyValue::String(s) => {
            w.field("stringValue")?;
            w.string(s)?;
        }
        AnyValue::Array(items) => {
            w.field("arrayValue")?;
            w.begin_object()?;
            w.field("values")?;
            w.begin_array()?;
            for item in items {
                any_value(w, AnyValue::from(item))?;
            }
            w.end_array()?;
            w.end_object()?;
        }
    }
    w.end_object()
}

fn span_object<W: Write>(w: &mut JsonWriter<W>, s: &OtlpSpan<'_>) -> io::Result<()> {
    w.begin_object()?;
    w.field("traceId")?;
    w.trace_id(s.trace_id)?;
    w.field("spanId")?;
    w.span_id(s.span_id)?;
    if let Some(ts) = s.trace_state {
        w.field("traceState")?;
        w.string(ts)?;
    }
    if let Some(parent) = s.parent_span_id {
        w.field("parentSpanId")?;
        w.span_id(parent)?;
    }
    w.field("flags")?;
    w.u64(u64::from(s.flags))?;
    w.field("name")?;
    w.string(s.name)?;
    w.field("kind")?;
    w.i64(i64::from(s.kind))?;
    w.field("startTimeUnixNano")?;
    w.u64_string(s.start_time_unix_nano)?;
    w.field("endTimeUnixNano")?;
    w.u64_string(s.end_time_unix_nano)?;

    w.field("attributes")?;
    w.begin_array()?;
    s.try_for_each_attribute(|k, v| key_value(w, k, v))?;
    w.end_array()?;
    w.field("droppedAttributesCount")?;
    w.u64(u64::from(s.dropped_attributes_count))?;

    w.field("events")?;
    w.begin_array()?;
    for e in s.events {
        w.begin_object()?;
        w.field("timeUnixNano")?;
        w.u64_string(e.time_unix_nanos)?;
        w.field("name")?;
        w.string(&e.name)?;
        w.field("attributes")?;
        w.begin_array()?;
        for (k, v) in otlp_mapping::event_attributes(e) {
            key_value(w, k, v)?;
        }
        w.end_array()?;
        w.end_object()?;
    }
    w.end_array()?;
    w.field("droppedEventsCount")?;
    w.u64(u64::from(s.dropped_events_count))?;
    w.field("links")?;
    w.begin_array()?;
    for l in s.links {
        w.begin_object()?;
        w.field("traceId")?;
        w.trace_id(l.context.trace_id)?;
        w.field("spanId")?;
        w.span_id(l.context.span_id)?;
        w.field("attributes")?;
        w.begin_array()?;
        for (k, v) in otlp_mapping::link_attributes(l) {
            key_value(w, k, v)?;
        }
        w.end_array()?;
        w.field("droppedAttributesCount")?;
        w.u64(u64::from(l.dropped_attributes_count))?;
        w.field("flags")?;
        w.u64(u64::from(otlp_mapping::link_flags(l)))?;
        w.end_object()?;
    }
    w.end_array()?;
    w.field("droppedLinksCount")?;
    w.u64(u64::from(s.dropped_links_count))?;

    w.field("status")?;
    w.begin_object()?;
    if let Some(msg) = s.status_message {
        w.field("message")?;
        w.string(msg)?;
    }
    w.field("code")?;
    w.i64(i64::from(s.status_code))?;
    w.end_object()?;
    w.end_object()
}
