//! Heap allocations per span (issue 5 f): the counting global allocator is installed here only,
//! so the timing bench (`spans`) carries no counting cost.
//!
//! - `allocs_a`: allocations by the calling thread while 100 children run inside an open root
//!   (root start and end excluded), per child span;
//! - `allocs_b`: the same with the two attributes;
//! - `allocs_c`: allocations by every thread of the process for whole traces (root + 100
//!   children) until the consumer has received them, per span; `bytes_c` the bytes requested.

use std::hint::black_box;

use reqtrace_benches::alloc::{CountingAlloc, process_allocs, process_bytes, thread_allocs};
use reqtrace_benches::floor::Floor;
use reqtrace_benches::peers::fastrace_subject::Fastrace;
use reqtrace_benches::peers::otel_subject::Otel;
use reqtrace_benches::peers::tracing_subject::Tracing;
use reqtrace_benches::reqtrace_subject::Reqtrace;
use reqtrace_benches::{
    CHILDREN, MODEL, SPANS_PER_TRACE, Subject, TOKENS, check, make_traces, results, settle,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Roots per measurement.
const ROOTS: u64 = 200;

fn children_allocs<S: Subject>(s: &S, child: impl Fn(&S)) -> f64 {
    let mut allocs = 0;
    for _ in 0..ROOTS {
        let root = s.begin();
        let a0 = thread_allocs();
        for _ in 0..CHILDREN {
            child(s);
        }
        allocs += thread_allocs() - a0;
        s.end(root);
    }
    s.counters().add_made(ROOTS * SPANS_PER_TRACE);
    allocs as f64 / (ROOTS * CHILDREN) as f64
}

fn measure<S: Subject>(s: &S) {
    let name = s.name();
    // Warm up: grow buffers, start background threads, fill pools.
    make_traces(s, 50);
    s.counters().add_made(50 * SPANS_PER_TRACE);
    check(s, settle(s));

    let a = children_allocs(s, |s| s.child());
    let b = children_allocs(s, |s| s.child_attrs(black_box(MODEL), black_box(TOKENS)));
    check(s, settle(s));

    let (n0, b0) = (process_allocs(), process_bytes());
    make_traces(s, ROOTS * 5);
    s.counters().add_made(ROOTS * 5 * SPANS_PER_TRACE);
    let acc = settle(s);
    let spans = (ROOTS * 5 * SPANS_PER_TRACE) as f64;
    let c = (process_allocs() - n0) as f64 / spans;
    let bytes = (process_bytes() - b0) as f64 / spans;
    check(s, acc);

    results::record("allocs_a", name, a);
    results::record("allocs_b", name, b);
    results::record("allocs_c", name, c);
    results::record("bytes_c", name, bytes);
}

fn main() {
    // `cargo bench` passes criterion-style arguments to every bench binary; a filter that
    // does not mention allocations skips this one.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "allocs".contains(a.as_str())) {
        return;
    }
    measure(&Floor::new());
    measure(&Reqtrace::new());
    measure(&Fastrace::new());
    measure(&Tracing::new());
    measure(&Otel::new());
}
