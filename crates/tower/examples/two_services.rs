//! Two axum services on loopback sharing one trace: a gateway that, for each request, calls a
//! backend over HTTP. Both use `reqtrace-tower`'s `ServerLayer`; the gateway's HTTP client uses
//! `ClientLayer`, so the backend's trace continues the gateway's. Prints one whole trace as a
//! tree, each span with its service's name.
//!
//! ```text
//! cargo run -p reqtrace-tower --example two_services -- [--requests N] [--otlp URL]
//! ```
//!
//! With `--otlp URL` (a collector's base URL, e.g. `http://127.0.0.1:4318`) both services
//! also send their spans to `URL/v1/traces` over OTLP/HTTP (service names `gateway` and
//! `backend`), and an `otlp: exported=N ...` line reports the delivery.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqtrace_core::{BatchConfig, RequestTracer, SpanData, Trace};
use reqtrace_tower::{ClientLayer, ClientService, ServerLayer};
use tower::ServiceExt;

type Traces = Arc<Mutex<Vec<Trace>>>;
type HttpClient = ClientService<Client<HttpConnector, Empty<Bytes>>>;

struct Options {
    requests: usize,
    otlp: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        requests: 5,
        otlp: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--requests" => {
                o.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?
            }
            "--otlp" => o.otlp = Some(value()?),
            _ => return Err("usage: two_services [--requests N] [--otlp URL]".into()),
        }
    }
    Ok(o)
}

/// A tracer for one service; with `--otlp`, it also exports (and keeps traces for the
/// printout).
fn tracer(
    service: &'static str,
    otlp: Option<&str>,
) -> Result<(RequestTracer, Option<reqtrace_otlp::OtlpStats>), String> {
    let mut builder = RequestTracer::builder(service);
    let mut stats = None;
    if let Some(url) = otlp {
        let exporter = reqtrace_otlp::OtlpExporter::builder()
            .from_env()
            .endpoint(url)
            .build()
            .map_err(|e| format!("--otlp: {e}"))?;
        stats = Some(exporter.stats());
        builder = builder
            .exporter(exporter, BatchConfig::default())
            .retain_traces(true);
    }
    Ok((builder.build(), stats))
}

fn collect(traces: &Traces) -> impl Fn(Trace) + Send + Sync + 'static {
    let traces = Arc::clone(traces);
    move |t| traces.lock().unwrap_or_else(|e| e.into_inner()).push(t)
}

