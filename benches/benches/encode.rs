//! Row k (issue 14): encoding throughput, spans per second, of the same 5,000 spans (six
//! attributes each) in every format, beside `opentelemetry-proto` + `serde_json` (OTLP/JSON)
//! and + `prost` (protobuf), in one criterion run (group `k_encode`). The workload and the
//! peers' message building: `reqtrace_benches::peers::encode`. Output goes to a reused
//! in-memory buffer.
//!
//! | function | writes |
//! | --- | --- |
//! | `reqtrace_native` | `write_native_batch`: one native JSON line for the batch |
//! | `reqtrace_chrome` | `write_chrome` (compact) of the 200 traces |
//! | `reqtrace_otlp_json` | `write_otlp_batch`: one OTLP/JSON request body |
//! | `reqtrace_otlp_proto` | `reqtrace_otlp::encode_protobuf_batch` (feature `otlp-proto`) |
//! | `otel_serde_json`, `otel_prost` | `to_proto` + `serde_json::to_writer` / `prost::Message::encode` |
//! | `otel_serde_json_prebuilt`, `otel_prost_prebuilt` | the writer alone, on messages built beforehand |

use std::hint::black_box;

use criterion::Throughput;
use prost::Message as _;
use reqtrace_benches::peers::encode::{to_proto, workload};
use reqtrace_core::{Resource, SpanData};
use reqtrace_export_json::{Style, write_chrome, write_native_batch, write_otlp_batch};

fn main() {
    let mut c = reqtrace_benches::criterion_config();
    let traces = workload(200, 25);
    let spans: Vec<SpanData> = traces.iter().flat_map(|t| t.spans.clone()).collect();
    let resource = Resource::new("api");
    let prebuilt = to_proto(&spans, &resource);
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 20);
    let mut g = c.benchmark_group("k_encode");
    g.throughput(Throughput::Elements(spans.len() as u64));
    g.bench_function("reqtrace_native", |b| {
        b.iter(|| {
            buf.clear();
            write_native_batch(&mut buf, black_box(&spans), &resource).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("reqtrace_chrome", |b| {
        b.iter(|| {
            buf.clear();
            write_chrome(&mut buf, black_box(&traces), Style::Compact).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("reqtrace_otlp_json", |b| {
        b.iter(|| {
            buf.clear();
            write_otlp_batch(&mut buf, black_box(&spans), &resource).unwrap();
            black_box(buf.len())
        })
    });
    #[cfg(feature = "otlp-proto")]
    g.bench_function("reqtrace_otlp_proto", |b| {
        b.iter(|| {
            buf.clear();
            reqtrace_otlp::encode_protobuf_batch(black_box(&spans), &resource, &mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("otel_serde_json", |b| {
        b.iter(|| {
            buf.clear();
            let req = to_proto(black_box(&spans), &resource);
            serde_json::to_writer(&mut buf, &req).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("otel_prost", |b| {
        b.iter(|| {
            buf.clear();
            let req = to_proto(black_box(&spans), &resource);
            req.encode(&mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("otel_serde_json_prebuilt", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&prebuilt)).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("otel_prost_prebuilt", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&prebuilt).encode(&mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
    c.final_summary();
}
