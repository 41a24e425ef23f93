//! Parse time of hostile headers: a 4 KB and a 1 MB value of each kind, so that the 1 MB time
//! can be compared with the 4 KB time (every parser stops at its W3C limit, so the two should
//! be close; a parser that reads on would take about 256 times as long for 1 MB).
//!
//! `cargo bench -p reqtrace-propagation --bench parse`
//!
//! Inputs (`n` is the header size in bytes; `tests/large_inputs` builds them, and
//! `tests/large_headers.rs` checks what each parses to):
//! * `traceparent/future`: a higher-version value followed by `n` bytes of future fields (the
//!   parser reads its 56 fixed characters);
//! * `traceparent/ows`: a version-00 value padded with `n` bytes of spaces and tabs (the one
//!   input a parser must read to its end, since OWS around the value is allowed);
//! * `tracestate`: valid 128-byte members repeated to `n` bytes (4 KB is 32 members, valid);
//! * `baggage`: 128-byte members repeated to `n` bytes, read leniently as a server does;
//! * `extract`: a `HashMap` carrier holding all three (`traceparent/future`, `tracestate`,
//!   `baggage`), each `n` bytes, read by `Propagated::extract`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use reqtrace_propagation::{Baggage, Propagated, TraceState, Traceparent};

#[path = "../tests/large_inputs/mod.rs"]
mod large_inputs;
use large_inputs::{baggage, traceparent_future, traceparent_ows, tracestate};

const SIZES: [(usize, &str); 2] = [(4 * 1024, "4KB"), (1024 * 1024, "1MB")];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (n, label) in SIZES {
        g.throughput(Throughput::Bytes(n as u64));
        let tp = traceparent_future(n);
        g.bench_with_input(
            BenchmarkId::new("traceparent/future", label),
            &tp,
            |b, s| b.iter(|| black_box(s.as_str()).parse::<Traceparent>()),
        );
        let tp_ows = traceparent_ows(n);
        g.bench_with_input(
            BenchmarkId::new("traceparent/ows", label),
            &tp_ows,
            |b, s| b.iter(|| black_box(s.as_str()).parse::<Traceparent>()),
        );
        let ts = tracestate(n);
        g.bench_with_input(BenchmarkId::new("tracestate", label), &ts, |b, s| {
            b.iter(|| TraceState::from_headers([black_box(s.as_str())]))
        });
        let bg = baggage(n);
        g.bench_with_input(BenchmarkId::new("baggage", label), &bg, |b, s| {
            b.iter(|| Baggage::from_header([black_box(s.as_str())]))
        });
        let carrier: HashMap<String, String> = [
            ("traceparent".to_string(), tp),
            ("tracestate".to_string(), ts),
            ("baggage".to_string(), bg),
        ]
        .into_iter()
        .collect();
        g.bench_with_input(BenchmarkId::new("extract", label), &carrier, |b, c| {
            b.iter(|| Propagated::extract(black_box(c)))
        });
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);
