//! `#[trace]` with no `tracer =` uses the global tracer: a no-op before it is set, the set one
//! after. One test in its own binary, since the global tracer is set once per process.

use reqtrace_core::{RequestTracer, global};
use reqtrace_macros::trace;

#[trace]
fn work(n: u32) -> u32 {
    n + 1
}

#[trace]
async fn work_async(n: u32) -> u32 {
    n * 2
}

#[test]
fn default_tracer_is_the_global_one() {
    assert!(!global::is_set());
    // Before set: the calls run, nothing is recorded, nothing panics.
    global::tracer().start_trace();
    assert_eq!(work(1), 2);
    assert_eq!(global::tracer().current_span_id(), None);
    assert!(
        global::tracer()
            .end_trace()
            .is_none_or(|t| t.spans.is_empty())
    );

    let tracer = RequestTracer::new("global-default");
    global::set_tracer(tracer.clone()).unwrap();
    assert!(global::is_set());
    // A second set is refused and hands its tracer back.
    let refused = global::set_tracer(RequestTracer::new("second")).unwrap_err();
    assert_eq!(refused.service_name(), "second");
    assert_eq!(global::tracer().service_name(), "global-default");

    tracer.start_trace();
    assert_eq!(work(1), 2);
    let fut = work_async(3);
    let waker = std::task::Waker::noop();
    let mut fut = std::pin::pin!(fut);
    assert_eq!(
        fut.as_mut()
            .poll(&mut std::task::Context::from_waker(waker)),
        std::task::Poll::Ready(6)
    );
    let trace = tracer.end_trace().unwrap();
    let names: Vec<&str> = trace.spans.iter().map(|s| &*s.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("::work")), "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("::work_async")),
        "{names:?}"
    );
}
