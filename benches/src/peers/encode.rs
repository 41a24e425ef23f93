//! Row k, encoding: the same finished spans written by reqtrace's encoders and by the
//! OpenTelemetry peers.
//!
//! The spans ([`workload`]): 200 traces × 25 spans, six attributes each (two static strings,
//! an integer, a float, an owned string, a string array), an event on every fifth span, one
//! error span per trace. The reqtrace encoders take them as they come out of a tracer
//! (`SpanData` / `Trace`); the peers build the generated `opentelemetry-proto` messages from
//! the same spans ([`to_proto`], what `opentelemetry-otlp` does with every batch) and write
//! them with `serde_json` (OTLP/JSON, the crate's `with-serde` mapping) or `prost` (protobuf).
//! Each peer is measured twice: with the conversion (the whole path from the same input) and
//! on messages built beforehand (the writer alone).

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue as PbKeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use reqtrace_core::{
    Event, KeyValue, Resource, SpanData, SpanId, SpanKind, StatusCode, Trace, TraceFlags, TraceId,
    Value,
};

const T0: u64 = 1_700_000_000_000_000_000;

/// `traces` traces of `spans` spans each, six attributes per span.
pub fn workload(traces: usize, spans: usize) -> Vec<Trace> {
    (0..traces)
        .map(|t| {
            let trace_id = TraceId::from_u128(0x4bf9_2f35_77b3_4da6_0000 + t as u128)
                .expect("non-zero trace id");
            let base = T0 + t as u64 * 400_000;
            let spans = (0..spans)
                .map(|i| {
                    let start = base + i as u64 * 10_000;
                    SpanData {
                        name: Cow::Borrowed(if i == 0 { "handle request" } else { "db.query" }),
                        trace_id,
                        span_id: SpanId::from_u64(i as u64 + 1).expect("non-zero span id"),
                        trace_flags: TraceFlags::SAMPLED,
                        parent_is_remote: false,
                        parent_id: if i == 0 { None } else { SpanId::from_u64(1) },
                        kind: if i == 0 {
                            SpanKind::Server
                        } else {
                            SpanKind::Client
                        },
                        start_unix_nanos: start,
                        end_unix_nanos: start + 8_000,
                        attributes: vec![
                            KeyValue::new("http.route", "/v1/chat/completions"),
                            KeyValue::new("db.statement", "SELECT * FROM t WHERE id = $1"),
                            KeyValue::new("rows", i as i64 * 17),
                            KeyValue::new("latency.ratio", 0.125 * i as f64),
                            KeyValue::new("user.id", format!("user-{t}")),
                            KeyValue::new("tags", Value::from(vec!["a", "b"])),
                        ],
                        events: if i % 5 == 0 {
                            vec![Event {
                                name: Cow::Borrowed("retry"),
                                time_unix_nanos: start + 1_000,
                                attributes: vec![KeyValue::new("attempt", 2)],
                            }]
                        } else {
                            Vec::new()
                        },
                        status: if i == 3 {
                            StatusCode::Error
                        } else {
                            StatusCode::Unset
                        },
                        error: (i == 3).then(|| "connection reset".to_owned()),
                        thread_id: (t % 4) as u64,
                        thread_name: Some("worker".into()),
                        dropped_attributes_count: 0,
                        dropped_events_count: 0,
                        links: Vec::new(),
                        dropped_links_count: 0,
                        unfinished: false,
                    }
                })
                .collect();
            Trace {
                trace_id,
                service_name: Cow::Borrowed("api"),
                attributes: Vec::new(),
                start_unix_nanos: base,
                end_unix_nanos: base + 300_000,
                trace_flags: TraceFlags::SAMPLED,
                trace_state: None,
                remote_parent_id: None,
                spans,
                dropped_spans_count: 0,
            }
        })
        .collect()
}

fn any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::I64(i) => any_value::Value::IntValue(*i),
        Value::F64(f) => any_value::Value::DoubleValue(*f),
        Value::String(s) => any_value::Value::StringValue(s.to_string()),
        Value::Array(a) => any_value::Value::ArrayValue(ArrayValue {
            values: a.iter().map(any).collect(),
        }),
    };
    AnyValue { value: Some(value) }
}

fn kv(k: &KeyValue) -> PbKeyValue {
    PbKeyValue {
        key: k.key.to_string(),
        value: Some(any(&k.value)),
        ..Default::default()
    }
}

fn kind(k: SpanKind) -> i32 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn span(s: &SpanData) -> Span {
    Span {
        trace_id: s.trace_id.to_bytes().to_vec(),
        span_id: s.span_id.to_bytes().to_vec(),
        trace_state: String::new(),
        parent_span_id: s
            .parent_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags: u32::from(s.trace_flags.to_u8()) | 0x100,
        name: s.name.to_string(),
        kind: kind(s.kind),
        start_time_unix_nano: s.start_unix_nanos,
        end_time_unix_nano: s.end_unix_nanos,
        attributes: s.attributes.iter().map(kv).collect(),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_unix_nanos,
                name: e.name.to_string(),
                attributes: e.attributes.iter().map(kv).collect(),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: Vec::new(),
        dropped_links_count: 0,
        status: match s.status {
            StatusCode::Unset => None,
            StatusCode::Ok => Some(Status {
                message: String::new(),
                code: 1,
            }),
            StatusCode::Error => Some(Status {
                message: s.error.clone().unwrap_or_default(),
                code: 2,
            }),
        },
    }
}

/// One OTLP export request for `batch` (what `opentelemetry-otlp` builds from the SDK's
/// spans): the resource, one scope, the spans.
pub fn to_proto(batch: &[SpanData], resource: &Resource) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(PbResource {
                attributes: std::iter::once(PbKeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            resource.service_name.to_string(),
                        )),
                    }),
                    ..Default::default()
                })
                .chain(resource.attributes.iter().map(kv))
                .collect(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "reqtrace".into(),
                    ..Default::default()
                }),
                spans: batch.iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
