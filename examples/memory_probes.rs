//! Memory probes: what hostile or careless use makes a tracer hold, measured as the growth of
//! the process's resident set (Linux `/proc/self/status`), one scenario per run so they don't
//! mask each other. The figures in the README's Reliability table come from here.
//!
//! ```text
//! cargo run --release -p reqtrace-examples --example memory_probes -- <scenario>
//! ```
//! Scenarios: `big-values` (1,000 spans each given a 1 MB string), `thread-churn` (100,000
//! short-lived threads, then `stats()` timed), `exit-spike` (a thread exits with 1,000,000 open
//! spans of a trace never ended), `never-ended` (1,000,000 `start_trace` with no `end_trace`),
//! `all` (each in a child process).

use std::time::Instant;

use reqtrace_core::{Limits, RequestTracer};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn report(name: &str, before: u64, t0: Instant, tracer: &RequestTracer, extra: &str) {
    let after = rss_kib();
    let s = tracer.stats();
    println!(
        "{name}: RSS +{:.1} MiB in {:.2} s; started {} finished {} delivered {} dropped {:?}; \
         traces open {} evicted {} abandoned {}; bytes queued {}{extra}",
        after.saturating_sub(before) as f64 / 1024.0,
        t0.elapsed().as_secs_f64(),
        s.spans_started,
        s.spans_finished,
        s.spans_delivered,
        s.dropped,
        s.traces_open,
        s.traces_evicted,
        s.traces_abandoned,
        s.bytes_queued,
    );
}

fn big_values() {
    let tracer = RequestTracer::new("probe");
    let big = "v".repeat(1 << 20);
    let before = rss_kib();
    let t0 = Instant::now();
    let root = tracer.start_root("root");
    let ctx = root.handle();
    for _ in 0..1_000 {
        let mut s = tracer.start_span_with_parent("s", &ctx);
        s.set_attribute("big", big.clone());
    }
    report("big-values (held, trace open)", before, t0, &tracer, "");
    let trace = root.finish();
    report(
        "big-values",
        before,
        t0,
        &tracer,
        &format!("; {} spans back", trace.spans.len()),
    );
}

fn thread_churn() {
    let tracer = RequestTracer::new("probe");
    let root = tracer.start_root("root");
    let ctx = root.handle();
    let before = rss_kib();
    let t0 = Instant::now();
    for _ in 0..100_000 {
        let t = tracer.clone();
        let ctx = ctx.clone();
        std::thread::spawn(move || drop(t.start_span_with_parent("w", &ctx)))
            .join()
            .unwrap();
    }
    let q = Instant::now();
    let s = tracer.stats();
    let stats_us = q.elapsed().as_micros();
    drop(root);
    report(
        "thread-churn",
        before,
        t0,
        &tracer,
        &format!(
            "; stats() {stats_us} µs; counter blocks held {}",
            s.thread_blocks
        ),
    );
}

fn exit_spike() {
    let tracer = RequestTracer::builder("probe")
        .limits(Limits::default().max_open_spans_per_thread(2_000_000))
        .build();
    let before = rss_kib();
    let t0 = Instant::now();
    let t = tracer.clone();
    // The guards are forgotten so the thread exits with the spans open; their vector is the
    // probe's own leak, reported apart from the tracer's growth.
    let leaked = std::thread::spawn(move || {
        t.start_trace();
        let guards: Vec<_> = (0..1_000_000).map(|_| t.start_span("open")).collect();
        let bytes = guards.capacity() * std::mem::size_of_val(&guards[0]);
        std::mem::forget(guards);
        bytes
    })
    .join()
    .unwrap();
    report(
        "exit-spike",
        before,
        t0,
        &tracer,
        &format!(
            "; of the growth, {:.1} MiB is the probe's own leaked guard vector",
            leaked as f64 / (1 << 20) as f64
        ),
    );
}

fn never_ended() {
    let tracer = RequestTracer::new("probe");
    let before = rss_kib();
    let t0 = Instant::now();
    for _ in 0..1_000_000 {
        tracer.start_trace();
        drop(tracer.start_span("x"));
    }
    report("never-ended", before, t0, &tracer, "");
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    match arg.as_str() {
        "big-values" => big_values(),
        "thread-churn" => thread_churn(),
        "exit-spike" => exit_spike(),
        "never-ended" => never_ended(),
        "all" => {
            let me = std::env::current_exe().expect("own path");
            for s in ["big-values", "thread-churn", "exit-spike", "never-ended"] {
                let st = std::process::Command::new(&me)
                    .arg(s)
                    .status()
                    .expect("run probe");
                assert!(st.success(), "{s} failed");
            }
        }
        other => {
            eprintln!("unknown scenario {other}");
            std::process::exit(2);
        }
    }
}
