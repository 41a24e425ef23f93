//! The server side: [`ServerLayer`] wraps a service that handles `http::Request`s (an axum
//! router or route, a hyper service, a tonic server) so that each request is one trace.
//!
//! Per request, in order:
//! 1. `traceparent` / `tracestate` / `baggage` are read; a missing, invalid, repeated or
//!    oversized `traceparent` starts a fresh trace (never an error to the caller). A non-empty
//!    baggage is put in the request's extensions (`reqtrace_propagation::Baggage`), where
//!    handlers read it and [`crate::ClientLayer`] forwards it.
//! 2. A SERVER root span starts, named `{method} {route}` (or `{method}`), with the request's
//!    attributes ([`crate::attributes`]): method, path, redacted query, scheme, server address
//!    and port, HTTP version, user agent, and the client's address (`Forwarded`, else
//!    `X-Forwarded-For`, else the peer that [`ServerLayer::peer_with`] reads).
//! 3. The inner service is called with the root attached, and its future is polled with the
//!    root current on every poll (whatever thread polls it): handler spans are its children.
//!    A handle on the root ([`reqtrace_core::SpanHandle`]) is in the request's extensions
//!    (`Extension<SpanHandle>` in axum): set attributes on the SERVER span from any depth.
//!    `tracer.current_span()` reaches the innermost span, which is the root itself while the
//!    handler has no span of its own.
//! 4. The response's status is recorded (5xx is an error) and its body is wrapped in a
//!    [`TracedBody`]; the trace finishes when the body has been sent to its end.
//!
//! The trace also finishes, marked, when the handler panics (`error.type = panic`; the panic
//! then goes on as it would without the layer), when the service returns an error, and when
//! the request is cancelled (the response future or the body dropped early:
//! `error.type = cancelled`).

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use reqtrace_core::{FutureExt, Instrumented, RequestTracer, RootSpan, SpanKind, Trace};
use tower_layer::Layer;
use tower_service::Service;

use crate::attributes::{
    ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, NETWORK_PROTOCOL_VERSION, Side,
    connection_attributes, protocol_version, request_attributes, span_name,
};
use crate::body::TracedBody;
use crate::delivery::{OnTrace, deliver};
use crate::extract::extract;
use crate::panic::{self, CatchPanic};
use crate::route::{RouteFn, default_route};
use crate::rpc;

/// Reads the address of a request's peer (the other end of its connection) from the request's
/// extensions, where the server put it: `network.peer.address` / `network.peer.port`, and
/// `client.address` when no `Forwarded` / `X-Forwarded-For` header gives one. See
/// [`ServerLayer::peer_with`].
pub type PeerFn = fn(&http::Extensions) -> Option<SocketAddr>;

/// A tower [`Layer`] that traces each request a server handles ([module docs](self)).
///
/// ```
/// use reqtrace_core::RequestTracer;
/// use reqtrace_tower::ServerLayer;
///
/// let tracer = RequestTracer::new("api");
/// let layer = ServerLayer::new(tracer)
///     .route_with(|ext| ext.get::<&'static str>().copied()) // how the route is found
///     .on_trace(|trace| println!("{} spans", trace.spans.len())); // instead of the exporter
/// # drop(layer);
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    config: Arc<ServerConfig>,
}

#[derive(Clone)]
pub(crate) struct ServerConfig {
    /// `None`: the global tracer, looked up per request.
    tracer: Option<RequestTracer>,
    pub(crate) on_trace: Option<OnTrace>,
    route: Option<RouteFn>,
    peer: Option<PeerFn>,
    scheme: &'static str,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("service", &self.config.tracer().service_name())
            .field("on_trace", &self.config.on_trace.is_some())
            .field("route", &self.config.route.is_some())
            .field("peer", &self.config.peer.is_some())
            .field("scheme", &self.config.scheme)
            .finish()
    }
}

impl ServerLayer {
    /// A layer recording into `tracer`; finished traces go to its exporter (see
    /// [`ServerLayer::on_trace`]). With the `axum` feature, routes come from axum's
    /// `MatchedPath`.
    pub fn new(tracer: RequestTracer) -> Self {
        Self::with_tracer(Some(tracer))
    }

