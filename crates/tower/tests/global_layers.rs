//! `ServerLayer::global()` and `ClientLayer::global()` record into the process-wide tracer,
//! looked up per request: a layer built before `global::set_tracer` still records into the
//! tracer set later. Its own binary: the global tracer is set once per process.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use reqtrace_core::{RequestTracer, SpanKind, Trace, global};
use reqtrace_tower::{ClientLayer, ServerLayer};
use tower::{Layer, ServiceExt};

fn ok_service() -> impl tower::Service<
    http::Request<Full<Bytes>>,
    Response = http::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<Full<Bytes>>, Infallible>> + Send,
> + Clone {
    tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

#[tokio::test]
async fn layers_built_before_the_global_tracer_is_set_record_into_it() {
    let traces: Arc<Mutex<Vec<Trace>>> = Arc::default();
    let sink = Arc::clone(&traces);
    // Built first, as a service's router often is.
    let server = ServerLayer::global()
        .on_trace(move |t| sink.lock().unwrap().push(t))
        .layer(ok_service());
    let client = ClientLayer::default().layer(ok_service());

    let req = || http::Request::get("/cart").body(Full::default()).unwrap();
    server.clone().oneshot(req()).await.unwrap();
    let before: usize = traces.lock().unwrap().iter().map(|t| t.spans.len()).sum();
    assert_eq!(before, 0, "the no-op tracer records nothing");

    let tracer = RequestTracer::new("global-layers");
    global::set_tracer(tracer.clone()).unwrap();
    server.oneshot(req()).await.unwrap();
    let got = std::mem::take(&mut *traces.lock().unwrap());
    let spans: Vec<_> = got.iter().flat_map(|t| &t.spans).collect();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].kind, SpanKind::Server);

    // The client layer, used inside a trace of the global tracer, records a CLIENT span.
    tracer.start_trace();
    client
        .oneshot(
            http::Request::get("http://127.0.0.1:9/x")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 1);
    assert_eq!(trace.spans[0].kind, SpanKind::Client);
}
