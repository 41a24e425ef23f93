//! The OpenTelemetry HTTP conventions on both sides, over loopback (axum server, hyper-util
//! and reqwest clients): `url.full` redaction, default ports, protocol versions, `url.query`,
//! `client.address` from `Forwarded` / `X-Forwarded-For` / the peer, bad header values; and
//! the hook that names and enriches the CLIENT span.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::any;
use bytes::Bytes;
use http::{HeaderValue, Version};
use http_body_util::{BodyExt, Full};
use reqtrace_core::{FutureExt, RequestTracer, SpanData, SpanKind, Trace};
use reqtrace_tower::attributes::{
    CLIENT_ADDRESS, NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT, NETWORK_PROTOCOL_VERSION,
    SERVER_ADDRESS, SERVER_PORT, URL_FULL, URL_QUERY,
};
use reqtrace_tower::{ClientLayer, ClientRequest, ServerLayer};
use support::{
    Collector, attr, http_client, matched_path, only_span, peer_connect_info, serve_with_peer,
    server_span_for,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Layer, ServiceExt};

const SECRETS: [&str; 6] = [
    "alice",
    "s3cret",
    "AKIAEXAMPLE",
    "sig-one",
    "sig-two",
    "goog",
];

/// A query with each sensitive parameter, and one that is kept.
const SIGNED_QUERY: &str =
    "AWSAccessKeyId=AKIAEXAMPLE&Signature=sig-one&sig=sig-two&X-Goog-Signature=goog&page=2";
const REDACTED_QUERY: &str =
    "AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&page=2";

/// No attribute of `span` holds one of the secrets.
fn assert_no_secret(span: &SpanData) {
    for kv in &span.attributes {
        let v = kv.value.to_string();
        for secret in SECRETS {
            assert!(!v.contains(secret), "{} = {v} holds {secret}", kv.key);
        }
    }
}

/// A server answering every path with `ok`, tracing into `traces`; `peer`: whether the
/// layer reads the peer from `ConnectInfo`.
async fn server(tracer: &RequestTracer, traces: &Collector, peer: bool) -> SocketAddr {
    let mut layer = ServerLayer::new(tracer.clone())
        .route_with(matched_path)
        .on_trace(traces.sink());
    if peer {
        layer = layer.peer_with(peer_connect_info);
    }
    let app = Router::new()
        .route("/{*rest}", any(|| async { "ok" }))
        .layer(layer);
    serve_with_peer(app).await
}

/// Request headers to send.
type Headers = Vec<(&'static str, HeaderValue)>;

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, HeaderValue)]) -> u16 {
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, v.clone());
    }
    let resp = http_client()
        .request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    resp.into_body().collect().await.unwrap();
    status
}

