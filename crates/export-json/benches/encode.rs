//! Encoding throughput, spans per second, for each format.
//!
//! `cargo bench -p reqtrace-export-json --bench encode` — criterion prints "thrpt" in
//! elements (spans) per second. The workload is 200 traces × 25 spans on 4 threads with six
//! attributes per span (strings, ints, a float, an array) and an event on every fifth span,
//! written to a reused in-memory buffer.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use reqtrace_core::SpanData;
#[path = "workload/mod.rs"]
mod workload;

use reqtrace_export_json::{
    Style, write_chrome, write_html, write_native, write_native_batch, write_otlp, write_otlp_batch,
};

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
    g.bench_function("native", |b| {
        b.iter(|| {
            buf.clear();
            write_native(&mut buf, black_box(&traces), Style::Compact).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("otlp", |b| {
        b.iter(|| {
            buf.clear();
            write_otlp(&mut buf, black_box(&traces), &resource, Style::Compact).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("chrome", |b| {
        b.iter(|| {
            buf.clear();
            write_chrome(&mut buf, black_box(&traces), Style::Compact).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("html", |b| {
        b.iter(|| {
            buf.clear();
            write_html(&mut buf, black_box(&traces)).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("otlp_batch_line", |b| {
        b.iter(|| {
            buf.clear();
            write_otlp_batch(&mut buf, black_box(&spans), &resource).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("native_batch_line", |b| {
        b.iter(|| {
            buf.clear();
            write_native_batch(&mut buf, black_box(&spans), &resource).unwrap();
            black_box(buf.len())
        })
    });
    // For scale: core's serde (serde_json) writing the same traces (no durations).
    g.bench_function("serde_json_reference", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&traces)).unwrap();
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
