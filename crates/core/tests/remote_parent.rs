//! A parent parsed from a header (a plain `SpanContext`, no live trace behind it) is accepted
//! everywhere a parent is: `start_span_with_parent` and `attach` continue it as a local trace
//! that ends with the span or the guard, exported like any other.

use reqtrace_core::{
    BatchConfig, InMemoryExporter, RequestTracer, Sampler, SpanContext, SpanId, TraceFlags, TraceId,
};

fn remote(sampled: bool) -> SpanContext {
    SpanContext::new(
        TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap(),
        SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap(),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
    )
}

fn exporting(sampler: Sampler) -> (RequestTracer, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let tracer = RequestTracer::builder("remote")
        .sampler(sampler)
        .exporter(exporter.clone(), BatchConfig::default())
        .build();
    (tracer, exporter)
}

#[test]
fn a_span_under_a_remote_parent_continues_its_trace_and_ends_it() {
    let (tracer, exporter) = exporting(Sampler::AlwaysOn);
    let parent = remote(true);
    {
        let mut span = tracer.start_span_with_parent("handle", &parent);
        span.set_attribute("k", 1);
        assert_eq!(tracer.trace_id(), Some(parent.trace_id));
        let _child = tracer.start_span("load");
    }
    assert!(!tracer.has_trace(), "the trace ended with its span");
    tracer.shutdown().unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 2);
    let handle = spans.iter().find(|s| s.name == "handle").unwrap();
    let load = spans.iter().find(|s| s.name == "load").unwrap();
    assert!(spans.iter().all(|s| s.trace_id == parent.trace_id));
    assert_eq!(handle.parent_id, Some(parent.span_id));
    assert_eq!(load.parent_id, Some(handle.span_id));
    let s = tracer.stats();
    assert_eq!((s.traces_started, s.traces_ended, s.traces_open), (1, 1, 0));
    assert_eq!(s.spans_delivered, 2);
    assert_eq!(s.spans_without_trace, 0);
}

#[test]
fn attach_continues_a_remote_parent_until_the_guard_drops() {
    let (tracer, exporter) = exporting(Sampler::AlwaysOn);
    let parent = remote(true);
    {
        let _scope = tracer.attach(&parent);
        drop(tracer.start_span("a"));
        drop(tracer.start_span("b"));
        assert!(tracer.has_trace());
    }
    assert!(!tracer.has_trace());
    tracer.shutdown().unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.trace_id == parent.trace_id));
    assert!(spans.iter().all(|s| s.parent_id == Some(parent.span_id)));
    assert_eq!(tracer.stats().traces_ended, 1);
}

#[test]
fn an_unsampled_remote_parent_records_nothing_and_leaves_no_trace_open() {
    let (tracer, exporter) = exporting(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let parent = remote(false);
    {
        let _span = tracer.start_span_with_parent("handle", &parent);
        let _child = tracer.start_span("load");
    }
    {
        let _scope = tracer.attach(&parent);
        drop(tracer.start_span("x"));
    }
    assert!(!tracer.has_trace());
    tracer.shutdown().unwrap();
    assert!(exporter.spans().is_empty());
    let s = tracer.stats();
    assert_eq!(
        (s.traces_started, s.traces_unsampled, s.traces_open),
        (2, 2, 0)
    );
    assert_eq!(s.spans_started, 0);
}

#[test]
fn without_an_exporter_the_continued_trace_is_counted_abandoned() {
    // Nobody can take the trace (no `end_trace` is called for it): said, not lost silently.
    let tracer = RequestTracer::new("remote");
    {
        let _span = tracer.start_span_with_parent("handle", &remote(true));
        drop(tracer.start_span("load"));
    }
    let s = tracer.stats();
    assert_eq!(s.spans_finished, 2);
    assert_eq!(s.dropped.abandoned, 2);
    assert_eq!(s.traces_abandoned, 1);
    assert_eq!(s.traces_open, 0);
}

#[test]
fn a_remote_parent_inside_a_local_trace_leaves_that_trace_alone() {
    let tracer = RequestTracer::new("remote");
    tracer.start_trace();
    let outer_id = tracer.trace_id().unwrap();
    {
        let _outer = tracer.start_span("outer");
        {
            let _inner = tracer.start_span_with_parent("other-request", &remote(true));
            drop(tracer.start_span("inside"));
        }
        assert_eq!(tracer.trace_id(), Some(outer_id));
        drop(tracer.start_span("after"));
    }
    let trace = tracer.end_trace().unwrap();
    let names: Vec<_> = trace.spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(trace.trace_id, outer_id);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"outer") && names.contains(&"after"));
    let outer = trace.span("outer").unwrap();
    assert_eq!(trace.span("after").unwrap().parent_id, Some(outer.span_id));
}

#[test]
fn a_detached_span_under_a_remote_parent_owns_its_trace_on_any_thread() {
    let (tracer, exporter) = exporting(Sampler::AlwaysOn);
    let parent = remote(true);
    let mut span = tracer.start_detached_span_with_parent("job", &parent);
    assert!(span.is_recording());
    span.set_attribute("k", "v");
    let child_parent = span.handle().unwrap();
    let t = tracer.clone();
    std::thread::spawn(move || {
        drop(t.start_span_with_parent("step", &child_parent));
        span.end(); // ended on another thread: the trace ends with it
    })
    .join()
    .unwrap();
    tracer.shutdown().unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let job = spans.iter().find(|s| s.name == "job").unwrap();
    let step = spans.iter().find(|s| s.name == "step").unwrap();
    assert_eq!(job.trace_id, parent.trace_id);
    assert_eq!(job.parent_id, Some(parent.span_id));
    assert_eq!(step.parent_id, Some(job.span_id));
    let s = tracer.stats();
    assert_eq!((s.traces_started, s.traces_ended, s.traces_open), (1, 1, 0));
    assert_eq!(s.spans_without_trace, 0);
}