    /// A layer recording into the process-wide tracer
    /// ([`reqtrace_core::global::tracer`]), looked up on each request, so the layer may be
    /// built before `global::set_tracer` runs.
    pub fn global() -> Self {
        Self::with_tracer(None)
    }

    fn with_tracer(tracer: Option<RequestTracer>) -> Self {
        ServerLayer {
            config: Arc::new(ServerConfig {
                tracer,
                on_trace: None,
                route: default_route(),
                peer: None,
                scheme: "http",
            }),
        }
    }

    /// Hands each finished trace to `f` (pulled with `RootSpan::finish`) instead of the
    /// tracer's exporter. `f` runs on the thread that finishes the request (a runtime worker):
    /// keep it short, e.g. send the trace to a channel.
    pub fn on_trace(mut self, f: impl Fn(Trace) + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.config).on_trace = Some(Arc::new(f));
        self
    }

    /// Reads the route (`http.route`, and the span name `{method} {route}`) from the
    /// request's extensions with `f`; `None` from `f` names the span `{method}` alone.
    pub fn route_with(mut self, f: RouteFn) -> Self {
        Arc::make_mut(&mut self.config).route = Some(f);
        self
    }

    /// Reads the peer's address (the other end of the connection) from the request's
    /// extensions with `f`: recorded as `network.peer.address` / `network.peer.port`, and as
    /// `client.address` when no `Forwarded` / `X-Forwarded-For` header names the client. No
    /// peer is read unless set (the `axum` feature does not reach axum's `ConnectInfo`, which
    /// needs axum's `tokio` feature).
    ///
    /// With axum, serve the app with `into_make_service_with_connect_info::<SocketAddr>()`
    /// and read its `ConnectInfo`:
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use reqtrace_core::RequestTracer;
    /// use reqtrace_tower::ServerLayer;
    ///
    /// let layer = ServerLayer::new(RequestTracer::new("api"))
    ///     .peer_with(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0));
    /// let app = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hi" }))
    ///     .layer(layer)
    ///     .into_make_service_with_connect_info::<SocketAddr>();
    /// # drop(app);
    /// ```
    pub fn peer_with(mut self, f: PeerFn) -> Self {
        Arc::make_mut(&mut self.config).peer = Some(f);
        self
    }

    /// The `url.scheme` recorded when the request's URI has none (servers see `/path`
    /// URIs); `"http"` unless set, e.g. `"https"` behind TLS.
    pub fn default_scheme(mut self, scheme: &'static str) -> Self {
        Arc::make_mut(&mut self.config).scheme = scheme;
        self
    }

    /// The tracer the layer records into (the global one for [`ServerLayer::global`]).
    pub fn tracer(&self) -> &RequestTracer {
        self.config.tracer()
    }
}

impl Default for ServerLayer {
    /// [`ServerLayer::global`].
    fn default() -> Self {
        Self::global()
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> ServerService<S> {
        ServerService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`ServerLayer`] makes: traces each request, then calls the inner service.
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    config: Arc<ServerConfig>,
}

impl<S> std::fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerService")
            .field("service", &self.config.tracer().service_name())
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    fn tracer(&self) -> &RequestTracer {
        self.tracer
            .as_ref()
            .unwrap_or_else(|| reqtrace_core::global::tracer())
    }

    /// Extracts the incoming context and starts the request's root span.
    fn start<B>(&self, req: &mut Request<B>) -> RootSpan {
        let incoming = extract(req.headers());
        let route = self.route.and_then(|f| f(req.extensions()));
        let mut builder = self
            .tracer()
            .trace_builder()
            .kind(SpanKind::Server)
            .parent_opt(incoming.parent.as_ref());
        if let Some(ts) = incoming.trace_state {
            builder = builder.trace_state(ts);
        }
        let grpc = rpc::start_attributes(req.headers(), req.uri().path());
        let name = match &grpc {
            Some((name, _)) => name.clone(),
            None => span_name(req.method(), route),
        };
        let mut root = builder.start_root(name);
        if root.is_recording() {
            for (k, v) in grpc.into_iter().flat_map(|(_, attrs)| attrs) {
                root.set_attribute(k, v);
            }
            request_attributes(
                req.method(),
                req.uri(),
                req.headers(),
                self.scheme,
                Side::Server,
                |k, v| root.set_attribute(k, v),
            );
            if let Some(v) = protocol_version(req.version()) {
                root.set_attribute(NETWORK_PROTOCOL_VERSION, v);
            }
            let peer = self.peer.and_then(|f| f(req.extensions()));
            connection_attributes(req.headers(), peer, |k, v| root.set_attribute(k, v));
            if let Some(r) = route {
                root.set_attribute(HTTP_ROUTE, r.to_owned());
            }
        }
        if let Some(baggage) = incoming.baggage {
            req.extensions_mut().insert(baggage);
        }
        root
    }
}