/// Sends a raw request line `GET {path} {version}` on a fresh connection; the connection's
/// local address (the server's peer) and the response's first line.
async fn raw_get(addr: SocketAddr, path: &str, version: &str) -> (SocketAddr, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let local = conn.local_addr().unwrap();
    let head = format!("GET {path} {version}\r\nhost: test\r\nconnection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    (
        local,
        response.lines().next().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_server_spans_carry_redacted_urls_ports_and_versions() {
    let (client_tracer, server_tracer) = (RequestTracer::new("c"), RequestTracer::new("s"));
    let traces = Collector::default();
    let addr = server(&server_tracer, &traces, true).await;
    let port = addr.port();
    let client = ClientLayer::new(client_tracer.clone()).layer(http_client());

    let root = client_tracer.start_root("calls");
    let url = format!("http://alice:s3cret@127.0.0.1:{port}/signed?{SIGNED_QUERY}");
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client
        .oneshot(req)
        .with_context(root.handle())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    let trace = root.finish();

    let span = only_span(&trace, SpanKind::Client);
    assert_eq!(
        attr(span, URL_FULL),
        Some(format!(
            "http://REDACTED:REDACTED@127.0.0.1:{port}/signed?{REDACTED_QUERY}"
        ))
    );
    assert_eq!(attr(span, SERVER_ADDRESS).as_deref(), Some("127.0.0.1"));
    assert_eq!(attr(span, SERVER_PORT), Some(port.to_string()));
    assert_eq!(attr(span, NETWORK_PROTOCOL_VERSION).as_deref(), Some("1.1"));
    assert_eq!(attr(span, URL_QUERY), None, "url.query is the server's");
    assert_no_secret(span);

    let got = traces.wait_for(1).await;
    let server = server_span_for(&got, "/signed");
    assert_eq!(server.parent_id, Some(span.span_id));
    assert_eq!(attr(server, URL_QUERY).as_deref(), Some(REDACTED_QUERY));
    assert_eq!(attr(server, URL_FULL), None, "url.full is the client's");
    assert_eq!(
        attr(server, NETWORK_PROTOCOL_VERSION).as_deref(),
        Some("1.1")
    );
    assert_eq!(attr(server, CLIENT_ADDRESS).as_deref(), Some("127.0.0.1"));
    assert_eq!(
        attr(server, NETWORK_PEER_ADDRESS).as_deref(),
        Some("127.0.0.1")
    );
    assert!(
        attr(server, NETWORK_PEER_PORT)
            .unwrap()
            .parse::<u16>()
            .unwrap()
            > 0
    );
    assert_no_secret(server);
}

/// `ClientLayer` in front of a service that answers with the HTTP version the request asks
/// for in `x-reply-version`.
fn versioned_client(
    tracer: &RequestTracer,
) -> reqtrace_tower::ClientService<
    impl tower::Service<
        http::Request<()>,
        Response = http::Response<()>,
        Error = std::convert::Infallible,
        Future = impl Future<Output = Result<http::Response<()>, std::convert::Infallible>>,
    > + Clone,
> {
    ClientLayer::new(tracer.clone()).layer(tower::service_fn(|req: http::Request<()>| async move {
        let version = match req.headers().get("x-reply-version").map(|v| v.as_bytes()) {
            Some(b"1.0") => Version::HTTP_10,
            Some(b"2") => Version::HTTP_2,
            Some(b"3") => Version::HTTP_3,
            _ => Version::HTTP_11,
        };
        let mut resp = http::Response::new(());
        *resp.version_mut() = version;
        Ok(resp)
    }))
}

#[tokio::test]
async fn client_span_has_the_schemes_default_port_and_the_responses_version() {
    let tracer = RequestTracer::new("ports");
    let client = versioned_client(&tracer);
    let cases = [
        ("http://a.example/x", "1.0", "80"),
        ("https://a.example/x", "1.1", "443"),
        ("http://a.example:8080/x", "2", "8080"),
        ("https://a.example:8443/x", "3", "8443"),
        ("https://[2001:db8::1]/x", "2", "443"),
    ];
    tracer.start_trace();
    for (uri, version, _) in cases {
        let req = http::Request::get(uri)
            .header("x-reply-version", version)
            .body(())
            .unwrap();
        client.clone().oneshot(req).await.unwrap();
    }
    let trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), cases.len());
    for ((uri, version, port), span) in cases.iter().zip(&trace.spans) {
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(attr(span, URL_FULL).as_deref(), Some(*uri));
        assert_eq!(attr(span, SERVER_PORT).as_deref(), Some(*port), "{uri}");
        assert_eq!(
            attr(span, NETWORK_PROTOCOL_VERSION).as_deref(),
            Some(*version),
            "{uri}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_span_has_the_requests_version() {
    let tracer = RequestTracer::new("versions");
    let traces = Collector::default();
    let addr = server(&tracer, &traces, false).await;
    // over loopback: HTTP/1.0 and HTTP/1.1
    let (_, status) = raw_get(addr, "/v10", "HTTP/1.0").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(get_with(addr, "/v11", &[]).await, 200);
    let got = traces.wait_for(2).await;
    assert_eq!(
        attr(server_span_for(&got, "/v10"), NETWORK_PROTOCOL_VERSION).as_deref(),
        Some("1.0")
    );
    assert_eq!(
        attr(server_span_for(&got, "/v11"), NETWORK_PROTOCOL_VERSION).as_deref(),
        Some("1.1")
    );

    // HTTP/2 and HTTP/3 requests, handed to the layer directly
    let direct = Collector::default();
    let svc = ServerLayer::new(tracer.clone())
        .on_trace(direct.sink())
        .layer(tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
        }));
    for (path, version) in [("/h2", Version::HTTP_2), ("/h3", Version::HTTP_3)] {
        let req = http::Request::get(path).version(version).body(()).unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        resp.into_body().collect().await.unwrap();
    }
    let got = direct.wait_for(2).await;
    assert_eq!(
        attr(server_span_for(&got, "/h2"), NETWORK_PROTOCOL_VERSION).as_deref(),
        Some("2")
    );
    assert_eq!(
        attr(server_span_for(&got, "/h3"), NETWORK_PROTOCOL_VERSION).as_deref(),
        Some("3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_address_from_forwarded_then_x_forwarded_for_then_the_peer() {
    let tracer = RequestTracer::new("client-address");
    let traces = Collector::default();
    let addr = server(&tracer, &traces, true).await;
    let hv = HeaderValue::from_static;
    let cases: Vec<(&str, Headers, &str)> = vec![
        (
            "/forwarded",
            vec![
                (
                    "forwarded",
                    hv("for=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.1, for=10.2.2.2"),
                ),
                ("x-forwarded-for", hv("10.9.9.9")),
            ],
            "2001:db8:cafe::17",
        ),
        (
            "/forwarded-v4",
            vec![("forwarded", hv("proto=http;For=192.0.2.60:8080"))],
            "192.0.2.60",
        ),
        (
            "/obfuscated",
            vec![("forwarded", hv("for=_gateway-7"))],
            "_gateway-7",
        ),
        (
            "/xff",
            vec![(
                "x-forwarded-for",
                hv("203.0.113.195, 70.41.3.18, 150.172.238.178"),
            )],
            "203.0.113.195",
        ),
        (
            // Forwarded without a usable for=: X-Forwarded-For
            "/forwarded-unknown",
            vec![
                ("forwarded", hv("for=unknown;proto=https")),
                ("x-forwarded-for", hv("198.51.100.4")),
            ],
            "198.51.100.4",
        ),
        ("/peer", vec![], "127.0.0.1"),
    ];
    for (path, headers, _) in &cases {
        assert_eq!(get_with(addr, path, headers).await, 200, "{path}");
    }
    let got = traces.wait_for(cases.len()).await;
    assert_eq!(got.len(), cases.len());
    for (path, _, client) in &cases {
        let span = server_span_for(&got, path);
        assert_eq!(
            attr(span, CLIENT_ADDRESS).as_deref(),
            Some(*client),
            "{path}"
        );
        // the peer is the connection's other end whatever the headers say
        assert_eq!(
            attr(span, NETWORK_PEER_ADDRESS).as_deref(),
            Some("127.0.0.1"),
            "{path}"
        );
    }

    // the peer's port is the one the connection came from
    let (local, status) = raw_get(addr, "/raw-peer", "HTTP/1.1").await;
    assert!(status.contains("200"), "{status}");
    let got = traces.wait_for(cases.len() + 1).await;
    let span = server_span_for(&got, "/raw-peer");
    assert_eq!(
        attr(span, NETWORK_PEER_PORT),
        Some(local.port().to_string())
    );
    assert_eq!(attr(span, CLIENT_ADDRESS), Some(local.ip().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_forwarding_headers_are_skipped_without_error() {
    let tracer = RequestTracer::new("bad-forwarding");
    let (without_peer, with_peer) = (Collector::default(), Collector::default());
    let plain = server(&tracer, &without_peer, false).await;
    let peered = server(&tracer, &with_peer, true).await;
    let long = format!("for={}", "1".repeat(16 * 1024));
    let many = "a=b;".repeat(4 * 1024);
    let bad: Vec<(&str, HeaderValue)> = vec![
        ("forwarded", HeaderValue::from_static("for=")),
        ("forwarded", HeaderValue::from_static("for=\"[::1")),
        (
            "forwarded",
            HeaderValue::from_static("for=\"10.0.0.1\\\"\""),
        ),
        ("forwarded", HeaderValue::from_static("for=\"[::1]:99999\"")),
        (
            "forwarded",
            HeaderValue::from_static("for=300.1.1.1;;;,,,=="),
        ),
        ("forwarded", HeaderValue::from_static("for=unknown")),
        ("forwarded", HeaderValue::from_str(&long).unwrap()),
        ("forwarded", HeaderValue::from_str(&many).unwrap()),
        (
            "forwarded",
            HeaderValue::from_bytes(b"for=10.0.0.1\xff").unwrap(),
        ),
        ("x-forwarded-for", HeaderValue::from_static(", 10.0.0.1")),
        ("x-forwarded-for", HeaderValue::from_static("not-an-ip")),
        (
            "x-forwarded-for",
            HeaderValue::from_static("10.0.0.1:99999"),
        ),
        (
            "x-forwarded-for",
            HeaderValue::from_str(&"9".repeat(16 * 1024)).unwrap(),
        ),
        (
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xfe10.0.0.2").unwrap(),
        ),
    ];
    for (i, header) in bad.iter().enumerate() {
        let path = format!("/bad/{i}");
        let headers = std::slice::from_ref(header);
        assert_eq!(get_with(plain, &path, headers).await, 200, "{header:?}");
        assert_eq!(get_with(peered, &path, headers).await, 200, "{header:?}");
    }
    let got = without_peer.wait_for(bad.len()).await;
    assert_eq!(got.len(), bad.len());
    for t in &got {
        let span = only_span(t, SpanKind::Server);
        assert_eq!(attr(span, CLIENT_ADDRESS), None, "{span:?}");
        assert_eq!(attr(span, NETWORK_PEER_ADDRESS), None);
        assert_eq!(
            attr(span, "http.response.status_code").as_deref(),
            Some("200")
        );
    }
    // with the peer known, a bad header falls back to it
    let got = with_peer.wait_for(bad.len()).await;
    assert_eq!(got.len(), bad.len());
    for t in &got {
        let span = only_span(t, SpanKind::Server);
        assert_eq!(attr(span, CLIENT_ADDRESS).as_deref(), Some("127.0.0.1"));
    }
}

/// A request extension a caller leaves for its hook.
#[derive(Clone)]
struct Model(&'static str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_names_the_client_span_and_enriches_it_not_its_parent() {
    let (client_tracer, server_tracer) = (RequestTracer::new("agent"), RequestTracer::new("llm"));
    let traces = Collector::default();
    let addr = server(&server_tracer, &traces, false).await;
    let seen: Arc<Mutex<Vec<(String, String, bool)>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen_in_hook, calls_in_hook) = (Arc::clone(&seen), Arc::clone(&calls));
    let layer =
        ClientLayer::new(client_tracer.clone()).on_request(move |span, req: &ClientRequest<'_>| {
            calls_in_hook.fetch_add(1, Ordering::SeqCst);
            seen_in_hook.lock().unwrap().push((
                req.method().to_string(),
                req.uri().path().to_owned(),
                req.headers().contains_key("traceparent"),
            ));
            let model = req.extensions().and_then(|e| e.get::<Model>()).unwrap();
            span.update_name(format!("chat {}", model.0));
            span.set_attribute("gen_ai.request.model", model.0);
            if let Some(op) = req.headers().get("x-operation") {
                span.set_attribute("gen_ai.operation.name", op.to_str().unwrap().to_owned());
            }
        });
    // Clone + Debug, the hook shown as set
    let debug = format!("{:?}", layer.clone());
    assert!(debug.contains("on_request: true"), "{debug}");
    let client = layer.layer(http_client());

    let request = || {
        let mut req = http::Request::post(format!("http://{addr}/v1/chat"))
            .header("x-operation", "chat")
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut().insert(Model("small-1"));
        req
    };
    let root = client_tracer.start_root("agent step");
    let resp = client
        .clone()
        .oneshot(request())
        .with_context(root.handle())
        .await
        .unwrap();
    resp.into_body().collect().await.unwrap();
    let trace = root.finish();

    let span = only_span(&trace, SpanKind::Client);
    assert_eq!(span.name, "chat small-1");
    assert_eq!(
        attr(span, "gen_ai.request.model").as_deref(),
        Some("small-1")
    );
    assert_eq!(attr(span, "gen_ai.operation.name").as_deref(), Some("chat"));
    // the layer's own attributes are still there
    assert_eq!(attr(span, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attr(span, URL_FULL), Some(format!("http://{addr}/v1/chat")));
    let parent = trace.span("agent step").unwrap();
    assert_eq!(span.parent_id, Some(parent.span_id));
    assert_eq!(attr(parent, "gen_ai.request.model"), None);
    assert_eq!(attr(parent, "gen_ai.operation.name"), None);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        &[("POST".to_owned(), "/v1/chat".to_owned(), false)],
        "the hook sees the caller's request, before propagation"
    );
    // propagation is unchanged: the server continues the renamed CLIENT span
    let got = traces.wait_for(1).await;
    assert_eq!(
        only_span(&got[0], SpanKind::Server).parent_id,
        Some(span.span_id)
    );

    // no current trace: no span, the hook is not called, the request still goes out
    let resp = client.oneshot(request()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn hook_may_change_the_kind_and_replaces_the_previous_hook() {
    let tracer = RequestTracer::new("kinds");
    let svc = tower::service_fn(|_req: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(()))
    });
    let client = ClientLayer::new(tracer.clone())
        .on_request(|span, _| span.update_name("first"))
        .on_request(|span, req| {
            span.update_name(format!("{} upstream", req.method()));
            span.set_kind(SpanKind::Producer);
        })
        .layer(svc);
    tracer.start_trace();
    client
        .oneshot(http::Request::get("http://q.example/").body(()).unwrap())
        .await
        .unwrap();
    let trace: Trace = tracer.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 1);
    assert_eq!(trace.spans[0].name, "GET upstream");
    assert_eq!(trace.spans[0].kind, SpanKind::Producer);
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_send_traced_with_redacts_and_runs_the_hook() {
    use reqtrace_tower::RequestBuilderExt;
    let (client_tracer, server_tracer) = (RequestTracer::new("c"), RequestTracer::new("s"));
    let traces = Collector::default();
    let addr = server(&server_tracer, &traces, true).await;
    let port = addr.port();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let root = client_tracer.start_root("agent step");
    let model = "small-1";
    let (with_hook, plain, https) = {
        let _current = root.attach();
        (
            http.post(format!(
                "http://alice:s3cret@127.0.0.1:{port}/v1/chat?{SIGNED_QUERY}"
            ))
            .send_traced_with(&client_tracer, |span, req| {
                assert_eq!(req.uri().path(), "/v1/chat");
                assert!(req.extensions().is_none());
                assert!(!req.headers().contains_key("traceparent"));
                span.update_name(format!("chat {model}"));
                span.set_attribute("gen_ai.request.model", model);
            }),
            http.get(format!("http://127.0.0.1:{port}/plain"))
                .send_traced(&client_tracer),
            // no TLS in this build: fails, after the span has its attributes
            http.get("https://alice:s3cret@127.0.0.1/tls?sig=sig-two")
                .send_traced(&client_tracer),
        )
    };
    assert_eq!(with_hook.await.unwrap().status(), 200);
    assert_eq!(plain.await.unwrap().status(), 200);
    let _ = https.await;
    let trace = root.finish();

    let chat = trace.span("chat small-1").expect("the renamed CLIENT span");
    assert_eq!(chat.kind, SpanKind::Client);
    assert_eq!(attr(chat, "gen_ai.request.model").as_deref(), Some(model));
    assert_eq!(
        attr(chat, URL_FULL),
        // reqwest moves URL credentials into an `Authorization` header (not recorded)
        Some(format!("http://127.0.0.1:{port}/v1/chat?{REDACTED_QUERY}"))
    );
    assert_eq!(attr(chat, SERVER_PORT), Some(port.to_string()));
    assert_eq!(attr(chat, NETWORK_PROTOCOL_VERSION).as_deref(), Some("1.1"));
    assert_no_secret(chat);
    let parent = trace.span("agent step").unwrap();
    assert_eq!(chat.parent_id, Some(parent.span_id));
    assert_eq!(attr(parent, "gen_ai.request.model"), None);

    let by_path = |p: &str| {
        trace
            .spans
            .iter()
            .find(|s| s.kind == SpanKind::Client && attr(s, "url.path").as_deref() == Some(p))
            .unwrap()
    };
    assert_eq!(
        by_path("/plain").name,
        "GET",
        "send_traced keeps the method name"
    );
    let tls = by_path("/tls");
    assert_eq!(
        attr(tls, URL_FULL).as_deref(),
        Some("https://127.0.0.1/tls?sig=REDACTED")
    );
    assert_eq!(attr(tls, SERVER_PORT).as_deref(), Some("443"));
    assert_eq!(attr(tls, NETWORK_PROTOCOL_VERSION), None, "no response");
    assert_no_secret(tls);

    let got = traces.wait_for(2).await;
    let server = server_span_for(&got, "/v1/chat");
    assert_eq!(server.parent_id, Some(chat.span_id));
    assert_eq!(attr(server, URL_QUERY).as_deref(), Some(REDACTED_QUERY));
    assert_no_secret(server);
}
