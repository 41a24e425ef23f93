//! OTLP protobuf bodies (the `proto` feature): the protobuf serializer of
//! [`reqtrace_export_json::otlp_mapping`], the same mapping OTLP/JSON uses, written straight to
//! the wire format (no generated types, no intermediate message tree), and the one response
//! field reqtrace reads back (`partial_success`).
//!
//! Field numbers are those of `opentelemetry/proto/{collector/trace,trace,common,resource}/v1`;
//! the tests decode every body with `opentelemetry-proto`. Scalars at their default value are
//! omitted, as proto3 encoders do, except inside `AnyValue`'s oneof (a set oneof member is
//! always written).

use std::convert::Infallible;

use reqtrace_core::{Resource, SpanData};
use reqtrace_export_json::otlp_mapping::{
    self, AnyValue, OtlpResource, OtlpSerializer, OtlpSpan, SCOPE_NAME, SCOPE_VERSION,
};

use crate::proto_wire::{ProtoReader, ProtoWriter, WireType};

// Field numbers, by message.
// ExportTraceServiceRequest
const REQUEST_RESOURCE_SPANS: u32 = 1;
// ResourceSpans
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
// Resource
const RESOURCE_ATTRIBUTES: u32 = 1;
// ScopeSpans
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
// InstrumentationScope
const SCOPE_NAME_FIELD: u32 = 1;
const SCOPE_VERSION_FIELD: u32 = 2;
// Span
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_TRACE_STATE: u32 = 3;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START: u32 = 7;
const SPAN_END: u32 = 8;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_DROPPED_ATTRIBUTES: u32 = 10;
const SPAN_EVENTS: u32 = 11;
const SPAN_DROPPED_EVENTS: u32 = 12;
const SPAN_LINKS: u32 = 13;
const SPAN_DROPPED_LINKS: u32 = 14;
const SPAN_STATUS: u32 = 15;
const SPAN_FLAGS: u32 = 16;
// Span.Event
const EVENT_TIME: u32 = 1;
const EVENT_NAME: u32 = 2;
const EVENT_ATTRIBUTES: u32 = 3;
// Span.Link
const LINK_TRACE_ID: u32 = 1;
const LINK_SPAN_ID: u32 = 2;
const LINK_ATTRIBUTES: u32 = 4;
const LINK_DROPPED_ATTRIBUTES: u32 = 5;
const LINK_FLAGS: u32 = 6;
// Status
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;
// KeyValue
const KV_KEY: u32 = 1;
const KV_VALUE: u32 = 2;
// AnyValue
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;
const ANY_ARRAY: u32 = 5;
// ArrayValue
const ARRAY_VALUES: u32 = 1;
// ExportTraceServiceResponse / ExportTracePartialSuccess
const RESPONSE_PARTIAL_SUCCESS: u32 = 1;
const PARTIAL_REJECTED_SPANS: u32 = 1;
const PARTIAL_ERROR_MESSAGE: u32 = 2;

/// Writes the mapping's `ResourceSpans` as protobuf.
impl OtlpSerializer for ProtoWriter<'_> {
    type Error = Infallible;

    fn begin_resource_spans(&mut self, resource: &OtlpResource<'_>) -> Result<(), Infallible> {
        let w = self;
        w.open(REQUEST_RESOURCE_SPANS);
        w.open(RESOURCE_SPANS_RESOURCE);
        for (k, v) in resource.attributes() {
            key_value(w, RESOURCE_ATTRIBUTES, k, v);
        }
        w.close();
        w.open(RESOURCE_SPANS_SCOPE_SPANS);
        w.open(SCOPE_SPANS_SCOPE);
        w.string(SCOPE_NAME_FIELD, SCOPE_NAME);
        w.string(SCOPE_VERSION_FIELD, SCOPE_VERSION);
        w.close();
        Ok(())
    }

    fn span(&mut self, s: &OtlpSpan<'_>) -> Result<(), Infallible> {
        span(self, s);
        Ok(())
    }

    fn end_resource_spans(&mut self) -> Result<(), Infallible> {
        self.close(); // ScopeSpans
        self.close(); // ResourceSpans
        Ok(())
    }
}

