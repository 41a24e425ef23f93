//! `EditSpan`: one generic function edits every kind of span, and each edit lands.

use reqtrace_core::{EditSpan, RequestTracer, SpanKind, StatusCode};

fn edit(span: &mut impl EditSpan, n: i64) {
    span.set_attribute("n", n);
    span.add_event("edited", []);
    span.set_kind(SpanKind::Internal);
    span.update_name(format!("edited-{n}"));
    if n % 2 == 0 {
        span.set_error("even");
    } else {
        span.set_ok();
    }
    assert!(span.span_context().is_some());
}

#[test]
fn every_span_kind_takes_the_same_edits() {
    let tracer = RequestTracer::new("edits");
    let mut root = tracer.start_root("root");
    edit(&mut root, 1);
    let mut handle = root.handle();
    {
        let _a = root.attach();
        let mut guard = tracer.start_span("guard");
        edit(&mut guard, 2);
        let mut detached = tracer.start_detached_span("detached");
        edit(&mut detached, 3);
        detached.end();
        let _inner = tracer.start_span("current");
        edit(&mut tracer.current_span(), 4);
    }
    let child = tracer.start_detached_span_with_parent("via-handle", &handle);
    child.end();
    edit(&mut handle, 5); // the root's span, through its handle: the last edit wins
    drop(handle);
    let trace = root.finish();
    let mut names: Vec<_> = trace.spans.iter().map(|s| s.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        ["edited-2", "edited-3", "edited-4", "edited-5", "via-handle"]
    );
    for s in trace.spans.iter().filter(|s| s.name.starts_with("edited-")) {
        let n: i64 = s.name["edited-".len()..].parse().unwrap();
        assert_eq!(
            s.attribute("n").and_then(|v| v.as_i64()),
            Some(n),
            "{}",
            s.name
        );
        assert_eq!(s.kind, SpanKind::Internal);
        let want = if n % 2 == 0 {
            StatusCode::Error
        } else {
            StatusCode::Ok
        };
        assert_eq!(s.status, want, "{}", s.name);
        assert!(!s.events.is_empty(), "{}", s.name);
    }
}
