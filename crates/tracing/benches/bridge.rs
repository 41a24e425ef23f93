//! Per-span cost of the bridge beside plain `tracing` and native reqtrace spans.
//!
//! Each iteration is one span: created, entered, exited and closed (what one call of an
//! `#[instrument]`-ed function does), with one integer field. Spans run in traces of
//! `SPANS_PER_TRACE`, and the time to start and end (collect) each trace is included, spread
//! over its spans.
//!
//! `cargo bench -p reqtrace-tracing --bench bridge`

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use reqtrace_core::RequestTracer;
use reqtrace_tracing::ReqtraceLayer;
use tracing_subscriber::prelude::*;

const SPANS_PER_TRACE: u64 = 1_000;

/// Runs `iters` spans via `span`, in traces of `SPANS_PER_TRACE` when `tracer` is given.
fn run(iters: u64, tracer: Option<&RequestTracer>, span: &mut dyn FnMut(u64)) -> Duration {
    let start = Instant::now();
    let mut i = 0;
    while i < iters {
        if let Some(t) = tracer {
            t.start_trace();
        }
        let n = SPANS_PER_TRACE.min(iters - i);
        for k in 0..n {
            span(k);
        }
        if let Some(t) = tracer {
            black_box(t.end_trace());
        }
        i += n;
    }
    start.elapsed()
}

fn tracing_span(k: u64) {
    let span = tracing::info_span!("handle", k);
    let _e = span.enter();
    black_box(&span);
}

fn bridge(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_span");

    // Plain tracing: a registry with no layer.
    let plain = tracing_subscriber::registry().into();
    g.bench_function("tracing_registry_only", |b| {
        tracing::dispatcher::with_default(&plain, || {
            b.iter_custom(|iters| run(iters, None, &mut |k| tracing_span(k)));
        });
    });

    // The bridge, inside a reqtrace trace: every span recorded.
    let tracer = RequestTracer::new("bench");
    let bridged = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()))
        .into();
    g.bench_function("tracing_with_bridge_in_trace", |b| {
        tracing::dispatcher::with_default(&bridged, || {
            b.iter_custom(|iters| run(iters, Some(&tracer), &mut |k| tracing_span(k)));
        });
    });

    // The bridge with no reqtrace trace active: nothing recorded.
    g.bench_function("tracing_with_bridge_no_trace", |b| {
        tracing::dispatcher::with_default(&bridged, || {
            b.iter_custom(|iters| run(iters, None, &mut |k| tracing_span(k)));
        });
    });

    // Native reqtrace for reference: a guard span and a detached span.
    g.bench_function("reqtrace_start_span", |b| {
        b.iter_custom(|iters| {
            run(iters, Some(&tracer), &mut |k| {
                let mut s = tracer.start_span("handle");
                s.set_attribute("k", k);
            })
        });
    });
    g.bench_function("reqtrace_detached_span", |b| {
        b.iter_custom(|iters| {
            run(iters, Some(&tracer), &mut |k| {
                let mut s = tracer.start_detached_span("handle");
                s.set_attribute("k", k);
            })
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bridge
}
criterion_main!(benches);
