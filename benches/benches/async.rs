//! The async benches (issue 10): rows g and h for the floor, reqtrace and fastrace in one
//! criterion run (the workloads and each library's set-up: `reqtrace_benches::async_work`
//! and `reqtrace_benches::peers::fastrace_async`).
//!
//! | group | one criterion iteration | measured |
//! | --- | --- | --- |
//! | `g_future_poll` | one poll (returning `Pending`) of an instrumented future in an open root | wall |
//! | `h_async_request` | one request: root + 10 spans, each over a sub-future that yields once, until its consumer has the 11 spans | wall |

use criterion::Criterion;
use reqtrace_benches::async_work::{
    AsyncSubject, FloorAsync, ReqtraceAsync, requests, settle_async,
};
use reqtrace_benches::peers::fastrace_async::FastraceAsync;
use reqtrace_benches::results;

fn group<S: AsyncSubject>(c: &mut Criterion, s: &S) {
    c.benchmark_group("g_future_poll")
        .bench_function(s.name(), |b| b.iter_custom(|iters| s.polls(iters)));
    settle_async(s);
    c.benchmark_group("h_async_request")
        .bench_function(s.name(), |b| b.iter_custom(|iters| requests(s, iters)));
    settle_async(s);
}

fn main() {
    let mut c = reqtrace_benches::criterion_config();
    let floor = FloorAsync::default();
    let reqtrace = ReqtraceAsync::new();
    let fastrace = FastraceAsync::default();
    group(&mut c, &floor);
    group(&mut c, &reqtrace);
    group(&mut c, &fastrace);
    for s in [&floor as &dyn Account, &reqtrace, &fastrace] {
        s.account();
    }
    c.final_summary();
}

/// Records the final made/received totals of a subject (`async_spans_*` in `results.tsv`).
trait Account {
    fn account(&self);
}

impl<S: AsyncSubject> Account for S {
    fn account(&self) {
        settle_async(self);
        let acc = self.counters().snapshot();
        results::record("async_spans_made", self.name(), acc.made as f64);
        results::record("async_spans_received", self.name(), acc.received as f64);
    }
}
