//! What the demos share (included with `mod common;`): the `--otlp URL` exporter, the OTLP
//! report after shutdown (the `otlp: exported=N ...` line CI reads), and the span tree print.

use reqtrace_core::{RequestTracer, RequestTracerBuilder, SpanData, Trace};
use reqtrace_otlp::OtlpStats;

/// With `--otlp URL`: streams spans to the collector at `url` (protocol, compression and the
/// rest from the `OTEL_EXPORTER_OTLP_*` variables) and keeps traces too. Exits on a bad
/// configuration.
pub fn with_otlp(
    builder: RequestTracerBuilder,
    url: Option<&str>,
) -> (RequestTracerBuilder, Option<OtlpStats>) {
    let Some(url) = url else {
        return (builder, None);
    };
    match reqtrace_otlp::OtlpExporter::builder()
        .from_env()
        .endpoint(url)
        .build()
    {
        Ok(e) => {
            let stats = e.stats();
            let batch = reqtrace_core::BatchConfig::default();
            (builder.exporter(e, batch).retain_traces(true), Some(stats))
        }
        Err(e) => {
            eprintln!("--otlp: {e}");
            std::process::exit(2);
        }
    }
}

/// Shuts the tracer down and prints what the exporter did: after shutdown settles (or gives
/// up after `shutdown_timeout`) every queued span is exported, dropped by reason, or still
/// queued / in flight.
pub fn report_otlp(tracer: &RequestTracer, otlp: &OtlpStats) {
    let shutdown = tracer.shutdown();
    let e = tracer.stats().export;
    println!(
        "otlp: exported={} dropped={} (queue_full={} failed={}) still_queued={} in_flight={} retries={} failed_batches={} ({})",
        e.exported,
        e.dropped_queue_full + e.dropped_failed,
        e.dropped_queue_full,
        e.dropped_failed,
        e.in_queue,
        e.in_flight,
        e.retries,
        e.failed_batches,
        otlp.snapshot()
    );
    if let Err(err) = shutdown {
        eprintln!("otlp: shutdown: {err}");
    }
    if let Some(err) = otlp.last_error() {
        eprintln!("otlp: last error: {err}");
    }
}

/// Prints `trace` as an indented tree: each span's duration, thread, attributes, error and
/// events, children in start order.
pub fn print_tree(trace: &Trace) {
    println!(
        "trace {} ({:.3} ms, {} spans)",
        trace.trace_id,
        trace.duration_seconds() * 1e3,
        trace.spans.len()
    );
    fn walk(trace: &Trace, span: &SpanData, depth: usize) {
        let attrs: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        let status = match &span.error {
            Some(e) => format!("  ERROR: {e}"),
            None => String::new(),
        };
        let thread = match &span.thread_name {
            Some(n) => n.to_string(),
            None => format!("thread {}", span.thread_id),
        };
        let mut line = format!("{} {:.3} ms [{thread}]", span.name, span.duration_ms());
        if !attrs.is_empty() {
            line.push(' ');
            line.push_str(&attrs.join(" "));
        }
        line.push_str(&status);
        println!("{:indent$}{line}", "", indent = 2 + depth * 2);
        for e in &span.events {
            println!("{:indent$}* event {}", "", e.name, indent = 4 + depth * 2);
        }
        let mut children: Vec<_> = trace.children_of(span.span_id).collect();
        children.sort_by_key(|s| s.start_unix_nanos);
        for c in children {
            walk(trace, c, depth + 1);
        }
    }
    for root in trace.root_spans() {
        walk(trace, root, 0);
    }
}
