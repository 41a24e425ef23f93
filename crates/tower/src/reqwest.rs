//! reqwest: [`RequestBuilderExt::send_traced`] sends a request as a CLIENT span (the same
//! span, headers and attributes as [`crate::ClientLayer`]). Feature `reqwest`.

use std::future::Future;

use reqtrace_core::RequestTracer;

use crate::client::{record_error, record_status, start_client_span};

/// Traced sending for `reqwest::RequestBuilder`.
///
/// ```no_run
/// # async fn demo() -> reqwest::Result<()> {
/// use reqtrace_core::RequestTracer;
/// use reqtrace_tower::RequestBuilderExt;
///
/// let tracer = RequestTracer::new("gateway");
/// let client = reqwest::Client::new();
/// let response = client.get("http://127.0.0.1:3000/").send_traced(&tracer).await?;
/// # drop(response); Ok(()) }
/// ```
pub trait RequestBuilderExt {
    /// Sends the request like `send`, inside a CLIENT span that is a child of the current
    /// context (taken now, not at the first poll), with `traceparent` / `tracestate`
    /// injected. Status `>= 400` and transport errors mark the span failed.
    fn send_traced(
        self,
        tracer: &RequestTracer,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static;
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    fn send_traced(
        self,
        tracer: &RequestTracer,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static {
        let (client, request) = self.build_split();
        let started = request.map(|mut req| {
            let (method, url) = (req.method().clone(), req.url().as_str().parse().ok());
            let uri = url.unwrap_or_default();
            let span = start_client_span(tracer, &method, &uri, req.headers_mut(), None);
            (req, span)
        });
        async move {
            let (req, mut span) = started?;
            let out = client.execute(req).await;
            match &out {
                Ok(response) => record_status(&mut span, response.status()),
                Err(e) => record_error(&mut span, e),
            }
            span.end();
            out
        }
    }
}
