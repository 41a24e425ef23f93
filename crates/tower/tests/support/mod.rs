//! Helpers shared by the HTTP tests: a trace collector, a loopback axum server, and a
//! hyper-util client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqtrace_core::{SpanData, Trace};

/// Finished traces, as a `ServerLayer::on_trace` callback pushes them.
#[derive(Clone, Default)]
pub struct Collector(Arc<Mutex<Vec<Trace>>>);

impl Collector {
    /// The callback to give to `ServerLayer::on_trace`.
    pub fn sink(&self) -> impl Fn(Trace) + Send + Sync + 'static {
        let traces = Arc::clone(&self.0);
        move |t| traces.lock().unwrap().push(t)
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Waits (at most 10 s) until `n` traces arrived, then a little longer so that extra
    /// ones would show, and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Trace> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.lock().unwrap().clone()
    }
}

/// Serves `app` on a loopback port until the test's runtime ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A plain hyper-util client.
pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The route from axum's `MatchedPath` (what the `axum` feature does by default).
pub fn matched_path(ext: &http::Extensions) -> Option<&str> {
    ext.get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

/// The trace's one span of kind `kind`.
pub fn only_span(trace: &Trace, kind: reqtrace_core::SpanKind) -> &SpanData {
    let mut spans = trace.spans.iter().filter(|s| s.kind == kind);
    let s = spans.next().expect("a span of that kind");
    assert!(spans.next().is_none(), "more than one {kind:?} span");
    s
}

pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

/// Serves `app` on a loopback port with axum's `ConnectInfo<SocketAddr>` in each request's
/// extensions (what `peer_connect_info` reads).
pub async fn serve_with_peer(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, make).await });
    addr
}

/// The peer from axum's `ConnectInfo<SocketAddr>`, for `ServerLayer::peer_with`.
pub fn peer_connect_info(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// The trace whose SERVER span has `url.path` = `path`.
pub fn server_span_for<'a>(traces: &'a [Trace], path: &str) -> &'a SpanData {
    let mut found = traces
        .iter()
        .flat_map(|t| &t.spans)
        .filter(|s| s.kind == reqtrace_core::SpanKind::Server)
        .filter(|s| attr(s, "url.path").as_deref() == Some(path));
    let s = found
        .next()
        .unwrap_or_else(|| panic!("no SERVER span for {path}"));
    assert!(
        found.next().is_none(),
        "more than one SERVER span for {path}"
    );
    s
}