fn key_value(w: &mut ProtoWriter<'_>, field: u32, key: &str, v: AnyValue<'_>) {
    w.open(field);
    w.string(KV_KEY, key);
    any_value(w, KV_VALUE, v);
    w.close();
}

fn any_value(w: &mut ProtoWriter<'_>, field: u32, v: AnyValue<'_>) {
    w.open(field);
    match v {
        AnyValue::String(s) => w.bytes(ANY_STRING, s.as_bytes()),
        AnyValue::Bool(b) => w.varint_field(ANY_BOOL, u64::from(b)),
        // int64: two's complement as a 64-bit varint.
        AnyValue::Int(i) => w.varint_field(ANY_INT, i as u64),
        AnyValue::Double(f) => w.fixed64(ANY_DOUBLE, f.to_bits()),
        AnyValue::Array(items) => {
            w.open(ANY_ARRAY);
            for item in items {
                any_value(w, ARRAY_VALUES, AnyValue::from(item));
            }
            w.close();
        }
    }
    w.close();
}

fn span(w: &mut ProtoWriter<'_>, s: &OtlpSpan<'_>) {
    w.open(SCOPE_SPANS_SPANS);
    w.bytes(SPAN_TRACE_ID, &s.trace_id.to_bytes());
    w.bytes(SPAN_SPAN_ID, &s.span_id.to_bytes());
    if let Some(ts) = s.trace_state {
        w.string(SPAN_TRACE_STATE, ts);
    }
    if let Some(parent) = s.parent_span_id {
        w.bytes(SPAN_PARENT_SPAN_ID, &parent.to_bytes());
    }
    w.string(SPAN_NAME, s.name);
    w.uint(SPAN_KIND, u64::from(s.kind.unsigned_abs()));
    w.fixed64(SPAN_START, s.start_time_unix_nano);
    w.fixed64(SPAN_END, s.end_time_unix_nano);
    let _ = s.try_for_each_attribute(|k, v| {
        key_value(w, SPAN_ATTRIBUTES, k, v);
        Ok::<(), Infallible>(())
    });
    w.uint(
        SPAN_DROPPED_ATTRIBUTES,
        u64::from(s.dropped_attributes_count),
    );
    for e in s.events {
        w.open(SPAN_EVENTS);
        w.fixed64(EVENT_TIME, e.time_unix_nanos);
        w.string(EVENT_NAME, &e.name);
        for (k, v) in otlp_mapping::event_attributes(e) {
            key_value(w, EVENT_ATTRIBUTES, k, v);
        }
        w.close();
    }
    w.uint(SPAN_DROPPED_EVENTS, u64::from(s.dropped_events_count));
    for l in s.links {
        w.open(SPAN_LINKS);
        w.bytes(LINK_TRACE_ID, &l.context.trace_id.to_bytes());
        w.bytes(LINK_SPAN_ID, &l.context.span_id.to_bytes());
        for (k, v) in otlp_mapping::link_attributes(l) {
            key_value(w, LINK_ATTRIBUTES, k, v);
        }
        w.uint(
            LINK_DROPPED_ATTRIBUTES,
            u64::from(l.dropped_attributes_count),
        );
        w.fixed32(LINK_FLAGS, otlp_mapping::link_flags(l));
        w.close();
    }
    w.uint(SPAN_DROPPED_LINKS, u64::from(s.dropped_links_count));
    w.open(SPAN_STATUS);
    if let Some(msg) = s.status_message {
        w.string(STATUS_MESSAGE, msg);
    }
    w.uint(STATUS_CODE, u64::from(s.status_code.unsigned_abs()));
    w.close();
    w.fixed32(SPAN_FLAGS, s.flags);
    w.close();
}

/// Encodes one batch as a protobuf `ExportTraceServiceRequest` (the body of an OTLP/HTTP
/// protobuf export), appended to `out`: the same mapping as
/// [`reqtrace_export_json::write_otlp_batch`], field for field.
///
/// ```
/// let tracer = reqtrace_core::RequestTracer::new("api");
/// tracer.start_trace();
/// drop(tracer.start_span("handle"));
/// let spans = tracer.end_trace().unwrap().spans;
/// let mut body = Vec::new();
/// reqtrace_otlp::encode_protobuf_batch(&spans, tracer.resource(), &mut body);
/// assert_eq!(body[0], 0x0a); // field 1 (resource_spans), length-delimited
/// ```
pub fn encode_protobuf_batch(batch: &[SpanData], resource: &Resource, out: &mut Vec<u8>) {
    let mut w = ProtoWriter::new(out);
    let _ = otlp_mapping::map_batch(&mut w, batch, resource);
    w.finish();
}

