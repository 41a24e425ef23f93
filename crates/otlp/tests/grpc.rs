//! OTLP/gRPC end to end: the exporter against a tonic receiver in this test (no generated
//! code: the receiver decodes the request with `opentelemetry-proto`), with gzip, metadata,
//! partial success, and the status codes the OTLP specification sorts into retry or not.
#![cfg(feature = "grpc")]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use reqtrace_core::{BatchConfig, RequestTracer, SpanExporter};
use reqtrace_otlp::{Compression, OtlpExporter, Protocol, RawCodec, SendError};
use tonic::codec::CompressionEncoding;
use tonic::server::{NamedService, UnaryService};
use tonic::{Code, Status};

/// What the receiver answers next, and what it received.
#[derive(Default)]
struct State {
    /// Statuses to fail with, in order, before answering OK.
    fail_with: Vec<Status>,
    /// Rejected spans to report in the OK answer.
    reject: i64,
    requests: Vec<ExportTraceServiceRequest>,
    metadata: Vec<(String, String)>,
    compressed: Vec<bool>,
}

#[derive(Clone)]
struct Receiver(Arc<Mutex<State>>);

impl NamedService for Receiver {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

struct Export(Arc<Mutex<State>>);

impl UnaryService<Vec<u8>> for Export {
    type Response = Vec<u8>;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Vec<u8>>, Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<Vec<u8>>) -> Self::Future {
        let state = Arc::clone(&self.0);
        Box::pin(async move {
            let mut st = state.lock().unwrap();
            st.metadata = request
                .metadata()
                .iter()
                .filter_map(|kv| match kv {
                    tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                        Some((k.to_string(), v.to_str().ok()?.to_owned()))
                    }
                    _ => None,
                })
                .collect();
            if !st.fail_with.is_empty() {
                return Err(st.fail_with.remove(0));
            }
            let req = ExportTraceServiceRequest::decode(request.get_ref().as_slice())
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            st.requests.push(req);
            let response = ExportTraceServiceResponse {
                partial_success: (st.reject > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: st.reject,
                    error_message: "too old".into(),
                }),
            };
            Ok(tonic::Response::new(response.encode_to_vec()))
        })
    }
}

impl tower_service::Service<http::Request<tonic::body::Body>> for Receiver {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let state = Arc::clone(&self.0);
        let compressed = req
            .headers()
            .get("grpc-encoding")
            .is_some_and(|v| v == "gzip");
        state.lock().unwrap().compressed.push(compressed);
        Box::pin(async move {
            if req.uri().path() != "/opentelemetry.proto.collector.trace.v1.TraceService/Export" {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip);
            Ok(grpc.unary(Export(state), req).await)
        })
    }
}

/// A receiver on a loopback port, served from its own runtime thread.
fn receiver() -> (String, Arc<Mutex<State>>, std::thread::JoinHandle<()>) {
    let state = Arc::new(Mutex::new(State::default()));
    let svc = Receiver(Arc::clone(&state));
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            // Runs until the process ends (the test's threads are not joined).
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming)
                .await;
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), state, handle)
}

