//! The demo: a pool of worker threads sharing one tracer, serving simulated requests.
//!
//! Each request is a trace. Its root span runs on a front worker, which parses the request,
//! fans three inference calls out to a backend pool (other threads; their spans join the
//! request's trace through a `SpanContext`), and renders the answer. Spans carry attributes,
//! one an event, and about one request in ten fails an inference call.
//!
//! ```text
//! cargo run --release --example worker_pool -- [--threads N] [--requests N] [--out DIR] [--otlp URL]
//! ```
//!
//! With `--otlp URL` (a collector's base URL, e.g. `http://127.0.0.1:4318`; the
//! `OTEL_EXPORTER_OTLP_*` variables add headers, gzip, timeout) spans are also streamed to
//! `URL/v1/traces` over OTLP/HTTP, and an `otlp: exported=N ...` line reports the delivery.
//!
//! Prints one trace as a tree and a summary line, and writes every finished trace to
//! `DIR/traces.json` (native JSON), `DIR/traces.otlp.json` (OTLP/JSON) and
//! `DIR/traces.chrome.json` (Chrome trace events, for Perfetto) and `DIR/traces.html` (the
//! offline trace viewer: open it in a browser); `DIR` defaults to `target/reqtrace-demo`.

mod common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use reqtrace_core::{KeyValue, RequestTracer, SpanHandle, SpanKind, Trace};

struct Options {
    threads: usize,
    requests: usize,
    out: PathBuf,
    otlp: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        threads: 4,
        requests: 2_000,
        out: PathBuf::from("target/reqtrace-demo"),
        otlp: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--threads" => o.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--requests" => {
                o.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?
            }
            "--out" => o.out = PathBuf::from(value()?),
            "--otlp" => o.otlp = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: worker_pool [--threads N] [--requests N] [--out DIR] [--otlp URL]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    o.threads = o.threads.max(1);
    Ok(o)
}

/// Some deterministic CPU work standing in for real work (roughly `units` microseconds).
fn work(units: u64) -> u64 {
    let mut x = units.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for i in 0..units * 1000 {
        x = x.rotate_left(5) ^ i;
    }
    std::hint::black_box(x)
}

/// A backend job: an inference call made on behalf of request `request`.
struct Job {
    parent: SpanHandle,
    request: usize,
    shard: usize,
    done: mpsc::Sender<()>,
}

fn backend_worker(tracer: RequestTracer, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        {
            let mut span = tracer.start_span_with_parent("inference", &job.parent);
            span.set_kind(SpanKind::Client);
            span.set_attribute("model", "gpt-4o");
            span.set_attribute("shard", job.shard);
            let tokens = 200 + (job.request * 37 + job.shard * 11) % 1800;
            span.set_attribute("tokens", tokens);
            {
                let mut cache = tracer.start_span("kv-cache.lookup");
                let hit = (job.request + job.shard) % 3 != 0;
                cache.set_attribute("hit", hit);
                if !hit {
                    cache.add_event(
                        "cache-miss",
                        [KeyValue::new("key", format!("r{}", job.request))],
                    );
                }
                work(5);
            }
            work(20 + (tokens as u64) / 100);
            if job.request % 10 == 7 && job.shard == 2 {
                span.set_error("upstream timeout after 3 retries");
            }
        }
        let _ = job.done.send(());
    }
}

