//! Writes a large, hostile HTML viewer file for the browser check (`.ci/viewer-check.sh`).
//!
//! ```text
//! cargo run --release -p reqtrace-export-json --example viewer_fixture -- DIR [--spans N] [--small N]
//! ```
//!
//! Records with a real `RequestTracer`: one slow trace of exactly `N` spans (default 10,000:
//! a root, then work spread over four named worker threads, with errors and events), `--small`
//! fast traces of 10 spans (default 99, at least 1), and one trace whose span
//! "untrusted-input" carries markup in its attributes, event, error message and link, and links
//! to the first fast trace's root and to a span not in the file. Writes `DIR/viewer-fixture.html` and
//! `DIR/viewer-fixture.json` (native JSON, for the check's expected counts).

use std::path::PathBuf;
use std::thread;

use reqtrace_core::{
    KeyValue, Limits, RequestTracer, SpanContext, SpanId, Trace, TraceFlags, TraceId,
};
use reqtrace_export_json::{Style, write_html, write_native};

/// Attribute values the page must show as text (the check looks for these exact strings).
const HOSTILE: [(&str, &str); 3] = [
    ("payload", "</script><script>window.__pwned=1</script>"),
    (
        "html",
        "<img src=x onerror=\"window.__pwned=1\"><!-- <b>bold</b>",
    ),
    ("unicode", "漢字 🦀 \u{2028} \"quoted\" & amp"),
];

fn big_trace(tracer: &RequestTracer, spans: usize) -> Trace {
    tracer.start_trace();
    {
        let mut root = tracer.start_span("batch.import");
        root.set_attribute("items", (spans.saturating_sub(5)) as i64);
        let ctx = root.handle().expect("sampled");
        // Root and four worker spans; the rest are items, split between the workers.
        let items = spans.saturating_sub(5);
        let handles: Vec<_> = (0..4)
            .map(|w| {
                let t = tracer.clone();
                let ctx = ctx.clone();
                let quota = items / 4 + usize::from(w < items % 4);
                thread::Builder::new()
                    .name(format!("worker-{w}"))
                    .spawn(move || {
                        let mut run = t.start_span_with_parent("worker.run", &ctx);
                        run.set_attribute("worker", w as i64);
                        let mut left = quota;
                        let mut n = 0u64;
                        while left > 0 {
                            let mut p = t.start_span("process");
                            p.set_attribute("item", n as i64);
                            left -= 1;
                            if left > 0 {
                                let mut db = t.start_span("db.insert");
                                db.set_attribute("table", "items");
                                if n.is_multiple_of(997) {
                                    db.set_error("duplicate key");
                                    db.add_event("retry", [KeyValue::new("attempt", 1)]);
                                }
                                left -= 1;
                            }
                            n += 1;
                        }
                    })
                    .expect("spawn")
            })
            .collect();
        for h in handles {
            h.join().expect("worker");
        }
    }
    tracer.end_trace().expect("trace")
}

fn small_trace(tracer: &RequestTracer, i: usize) -> Trace {
    tracer.start_trace();
    {
        let mut root = tracer.start_span("handle_request");
        root.set_attribute("request", i as i64);
        for _ in 0..9 {
            let mut s = tracer.start_span("step");
            s.set_attribute("ok", true);
        }
    }
    tracer.end_trace().expect("trace")
}

/// `linked`: a span of another trace in the file, which "untrusted-input" links to (with a
/// second link to a span that is not in the file).
fn hostile_trace(tracer: &RequestTracer, linked: SpanContext) -> Trace {
    tracer.start_trace();
    {
        let _root = tracer.start_span("hostile");
        let mut s = tracer.start_span("untrusted-input");
        s.add_link(linked, [KeyValue::new("link.reason", "<b>retry of</b>")]);
        s.add_link(
            SpanContext::new(
                TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).expect("non-zero"),
                SpanId::from_u64(0xb7ad6b7169203331).expect("non-zero"),
                TraceFlags::SAMPLED,
                true,
            ),
            [],
        );
        for (k, v) in HOSTILE {
            s.set_attribute(k, v);
        }
        s.add_event(
            "<script>alert(1)</script>",
            [KeyValue::new("x", "<u>x</u>")],
        );
        s.set_error("</script><b>not bold</b>");
    }
    tracer.end_trace().expect("trace")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut spans = 10_000usize;
    let mut small = 99usize;
    while let Some(a) = args.next() {
        let mut num = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{a} needs a number"))
        };
        match a.as_str() {
            "--spans" => spans = num().max(5),
            "--small" => small = num(),
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from("target/reqtrace-viewer"));
    std::fs::create_dir_all(&dir).expect("create dir");
    let tracer = RequestTracer::builder("viewer-fixture")
        .limits(Limits::default().max_spans_per_trace(spans.max(1024)))
        .build();

    let smalls: Vec<Trace> = (0..small.max(1)).map(|i| small_trace(&tracer, i)).collect();
    let first = &smalls[0].spans[0];
    let linked = SpanContext::new(first.trace_id, first.span_id, first.trace_flags, false);
    let mut traces = vec![hostile_trace(&tracer, linked)];
    traces.extend(smalls);
    // The big trace last, so "slowest first" has to reorder the list.
    traces.push(big_trace(&tracer, spans));
    let big = traces.last().expect("big trace");
    assert_eq!(
        big.spans.len(),
        spans,
        "every span of the big trace recorded"
    );

    let html = dir.join("viewer-fixture.html");
    let json = dir.join("viewer-fixture.json");
    write_html(std::fs::File::create(&html).expect("create"), &traces).expect("write html");
    write_native(
        std::fs::File::create(&json).expect("create"),
        &traces,
        Style::Compact,
    )
    .expect("write json");
    let total: usize = traces.iter().map(|t| t.spans.len()).sum();
    let bytes = std::fs::metadata(&html).expect("stat").len();
    println!(
        "wrote {} ({} traces, {} spans, {} bytes, {:.1} bytes/span)",
        html.display(),
        traces.len(),
        total,
        bytes,
        bytes as f64 / total as f64
    );
    println!("wrote {}", json.display());
}
