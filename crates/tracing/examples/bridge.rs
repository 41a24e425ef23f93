//! `tracing`-instrumented code recorded by reqtrace: a request handled on two threads, printed
//! as a span tree.
//!
//! `cargo run -p reqtrace-tracing --example bridge`

use reqtrace_core::{RequestTracer, SpanData, Trace};
use reqtrace_tracing::ReqtraceLayer;
use tracing::instrument;
use tracing_subscriber::prelude::*;

#[instrument]
fn handle(user: u64) -> usize {
    let rows = query("select * from carts where user = ?");
    // Fan out: the span goes along to the other thread.
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let priced = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| price(rows)))
    })
    .join()
    .unwrap_or(0);
    tracing::info!(priced, "done");
    priced
}

#[instrument]
fn query(sql: &str) -> usize {
    tracing::debug!(cached = false, "cache miss");
    3
}

#[instrument(fields(error))]
fn price(items: usize) -> usize {
    if items > 2 {
        tracing::Span::current().record("error", "price service slow");
    }
    items * 100
}

fn print_tree(trace: &Trace, span: &SpanData, depth: usize) {
    let attrs: Vec<String> = span
        .attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    println!(
        "{:indent$}{} [{:.3} ms, thread {}] {} {:?}{}",
        "",
        span.name,
        span.duration_ms(),
        span.thread_id,
        attrs.join(" "),
        span.status,
        span.error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        indent = depth * 2
    );
    for e in &span.events {
        println!("{:indent$}  · event {:?}", "", e.name, indent = depth * 2);
    }
    for child in trace.children_of(span.span_id) {
        print_tree(trace, child, depth + 1);
    }
}

fn main() {
    let tracer = RequestTracer::new("bridge-example");
    tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()))
        .init();

    tracer.start_trace();
    {
        let _request = tracer.start_span("GET /cart");
        handle(42);
    }
    let Some(trace) = tracer.end_trace() else {
        eprintln!("no trace");
        return;
    };
    println!("trace {} ({} spans)", trace.trace_id, trace.spans.len());
    for root in trace.root_spans() {
        print_tree(&trace, root, 1);
    }
}