fn spans_in(req: &ExportTraceServiceRequest) -> Vec<String> {
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

#[test]
fn a_tracer_exports_over_grpc_with_gzip_and_metadata() {
    let (url, state, _server) = receiver();
    let exporter = OtlpExporter::builder()
        .endpoint(&url)
        .protocol(Protocol::Grpc)
        .compression(Compression::Gzip)
        .header("authorization", "Bearer tok")
        .build()
        .unwrap();
    let otlp = exporter.stats();
    let tracer = RequestTracer::builder("grpc-test")
        .exporter(exporter, BatchConfig::default())
        .build();
    tracer.start_trace();
    {
        let mut s = tracer.start_span("charge");
        s.set_attribute("amount", 12);
        drop(tracer.start_span("db"));
    }
    tracer.end_trace();
    tracer.shutdown().unwrap();
    let st = state.lock().unwrap();
    let mut names: Vec<String> = st.requests.iter().flat_map(spans_in).collect();
    names.sort();
    assert_eq!(names, ["charge", "db"]);
    let service = &st.requests[0].resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes;
    assert!(service.iter().any(|kv| kv.key == "service.name"));
    assert!(st.compressed.iter().all(|c| *c), "grpc-encoding: gzip");
    assert!(
        st.metadata
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer tok"),
        "{:?}",
        st.metadata
    );
    let snap = otlp.snapshot();
    assert_eq!(snap.spans_sent, 2);
    assert_eq!(tracer.stats().export.exported, 2);
}

fn one_span() -> Vec<reqtrace_core::SpanData> {
    let tracer = RequestTracer::new("s");
    tracer.start_trace();
    drop(tracer.start_span("x"));
    tracer.end_trace().unwrap().spans
}

#[test]
fn statuses_sort_into_retry_or_not_and_partial_success_is_counted() {
    let (url, state, _server) = receiver();
    let mut exporter = OtlpExporter::builder()
        .endpoint(&url)
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let resource = reqtrace_core::Resource::new("s");
    let batch = one_span();

    // RESOURCE_EXHAUSTED with a RetryInfo of 1.5 s: transient, with the delay.
    let retry_info = {
        let mut d = Vec::new();
        prost::encoding::int64::encode(1, &1, &mut d);
        prost::encoding::int32::encode(2, &500_000_000, &mut d);
        let mut info = Vec::new();
        prost::encoding::bytes::encode(1, &d, &mut info);
        let mut any = Vec::new();
        prost::encoding::string::encode(
            1,
            &"type.googleapis.com/google.rpc.RetryInfo".to_owned(),
            &mut any,
        );
        prost::encoding::bytes::encode(2, &info, &mut any);
        let mut status = Vec::new();
        prost::encoding::int32::encode(1, &8, &mut status);
        prost::encoding::bytes::encode(3, &any, &mut status);
        status
    };
    state.lock().unwrap().fail_with = vec![
        Status::unavailable("restarting"),
        Status::with_details(Code::ResourceExhausted, "slow down", retry_info.into()),
        Status::resource_exhausted("no hint"),
        Status::invalid_argument("bad"),
        Status::unauthenticated("who"),
    ];
    let outcomes: Vec<SendError> = (0..5)
        .map(|_| exporter.send(&batch, &resource).unwrap_err())
        .collect();
    let sorted: Vec<(i32, bool, Option<u64>)> = outcomes
        .iter()
        .map(|e| match e {
            SendError::Grpc {
                code,
                retry_after_ms,
                ..
            } => (*code, e.is_transient(), *retry_after_ms),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        sorted,
        [
            (Code::Unavailable as i32, true, None),
            (Code::ResourceExhausted as i32, true, Some(1_500)),
            (Code::ResourceExhausted as i32, false, None),
            (Code::InvalidArgument as i32, false, None),
            (Code::Unauthenticated as i32, false, None),
        ]
    );
    assert!(
        outcomes[0].to_string().contains("Unavailable"),
        "{}",
        outcomes[0]
    );
    // Then success with a partial rejection.
    state.lock().unwrap().reject = 1;
    exporter.send(&batch, &resource).unwrap();
    let snap = exporter.stats().snapshot();
    assert_eq!(snap.partial_successes, 1);
    assert_eq!(snap.spans_rejected, 1);
    assert_eq!(snap.retryable_responses, 2);
    assert_eq!(snap.failed_responses, 3);
    // The exporter trait sees the same sorting.
    state.lock().unwrap().fail_with = vec![Status::unavailable("again")];
    assert!(matches!(
        exporter.export(&batch, &resource),
        Err(reqtrace_core::ExportError::Transient { .. })
    ));
}

#[test]
fn grpc_from_the_environment_uses_port_4317_and_the_endpoint_as_is() {
    let env = |k: &str| match k {
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
        _ => None,
    };
    let e = OtlpExporter::builder().from_env_with(env).build().unwrap();
    assert_eq!(e.config().protocol(), Protocol::Grpc);
    assert_eq!(e.config().endpoint().to_string(), "http://localhost:4317/");
    let env = |k: &str| match k {
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4317".to_owned()),
        _ => None,
    };
    let e = OtlpExporter::builder().from_env_with(env).build().unwrap();
    assert_eq!(e.config().endpoint().port(), 4317);
    assert!(!e.config().endpoint().path().contains("v1/traces"));
}

#[test]
fn nothing_listening_is_transient_and_says_where() {
    let mut e = OtlpExporter::builder()
        .endpoint("http://127.0.0.1:9")
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = e
        .send(&one_span(), &reqtrace_core::Resource::new("s"))
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

/// Test certificates, as PEM: a CA, a server certificate for `localhost` / `127.0.0.1`, and a
/// client certificate, both signed by the CA.
#[cfg(feature = "tls")]
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

#[cfg(feature = "tls")]
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["reqtrace-client".to_owned()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
    Pki {
        ca: ca_cert.pem(),
        server: (server.pem(), key.serialize_pem()),
        client: (client.pem(), client_key.serialize_pem()),
    }
}

/// A receiver speaking TLS with `pki`'s server certificate; with `mutual`, it requires a client
/// certificate signed by `pki`'s CA.
#[cfg(feature = "tls")]
fn tls_receiver(pki: &Pki, mutual: bool) -> (u16, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State::default()));
    let svc = Receiver(Arc::clone(&state));
    let identity = tonic::transport::Identity::from_pem(&pki.server.0, &pki.server.1);
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
    if mutual {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(&pki.ca));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let _ = tonic::transport::Server::builder()
                .tls_config(config)
                .unwrap()
                .add_service(svc)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
    });
    (rx.recv().unwrap(), state)
}