fn route(ext: &http::Extensions) -> Option<&str> {
    ext.get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

/// The backend: looks an item up (a span of its own).
fn backend(tracer: RequestTracer, traces: &Traces) -> Router {
    let t = tracer.clone();
    Router::new()
        .route(
            "/items/{id}",
            get(move |Path(id): Path<u32>| {
                let t = t.clone();
                async move {
                    let mut q = t.start_detached_span("db.query");
                    q.set_attribute("db.statement", "SELECT * FROM items WHERE id = ?");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    q.end();
                    format!("item {id}")
                }
            }),
        )
        .layer(
            ServerLayer::new(tracer)
                .route_with(route)
                .on_trace(collect(traces)),
        )
}

#[derive(Clone)]
struct Gateway {
    tracer: RequestTracer,
    client: HttpClient,
    backend: SocketAddr,
}

/// The gateway: checks the caller, then asks the backend.
async fn order(State(g): State<Gateway>, Path(id): Path<u32>) -> Result<String, http::StatusCode> {
    drop(g.tracer.start_span("auth.check"));
    let req = http::Request::get(format!("http://{}/items/{id}", g.backend))
        .body(Empty::new())
        .map_err(|_| http::StatusCode::INTERNAL_SERVER_ERROR)?;
    let resp = g
        .client
        .oneshot(req)
        .await
        .map_err(|_| http::StatusCode::BAD_GATEWAY)?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| http::StatusCode::BAD_GATEWAY)?
        .to_bytes();
    Ok(format!("order {id}: {}", String::from_utf8_lossy(&body)))
}

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Prints the spans of one trace id from several services as one tree.
fn print_tree(spans: &[(&str, &SpanData)]) {
    let ids: HashMap<_, _> = spans.iter().map(|(_, s)| (s.span_id, ())).collect();
    fn walk(spans: &[(&str, &SpanData)], at: usize, depth: usize) {
        let (service, s) = spans[at];
        let attrs: Vec<String> = s
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        let error = s
            .error
            .as_ref()
            .map(|e| format!("  ERROR: {e}"))
            .unwrap_or_default();
        println!(
            "{:indent$}[{service}] {} ({:?}) {:.3} ms {}{error}",
            "",
            s.name,
            s.kind,
            s.duration_ms(),
            attrs.join(" "),
            indent = 2 + depth * 2
        );
        let mut children: Vec<usize> = (0..spans.len())
            .filter(|&i| spans[i].1.parent_id == Some(s.span_id))
            .collect();
        children.sort_by_key(|&i| spans[i].1.start_unix_nanos);
        for c in children {
            walk(spans, c, depth + 1);
        }
    }
    for (i, (_, s)) in spans.iter().enumerate() {
        if s.parent_id.is_none_or(|p| !ids.contains_key(&p)) {
            walk(spans, i, 0);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let opts = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let made = tracer("gateway", opts.otlp.as_deref())
        .and_then(|g| Ok((g, tracer("backend", opts.otlp.as_deref())?)));
    let ((gateway_tracer, gateway_otlp), (backend_tracer, backend_otlp)) =
        made.unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2);
        });
    let (gateway_traces, backend_traces) = (Traces::default(), Traces::default());

    let backend_addr = serve(backend(backend_tracer.clone(), &backend_traces))
        .await
        .expect("bind the backend");
    let state = Gateway {
        tracer: gateway_tracer.clone(),
        client: tower::ServiceBuilder::new()
            .layer(ClientLayer::new(gateway_tracer.clone()))
            .service(Client::builder(TokioExecutor::new()).build_http()),
        backend: backend_addr,
    };
    let gateway_addr = serve(
        Router::new()
            .route("/orders/{id}", get(order))
            .with_state(state)
            .layer(
                ServerLayer::new(gateway_tracer.clone())
                    .route_with(route)
                    .on_trace(collect(&gateway_traces)),
            ),
    )
    .await
    .expect("bind the gateway");
    println!("gateway on http://{gateway_addr}, backend on http://{backend_addr}");

    // The outside caller: plain HTTP, no trace of its own (the gateway starts one).
    let caller = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for id in 0..opts.requests {
        let uri = format!("http://{gateway_addr}/orders/{id}");
        let req = http::Request::get(uri).body(Empty::new()).expect("request");
        match caller.request(req).await {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                if id == 0 {
                    println!("GET /orders/0 -> {status} {:?}", body.unwrap_or_default());
                }
            }
            Err(e) => eprintln!("request {id}: {e}"),
        }
    }
    // A trace is delivered when its response body has been sent: give the last one a moment.
    for _ in 0..200 {
        let done = |t: &Traces| t.lock().map(|v| v.len()).unwrap_or(0) >= opts.requests;
        if done(&gateway_traces) && done(&backend_traces) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let gateway_traces = gateway_traces
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let backend_traces = backend_traces
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(g) = gateway_traces.first() {
        let mut spans: Vec<(&str, &SpanData)> = g.spans.iter().map(|s| ("gateway", s)).collect();
        for b in backend_traces.iter().filter(|b| b.trace_id == g.trace_id) {
            spans.extend(b.spans.iter().map(|s| ("backend", s)));
        }
        println!("trace {} ({} spans, 2 services)", g.trace_id, spans.len());
        print_tree(&spans);
    }
    let joined = gateway_traces
        .iter()
        .filter(|g| backend_traces.iter().any(|b| b.trace_id == g.trace_id))
        .count();
    println!(
        "requests: {}  gateway traces: {}  backend traces: {}  joined: {}",
        opts.requests,
        gateway_traces.len(),
        backend_traces.len(),
        joined
    );

    for (name, tracer, otlp) in [
        ("gateway", &gateway_tracer, gateway_otlp),
        ("backend", &backend_tracer, backend_otlp),
    ] {
        let Some(otlp) = otlp else { continue };
        let shutdown = tracer.shutdown();
        let e = tracer.stats().export;
        println!(
            "otlp ({name}): exported={} retries={} failed_batches={} dropped={} ({})",
            e.exported,
            e.retries,
            e.failed_batches,
            e.dropped_failed + e.dropped_queue_full,
            otlp.snapshot()
        );
        if let Err(err) = shutdown {
            eprintln!("otlp ({name}): shutdown: {err}");
        }
    }
}
