//! OTLP protobuf bodies (the `proto` feature) against the in-process receiver.
#![cfg(feature = "proto")]

mod common;

use common::{Receiver, Reply, hex, sample_spans};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use reqtrace_core::{Resource, SpanExporter};
use reqtrace_otlp::{OtlpExporter, Protocol};

#[test]
fn protobuf_bodies_decode_and_partial_success_is_read() {
    let rx = Receiver::start();
    let resp = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "one too many".into(),
        }),
    };
    // The scripted reply body is a String: this message's bytes are all ASCII.
    let body = String::from_utf8(resp.encode_to_vec()).expect("ASCII-only message");
    rx.script([Reply::Status(
        200,
        vec![("Content-Type".into(), "application/x-protobuf".into())],
        body,
    )]);
    let mut e = OtlpExporter::builder()
        .endpoint(rx.base_url())
        .protocol(Protocol::HttpProtobuf)
        .gzip(true)
        .build()
        .unwrap();
    let spans = sample_spans(5);
    e.export(&spans, &Resource::new("pb")).unwrap();

    let r = &rx.requests()[0];
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let req = ExportTraceServiceRequest::decode(&r.body[..]).expect("protobuf body");
    let got = &req.resource_spans[0].scope_spans[0].spans;
    assert_eq!(got.len(), 5);
    for (g, s) in got.iter().zip(&spans) {
        assert_eq!(hex_bytes(&g.span_id), hex(s.span_id));
        assert_eq!(hex_bytes(&g.trace_id), hex(s.trace_id));
        assert_eq!(g.name, s.name);
    }
    let o = e.stats().snapshot();
    assert_eq!(
        (o.spans_sent, o.spans_rejected, o.partial_successes),
        (5, 1, 1)
    );
}

#[test]
fn protobuf_is_the_default_protocol() {
    let rx = Receiver::start();
    let mut e = OtlpExporter::builder()
        .endpoint(rx.base_url())
        .build()
        .unwrap();
    assert_eq!(e.config().protocol(), Protocol::HttpProtobuf);
    let spans = sample_spans(2);
    e.export(&spans, &Resource::new("default")).unwrap();
    let r = &rx.requests()[0];
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let req = ExportTraceServiceRequest::decode(&r.body[..]).expect("protobuf body");
    assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 2);
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