fn handle_request(
    tracer: &RequestTracer,
    backend: &mpsc::Sender<Job>,
    request: usize,
) -> Option<Trace> {
    tracer.start_trace_with([
        KeyValue::new("request.id", request),
        KeyValue::new("http.route", "/v1/chat"),
    ]);
    {
        let mut root = tracer.start_span("handle_request");
        root.set_kind(SpanKind::Server);
        root.set_attribute("http.method", "POST");
        {
            let mut parse = tracer.start_span("parse");
            parse.set_attribute("bytes", 512 + request % 4096);
            let _validate = tracer.start_span("validate");
            work(5);
        }
        let ctx = root.handle();
        if let Some(ctx) = ctx {
            let (done_tx, done_rx) = mpsc::channel();
            let mut sent = 0;
            for shard in 0..3 {
                let job = Job {
                    parent: ctx.clone(),
                    request,
                    shard,
                    done: done_tx.clone(),
                };
                if backend.send(job).is_ok() {
                    sent += 1;
                }
            }
            drop(done_tx);
            for _ in 0..sent {
                let _ = done_rx.recv();
            }
        }
        {
            let mut render = tracer.start_span("render");
            render.set_attribute("format", "json");
            work(10);
        }
        root.set_attribute(
            "http.status_code",
            if request % 10 == 7 { 502 } else { 200 },
        );
    }
    tracer.end_trace()
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let builder = RequestTracer::builder("worker-pool-demo")
        .resource_attribute("service.version", env!("CARGO_PKG_VERSION"));
    // --otlp: stream spans to a collector too, and keep traces for the printout and files.
    let (builder, otlp_stats) = common::with_otlp(builder, opts.otlp.as_deref());
    let tracer = builder.build();

    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let backends: Vec<_> = (0..opts.threads)
        .map(|i| {
            let t = tracer.clone();
            let rx = Arc::clone(&job_rx);
            thread::Builder::new()
                .name(format!("backend-{i}"))
                .spawn(move || backend_worker(t, rx))
                .expect("spawn backend thread")
        })
        .collect();

    let (req_tx, req_rx) = mpsc::channel::<usize>();
    let req_rx = Arc::new(Mutex::new(req_rx));
    let started = Instant::now();
    let fronts: Vec<_> = (0..opts.threads)
        .map(|i| {
            let t = tracer.clone();
            let rx = Arc::clone(&req_rx);
            let backend = job_tx.clone();
            thread::Builder::new()
                .name(format!("front-{i}"))
                .spawn(move || {
                    let mut traces = Vec::new();
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(request) = next else { break };
                        if let Some(trace) = handle_request(&t, &backend, request) {
                            traces.push(trace);
                        }
                    }
                    traces
                })
                .expect("spawn front thread")
        })
        .collect();
    for r in 0..opts.requests {
        let _ = req_tx.send(r);
    }
    drop(req_tx);
    let mut traces: Vec<Trace> = fronts
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    let elapsed = started.elapsed();
    drop(job_tx);
    for b in backends {
        let _ = b.join();
    }
    traces.sort_by_key(|t| t.start_unix_nanos);

    // One trace that failed, if any, shows the error path; else the first.
    let shown = traces
        .iter()
        .find(|t| t.spans.iter().any(|s| s.error.is_some()))
        .or(traces.first());
    if let Some(t) = shown {
        common::print_tree(t);
    }

    if let Some(otlp) = &otlp_stats {
        common::report_otlp(&tracer, otlp);
    }
    let stats = tracer.stats();
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    println!(
        "traces: {}  spans: {}  spans/s: {:.0}  dropped: {}  (threads: {}, wall: {:.3} s)",
        traces.len(),
        spans,
        spans as f64 / elapsed.as_secs_f64(),
        stats.dropped.total(),
        opts.threads,
        elapsed.as_secs_f64()
    );
    println!(
        "stats: started {} finished {} delivered {} dropped {} buffered {}",
        stats.spans_started,
        stats.spans_finished,
        stats.spans_delivered,
        stats.dropped.total(),
        stats.spans_buffered()
    );

    if let Err(e) = std::fs::create_dir_all(&opts.out) {
        eprintln!("cannot create {}: {e}", opts.out.display());
        std::process::exit(1);
    }
    match reqtrace_export_json::write_all_formats(&opts.out, &traces, tracer.resource()) {
        Ok(paths) => {
            println!("wrote {}", paths.native.display());
            println!("wrote {}", paths.otlp.display());
            println!(
                "wrote {} (open it at https://ui.perfetto.dev or chrome://tracing)",
                paths.chrome.display()
            );
            println!("wrote {} (open it in a browser)", paths.html.display());
        }
        Err(e) => {
            eprintln!("cannot write traces to {}: {e}", opts.out.display());
            std::process::exit(1);
        }
    }
}
