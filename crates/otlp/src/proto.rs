//! OTLP protobuf bodies (the `proto` feature): the same mapping as
//! `reqtrace_export_json::write_otlp_batch`, encoded with `prost`.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue as PbKeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use reqtrace_core::{KeyValue, Resource, SpanData, SpanKind, StatusCode, Value};

const SCOPE_NAME: &str = reqtrace_export_json::SCOPE_NAME;

fn any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::I64(i) => any_value::Value::IntValue(*i),
        Value::F64(f) => any_value::Value::DoubleValue(*f),
        Value::String(s) => any_value::Value::StringValue(s.to_string()),
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any).collect(),
        }),
    };
    AnyValue { value: Some(value) }
}

fn kv(key: &str, value: AnyValue) -> PbKeyValue {
    PbKeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..Default::default()
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    }
}

/// Attributes with a repeated key written once, with the last value, in last-occurrence
/// order (as the JSON encoder does).
fn last_wins(attrs: &[KeyValue]) -> impl Iterator<Item = &KeyValue> {
    attrs
        .iter()
        .enumerate()
        .filter(|(i, a)| !attrs[i + 1..].iter().any(|b| b.key == a.key))
        .map(|(_, a)| a)
}

fn has_key(attrs: &[KeyValue], key: &str) -> bool {
    attrs.iter().any(|kv| kv.key == key)
}

fn span(s: &SpanData) -> Span {
    let mut attributes = Vec::with_capacity(s.attributes.len() + 2);
    if !has_key(&s.attributes, "thread.id") {
        let id = i64::try_from(s.thread_id).unwrap_or(i64::MAX);
        attributes.push(kv(
            "thread.id",
            AnyValue {
                value: Some(any_value::Value::IntValue(id)),
            },
        ));
    }
    if let Some(name) = s.thread_name.as_deref()
        && !has_key(&s.attributes, "thread.name")
    {
        attributes.push(kv("thread.name", string(name)));
    }
    attributes.extend(last_wins(&s.attributes).map(|a| kv(&a.key, any(&a.value))));
    if s.unfinished && !has_key(&s.attributes, "reqtrace.unfinished") {
        attributes.push(kv("reqtrace.unfinished", any(&Value::Bool(true))));
    }
    let kind = match s.kind {
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    };
    let code = match s.status {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    };
    Span {
        trace_id: s.trace_id.to_bytes().to_vec(),
        span_id: s.span_id.to_bytes().to_vec(),
        parent_span_id: s
            .parent_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        name: s.name.to_string(),
        kind: kind as i32,
        start_time_unix_nano: s.start_unix_nanos,
        end_time_unix_nano: s.end_unix_nanos.max(s.start_unix_nanos),
        attributes,
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_unix_nanos,
                name: e.name.to_string(),
                attributes: last_wins(&e.attributes)
                    .map(|a| kv(&a.key, any(&a.value)))
                    .collect(),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        status: Some(Status {
            message: s.error.clone().unwrap_or_default(),
            code,
        }),
        // W3C trace flags, plus SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE (0x100) and, for the child of
        // a remote parent, SPAN_FLAGS_CONTEXT_IS_REMOTE (0x200), as the JSON encoder writes.
        flags: u32::from(s.trace_flags.known().to_u8())
            | 0x100
            | if s.parent_is_remote { 0x200 } else { 0 },
        ..Default::default()
    }
}

/// The `ExportTraceServiceRequest` for one batch.
pub(crate) fn request(batch: &[SpanData], resource: &Resource) -> ExportTraceServiceRequest {
    let mut attributes = vec![kv("service.name", string(&resource.service_name))];
    for (k, v) in [
        ("telemetry.sdk.name", SCOPE_NAME),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ] {
        if !has_key(&resource.attributes, k) {
            attributes.push(kv(k, string(v)));
        }
    }
    attributes.extend(
        last_wins(&resource.attributes)
            .filter(|a| a.key != "service.name")
            .map(|a| kv(&a.key, any(&a.value))),
    );
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(PbResource {
                attributes,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: batch.iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Encodes one batch as a protobuf `ExportTraceServiceRequest` into `out`.
pub(crate) fn encode_request(batch: &[SpanData], resource: &Resource, out: &mut Vec<u8>) {
    let msg = request(batch, resource);
    out.reserve(msg.encoded_len());
    // Encoding into a Vec only fails when it lacks capacity, which `reserve` rules out.
    let _ = msg.encode(out);
}

/// A protobuf `ExportTraceServiceResponse`'s partial success, if any.
pub(crate) fn partial_success(body: &[u8]) -> Option<(u64, String)> {
    let resp = ExportTraceServiceResponse::decode(body).ok()?;
    let p = resp.partial_success?;
    let rejected = u64::try_from(p.rejected_spans).unwrap_or(0);
    (rejected > 0 || !p.error_message.is_empty()).then_some((rejected, p.error_message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn a_batch_round_trips_through_protobuf() {
        let tracer = reqtrace_core::RequestTracer::new("p");
        tracer.start_trace();
        {
            let mut root = tracer.start_span("root");
            root.set_attribute("k", 1);
            root.set_attribute("k", "last");
            let mut child = tracer.start_span("child");
            child.set_error("boom");
        }
        let spans = tracer.end_trace().unwrap().spans;
        let mut body = Vec::new();
        encode_request(&spans, &Resource::new("svc"), &mut body);
        let back = ExportTraceServiceRequest::decode(&body[..]).unwrap();
        let rs = &back.resource_spans[0];
        let res = &rs.resource.as_ref().unwrap().attributes;
        assert_eq!(res[0].key, "service.name");
        let got = &rs.scope_spans[0].spans;
        assert_eq!(got.len(), 2);
        for (g, s) in got.iter().zip(&spans) {
            assert_eq!(g.trace_id, s.trace_id.to_bytes());
            assert_eq!(g.span_id, s.span_id.to_bytes());
            assert_eq!(g.name, s.name);
        }
        let root = got.iter().find(|s| s.name == "root").unwrap();
        let ks: Vec<_> = root.attributes.iter().filter(|a| a.key == "k").collect();
        assert_eq!(ks.len(), 1, "a repeated key is written once");
        let child = got.iter().find(|s| s.name == "child").unwrap();
        assert_eq!(child.parent_span_id, root.span_id);
        assert_eq!(child.status.as_ref().unwrap().code, 2);
        assert_eq!(child.status.as_ref().unwrap().message, "boom");
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
        assert_eq!(
            partial_success(&ExportTraceServiceResponse::default().encode_to_vec()),
            None
        );
        assert_eq!(partial_success(b"\xff\xff\xff"), None);
    }
}
