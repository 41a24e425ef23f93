//! When the server span ends and how it is marked: streaming bodies, panicking handlers,
//! clients that go away, bad propagation headers; and the client side's error statuses.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use reqtrace_core::{FutureExt, RequestTracer, SpanKind, StatusCode};
use reqtrace_tower::{ClientLayer, ServerLayer};
use support::{Collector, attr, http_client, matched_path, only_span, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const CHUNKS: u64 = 5;

/// A server with the routes the tests use, and where its traces go.
async fn server(tracer: &RequestTracer) -> (std::net::SocketAddr, Collector, Arc<AtomicU64>) {
    let traces = Collector::default();
    let last_chunk = Arc::new(AtomicU64::new(0));
    let (t, last) = (tracer.clone(), Arc::clone(&last_chunk));
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/status/{code}",
            get(
                |axum::extract::Path(code): axum::extract::Path<u16>| async move {
                    http::StatusCode::from_u16(code).unwrap()
                },
            ),
        )
        .route(
            "/panic",
            get(|| async {
                tokio::task::yield_now().await;
                if std::hint::black_box(true) {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .route(
            "/stream",
            get(move || {
                let (t, last) = (t.clone(), Arc::clone(&last));
                async move {
                    let chunks = futures_util::stream::unfold(0, move |i| {
                        let (t, last) = (t.clone(), Arc::clone(&last));
                        async move {
                            if i == CHUNKS {
                                return None;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            // produced with the request's root current
                            drop(t.start_span("chunk"));
                            last.fetch_add(1, Ordering::SeqCst); // chunks produced
                            Some((
                                Ok::<_, std::io::Error>(Bytes::from(format!("chunk{i};"))),
                                i + 1,
                            ))
                        }
                    });
                    Body::from_stream(chunks)
                }
            }),
        )
        .route(
            "/endless",
            get(|| async {
                let chunks = futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Some((
                        Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 1024])),
                        (),
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(
            ServerLayer::new(tracer.clone())
                .route_with(matched_path)
                .on_trace(traces.sink()),
        );
    (serve(app).await, traces, last_chunk)
}

async fn get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, String)],
) -> Result<(http::StatusCode, Bytes), String> {
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let resp = http_client()
        .request(req)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_body_span_ends_after_the_last_chunk() {
    let tracer = RequestTracer::new("stream");
    let (addr, traces, last_chunk) = server(&tracer).await;
    let (status, body) = get_with(addr, "/stream", &[]).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "chunk0;chunk1;chunk2;chunk3;chunk4;");
    let traces = traces.wait_for(1).await;
    assert_eq!(traces.len(), 1);
    let server = only_span(&traces[0], SpanKind::Server);
    assert_eq!(last_chunk.load(Ordering::SeqCst), CHUNKS);
    // The last chunk's span ended just before the chunk went out (same clock as the root's).
    let last = traces[0]
        .spans
        .iter()
        .filter(|s| s.name == "chunk")
        .map(|s| s.end_unix_nanos)
        .max()
        .unwrap();
    assert!(
        server.end_unix_nanos >= last,
        "span ended {} ns before the last chunk",
        last - server.end_unix_nanos
    );
    assert!(server.duration_ms() >= (CHUNKS * 20) as f64 * 0.9);
    assert_eq!(server.status, StatusCode::Unset);
    // the chunks were produced with the root current
    let chunks: Vec<_> = traces[0]
        .spans
        .iter()
        .filter(|s| s.name == "chunk")
        .collect();
    assert_eq!(chunks.len(), CHUNKS as usize);
    assert!(chunks.iter().all(|c| c.parent_id == Some(server.span_id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_is_marked_delivered_and_the_server_keeps_serving() {
    let tracer = RequestTracer::new("panics");
    let (addr, traces, _) = server(&tracer).await;
    let err = get_with(addr, "/panic", &[]).await;
    assert!(
        err.is_err(),
        "the connection dies with the handler: {err:?}"
    );
    let got = traces.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let span = only_span(&got[0], SpanKind::Server);
    assert_eq!(span.name, "GET /panic");
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.error.as_deref(), Some("panicked: handler bug"));
    assert_eq!(attr(span, "error.type").as_deref(), Some("panic"));

    for i in 0..4 {
        let (status, body) = get_with(addr, "/ok", &[]).await.unwrap();
        assert_eq!(
            (status, body.as_ref()),
            (http::StatusCode::OK, &b"ok"[..]),
            "request {i}"
        );
    }
    let got = traces.wait_for(5).await;
    assert_eq!(got.len(), 5);
    for t in &got[1..] {
        // fresh traces, nothing left attached from the panicked one
        assert_eq!(t.spans.len(), 1);
        assert_ne!(t.trace_id, got[0].trace_id);
        assert_eq!(t.spans[0].status, StatusCode::Unset);
    }
}

/// A connection that has sent `GET path` and reads nothing yet.
async fn raw_request(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    conn
}

/// The one trace's server span, which must be marked cancelled.
fn only_cancelled(traces: &[reqtrace_core::Trace]) -> &reqtrace_core::SpanData {
    assert_eq!(traces.len(), 1);
    let span = only_span(&traces[0], SpanKind::Server);
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(attr(span, "error.type").as_deref(), Some("cancelled"));
    span
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_mid_body_ends_the_span_marked_cancelled() {
    let tracer = RequestTracer::new("disconnect");
    let (addr, traces, _) = server(&tracer).await;
    let mut conn = raw_request(addr, "/endless").await;
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    while got < 4096 {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n;
    }
    assert_eq!(traces.len(), 0, "the body is still being sent");
    drop(conn);
    let got = traces.wait_for(1).await;
    let span = only_cancelled(&got);
    assert_eq!(
        attr(span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(span.error.as_deref().unwrap().contains("body"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_before_the_response_ends_the_span_marked_cancelled() {
    let tracer = RequestTracer::new("hangup");
    let (addr, traces, _) = server(&tracer).await;
    let conn = raw_request(addr, "/hang").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(traces.len(), 0, "the handler is still running");
    drop(conn);
    let got = traces.wait_for(1).await;
    let span = only_cancelled(&got);
    assert_eq!(attr(span, "http.response.status_code"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_or_oversized_headers_start_a_fresh_trace_without_error() {
    let tracer = RequestTracer::new("bad-headers");
    let (addr, traces, _) = server(&tracer).await;
    let valid_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let valid = format!("00-{valid_id}-00f067aa0ba902b7-01");
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![("traceparent", "garbage".into())],
        vec![("traceparent", format!("00-{valid_id}-0000000000000000-01"))],
        vec![("traceparent", format!("{valid}-{}", "a".repeat(16 * 1024)))],
        vec![
            ("traceparent", valid.clone()),
            ("traceparent", valid.clone()),
        ],
        vec![("traceparent", "ff".repeat(32 * 1024))],
    ];
    for (i, headers) in cases.iter().enumerate() {
        let (status, body) = get_with(addr, "/ok", headers).await.unwrap();
        assert_eq!(
            (status, body.as_ref()),
            (http::StatusCode::OK, &b"ok"[..]),
            "case {i}"
        );
    }
    let got = traces.wait_for(cases.len()).await;
    assert_eq!(got.len(), cases.len());
    for t in &got {
        assert_ne!(t.trace_id.to_string(), valid_id);
        assert_eq!(t.remote_parent_id, None);
        assert_eq!(only_span(t, SpanKind::Server).parent_id, None);
    }

    // A valid parent with oversized tracestate and baggage: the trace continues, the
    // oversized values are dropped, the caller sees no error.
    let headers = vec![
        ("traceparent", valid.clone()),
        ("tracestate", format!("k={}", "v".repeat(32 * 1024))),
        ("baggage", format!("k={}", "v".repeat(32 * 1024))),
    ];
    let (status, _) = get_with(addr, "/ok", &headers).await.unwrap();
    assert_eq!(status, 200);
    let got = traces.wait_for(cases.len() + 1).await;
    let continued: Vec<_> = got
        .iter()
        .filter(|t| t.trace_id.to_string() == valid_id)
        .collect();
    assert_eq!(continued.len(), 1);
    let t = continued[0];
    assert_eq!(t.remote_parent_id.unwrap().to_string(), "00f067aa0ba902b7");
    assert_eq!(t.trace_state, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_5xx_is_an_error_4xx_is_not() {
    let tracer = RequestTracer::new("statuses");
    let (addr, traces, _) = server(&tracer).await;
    assert_eq!(get_with(addr, "/status/503", &[]).await.unwrap().0, 503);
    assert_eq!(get_with(addr, "/status/404", &[]).await.unwrap().0, 404);
    assert_eq!(get_with(addr, "/status/204", &[]).await.unwrap().0, 204);
    let mut got = traces.wait_for(3).await;
    assert_eq!(got.len(), 3);
    got.sort_by_key(|t| t.start_unix_nanos);
    let s: Vec<_> = got.iter().map(|t| only_span(t, SpanKind::Server)).collect();
    assert_eq!(s[0].status, StatusCode::Error);
    assert_eq!(s[0].error.as_deref(), Some("HTTP 503"));
    assert_eq!(attr(s[0], "error.type").as_deref(), Some("503"));
    assert_eq!(s[1].status, StatusCode::Unset);
    assert_eq!(
        attr(s[1], "http.response.status_code").as_deref(),
        Some("404")
    );
    // an empty body the server never polls is complete, not cancelled
    assert_eq!(s[2].status, StatusCode::Unset);
    assert_eq!(
        attr(s[2], "http.response.status_code").as_deref(),
        Some("204")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_layer_marks_4xx_5xx_and_transport_errors() {
    let server_tracer = RequestTracer::new("server");
    let (addr, _, _) = server(&server_tracer).await;
    let client_tracer = RequestTracer::new("client");
    let client = tower::ServiceBuilder::new()
        .layer(ClientLayer::new(client_tracer.clone()))
        .service(http_client());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let root = client_tracer.start_root("calls");
    let ctx = root.handle();
    let c = client.clone();
    async move {
        for url in [
            format!("http://{addr}/status/404"),
            format!("http://{addr}/status/500"),
            format!("http://{addr}/ok"),
            format!("http://{closed}/nobody"),
        ] {
            let req = http::Request::get(url)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let _ = c.clone().oneshot(req).await;
        }
    }
    .with_context(ctx)
    .await;
    let trace = root.finish();
    let calls: Vec<_> = trace
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(calls.len(), 4);
    let by_path = |p: &str| {
        *calls
            .iter()
            .find(|s| attr(s, "url.path").as_deref() == Some(p))
            .unwrap()
    };
    let root_id = trace.span("calls").unwrap().span_id;
    assert!(
        calls
            .iter()
            .all(|s| s.parent_id == Some(root_id) && s.name == "GET")
    );
    assert_eq!(by_path("/status/404").error.as_deref(), Some("HTTP 404"));
    assert_eq!(by_path("/status/500").error.as_deref(), Some("HTTP 500"));
    assert_eq!(by_path("/ok").status, StatusCode::Unset);
    assert_eq!(
        attr(by_path("/ok"), "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(by_path("/ok"), "server.port"),
        Some(addr.port().to_string())
    );
    let refused = by_path("/nobody");
    assert_eq!(refused.status, StatusCode::Error);
    assert_eq!(attr(refused, "http.response.status_code"), None);
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_helper_opens_a_client_span_the_server_continues() {
    use reqtrace_tower::RequestBuilderExt;
    let server_tracer = RequestTracer::new("server");
    let (addr, traces, _) = server(&server_tracer).await;
    let client_tracer = RequestTracer::new("client");
    let root = client_tracer.start_root("calls");
    let http = reqwest::Client::new();
    let (ok, missing) = {
        let _current = root.attach();
        (
            http.get(format!("http://{addr}/ok"))
                .send_traced(&client_tracer),
            http.get(format!("http://{addr}/status/404"))
                .send_traced(&client_tracer),
        )
    };
    assert_eq!(ok.await.unwrap().status(), 200);
    assert_eq!(missing.await.unwrap().status(), 404);
    let trace = root.finish();
    let client_spans: Vec<_> = trace
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(client_spans.len(), 2);
    let got = traces.wait_for(2).await;
    assert_eq!(got.len(), 2);
    for t in &got {
        let server = only_span(t, SpanKind::Server);
        assert_eq!(t.trace_id, trace.trace_id);
        let parent = client_spans
            .iter()
            .find(|c| Some(c.span_id) == server.parent_id)
            .expect("the server's parent is one of the client spans");
        assert_eq!(attr(parent, "url.path"), attr(server, "url.path"));
    }
    let missing = client_spans
        .iter()
        .find(|c| attr(c, "url.path").as_deref() == Some("/status/404"))
        .unwrap();
    assert_eq!(missing.status, StatusCode::Error);
}

/// The trace-flags byte of a `traceparent`.
fn flags(traceparent: &str) -> u8 {
    u8::from_str_radix(&traceparent[traceparent.len() - 2..], 16).unwrap()
}

/// An unsampled request records nothing, yet what the handler sends on carries the trace id
/// with `sampled` off, so the next service does not sample either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_request_delivers_nothing_and_propagates_unsampled() {
    use reqtrace_core::Sampler;
    let tracer = RequestTracer::builder("unsampled")
        .sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    let traces = Collector::default();
    // What the handler's outgoing request carries, as a downstream service would see it.
    let downstream = tower::ServiceBuilder::new()
        .layer(ClientLayer::new(tracer.clone()))
        .service_fn(|req: http::Request<()>| async move {
            let tp = req
                .headers()
                .get("traceparent")
                .map(|v| v.to_str().unwrap().to_owned());
            Ok::<_, std::convert::Infallible>(http::Response::new(tp.unwrap_or_default()))
        });
    let app = Router::new()
        .route(
            "/call",
            get(move || {
                let downstream = downstream.clone();
                async move {
                    let req = http::Request::get("http://downstream/x").body(()).unwrap();
                    downstream.oneshot(req).await.unwrap().into_body()
                }
            }),
        )
        .layer(ServerLayer::new(tracer.clone()).on_trace(traces.sink()));
    let addr = serve(app).await;
    let id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, sent_on) = get_with(
        addr,
        "/call",
        &[("traceparent", format!("00-{id}-00f067aa0ba902b7-00"))],
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let sent_on = String::from_utf8(sent_on.to_vec()).unwrap();
    assert!(sent_on.starts_with(&format!("00-{id}-")), "{sent_on}");
    assert_eq!(flags(&sent_on) & 1, 0, "{sent_on}");
    // and a sampled request through the same server is recorded and sends `-01`
    let (_, sampled) = get_with(addr, "/call", &[]).await.unwrap();
    assert_eq!(flags(&String::from_utf8_lossy(&sampled)) & 1, 1);
    let got = traces.wait_for(1).await;
    assert_eq!(got.len(), 1, "only the sampled request is delivered");
    assert_eq!(got[0].spans.len(), 2);
}
