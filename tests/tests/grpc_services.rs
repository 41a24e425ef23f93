//! gRPC services with tonic: a server traced by `reqtrace_tower::ServerLayer` and a client
//! whose channel goes through `ClientLayer` share one trace — the client's CLIENT span is the
//! parent of the server's SERVER span (the `traceparent` travels as gRPC metadata, which is
//! HTTP/2 headers). No generated code: a codec of raw bytes and a hand-written service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use reqtrace_core::{RequestTracer, SpanKind, StatusCode, Trace};
use reqtrace_otlp::RawCodec;
use reqtrace_tower::{ClientLayer, ServerLayer};
use tonic::Status;
use tonic::server::{NamedService, UnaryService};

/// `demo.Echo/Say`: answers the request's bytes reversed, inside a span of its own; fails
/// with `INVALID_ARGUMENT` for an empty request.
#[derive(Clone)]
struct Echo(RequestTracer);

impl NamedService for Echo {
    const NAME: &'static str = "demo.Echo";
}

struct Say(RequestTracer);

impl UnaryService<Vec<u8>> for Say {
    type Response = Vec<u8>;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Vec<u8>>, Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<Vec<u8>>) -> Self::Future {
        // The SERVER span is current here: the handler's span is its child.
        let _work = self.0.start_span("reverse");
        let mut body = request.into_inner();
        let out = if body.is_empty() {
            Err(Status::invalid_argument("empty"))
        } else {
            body.reverse();
            Ok(tonic::Response::new(body))
        };
        Box::pin(async move { out })
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for Echo {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let tracer = self.0.clone();
        Box::pin(async move {
            if req.uri().path() != "/demo.Echo/Say" {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            Ok(tonic::server::Grpc::new(RawCodec)
                .unary(Say(tracer), req)
                .await)
        })
    }
}

#[test]
fn a_tonic_client_and_server_share_one_trace() {
    let server_tracer = RequestTracer::new("echo-server");
    let client_tracer = RequestTracer::new("echo-client");
    let server_traces: Arc<Mutex<Vec<Trace>>> = Arc::default();
    let sink = Arc::clone(&server_traces);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (client_trace, answers) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let layer =
            ServerLayer::new(server_tracer.clone()).on_trace(move |t| sink.lock().unwrap().push(t));
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(Echo(server_tracer.clone()))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let traced = tower::ServiceBuilder::new()
            .layer(ClientLayer::new(client_tracer.clone()))
            .service(channel);
        let root = client_tracer.start_root("client job");
        let mut answers = Vec::new();
        for body in [b"abc".to_vec(), Vec::new()] {
            let mut grpc = tonic::client::Grpc::new(traced.clone());
            let call = async {
                grpc.ready().await.unwrap();
                grpc.unary(
                    tonic::Request::new(body),
                    http::uri::PathAndQuery::from_static("/demo.Echo/Say"),
                    RawCodec,
                )
                .await
            };
            // The root is current while the call is made and polled.
            let out = reqtrace_core::FutureExt::with_context(call, root.handle()).await;
            answers.push(out.map(tonic::Response::into_inner).map_err(|s| s.code()));
        }
        // Let the server finish its traces (they end when the response body has been sent).
        for _ in 0..200 {
            if server_traces.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        (root.finish(), answers)
    });
    assert_eq!(
        answers,
        [Ok(b"cba".to_vec()), Err(tonic::Code::InvalidArgument)]
    );
    let server = server_traces.lock().unwrap();
    assert_eq!(server.len(), 2, "one server trace per call");
    let clients: Vec<_> = client_trace
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2);
    let text = |s: &reqtrace_core::SpanData, k: &str| s.attribute(k).map(|v| v.to_string());
    for (i, (client, trace)) in clients.iter().zip(server.iter()).enumerate() {
        assert_eq!(
            trace.trace_id, client_trace.trace_id,
            "one trace across both"
        );
        let root = trace.root_spans().next().unwrap();
        assert_eq!(root.kind, SpanKind::Server);
        assert_eq!(
            root.parent_id,
            Some(client.span_id),
            "the CLIENT span is the parent"
        );
        assert!(root.parent_is_remote);
        // The RPC conventions: named `{service}/{method}`, rpc.* attributes, the gRPC status.
        for s in [root, *client] {
            assert_eq!(s.name, "demo.Echo/Say");
            assert_eq!(text(s, "rpc.system").as_deref(), Some("grpc"));
            assert_eq!(text(s, "rpc.service").as_deref(), Some("demo.Echo"));
            assert_eq!(text(s, "rpc.method").as_deref(), Some("Say"));
        }
        let (code, client_status) = if i == 0 {
            // OK, in the trailers: the server reads them; the CLIENT span ended at the head.
            ("0", StatusCode::Unset)
        } else {
            // INVALID_ARGUMENT, trailers-only: an error for the caller, not for the server.
            ("3", StatusCode::Error)
        };
        assert_eq!(text(root, "rpc.grpc.status_code").as_deref(), Some(code));
        assert_eq!(root.status, StatusCode::Unset);
        assert_eq!(client.status, client_status);
        if i == 1 {
            assert_eq!(text(client, "rpc.grpc.status_code").as_deref(), Some("3"));
            assert_eq!(
                text(client, "error.type").as_deref(),
                Some("INVALID_ARGUMENT")
            );
            assert_eq!(
                client.error.as_deref(),
                Some("gRPC INVALID_ARGUMENT: empty")
            );
        }
        let reverse = trace.span("reverse").unwrap();
        assert_eq!(reverse.parent_id, Some(root.span_id));
        assert_eq!(
            root.attribute("url.path").and_then(|v| v.as_str()),
            Some("/demo.Echo/Say")
        );
    }
}
