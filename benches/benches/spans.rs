//! The span benches (issue 5): scenarios a–f for the floor, reqtrace, fastrace, tokio
//! `tracing` and opentelemetry_sdk in one criterion run. What each library does per span is
//! documented in `reqtrace_benches::floor`, `reqtrace_benches::reqtrace_subject` and
//! `reqtrace_benches::peers` (its module table and each subject's module docs).
//!
//! | group | one criterion iteration | measured |
//! | --- | --- | --- |
//! | `a_child` | one child span inside an open root (100 per root; root untimed) | wall |
//! | `b_child_attrs` | the same with `model = "gpt-4o"`, `tokens = 1500` | wall |
//! | `c_trace` | one trace (root + 100 children) until its consumer has it | wall |
//! | `d_trace_cpu` | the same | CPU time of the whole process |
//! | `e_1_thread`, `e_2_threads` | one trace, `iters` traces shared by 1 or 2 threads | wall |
//! | `e_2_threads_cpu` | the same with 2 threads | CPU time of the whole process |
//! | `f_unsampled` | one child span inside an unsampled root | wall |
//!
//! ## What each library does per span
//!
//! | library | setup | per sampled child span | consumer (counts what it receives) |
//! | --- | --- | --- | --- |
//! | floor | — | 2 raw TSC reads (`quanta`, reqtrace's clock), push a 48-byte record (b: 128 bytes with 2 inline attributes) into a thread-local `Vec` | ending the root hands the `Vec` over |
//! | reqtrace | `RequestTracer`, `Sampler::AlwaysOn`, no exporter | `start_span` guard (thread-local stack, TSC, span id, 64-byte record); `set_attribute` into the guard; drop ends it | `end_trace()` returns the `Trace`; its `spans` are counted |
//! | fastrace 0.7.19 (`enable`) | `set_reporter(CountingReporter, Config::default())` | `LocalSpan::enter_with_local_parent` (thread-local span queue, TSC); b: `with_properties`, `1500.to_string()` | root `Span` drop ships the spans to the collector thread, which calls the reporter (1 s interval; `flush()` + a one-span nudge trace on settle) |
//! | tokio `tracing` 0.1.44 | global `Registry` + `LevelFilter::INFO` + `RecordingLayer` | `info_span!(..).entered()`: registry slot, layer stores TSC start + owned field values (`String` for `&str`) in extensions; close: end time, parent id, push to a thread-local buffer | buffer handed over when the root closes |
//! | opentelemetry_sdk 0.33 | `SdkTracerProvider` + `BatchSpanProcessor` (queue 1,048,576, batch 512) + `CountingExporter` | `tracer.start` (sampler, random id, `SystemTime`), `set_attribute`, `mark_span_as_active`; drop ends it and sends `SpanData` to the processor's channel | exporter on the processor thread (`force_flush` on settle) |
//!
//! Unsampled (f): reqtrace `Sampler::AlwaysOff`; fastrace root `SpanContext::sampled(false)`;
//! tracing has no sampler, so `trace_span!` below the `INFO` filter (disabled callsite);
//! OpenTelemetry a provider with `Sampler::AlwaysOff` (non-recording spans, still attached).
//!
//! Every library's consumer counts the spans it receives; c, d and e wait until all arrived and
//! warn otherwise; the final made/received totals go to `results.tsv` for the table.
//! `REQTRACE_BENCH_QUICK=1` shortens warm-up and measurement (`cargo xtask bench --quick`).

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Throughput};
use reqtrace_benches::floor::Floor;
use reqtrace_benches::peers::fastrace_subject::Fastrace;
use reqtrace_benches::peers::otel_subject::Otel;
use reqtrace_benches::peers::tracing_subject::Tracing;
use reqtrace_benches::reqtrace_subject::Reqtrace;
use reqtrace_benches::{
    MODEL, SPANS_PER_TRACE, Subject, TOKENS, children_timed, results, settle, threaded,
    threaded_cpu, whole_traces, whole_traces_cpu,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    A,
    B,
    C,
    D,
    E1,
    E2,
    E2Cpu,
    F,
}

impl Scenario {
    const ALL: [Scenario; 8] = [
        Scenario::A,
        Scenario::B,
        Scenario::C,
        Scenario::D,
        Scenario::E1,
        Scenario::E2,
        Scenario::E2Cpu,
        Scenario::F,
    ];

    fn group(self) -> &'static str {
        match self {
            Scenario::A => "a_child",
            Scenario::B => "b_child_attrs",
            Scenario::C => "c_trace",
            Scenario::D => "d_trace_cpu",
            Scenario::E1 => "e_1_thread",
            Scenario::E2 => "e_2_threads",
            Scenario::E2Cpu => "e_2_threads_cpu",
            Scenario::F => "f_unsampled",
        }
    }
}

fn run<S: Subject>(g: &mut BenchmarkGroup<'_, WallTime>, scenario: Scenario, s: &S) {
    let name = s.name();
    match scenario {
        Scenario::A => g.bench_function(name, |b| {
            b.iter_custom(|iters| children_timed(s, iters, true, |s| s.child()))
        }),
        Scenario::B => g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                children_timed(s, iters, true, |s| {
                    s.child_attrs(black_box(MODEL), black_box(TOKENS))
                })
            })
        }),
        Scenario::C => g.bench_function(name, |b| b.iter_custom(|iters| whole_traces(s, iters))),
        Scenario::D => {
            g.bench_function(name, |b| b.iter_custom(|iters| whole_traces_cpu(s, iters)))
        }
        Scenario::E1 => g.bench_function(name, |b| b.iter_custom(|iters| threaded(s, iters, 1))),
        Scenario::E2 => g.bench_function(name, |b| b.iter_custom(|iters| threaded(s, iters, 2))),
        Scenario::E2Cpu => {
            g.bench_function(name, |b| b.iter_custom(|iters| threaded_cpu(s, iters, 2)))
        }
        Scenario::F => g.bench_function(name, |b| {
            b.iter_custom(|iters| children_timed(s, iters, false, |s| s.unsampled_child()))
        }),
    };
    // Let the library's pipeline catch up (untimed) so no backlog leaks into the next bench.
    reqtrace_benches::check(s, settle(s));
}

fn main() {
    let mut c = reqtrace_benches::criterion_config();
    let floor = Floor::new();
    let reqtrace = Reqtrace::new();
    let fastrace = Fastrace::new();
    let tracing = Tracing::new();
    let otel = Otel::new();

    for scenario in Scenario::ALL {
        let mut g = c.benchmark_group(scenario.group());
        if matches!(
            scenario,
            Scenario::C | Scenario::D | Scenario::E1 | Scenario::E2 | Scenario::E2Cpu
        ) {
            g.throughput(Throughput::Elements(SPANS_PER_TRACE));
        }
        if scenario != Scenario::F {
            run(&mut g, scenario, &floor);
        }
        run(&mut g, scenario, &reqtrace);
        run(&mut g, scenario, &fastrace);
        run(&mut g, scenario, &tracing);
        run(&mut g, scenario, &otel);
        g.finish();
    }

    account(&floor);
    account(&reqtrace);
    account(&fastrace);
    account(&tracing);
    account(&otel);
    c.final_summary();
}

/// Waits for every library's consumer and records the final made/received totals.
fn account<S: Subject>(s: &S) {
    let acc = settle(s);
    results::record("spans_made", s.name(), acc.made as f64);
    results::record("spans_received", s.name(), acc.received as f64);
    reqtrace_benches::check(s, acc);
}
