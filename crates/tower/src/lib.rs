//! # reqtrace-tower
//!
//! reqtrace for HTTP services, as tower layers: [`ServerLayer`] makes each request a server
//! handles one trace (axum, hyper, tonic), continuing the caller's W3C `traceparent`;
//! [`ClientLayer`] (hyper-util's client, any tower HTTP client) and, with the `reqwest`
//! feature, `RequestBuilderExt::send_traced` make each outgoing request a CLIENT span and send
//! the trace on.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use http::{Request, Response};
//! use reqtrace_core::{RequestTracer, SpanKind};
//! use reqtrace_tower::ServerLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let tracer = RequestTracer::new("api");
//! let traces = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&traces);
//! let t = tracer.clone();
//! let service = ServiceBuilder::new()
//!     .layer(ServerLayer::new(tracer.clone()).on_trace(move |trace| sink.lock().unwrap().push(trace)))
//!     .service_fn(move |_req: Request<String>| {
//!         let t = t.clone();
//!         async move {
//!             let _work = t.start_span("load user"); // a child of the request's span
//!             Ok::<_, std::convert::Infallible>(Response::new("hello".to_string()))
//!         }
//!     });
//! let request = Request::get("/users/7")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(String::new())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! // The trace ends when the body has been sent to its end.
//! let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
//! assert_eq!(body.to_bytes(), "hello");
//!
//! let traces = traces.lock().unwrap();
//! let server = traces[0].span("GET").unwrap();
//! assert_eq!(server.kind, SpanKind::Server);
//! assert_eq!(server.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_eq!(server.parent_id.unwrap().to_string(), "00f067aa0ba902b7");
//! assert_eq!(server.attribute("http.response.status_code").unwrap().to_string(), "200");
//! assert_eq!(traces[0].span("load user").unwrap().parent_id, Some(server.span_id));
//! # }
//! ```
//!
//! | module | what |
//! | --- | --- |
//! | [`server`] | [`ServerLayer`], [`ServerService`], [`ResponseFuture`], [`server::PeerFn`] |
//! | `body` | [`TracedBody`]: the trace ends with the response body |
//! | [`client`] | [`ClientLayer`], [`ClientService`], [`ClientFuture`], [`ClientRequest`] (what a CLIENT-span hook sees) |
//! | `reqwest` | `RequestBuilderExt`: `send_traced`, `send_traced_with` (feature `reqwest`) |
//! | [`route`] | where the route comes from ([`route::RouteFn`]; axum's `MatchedPath` with the `axum` feature) |
//! | [`attributes`] | the OpenTelemetry HTTP attribute names recorded, and what is redacted |
//!
//! Features: `axum` (routes from `MatchedPath` by default), `reqwest` (the reqwest helper).
//! Neither is needed for hyper or for axum with [`ServerLayer::route_with`].

pub mod attributes;
mod body;
pub mod client;
mod delivery;
mod extract;
mod panic;
#[cfg(feature = "reqwest")]
mod reqwest;
pub mod route;
pub mod rpc;
pub mod server;

pub use body::TracedBody;
pub use client::{ClientFuture, ClientLayer, ClientRequest, ClientService};
#[cfg(feature = "reqwest")]
pub use reqwest::RequestBuilderExt;
pub use server::{ResponseFuture, ServerLayer, ServerService};
