//! reqwest: [`RequestBuilderExt::send_traced`] sends a request as a CLIENT span (the same
//! span, headers and attributes as [`crate::ClientLayer`]), and
//! [`RequestBuilderExt::send_traced_with`] also runs a hook on the span first (as
//! [`crate::ClientLayer::on_request`] does). Feature `reqwest`.

use std::future::Future;

use reqtrace_core::{RequestTracer, Span};

use crate::client::{ClientRequest, Outgoing, end_client_span, start_client_span};

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

    /// [`send_traced`](RequestBuilderExt::send_traced), with `hook` run on the CLIENT span
    /// after it has started with its attributes and before the request is sent (now, not at
    /// the first poll), as [`crate::ClientLayer::on_request`] does: to rename the span, add
    /// attributes to it (e.g. `gen_ai.request.model`: on the CLIENT span itself, not on its
    /// parent) or change its kind. The hook sees the request as a [`ClientRequest`] (no
    /// extensions: reqwest's requests have none in its public API). It runs only when the
    /// span is recorded, and not at all when the request fails to build.
    ///
    /// ```no_run
    /// # async fn demo() -> reqwest::Result<()> {
    /// use reqtrace_core::RequestTracer;
    /// use reqtrace_tower::RequestBuilderExt;
    ///
    /// let tracer = RequestTracer::new("assistant");
    /// let model = "small-1";
    /// let response = reqwest::Client::new()
    ///     .post("http://127.0.0.1:3000/v1/chat")
    ///     .send_traced_with(&tracer, |span, _req| {
    ///         span.update_name(format!("chat {model}"));
    ///         span.set_attribute("gen_ai.request.model", model);
    ///     })
    ///     .await?;
    /// # drop(response); Ok(()) }
    /// ```
    fn send_traced_with<F>(
        self,
        tracer: &RequestTracer,
        hook: F,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static
    where
        F: FnOnce(&mut Span, &ClientRequest<'_>);
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    fn send_traced(
        self,
        tracer: &RequestTracer,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static {
        send(self, tracer, None::<fn(&mut Span, &ClientRequest<'_>)>)
    }

    fn send_traced_with<F>(
        self,
        tracer: &RequestTracer,
        hook: F,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static
    where
        F: FnOnce(&mut Span, &ClientRequest<'_>),
    {
        send(self, tracer, Some(hook))
    }
}

/// Starts the CLIENT span now (running `hook` on it), and returns the future that sends the
/// request and ends the span.
fn send<F>(
    builder: reqwest::RequestBuilder,
    tracer: &RequestTracer,
    hook: Option<F>,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static + use<F>
where
    F: FnOnce(&mut Span, &ClientRequest<'_>),
{
    let (client, request) = builder.build_split();
    let started = request.map(|mut req| {
        let (method, version) = (req.method().clone(), req.version());
        let uri = req.url().as_str().parse().unwrap_or_default();
        let outgoing = Outgoing {
            method: &method,
            uri: &uri,
            version,
            headers: req.headers_mut(),
            extensions: None,
        };
        let span = start_client_span(tracer, outgoing, None, hook);
        (req, span)
    });
    async move {
        let (req, span) = started?;
        let out = client.execute(req).await;
        end_client_span(
            span,
            out.as_ref().map(|r| (r.status(), r.version(), r.headers())),
        );
        out
    }
}
