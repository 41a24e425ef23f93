//! The client side: [`ClientLayer`] wraps a service that sends `http::Request`s (hyper-util's
//! legacy `Client`, or any tower HTTP client) so that each request is a CLIENT span, a child of
//! the current context, whose `traceparent` / `tracestate` (and `baggage`, when the request
//! carries a `reqtrace_propagation::Baggage` extension) go out with the request.
//!
//! The span is named after the method (`GET`) and carries the request's attributes
//! ([`crate::attributes`]): method, `url.full` (credentials and signed-URL query values
//! redacted), path, scheme, server address and port (the scheme's default when the URL has
//! none), user agent; and from the response, its status and HTTP version. A hook,
//! [`ClientLayer::on_request`], may rename it and add attributes before the request is sent.
//!
//! The span ends when the response head arrives (status `>= 400` is an error), when the
//! client fails (a transport error), or, marked `cancelled`, when the request is dropped
//! first. With no current trace the request goes out untouched.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use reqtrace_core::{RequestTracer, Span, SpanKind};
use reqtrace_propagation::{Baggage, Propagated, TraceState};
use tower_layer::Layer;
use tower_service::Service;

use crate::attributes::{
    ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE, NETWORK_PROTOCOL_VERSION, Side, protocol_version,
    request_attributes, span_name,
};

/// What a CLIENT-span hook ([`ClientLayer::on_request`], `RequestBuilderExt::send_traced_with`)
/// sees of the request about to be sent: its method, URI, version, headers and (for a tower
/// client) extensions. The headers are the caller's, before the propagation headers are added.
///
/// ```
/// use reqtrace_tower::ClientRequest;
///
/// let request = http::Request::post("https://llm.example/v1/chat")
///     .header("x-model", "small-1")
///     .body(())
///     .unwrap();
/// let view = ClientRequest::from(&request); // what a hook would be given
/// assert_eq!(view.uri().path(), "/v1/chat");
/// assert_eq!(view.headers()["x-model"], "small-1");
/// assert!(view.extensions().is_some());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: Option<&'a Extensions>,
}

impl<'a> ClientRequest<'a> {
    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI (absolute for the clients this crate traces).
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The HTTP version the request asks for (the one used is recorded from the response).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers, as the caller set them (no `traceparent` yet).
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request's extensions: `Some` for a tower client ([`ClientLayer`]), where a caller
    /// may pass per-request values to its hook; `None` for reqwest, whose requests have none
    /// in its public API.
    pub fn extensions(&self) -> Option<&'a Extensions> {
        self.extensions
    }
}

impl<'a, B> From<&'a Request<B>> for ClientRequest<'a> {
    fn from(request: &'a Request<B>) -> Self {
        ClientRequest {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: Some(request.extensions()),
        }
    }
}

/// A [`ClientLayer::on_request`] hook.
type OnRequest = Arc<dyn Fn(&mut Span, &ClientRequest<'_>) + Send + Sync>;

/// The request a CLIENT span is started for: the view a hook sees, its headers writable for
/// the propagation headers.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) headers: &'a mut HeaderMap,
    pub(crate) extensions: Option<&'a Extensions>,
}

/// Starts the CLIENT span for a request about to be sent (a child of the current context),
/// with its attributes, then runs `hook` on it (when it is recorded), then writes the
/// propagation headers into the request's headers.
pub(crate) fn start_client_span<H>(
    tracer: &RequestTracer,
    req: Outgoing<'_>,
    baggage: Option<&Baggage>,
    hook: Option<H>,
) -> Span
where
    H: FnOnce(&mut Span, &ClientRequest<'_>),
{
    let Outgoing {
        method,
        uri,
        version,
        headers,
        extensions,
    } = req;
    let grpc = crate::rpc::start_attributes(headers, uri.path());
    let name = match &grpc {
        Some((name, _)) => name.clone(),
        None => span_name(method, None),
    };
    let mut span = tracer.start_detached_span(name);
    if span.is_recording() {
        span.set_kind(SpanKind::Client);
        for (k, v) in grpc.into_iter().flat_map(|(_, attrs)| attrs) {
            span.set_attribute(k, v);
        }
        request_attributes(method, uri, headers, "http", Side::Client, |k, v| {
            span.set_attribute(k, v)
        });
        if let Some(hook) = hook {
            let view = ClientRequest {
                method,
                uri,
                version,
                headers,
                extensions,
            };
            hook(&mut span, &view);
        }
    }
    // An unsampled trace still propagates its id (with the stand-in span id).
    let Some(span_context) = span.context().or_else(|| tracer.current_span_context()) else {
        return span;
    };
    let trace_state = tracer
        .trace_context()
        .and_then(|c| c.trace_state)
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    Propagated {
        span_context: Some(span_context),
        trace_state,
        baggage: baggage.cloned().unwrap_or_default(),
    }
    .inject(headers);
    span
}

/// Records the response: its status (`>= 400` is an error for a client) and HTTP version.
pub(crate) fn record_response(
    span: &mut Span,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
) {
    // A gRPC call that failed before any message ("trailers-only"): its status is in the head.
    crate::rpc::record_status(span, headers, false);
    let code = status.as_u16();
    span.set_attribute(HTTP_RESPONSE_STATUS_CODE, i64::from(code));
    if let Some(v) = protocol_version(version) {
        span.set_attribute(NETWORK_PROTOCOL_VERSION, v);
    }
    if status.is_client_error() || status.is_server_error() {
        span.set_error(format!("HTTP {code}"));
        span.set_attribute(ERROR_TYPE, code.to_string());
    }
}

/// Ends a CLIENT span with the outcome of its request: the response head's status, version
/// and headers, or the transport error.
pub(crate) fn end_client_span<E: Display>(
    mut span: Span,
    outcome: Result<(StatusCode, Version, &HeaderMap), &E>,
) {
    match outcome {
        Ok((status, version, headers)) => record_response(&mut span, status, version, headers),
        Err(e) => record_error(&mut span, e),
    }
    span.end();
}

/// Records a transport error.
pub(crate) fn record_error<E: Display>(span: &mut Span, error: &E) {
    span.set_error(error.to_string());
    span.set_attribute(ERROR_TYPE, std::any::type_name::<E>());
}

/// A tower [`Layer`] that traces each outgoing request ([module docs](self)).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use reqtrace_core::RequestTracer;
/// use reqtrace_tower::ClientLayer;
/// use tower::{Service, ServiceExt};
///
/// let tracer = RequestTracer::new("gateway");
/// let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
/// let mut client = tower::ServiceBuilder::new()
///     .layer(ClientLayer::new(tracer))
///     .service(client);
/// let request = http::Request::get("http://127.0.0.1:3000/").body(Empty::new())?;
/// let response = client.ready().await?.call(request).await?;
/// # drop(response); Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ClientLayer {
    /// `None`: the global tracer, looked up per request.
    tracer: Option<RequestTracer>,
    on_request: Option<OnRequest>,
}

