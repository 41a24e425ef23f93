//! `ReqtraceLayer::global()` records into the process-wide tracer, looked up on each use: a
//! subscriber installed before `global::set_tracer` records into the tracer set later. Its own
//! binary: the global tracer is set once per process.

use reqtrace_core::{RequestTracer, global};
use reqtrace_tracing::ReqtraceLayer;
use tracing::dispatcher;
use tracing_subscriber::prelude::*;

#[test]
fn a_layer_installed_before_the_tracer_is_set_records_into_it() {
    let dispatch: tracing::Dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::default())
        .into();
    dispatcher::with_default(&dispatch, || {
        global::tracer().start_trace();
        tracing::info_span!("before").in_scope(|| {});
        assert!(
            global::tracer()
                .end_trace()
                .is_none_or(|t| t.spans.is_empty())
        );

        let tracer = RequestTracer::new("bridge-global");
        global::set_tracer(tracer.clone()).unwrap();
        tracer.start_trace();
        tracing::info_span!("after").in_scope(|| {
            tracing::info_span!("child").in_scope(|| {});
        });
        let trace = tracer.end_trace().unwrap();
        let after = trace.span("after").expect("recorded into the set tracer");
        assert_eq!(trace.span("child").unwrap().parent_id, Some(after.span_id));
        assert_eq!(trace.spans.len(), 2);
    });
}
