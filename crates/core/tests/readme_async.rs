//! README.md's "Async services" example, run as a test, and a check that the README shows
//! exactly this code (between the `README begin` / `README end` markers below).

// README begin
use reqtrace_core::{RequestTracer, SpanKind};

async fn checkout(t: RequestTracer, items: u64) -> u64 {
    // A span over a sub-future: current on every poll, whichever thread polls.
    let price = t
        .in_span("price", async move {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            items * 100
        })
        .await;
    // A spawned task keeps the trace: `in_span` takes its parent now, not at the first poll.
    let t2 = t.clone();
    let tax = tokio::spawn(t.in_span("tax", async move {
        let _rates = t2.start_span("tax.rates"); // a child of "tax"
        price / 10
    }));
    // Blocking work: `bind` carries the current context to the blocking thread.
    let t3 = t.clone();
    let receipt = tokio::task::spawn_blocking(t.bind(move || {
        let _render = t3.start_span("receipt.render");
        "ok"
    }));
    let (tax, receipt) = (tax.await.unwrap(), receipt.await.unwrap());
    assert_eq!(receipt, "ok");
    price + tax
}

#[tokio::main]
async fn main() {
    let tracer = RequestTracer::new("shop"); // no exporter: finishing returns the trace

    // One request per task; each trace is an owned value, finished wherever the task ends.
    let t = tracer.clone();
    let request = tokio::spawn(async move {
        let root = t
            .trace_builder()
            .kind(SpanKind::Server)
            .attribute("items", 3)
            .start_root("POST /checkout");
        // `run` makes the root current on every poll, then finishes the trace.
        root.run(async move { checkout(t, 3).await }).await
    });
    let (total, trace) = request.await.unwrap();

    assert_eq!(total, 330);
    assert_eq!(trace.spans.len(), 5);
    let root = trace.span("POST /checkout").unwrap();
    let tax = trace.span("tax").unwrap();
    assert_eq!(tax.parent_id, Some(root.span_id));
    let rates = trace.span("tax.rates").unwrap();
    assert_eq!(rates.parent_id, Some(tax.span_id));
    let render = trace.span("receipt.render").unwrap();
    assert_eq!(render.parent_id, Some(root.span_id));
    for s in &trace.spans {
        println!(
            "{:<16} {:.3} ms on {:?}",
            s.name,
            s.duration_ms(),
            s.thread_name
        );
    }
}
// README end

#[test]
fn readme_async_example_runs() {
    main();
}

/// The README's "Async services" Rust block is this file's example, line for line.
#[test]
fn readme_shows_this_example() {
    let this = include_str!("readme_async.rs");
    let example = between(this, "// README begin\n", "// README end\n");
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## Async services")
        .expect("README has no \"Async services\" section")..];
    let block = between(section, "```rust\n", "```\n");
    assert_eq!(
        block, example,
        "README.md differs from tests/readme_async.rs"
    );
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).expect("start marker") + start.len();
    let len = text[from..].find(end).expect("end marker");
    &text[from..from + len]
}