impl std::fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLayer")
            .field("tracer", &self.tracer)
            .field("on_request", &self.on_request.is_some())
            .finish()
    }
}

impl ClientLayer {
    /// A layer recording into `tracer`.
    pub fn new(tracer: RequestTracer) -> Self {
        ClientLayer {
            tracer: Some(tracer),
            on_request: None,
        }
    }

    /// A layer recording into the process-wide tracer
    /// ([`reqtrace_core::global::tracer`]), looked up on each request (also what
    /// `ClientLayer::default()` gives).
    pub fn global() -> Self {
        ClientLayer {
            tracer: None,
            on_request: None,
        }
    }

    /// Runs `f` on each request's CLIENT span, after the span has started with its
    /// attributes and before the request is sent: to rename it (`update_name`), add
    /// attributes (they land on the CLIENT span itself, not on its parent; one set here
    /// under a name the layer records too comes last, and is the one `SpanData::attribute`
    /// reads), or change its kind. `f` sees the request as a [`ClientRequest`] (its
    /// extensions included, where a caller can leave per-request values for `f`). It runs
    /// only for a recorded span (not without a current trace, nor for an unsampled one), on
    /// the thread that calls the service; it replaces a hook set before.
    ///
    /// ```
    /// use reqtrace_core::{RequestTracer, SpanKind};
    /// use reqtrace_tower::ClientLayer;
    /// use tower::{Layer, ServiceExt};
    ///
    /// #[derive(Clone)]
    /// struct Model(&'static str); // a request extension the caller sets
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tracer = RequestTracer::new("assistant");
    /// let layer = ClientLayer::new(tracer.clone()).on_request(|span, req| {
    ///     if let Some(Model(model)) = req.extensions().and_then(|e| e.get::<Model>()) {
    ///         span.update_name(format!("chat {model}"));
    ///         span.set_attribute("gen_ai.request.model", *model);
    ///     }
    /// });
    /// let llm = layer.layer(tower::service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
    /// }));
    /// let mut request = http::Request::post("https://llm.example/v1/chat").body(()).unwrap();
    /// request.extensions_mut().insert(Model("small-1"));
    ///
    /// tracer.start_trace();
    /// llm.oneshot(request).await.unwrap();
    /// let trace = tracer.end_trace().unwrap();
    /// let span = trace.span("chat small-1").unwrap();
    /// assert_eq!(span.kind, SpanKind::Client);
    /// assert_eq!(span.attribute("gen_ai.request.model").unwrap().to_string(), "small-1");
    /// # }
    /// ```
    pub fn on_request(
        mut self,
        f: impl Fn(&mut Span, &ClientRequest<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.on_request = Some(Arc::new(f));
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService {
            inner,
            tracer: self.tracer.clone(),
            on_request: self.on_request.clone(),
        }
    }
}

/// The service [`ClientLayer`] makes.
#[derive(Clone)]
pub struct ClientService<S> {
    inner: S,
    tracer: Option<RequestTracer>,
    on_request: Option<OnRequest>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ClientService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientService")
            .field("inner", &self.inner)
            .field("tracer", &self.tracer)
            .field("on_request", &self.on_request.is_some())
            .finish()
    }
}

impl<S, B, RB> Service<Request<B>> for ClientService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let span = start_client_span(
            self.tracer
                .as_ref()
                .unwrap_or_else(|| reqtrace_core::global::tracer()),
            Outgoing {
                method: &parts.method,
                uri: &parts.uri,
                version: parts.version,
                headers: &mut parts.headers,
                extensions: Some(&parts.extensions),
            },
            parts.extensions.get::<Baggage>(),
            self.on_request.as_deref(),
        );
        ClientFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            span: Some(span),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ClientService`]; ends the CLIENT span.
    #[must_use = "futures do nothing unless polled"]
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        // Invariant: `Some` until the span ends.
        span: Option<Span>,
    }

    impl<F> PinnedDrop for ClientFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(mut span) = this.project().span.take() {
                span.set_error("cancelled: the request was dropped before its response");
                span.set_attribute(ERROR_TYPE, "cancelled");
            }
        }
    }
}

impl<F> std::fmt::Debug for ClientFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        if let Some(span) = this.span.take() {
            end_client_span(
                span,
                out.as_ref().map(|r| (r.status(), r.version(), r.headers())),
            );
        }
        Poll::Ready(out)
    }
}