/// A protobuf `ExportTraceServiceResponse`'s partial success, if any: `None` when the body
/// reports none (or is not a valid response; the status already said success).
pub(crate) fn partial_success(body: &[u8]) -> Option<(u64, String)> {
    let mut rejected = 0u64;
    let mut message = String::new();
    let mut found = false;
    let mut response = ProtoReader::new(body);
    while let Some((field, value)) = response.next_field().ok()? {
        if field != RESPONSE_PARTIAL_SUCCESS {
            continue;
        }
        // A repeated embedded message merges; the last scalar wins.
        let mut partial = ProtoReader::new(value.as_len()?);
        while let Some((field, value)) = partial.next_field().ok()? {
            match (field, value.wire_type()) {
                (PARTIAL_REJECTED_SPANS, WireType::Varint) => {
                    // int64 on the wire; a negative count means nothing rejected.
                    rejected = u64::try_from(value.as_varint()? as i64).unwrap_or(0);
                }
                (PARTIAL_ERROR_MESSAGE, WireType::Len) => {
                    message = String::from_utf8_lossy(value.as_len()?).into_owned();
                }
                _ => {}
            }
        }
        found = true;
    }
    (found && (rejected > 0 || !message.is_empty())).then_some((rejected, message))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue as PbAnyValue, ArrayValue, InstrumentationScope, KeyValue as PbKeyValue,
        any_value::Value as PbValue,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
    use prost::Message;
    use reqtrace_core::{
        Event, KeyValue, Link, SpanContext, SpanId, SpanKind, StatusCode, TraceFlags, TraceId,
        Value,
    };
    use serde_json::Value as Json;

    use super::*;

    fn span_data(id: u64, parent: Option<u64>, name: &'static str) -> SpanData {
        SpanData {
            name: Cow::Borrowed(name),
            trace_id: TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap(),
            trace_flags: TraceFlags::SAMPLED,
            span_id: SpanId::from_u64(id).unwrap(),
            parent_id: parent.and_then(SpanId::from_u64),
            parent_is_remote: false,
            kind: SpanKind::Internal,
            start_unix_nanos: 1_700_000_000_000_000_000 + id,
            end_unix_nanos: 1_700_000_000_000_500_000 + id,
            attributes: Vec::new(),
            events: Vec::new(),
            status: StatusCode::Unset,
            error: None,
            thread_id: 7,
            thread_name: None,
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            unfinished: false,
        }
    }

    /// Every field and value type, defaults (0, "", false) inside values, repeated keys, a
    /// remote parent, lengths on both sides of the one-byte varint boundary and a long one.
    fn batch() -> Vec<SpanData> {
        let mut root = span_data(1, Some(0xfeed), "handle");
        root.parent_is_remote = true;
        root.kind = SpanKind::Server;
        root.thread_name = Some("main".into());
        root.status = StatusCode::Ok;
        root.attributes = vec![
            KeyValue::new("k", 1),
            KeyValue::new("empty", ""),
            KeyValue::new("zero", 0),
            KeyValue::new("no", false),
            KeyValue::new("neg", i64::MIN),
            KeyValue::new("ratio", -0.0),
            KeyValue::new("long", "x".repeat(20_000)),
            KeyValue::new("boundary", "y".repeat(120)),
            KeyValue::new(
                "nested",
                Value::Array(vec![
                    Value::Array(vec![Value::I64(1), Value::String("two".into())]),
                    Value::Array(vec![]),
                    Value::Bool(true),
                ]),
            ),
            KeyValue::new("k", "last"),
        ];
        root.dropped_attributes_count = 3;
        let mut child = span_data(2, Some(1), "db");
        child.kind = SpanKind::Client;
        child.status = StatusCode::Error;
        child.error = Some("boom ✗".to_owned());
        child.unfinished = true;
        child.trace_flags = TraceFlags::SAMPLED | TraceFlags::RANDOM;
        child.events = vec![
            Event {
                name: "retry".into(),
                time_unix_nanos: 1_700_000_000_000_100_000,
                attributes: vec![KeyValue::new("attempt", 2), KeyValue::new("attempt", 3)],
            },
            Event {
                name: "".into(),
                time_unix_nanos: 0,
                attributes: vec![],
            },
        ];
        child.dropped_events_count = 1;
        let linked = |span: u64, remote: bool| {
            SpanContext::new(
                TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap(),
                SpanId::from_u64(span).unwrap(),
                TraceFlags::SAMPLED,
                remote,
            )
        };
        child.links = vec![
            Link {
                context: linked(0xb7ad6b7169203331, true),
                attributes: vec![KeyValue::new("link.kind", "cause"), KeyValue::new("n", 1)],
                dropped_attributes_count: 2,
            },
            Link::new(linked(0x1, false), []),
        ];
        child.dropped_links_count = 4;
        let mut backwards = span_data(3, Some(1), "backwards");
        backwards.end_unix_nanos = backwards.start_unix_nanos - 5;
        backwards.kind = SpanKind::Consumer;
        backwards.thread_name = Some("worker".into());
        backwards.attributes = vec![KeyValue::new("thread.id", "mine")];
        vec![root, child, backwards]
    }

    fn resource() -> Resource {
        let mut r = Resource::new("svc");
        r.attributes = vec![
            KeyValue::new("service.version", "1.2.3"),
            KeyValue::new("telemetry.sdk.name", "custom"),
        ];
        r
    }

    fn decode(spans: &[SpanData], resource: &Resource) -> ExportTraceServiceRequest {
        let mut body = vec![0xEE]; // appends: what was in the buffer stays
        encode_protobuf_batch(spans, resource, &mut body);
        assert_eq!(body[0], 0xEE);
        ExportTraceServiceRequest::decode(&body[1..]).expect("opentelemetry-proto decodes it")
    }

    fn get<'a>(attrs: &'a [PbKeyValue], key: &str) -> Option<&'a PbValue> {
        let found: Vec<_> = attrs.iter().filter(|a| a.key == key).collect();
        assert!(found.len() <= 1, "{key} written {} times", found.len());
        found.first().and_then(|a| a.value.as_ref()?.value.as_ref())
    }

    fn string(s: &str) -> Option<PbValue> {
        Some(PbValue::StringValue(s.to_owned()))
    }

    /// The decoded message checked against the data, field by field (not against our JSON).
    #[test]
    fn a_batch_decodes_with_opentelemetry_proto_and_matches_the_data() {
        let spans = batch();
        let req = decode(&spans, &resource());
        assert_eq!(req.resource_spans.len(), 1);
        let rs = &req.resource_spans[0];
        let res = &rs.resource.as_ref().unwrap().attributes;
        assert_eq!(res[0].key, "service.name");
        assert_eq!(get(res, "service.name").cloned(), string("svc"));
        assert_eq!(get(res, "service.version").cloned(), string("1.2.3"));
        assert_eq!(get(res, "telemetry.sdk.name").cloned(), string("custom"));
        assert_eq!(get(res, "telemetry.sdk.language").cloned(), string("rust"));
        assert_eq!(rs.scope_spans.len(), 1);
        let scope = rs.scope_spans[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "reqtrace");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
        let got = &rs.scope_spans[0].spans;
        assert_eq!(got.len(), spans.len());
        for (g, s) in got.iter().zip(&spans) {
            assert_eq!(g.trace_id, s.trace_id.to_bytes());
            assert_eq!(g.span_id, s.span_id.to_bytes());
            let parent = s
                .parent_id
                .map(|p| p.to_bytes().to_vec())
                .unwrap_or_default();
            assert_eq!(g.parent_span_id, parent);
            assert_eq!(g.name, s.name);
            assert_eq!(g.trace_state, "");
            assert_eq!(g.start_time_unix_nano, s.start_unix_nanos);
            assert_eq!(
                g.end_time_unix_nano,
                s.end_unix_nanos.max(s.start_unix_nanos)
            );
            let remote = if s.parent_is_remote { 0x200 } else { 0 };
            assert_eq!(g.flags, u32::from(s.trace_flags.to_u8()) | 0x100 | remote);
            assert_eq!(g.dropped_attributes_count, s.dropped_attributes_count);
            assert_eq!(g.dropped_events_count, s.dropped_events_count);
            assert_eq!(g.dropped_links_count, s.dropped_links_count);
            assert_eq!(g.links.len(), s.links.len());
            for (gl, sl) in g.links.iter().zip(&s.links) {
                assert_eq!(gl.trace_id, sl.context.trace_id.to_bytes());
                assert_eq!(gl.span_id, sl.context.span_id.to_bytes());
                assert_eq!(gl.dropped_attributes_count, sl.dropped_attributes_count);
                let remote = if sl.context.is_remote { 0x200 } else { 0 };
                assert_eq!(
                    gl.flags,
                    u32::from(sl.context.trace_flags.to_u8()) | 0x100 | remote
                );
                assert_eq!(gl.attributes.len(), sl.attributes.len());
            }
            let status = g.status.as_ref().unwrap();
            assert_eq!(status.message, s.error.clone().unwrap_or_default());
        }
        let (root, child, backwards) = (&got[0], &got[1], &got[2]);
        assert_eq!(root.kind, span::SpanKind::Server as i32);
        assert_eq!(child.kind, span::SpanKind::Client as i32);
        assert_eq!(backwards.kind, span::SpanKind::Consumer as i32);
        assert_eq!(root.status.as_ref().unwrap().code, 1);
        assert_eq!(child.status.as_ref().unwrap().code, 2);
        assert_eq!(backwards.status.as_ref().unwrap().code, 0);
        let a = &root.attributes;
        assert_eq!(get(a, "k").cloned(), string("last"));
        assert_eq!(get(a, "empty").cloned(), string(""));
        assert_eq!(get(a, "zero"), Some(&PbValue::IntValue(0)));
        assert_eq!(get(a, "no"), Some(&PbValue::BoolValue(false)));
        assert_eq!(get(a, "neg"), Some(&PbValue::IntValue(i64::MIN)));
        match get(a, "ratio") {
            Some(PbValue::DoubleValue(f)) => assert_eq!(f.to_bits(), (-0.0f64).to_bits()),
            other => panic!("ratio: {other:?}"),
        }
        assert_eq!(get(a, "long").cloned(), string(&"x".repeat(20_000)));
        assert_eq!(get(a, "boundary").cloned(), string(&"y".repeat(120)));
        let int = |i| PbAnyValue {
            value: Some(PbValue::IntValue(i)),
        };
        let arr = |values| PbAnyValue {
            value: Some(PbValue::ArrayValue(ArrayValue { values })),
        };
        let nested = arr(vec![
            arr(vec![
                int(1),
                PbAnyValue {
                    value: string("two"),
                },
            ]),
            arr(vec![]),
            PbAnyValue {
                value: Some(PbValue::BoolValue(true)),
            },
        ]);
        assert_eq!(get(a, "nested"), nested.value.as_ref());
        assert_eq!(get(a, "thread.id"), Some(&PbValue::IntValue(7)));
        assert_eq!(get(a, "thread.name").cloned(), string("main"));
        assert_eq!(
            get(&child.attributes, "reqtrace.unfinished"),
            Some(&PbValue::BoolValue(true))
        );
        assert_eq!(get(&child.attributes, "thread.name"), None);
        assert_eq!(
            get(&backwards.attributes, "thread.id").cloned(),
            string("mine"),
            "the span's own thread.id wins"
        );
        assert_eq!(child.events.len(), 2);
        assert_eq!(child.events[0].name, "retry");
        assert_eq!(child.events[0].time_unix_nano, 1_700_000_000_000_100_000);
        assert_eq!(child.events[0].attributes.len(), 1);
        assert_eq!(
            get(&child.events[0].attributes, "attempt"),
            Some(&PbValue::IntValue(3))
        );
        assert_eq!(child.events[1].name, "");
        assert_eq!(
            get(&child.links[0].attributes, "link.kind").cloned(),
            string("cause")
        );
        assert_eq!(child.links[0].flags, 0x301, "sampled, remote");
    }

    /// Test-only reading of an OTLP/JSON request into the protobuf types, by the proto3 JSON
    /// rules (hex ids, 64-bit integers as strings, absent = default).
    fn from_json(v: &Json) -> ExportTraceServiceRequest {
        fn hex(v: &Json) -> Vec<u8> {
            let s = v.as_str().unwrap_or("");
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }
        fn u64s(v: &Json) -> u64 {
            v.as_str().map_or(0, |s| s.parse().unwrap())
        }
        fn num(v: &Json) -> u64 {
            v.as_u64().unwrap_or(0)
        }
        fn any(v: &Json) -> PbAnyValue {
            let (k, x) = v.as_object().unwrap().iter().next().unwrap();
            let value = match k.as_str() {
                "stringValue" => PbValue::StringValue(x.as_str().unwrap().to_owned()),
                "boolValue" => PbValue::BoolValue(x.as_bool().unwrap()),
                "intValue" => PbValue::IntValue(x.as_str().unwrap().parse().unwrap()),
                "doubleValue" => PbValue::DoubleValue(x.as_f64().unwrap()),
                "arrayValue" => PbValue::ArrayValue(ArrayValue {
                    values: x["values"].as_array().unwrap().iter().map(any).collect(),
                }),
                other => panic!("{other}"),
            };
            PbAnyValue { value: Some(value) }
        }
        fn attrs(v: &Json) -> Vec<PbKeyValue> {
            let list = v.as_array().map(Vec::as_slice).unwrap_or_default();
            list.iter()
                .map(|kv| PbKeyValue {
                    key: kv["key"].as_str().unwrap().to_owned(),
                    value: Some(any(&kv["value"])),
                    ..Default::default()
                })
                .collect()
        }
        let s = |v: &Json| v.as_str().unwrap_or("").to_owned();
        ExportTraceServiceRequest {
            resource_spans: v["resourceSpans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|rs| ResourceSpans {
                    resource: Some(PbResource {
                        attributes: attrs(&rs["resource"]["attributes"]),
                        ..Default::default()
                    }),
                    scope_spans: rs["scopeSpans"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|ss| ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: s(&ss["scope"]["name"]),
                                version: s(&ss["scope"]["version"]),
                                ..Default::default()
                            }),
                            spans: ss["spans"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|j| Span {
                                    trace_id: hex(&j["traceId"]),
                                    span_id: hex(&j["spanId"]),
                                    trace_state: s(&j["traceState"]),
                                    parent_span_id: hex(&j["parentSpanId"]),
                                    flags: num(&j["flags"]) as u32,
                                    name: s(&j["name"]),
                                    kind: num(&j["kind"]) as i32,
                                    start_time_unix_nano: u64s(&j["startTimeUnixNano"]),
                                    end_time_unix_nano: u64s(&j["endTimeUnixNano"]),
                                    attributes: attrs(&j["attributes"]),
                                    dropped_attributes_count: num(&j["droppedAttributesCount"])
                                        as u32,
                                    events: j["events"]
                                        .as_array()
                                        .unwrap()
                                        .iter()
                                        .map(|e| span::Event {
                                            time_unix_nano: u64s(&e["timeUnixNano"]),
                                            name: s(&e["name"]),
                                            attributes: attrs(&e["attributes"]),
                                            dropped_attributes_count: 0,
                                        })
                                        .collect(),
                                    dropped_events_count: num(&j["droppedEventsCount"]) as u32,
                                    links: j["links"]
                                        .as_array()
                                        .unwrap()
                                        .iter()
                                        .map(|l| span::Link {
                                            trace_id: hex(&l["traceId"]),
                                            span_id: hex(&l["spanId"]),
                                            trace_state: s(&l["traceState"]),
                                            attributes: attrs(&l["attributes"]),
                                            dropped_attributes_count: num(
                                                &l["droppedAttributesCount"],
                                            )
                                                as u32,
                                            flags: num(&l["flags"]) as u32,
                                        })
                                        .collect(),
                                    dropped_links_count: num(&j["droppedLinksCount"]) as u32,
                                    status: Some(Status {
                                        message: s(&j["status"]["message"]),
                                        code: num(&j["status"]["code"]) as i32,
                                    }),
                                })
                                .collect(),
                            schema_url: String::new(),
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    /// The exporter's two bodies are one mapping: the JSON body, read by the proto3 JSON
    /// rules, is exactly the message the protobuf body decodes to.
    #[test]
    fn protobuf_and_json_bodies_are_the_same_message() {
        let spans = batch();
        let resource = resource();
        let proto = decode(&spans, &resource);
        let mut json = Vec::new();
        reqtrace_export_json::write_otlp_batch(&mut json, &spans, &resource).unwrap();
        let json: Json = serde_json::from_slice(&json).unwrap();
        assert_eq!(proto, from_json(&json));
        // A tracer's real spans too.
        let tracer = reqtrace_core::RequestTracer::new("p");
        tracer.start_trace();
        {
            let mut root = tracer.start_span("root");
            root.set_attribute("k", 1.5);
            root.add_event("e", vec![KeyValue::new("n", 1)]);
            let mut child = tracer.start_span("child");
            child.set_error("boom");
        }
        let spans = tracer.end_trace().unwrap().spans;
        let mut json = Vec::new();
        reqtrace_export_json::write_otlp_batch(&mut json, &spans, tracer.resource()).unwrap();
        let json: Json = serde_json::from_slice(&json).unwrap();
        assert_eq!(decode(&spans, tracer.resource()), from_json(&json));
    }

    #[test]
    fn non_finite_doubles_keep_their_bits() {
        let mut s = span_data(1, None, "f");
        s.attributes = vec![
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("inf", f64::NEG_INFINITY),
        ];
        let req = decode(&[s], &Resource::new("svc"));
        let a = &req.resource_spans[0].scope_spans[0].spans[0].attributes;
        assert!(matches!(get(a, "nan"), Some(PbValue::DoubleValue(f)) if f.is_nan()));
        assert_eq!(
            get(a, "inf"),
            Some(&PbValue::DoubleValue(f64::NEG_INFINITY))
        );
    }

    #[test]
    fn an_empty_batch_is_one_empty_resource_spans() {
        let req = decode(&[], &Resource::new("svc"));
        assert_eq!(req.resource_spans.len(), 1);
        assert!(req.resource_spans[0].scope_spans[0].spans.is_empty());
    }

    #[test]
    fn partial_success_decodes() {
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 4,
                error_message: "old".into(),
            }),
        };
        assert_eq!(
            partial_success(&resp.encode_to_vec()),
            Some((4, "old".to_owned()))
        );
        let warn_only = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 0,
                error_message: "slow down".into(),
            }),
        };
        assert_eq!(
            partial_success(&warn_only.encode_to_vec()),
            Some((0, "slow down".to_owned()))
        );
        let negative = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: -3,
                error_message: String::new(),
            }),
        };
        assert_eq!(partial_success(&negative.encode_to_vec()), None);
        assert_eq!(
            partial_success(&ExportTraceServiceResponse::default().encode_to_vec()),
            None
        );
        let empty_partial = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess::default()),
        };
        assert_eq!(partial_success(&empty_partial.encode_to_vec()), None);
        assert_eq!(partial_success(b"\xff\xff\xff"), None);
        // Unknown fields are skipped.
        let mut with_unknown = vec![0x10, 0x05, 0x1d, 1, 2, 3, 4];
        with_unknown.extend(resp.encode_to_vec());
        assert_eq!(partial_success(&with_unknown), Some((4, "old".to_owned())));
    }

    /// Every truncation and single-byte corruption of a response: an answer, never a panic.
    #[test]
    fn partial_success_survives_any_corruption() {
        let resp = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 300,
                error_message: "rejected: ✗".into(),
            }),
        }
        .encode_to_vec();
        for cut in 0..resp.len() {
            let _ = partial_success(&resp[..cut]);
        }
        for i in 0..resp.len() {
            for b in [0x00, 0x02, 0x07, 0x7f, 0x80, 0xff] {
                let mut bad = resp.clone();
                bad[i] = b;
                let _ = partial_success(&bad);
            }
        }
    }
}
