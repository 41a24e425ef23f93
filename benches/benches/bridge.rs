//! Row i (issue 14): one `tracing` span recorded through `reqtrace-tracing` beside plain
//! `tracing` with a recording layer, in one criterion run. What each does per span:
//! `reqtrace_benches::peers::bridge_subject`.
//!
//! | group | one criterion iteration | measured |
//! | --- | --- | --- |
//! | `i_bridge_child` | `info_span!("child").entered()` inside an entered root (100 per root; root untimed) | wall |
//! | `i_bridge_child_attrs` | the same with `model = "gpt-4o"`, `tokens = 1500` | wall |
//!
//! A process of its own: a scoped `tracing` dispatcher makes every later span in the process
//! check the thread's dispatcher, which would change the `tracing` peer's rows a–f.

use std::hint::black_box;

use criterion::Criterion;
use reqtrace_benches::peers::bridge_subject::{Bridged, Layered};
use reqtrace_benches::{MODEL, Subject, TOKENS, children_timed, results, settle};

/// Runs `s`'s children (with or without attributes) with `dispatch` current on this thread.
fn run<S: Subject>(
    c: &mut Criterion,
    group: &str,
    s: &S,
    dispatch: &tracing::Dispatch,
    attrs: bool,
) {
    let mut g = c.benchmark_group(group);
    let _current = tracing::dispatcher::set_default(dispatch);
    g.bench_function(s.name(), |b| {
        b.iter_custom(|iters| {
            if attrs {
                children_timed(s, iters, true, |s| {
                    s.child_attrs(black_box(MODEL), black_box(TOKENS))
                })
            } else {
                children_timed(s, iters, true, |s| s.child())
            }
        })
    });
    g.finish();
    reqtrace_benches::check(s, settle(s));
}

fn main() {
    let mut c = reqtrace_benches::criterion_config();
    let bridged = Bridged::new();
    let layered = Layered::new();
    for (group, attrs) in [("i_bridge_child", false), ("i_bridge_child_attrs", true)] {
        run(&mut c, group, &bridged, bridged.dispatch(), attrs);
        run(&mut c, group, &layered, layered.dispatch(), attrs);
    }
    for (key, s) in [
        ("bridge_spans", &bridged as &dyn Accounted),
        ("bridge_spans", &layered as &dyn Accounted),
    ] {
        s.record(key);
    }
    c.final_summary();
}

/// Records a subject's final made/received totals (for the accounting line).
trait Accounted {
    fn record(&self, key: &str);
}

impl<S: Subject> Accounted for S {
    fn record(&self, key: &str) {
        let acc = settle(self);
        results::record(&format!("{key}_made"), self.name(), acc.made as f64);
        results::record(&format!("{key}_received"), self.name(), acc.received as f64);
        reqtrace_benches::check(self, acc);
    }
}