#[cfg(feature = "tls")]
#[test]
fn tls_with_a_custom_ca_and_an_unknown_one_refused() {
    let pki = pki();
    let ca = pki.ca.clone();
    let (port, state) = tls_receiver(&pki, false);
    let resource = reqtrace_core::Resource::new("tls");
    let mut trusted = OtlpExporter::builder()
        .endpoint(format!("https://localhost:{port}"))
        .protocol(Protocol::Grpc)
        .certificate_pem(ca)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    trusted.send(&one_span(), &resource).unwrap();
    assert_eq!(state.lock().unwrap().requests.len(), 1);

    // Mozilla's roots do not know the test CA: refused, and never delivered.
    let mut untrusting = OtlpExporter::builder()
        .endpoint(format!("https://localhost:{port}"))
        .protocol(Protocol::Grpc)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = untrusting.send(&one_span(), &resource).unwrap_err();
    assert!(
        !err.is_transient(),
        "a certificate problem is permanent: {err:?}"
    );
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(state.lock().unwrap().requests.len(), 1);
}

#[cfg(feature = "tls")]
#[test]
fn mutual_tls_presents_the_client_certificate() {
    let pki = pki();
    let (port, state) = tls_receiver(&pki, true);
    let resource = reqtrace_core::Resource::new("mtls");
    let builder = || {
        OtlpExporter::builder()
            .endpoint(format!("https://localhost:{port}"))
            .protocol(Protocol::Grpc)
            .certificate_pem(pki.ca.clone())
            .timeout(Duration::from_secs(5))
    };
    let mut with_identity = builder()
        .client_identity_pem(pki.client.0.clone(), pki.client.1.clone())
        .build()
        .unwrap();
    with_identity.send(&one_span(), &resource).unwrap();
    assert_eq!(state.lock().unwrap().requests.len(), 1);
    // Without a client certificate the receiver refuses the handshake: nothing delivered.
    let mut without = builder().build().unwrap();
    assert!(without.send(&one_span(), &resource).is_err());
    assert_eq!(state.lock().unwrap().requests.len(), 1);
}