impl<S, B, RB> Service<Request<B>> for ServerService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    RB: http_body::Body,
{
    type Response = Response<TracedBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let head = req.method() == http::Method::HEAD;
        let root = self.config.start(&mut req);
        let handle = root.handle();
        // Handlers reach the request's root through the extensions (`Extension<SpanHandle>`
        // in axum), from any depth of spans.
        req.extensions_mut().insert(handle.clone());
        let fut = {
            // Work the inner service does in `call` (routing, starting the handler) sees the
            // root too.
            let _current = self.config.tracer().attach(&handle);
            self.inner.call(req)
        };
        ResponseFuture {
            inner: Some(CatchPanic::new(fut).with_context(handle)),
            root: Some(root),
            config: Arc::clone(&self.config),
            head,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ServerService`]: the inner future with the request's root
    /// current on every poll. Dropped before it completes, it finishes the trace marked
    /// `cancelled`.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        // Invariant: `inner` is `Some` until the future completes; `root` is `Some` until the
        // trace is handed to the body or delivered.
        #[pin]
        inner: Option<Instrumented<CatchPanic<F>>>,
        root: Option<RootSpan>,
        config: Arc<ServerConfig>,
        head: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(mut root) = this.root.take() {
                // The handler first, so spans it ends as it is dropped reach the trace.
                this.inner.set(None);
                root.set_error("cancelled: the response future was dropped before it completed");
                root.set_attribute(ERROR_TYPE, "cancelled");
                deliver(root, this.config.on_trace.as_ref());
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    RB: http_body::Body,
{
    type Output = Result<Response<TracedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            panic!("ResponseFuture polled after completion");
        };
        let out = match inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        this.inner.set(None);
        let root = this.root.take();
        let on_trace = this.config.on_trace.as_ref();
        match out {
            Ok(Ok(response)) => {
                let (parts, body) = response.into_parts();
                let root = root.map(|mut r| {
                    let status = parts.status.as_u16();
                    r.set_attribute(HTTP_RESPONSE_STATUS_CODE, i64::from(status));
                    if parts.status.is_server_error() {
                        r.set_error(format!("HTTP {status}"));
                        r.set_attribute(ERROR_TYPE, Cow::Owned(status.to_string()));
                    }
                    // A gRPC error answered without a body ("trailers-only").
                    rpc::record_status(&mut r, &parts.headers, true);
                    r
                });
                let status = parts.status;
                let sent = !*this.head
                    && !status.is_informational()
                    && status != http::StatusCode::NO_CONTENT
                    && status != http::StatusCode::NOT_MODIFIED;
                let body = TracedBody::new(body, root, this.config.on_trace.clone(), sent);
                Poll::Ready(Ok(Response::from_parts(parts, body)))
            }
            Ok(Err(e)) => {
                if let Some(mut r) = root {
                    r.set_error("the service returned an error");
                    r.set_attribute(ERROR_TYPE, std::any::type_name::<E>());
                    deliver(r, on_trace);
                }
                Poll::Ready(Err(e))
            }
            Err(payload) => {
                if let Some(mut r) = root {
                    r.set_error(format!("panicked: {}", panic::message(&payload)));
                    r.set_attribute(ERROR_TYPE, "panic");
                    deliver(r, on_trace);
                }
                std::panic::resume_unwind(payload)
            }
        }
    }
}
