//! A driver for profilers, row i: `tracing` children recorded through the bridge or through
//! plain `tracing` with a recording layer, in a loop with no criterion around it.
//!
//! ```text
//! cargo build --release -p reqtrace-benches --features peers --example profile_bridge
//! valgrind --tool=callgrind --toggle-collect='*profile_bridge_child*' \
//!     target/release/examples/profile_bridge reqtrace a 100000   # the child spans only
//! ```
//!
//! Libraries: `reqtrace` (the bridge) or `tracing`; scenarios `a` (plain child) or `b` (with
//! `model` and `tokens` fields); the last argument is the number of spans. Prints
//! made/received at the end.

use std::hint::black_box;

use reqtrace_benches::peers::bridge_subject::{Bridged, Layered};
use reqtrace_benches::{MODEL, Subject, TOKENS, children_timed, settle};

/// One child, never inlined: `--toggle-collect='*profile_bridge_child*'` counts only it.
#[inline(never)]
fn profile_bridge_child<S: Subject>(s: &S, attrs: bool) {
    if attrs {
        s.child_attrs(black_box(MODEL), black_box(TOKENS));
    } else {
        s.child();
    }
}

fn drive<S: Subject>(s: &S, dispatch: &tracing::Dispatch, attrs: bool, n: u64) {
    let _current = tracing::dispatcher::set_default(dispatch);
    let t = children_timed(s, n, true, |s| profile_bridge_child(s, attrs));
    let acc = settle(s);
    println!(
        "{}: {:.1} ns/span, made {} received {}",
        s.name(),
        t.as_nanos() as f64 / n as f64,
        acc.made,
        acc.received
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lib = args.get(1).map(String::as_str).unwrap_or("reqtrace");
    let attrs = args.get(2).map(String::as_str) == Some("b");
    let n: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    match lib {
        "reqtrace" => {
            let s = Bridged::new();
            drive(&s, s.dispatch(), attrs, n);
        }
        "tracing" => {
            let s = Layered::new();
            drive(&s, s.dispatch(), attrs, n);
        }
        other => eprintln!("unknown library {other}: reqtrace or tracing"),
    }
}
