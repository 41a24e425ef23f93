//! Body encoding throughput, spans per second: one exported batch as an OTLP protobuf
//! `ExportTraceServiceRequest` (needs `--features proto`) and, for scale, as OTLP/JSON.
//!
//! `cargo bench -p reqtrace-otlp --features proto --bench encode` — criterion prints "thrpt"
//! in elements (spans) per second. The workload is the one of `reqtrace-export-json`'s encode
//! bench (5,000 spans), written to a reused in-memory buffer.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use reqtrace_core::SpanData;

#[path = "../../export-json/benches/workload/mod.rs"]
mod workload;

fn encode(c: &mut Criterion) {
    let traces = workload::traces(200, 25);
    let spans: Vec<SpanData> = traces.iter().flat_map(|t| t.spans.clone()).collect();
    let resource = workload::resource();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(spans.len() as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 20);
    #[cfg(feature = "proto")]
    g.bench_function("protobuf_batch", |b| {
        b.iter(|| {
            buf.clear();
            reqtrace_otlp::encode_protobuf_batch(black_box(&spans), &resource, &mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("otlp_json_batch", |b| {
        b.iter(|| {
            buf.clear();
            reqtrace_export_json::write_otlp_batch(&mut buf, black_box(&spans), &resource).unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
}

mod group {
    // criterion_group! generates an undocumented `pub fn`.
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::encode);
}
criterion_main!(group::benches);
