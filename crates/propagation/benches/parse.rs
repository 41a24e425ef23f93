//! Parse time of hostile headers: a 4 KB and a 1 MB value of each kind, so that the 1 MB time
//! can be compared with the 4 KB time (every parser stops at its W3C limit, so the two should
//! be close; a parser that reads on would take about 256 times as long for 1 MB).
//!
//! `cargo bench -p reqtrace-propagation --bench parse`
//!
//! Inputs (`n` is the header size in bytes):
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

const SIZES: [(usize, &str); 2] = [(4 * 1024, "4KB"), (1024 * 1024, "1MB")];

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// `unit(i)` repeated (joined with `,`) until the result is `n` bytes long.
fn repeat_to(n: usize, unit: impl Fn(usize) -> String) -> String {
    let mut s = String::with_capacity(n + 256);
    let mut i = 0;
    while s.len() < n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&unit(i));
        i += 1;
    }
    s.truncate(n);
    s
}

fn traceparent_future(n: usize) -> String {
    let mut s = format!("cc-{TRACE}-{PARENT}-01-");
    s.push_str(&"x".repeat(n - s.len()));
    s
}

fn traceparent_ows(n: usize) -> String {
    let value = format!("00-{TRACE}-{PARENT}-01");
    let pad = (n - value.len()) / 2;
    format!("{}{value}{}", " \t".repeat(pad / 2), "\t ".repeat(pad / 2))
}

fn tracestate(n: usize) -> String {
    // "k0001=" + 122 value bytes = 128 bytes per member
    repeat_to(n, |i| format!("k{i:04}={}", "v".repeat(122)))
}

fn baggage(n: usize) -> String {
    // "key00001=" + 119 value bytes = 128 bytes per member: 63 of them fill the 8192 bytes
    repeat_to(n, |i| format!("key{:05}={}", i % 100_000, "v".repeat(119)))
}

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
