//! `#[trace]` on sync and async functions, one of them finishing on another thread; prints
//! the trace as a span tree.
//!
//! `cargo run -p reqtrace-macros --example traced`

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use reqtrace_core::{RequestTracer, SpanData, Trace};
use reqtrace_macros::trace;

/// The tracer `#[trace]` uses when no `tracer = …` is given.
fn tracer() -> &'static RequestTracer {
    static TRACER: LazyLock<RequestTracer> = LazyLock::new(|| RequestTracer::new("traced-example"));
    &TRACER
}

#[derive(Debug)]
#[allow(dead_code)] // shown through Debug
struct Query {
    table: &'static str,
    limit: u32,
}

#[trace(args(user), debug_args(query))]
fn load(user: u64, query: &Query) -> Vec<u64> {
    (0..u64::from(query.limit)).map(|i| user + i).collect()
}

#[trace(name = "score")]
fn score(items: &[u64]) -> u64 {
    items.iter().sum()
}

#[trace(args(user))]
async fn recommend(user: u64) -> u64 {
    let items = load(
        user,
        &Query {
            table: "history",
            limit: 3,
        },
    );
    Hop::default().await; // the task moves to another thread here
    score(&items)
}

/// Pending once, then ready.
#[derive(Default)]
struct Hop(bool);

impl Future for Hop {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn print_tree(trace: &Trace, span: &SpanData, depth: usize) {
    let attrs: Vec<String> = span
        .attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    println!(
        "{:indent$}{} [{:.3} ms, thread {}] {}",
        "",
        span.name,
        span.duration_ms(),
        span.thread_id,
        attrs.join(" "),
        indent = depth * 2
    );
    for child in trace.children_of(span.span_id) {
        print_tree(trace, child, depth + 1);
    }
}

fn main() {
    tracer().start_trace();
    let request = tracer().start_span("request");

    // A tiny executor: first poll here, the rest on another thread.
    let mut task = Box::pin(recommend(7));
    let mut cx = Context::from_waker(Waker::noop());
    let first = task.as_mut().poll(&mut cx);
    let result = match first {
        Poll::Ready(v) => v,
        Poll::Pending => std::thread::spawn(move || {
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                if let Poll::Ready(v) = task.as_mut().poll(&mut cx) {
                    return v;
                }
            }
        })
        .join()
        .unwrap_or(0),
    };
    drop(request);

    let Some(trace) = tracer().end_trace() else {
        eprintln!("no trace");
        return;
    };
    println!("recommend(7) = {result}");
    println!("trace {} ({} spans)", trace.trace_id, trace.spans.len());
    for root in trace.root_spans() {
        print_tree(&trace, root, 1);
    }
}
