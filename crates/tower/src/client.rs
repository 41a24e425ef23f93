//! The client side: [`ClientLayer`] wraps a service that sends `http::Request`s (hyper-util's
//! legacy `Client`, or any tower HTTP client) so that each request is a CLIENT span, a child of
//! the current context, whose `traceparent` / `tracestate` (and `baggage`, when the request
//! carries a `reqtrace_propagation::Baggage` extension) go out with the request.
//!
//! The span ends when the response head arrives (status `>= 400` is an error), when the
//! client fails (a transport error), or, marked `cancelled`, when the request is dropped
//! first. With no current trace the request goes out untouched.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use reqtrace_core::{RequestTracer, Span, SpanKind};
use reqtrace_propagation::{Baggage, Propagated, TraceState};
use tower_layer::Layer;
use tower_service::Service;

use crate::attributes::{ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE, request_attributes, span_name};

/// Starts the CLIENT span for a request about to be sent (a child of the current context)
/// and writes the propagation headers into `headers`.
pub(crate) fn start_client_span(
    tracer: &RequestTracer,
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    baggage: Option<&Baggage>,
) -> Span {
    let mut span = tracer.start_detached_span(span_name(method, None));
    if span.is_recording() {
        span.set_kind(SpanKind::Client);
        request_attributes(method, uri, headers, "http", |k, v| {
            span.set_attribute(k, v)
        });
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

/// Records the response status: `>= 400` is an error for a client.
pub(crate) fn record_status(span: &mut Span, status: StatusCode) {
    let code = status.as_u16();
    span.set_attribute(HTTP_RESPONSE_STATUS_CODE, i64::from(code));
    if status.is_client_error() || status.is_server_error() {
        span.set_error(format!("HTTP {code}"));
        span.set_attribute(ERROR_TYPE, code.to_string());
    }
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
#[derive(Clone, Debug, Default)]
pub struct ClientLayer {
    /// `None`: the global tracer, looked up per request.
    tracer: Option<RequestTracer>,
}

impl ClientLayer {
    /// A layer recording into `tracer`.
    pub fn new(tracer: RequestTracer) -> Self {
        ClientLayer {
            tracer: Some(tracer),
        }
    }

    /// A layer recording into the process-wide tracer
    /// ([`reqtrace_core::global::tracer`]), looked up on each request (also what
    /// `ClientLayer::default()` gives).
    pub fn global() -> Self {
        ClientLayer { tracer: None }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService {
            inner,
            tracer: self.tracer.clone(),
        }
    }
}

/// The service [`ClientLayer`] makes.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    tracer: Option<RequestTracer>,
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

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let baggage = req.extensions().get::<Baggage>().cloned();
        let span = start_client_span(
            self.tracer
                .as_ref()
                .unwrap_or_else(|| reqtrace_core::global::tracer()),
            &method,
            &uri,
            req.headers_mut(),
            baggage.as_ref(),
        );
        ClientFuture {
            inner: self.inner.call(req),
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
        if let Some(mut span) = this.span.take() {
            match &out {
                Ok(response) => record_status(&mut span, response.status()),
                Err(e) => record_error(&mut span, e),
            }
            span.end();
        }
        Poll::Ready(out)
    }
}
