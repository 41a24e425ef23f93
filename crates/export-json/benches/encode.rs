//! Encoding throughput, spans per second, for each format.
//!
//! `cargo bench -p reqtrace-export-json --bench encode` — criterion prints "thrpt" in
//! elements (spans) per second. The workload is 200 traces × 25 spans on 4 threads with six
//! attributes per span (strings, ints, a float, an array) and an event on every fifth span,
//! written to a reused in-memory buffer.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use reqtrace_core::{
    Event, KeyValue, Resource, SpanData, SpanId, SpanKind, StatusCode, Trace, TraceFlags, TraceId,
    Value,
};
use reqtrace_export_json::{
    Style, write_chrome, write_native, write_native_batch, write_otlp, write_otlp_batch,
};

const T0: u64 = 1_700_000_000_000_000_000;

fn workload(traces: usize, spans: usize) -> Vec<Trace> {
    (0..traces)
        .map(|t| {
            let trace_id = TraceId::from_u128(0x4bf9_2f35_77b3_4da6_0000 + t as u128).unwrap();
            let base = T0 + t as u64 * 400_000;
            let thread = (t % 4) as u64;
            let spans = (0..spans)
                .map(|i| {
                    let start = base + i as u64 * 10_000;
                    SpanData {
                        name: Cow::Borrowed(if i == 0 { "handle request" } else { "db.query" }),
                        trace_id,
                        span_id: SpanId::from_u64(i as u64 + 1).unwrap(),
                        trace_flags: Default::default(),
                        parent_is_remote: false,
                        parent_id: if i == 0 { None } else { SpanId::from_u64(1) },
                        kind: if i == 0 {
                            SpanKind::Server
                        } else {
                            SpanKind::Client
                        },
                        start_unix_nanos: start,
                        end_unix_nanos: if i == 0 {
                            base + 300_000
                        } else {
                            start + 8_000
                        },
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
                        thread_id: thread,
                        thread_name: Some("worker".into()),
                        dropped_attributes_count: 0,
                        dropped_events_count: 0,
                        unfinished: false,
                    }
                })
                .collect();
            Trace {
                trace_id,
                service_name: Cow::Borrowed("api"),
                attributes: vec![KeyValue::new("request.id", format!("r-{t}"))],
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

fn encode(c: &mut Criterion) {
    let traces = workload(200, 25);
    let spans: Vec<SpanData> = traces.iter().flat_map(|t| t.spans.clone()).collect();
    let resource = Resource::new("api");
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
