//! A handler reaches the SERVER span `ServerLayer` started: through `current_span()` while no
//! span of its own is open, and through the `SpanHandle` in the request's extensions from any
//! depth, across awaits.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use reqtrace_core::{RequestTracer, SpanHandle, SpanKind, Trace, Value};
use reqtrace_tower::ServerLayer;
use tower::{Layer, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_edit_the_server_span() {
    let tracer = RequestTracer::new("current-span-http");
    let traces: Arc<Mutex<Vec<Trace>>> = Arc::default();
    let sink = Arc::clone(&traces);
    let t = tracer.clone();
    let handler = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let t = t.clone();
        async move {
            let root = req.extensions().get::<SpanHandle>().cloned().unwrap();
            t.current_span().set_attribute("user.id", 42);
            tokio::task::yield_now().await;
            {
                let _db = t.start_span("db");
                t.current_span().set_attribute("db.rows", 3); // the innermost: "db"
                root.set_attribute("cache.hit", false); // the root, from inside "db"
                tokio::task::yield_now().await;
            }
            t.current_span().update_name("GET /users/{id}");
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    let svc = ServerLayer::new(tracer.clone())
        .on_trace(move |tr| sink.lock().unwrap().push(tr))
        .layer(handler);
    let resp = svc
        .oneshot(
            http::Request::get("/users/42")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    resp.into_body().collect().await.unwrap();
    let got = std::mem::take(&mut *traces.lock().unwrap());
    assert_eq!(got.len(), 1);
    let trace = &got[0];
    let root = trace
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Server)
        .unwrap();
    assert_eq!(root.name, "GET /users/{id}");
    assert_eq!(root.attribute("user.id"), Some(&Value::I64(42)));
    assert_eq!(root.attribute("cache.hit"), Some(&Value::Bool(false)));
    assert_eq!(root.attribute("db.rows"), None);
    let db = trace.span("db").unwrap();
    assert_eq!(db.attribute("db.rows"), Some(&Value::I64(3)));
    assert_eq!(db.parent_id, Some(root.span_id));
}
