//! A driver for profilers: runs one scenario of one library in a loop, with no criterion
//! around it, so `perf record`, `perf stat` or `valgrind --tool=callgrind` see only that work.
//!
//! ```text
//! cargo build --release -p reqtrace-benches --features peers --example profile
//! perf stat -e instructions target/release/examples/profile reqtrace b 2000000
//! valgrind --tool=callgrind target/release/examples/profile reqtrace a 200000
//! valgrind --tool=callgrind --toggle-collect='*profile_child_a*' \
//!     target/release/examples/profile reqtrace a 200000   # the child spans only
//! ```
//!
//! Scenarios: `a` (children in an open root), `b` (with two attributes), `c` (whole traces),
//! `f` (unsampled children), `e1`/`e2` (whole traces on 1/2 threads: wall, CPU, cores used);
//! libraries: floor, reqtrace, fastrace, tracing, opentelemetry.
//! The last argument is the number of spans. Prints made/received at the end.

use std::hint::black_box;

use reqtrace_benches::cpu::process_cpu_time;
use reqtrace_benches::floor::Floor;
use reqtrace_benches::peers::fastrace_subject::Fastrace;
use reqtrace_benches::peers::otel_subject::Otel;
use reqtrace_benches::peers::tracing_subject::Tracing;
use reqtrace_benches::reqtrace_subject::Reqtrace;
use reqtrace_benches::{
    MODEL, SPANS_PER_TRACE, Subject, TOKENS, children_timed, settle, threaded, whole_traces,
};

/// One child (scenario a), never inlined: `--toggle-collect='*profile_child_a*'` in callgrind
/// counts only the span itself.
#[inline(never)]
fn profile_child_a<S: Subject>(s: &S) {
    s.child();
}

/// One child with two attributes (scenario b), never inlined.
#[inline(never)]
fn profile_child_b<S: Subject>(s: &S) {
    s.child_attrs(black_box(MODEL), black_box(TOKENS));
}

/// One unsampled child (scenario f), never inlined.
#[inline(never)]
fn profile_child_f<S: Subject>(s: &S) {
    s.unsampled_child();
}

fn run<S: Subject>(s: &S, scenario: &str, spans: u64) {
    let t = match scenario {
        "a" => children_timed(s, spans, true, profile_child_a),
        "b" => children_timed(s, spans, true, profile_child_b),
        "c" => whole_traces(s, spans / SPANS_PER_TRACE),
        "f" => children_timed(s, spans, false, profile_child_f),
        "e1" | "e2" => {
            let threads = if scenario == "e2" { 2 } else { 1 };
            let c0 = process_cpu_time();
            let wall = threaded(s, spans / SPANS_PER_TRACE, threads);
            let cpu = process_cpu_time() - c0;
            println!(
                "{} {scenario}: wall {:.1} ns/span, CPU {:.1} ns/span, CPU/wall {:.2} cores",
                s.name(),
                wall.as_nanos() as f64 / spans as f64,
                cpu.as_nanos() as f64 / spans as f64,
                cpu.as_secs_f64() / wall.as_secs_f64()
            );
            wall
        }
        other => panic!("unknown scenario {other} (a, b, c, f)"),
    };
    let acc = settle(s);
    println!(
        "{} {scenario}: {:.1} ns/span (timed part), made {} received {}",
        s.name(),
        t.as_nanos() as f64 / spans as f64,
        acc.made,
        acc.received
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lib = args.first().map_or("reqtrace", String::as_str);
    let scenario = args.get(1).map_or("a", String::as_str);
    let spans: u64 = args
        .get(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    match lib {
        "floor" => run(&Floor::new(), scenario, spans),
        "reqtrace" => run(&Reqtrace::new(), scenario, spans),
        "fastrace" => run(&Fastrace::new(), scenario, spans),
        "tracing" => run(&Tracing::new(), scenario, spans),
        "opentelemetry" => run(&Otel::new(), scenario, spans),
        other => panic!("unknown library {other}"),
    }
}
