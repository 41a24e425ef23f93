//! A client, a gateway and a backend (axum on loopback, each with its own tracer): 200
//! concurrent requests, each one trace across the three, parented hop by hop.

mod support;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use reqtrace_core::{FutureExt, RequestTracer, SpanKind, Trace};
use reqtrace_tower::{ClientLayer, ClientService, ServerLayer};
use support::{Collector, HttpClient, attr, http_client, matched_path, only_span, serve};
use tower::ServiceExt;

const REQUESTS: usize = 200;

#[derive(Clone)]
struct Gateway {
    client: ClientService<HttpClient>,
    backend: std::net::SocketAddr,
}

async fn gateway_handler(State(g): State<Gateway>, Path(id): Path<u32>) -> String {
    let uri = format!("http://{}/item/{id}", g.backend);
    let req = http::Request::get(uri)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = g.client.oneshot(req).await.expect("backend answers");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    format!("gateway:{}", String::from_utf8_lossy(&body))
}

fn backend_app(tracer: RequestTracer, traces: &Collector) -> Router {
    let t = tracer.clone();
    Router::new()
        .route(
            "/item/{id}",
            get(move |Path(id): Path<u32>| {
                let t = t.clone();
                async move {
                    let work = t.start_detached_span("backend.work");
                    tokio::task::yield_now().await;
                    work.end();
                    format!("item {id}")
                }
            }),
        )
        .layer(
            ServerLayer::new(tracer)
                .route_with(matched_path)
                .on_trace(traces.sink()),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_are_one_trace_each_across_three_services() {
    across_three_services().await;
}

/// The same on one thread, where all requests interleave on it.
#[tokio::test(flavor = "current_thread")]
async fn the_same_on_a_current_thread_runtime() {
    across_three_services().await;
}

async fn across_three_services() {
    let client_tracer = RequestTracer::new("client");
    let gateway_tracer = RequestTracer::new("gateway");
    let backend_tracer = RequestTracer::new("backend");
    let (gateway_traces, backend_traces) = (Collector::default(), Collector::default());

    let backend = serve(backend_app(backend_tracer.clone(), &backend_traces)).await;
    let gateway_state = Gateway {
        client: tower::ServiceBuilder::new()
            .layer(ClientLayer::new(gateway_tracer.clone()))
            .service(http_client()),
        backend,
    };
    let gateway = serve(
        Router::new()
            .route("/api/{id}", get(gateway_handler))
            .with_state(gateway_state)
            .layer(
                ServerLayer::new(gateway_tracer.clone())
                    .route_with(matched_path)
                    .on_trace(gateway_traces.sink()),
            ),
    )
    .await;

    let client = tower::ServiceBuilder::new()
        .layer(ClientLayer::new(client_tracer.clone()))
        .service(http_client());
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let (client, tracer) = (client.clone(), client_tracer.clone());
        tasks.push(tokio::spawn(async move {
            let root = tracer.start_root("client request");
            let req = http::Request::get(format!("http://{gateway}/api/{i}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let body = async move {
                let resp = client.oneshot(req).await.expect("gateway answers");
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.unwrap().to_bytes()
            }
            .with_context(root.handle())
            .await;
            assert_eq!(body, format!("gateway:item {i}"));
            root.finish()
        }));
    }
    let mut client_traces: Vec<Trace> = Vec::new();
    for t in tasks {
        client_traces.push(t.await.unwrap());
    }
    let gateway_traces = gateway_traces.wait_for(REQUESTS).await;
    let backend_traces = backend_traces.wait_for(REQUESTS).await;
    assert_eq!(client_traces.len(), REQUESTS);
    assert_eq!(gateway_traces.len(), REQUESTS);
    assert_eq!(backend_traces.len(), REQUESTS);

    // client trace id -> the client's CLIENT span id (the gateway's remote parent)
    let mut client_span_of = HashMap::new();
    for t in &client_traces {
        assert_eq!(t.spans.len(), 2, "client root + CLIENT span");
        let span = only_span(t, SpanKind::Client);
        assert_eq!(
            span.parent_id,
            Some(t.span("client request").unwrap().span_id)
        );
        assert_eq!(
            attr(span, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert!(client_span_of.insert(t.trace_id, span.span_id).is_none());
    }
    assert_eq!(client_span_of.len(), REQUESTS);

    // gateway: continues the client's trace; its own CLIENT span is the backend's parent
    let mut gateway_client_span_of = HashMap::new();
    for t in &gateway_traces {
        let server = only_span(t, SpanKind::Server);
        assert_eq!(server.name, "GET /api/{id}");
        assert_eq!(
            Some(&server.parent_id.unwrap()),
            client_span_of.get(&t.trace_id)
        );
        assert!(server.parent_is_remote);
        assert_eq!(attr(server, "http.route").as_deref(), Some("/api/{id}"));
        assert_eq!(
            attr(server, "http.response.status_code").as_deref(),
            Some("200")
        );
        let out = only_span(t, SpanKind::Client);
        assert_eq!(out.parent_id, Some(server.span_id));
        assert_eq!(t.spans.len(), 2);
        assert!(
            gateway_client_span_of
                .insert(t.trace_id, out.span_id)
                .is_none()
        );
    }
    assert_eq!(gateway_client_span_of.len(), REQUESTS);

    // backend: a child of the gateway's CLIENT span, with its handler's span inside
    let mut backend_ids = std::collections::HashSet::new();
    for t in &backend_traces {
        let server = only_span(t, SpanKind::Server);
        assert_eq!(server.name, "GET /item/{id}");
        assert_eq!(
            Some(&server.parent_id.unwrap()),
            gateway_client_span_of.get(&t.trace_id)
        );
        let work = t.span("backend.work").unwrap();
        assert_eq!(work.parent_id, Some(server.span_id));
        assert_eq!(t.spans.len(), 2);
        assert!(backend_ids.insert(t.trace_id));
    }
    assert_eq!(backend_ids.len(), REQUESTS);

    for tracer in [&client_tracer, &gateway_tracer, &backend_tracer] {
        let stats = tracer.stats();
        assert_eq!(
            stats.dropped.total(),
            0,
            "{}: {stats:?}",
            tracer.service_name()
        );
    }
}
