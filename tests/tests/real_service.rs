//! README.md's "A real service", run as a test: an axum service with `#[instrument]`ed code and
//! a reqwest call downstream, configured from `OTEL_*`, tail-sampled, sending OTLP to a
//! collector, shut down gracefully. The parent test plays the collector and the downstream
//! service and runs the service in a child process (its environment set there: the README code
//! reads the real environment, and a test must not mutate its own). A check below keeps the
//! README's block and this file's code the same, line for line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

// README begin
use std::time::Duration;

use axum::{Extension, Router, extract::Path, http::StatusCode, routing::get};
use reqtrace_core::{BatchConfig, SpanHandle, TailPolicy, TailSampler, global};
use reqtrace_tower::{RequestBuilderExt, ServerLayer};
use reqtrace_tracing::ReqtraceLayer;
use tracing_subscriber::{filter::LevelFilter, filter::Targets, prelude::*};

/// Plain `tracing` instrumentation: the bridge records it as a reqtrace span.
#[tracing::instrument(skip(client))]
async fn load_score(client: &reqwest::Client, user: u32) -> Result<String, reqwest::Error> {
    let base = std::env::var("SCORES_URL").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    // A CLIENT span with `traceparent` sent along; a child of `load_score`.
    let response = client
        .get(format!("{base}/score/{user}"))
        .send_traced(global::tracer())
        .await?;
    response.error_for_status()?.text().await
}

async fn user(
    Path(id): Path<u32>,
    Extension(root): Extension<SpanHandle>, // the request's SERVER span, from ServerLayer
    Extension(client): Extension<reqwest::Client>,
) -> Result<String, StatusCode> {
    root.set_attribute("app.user_id", i64::from(id));
    // Across `.await`, keep no `SpanGuard` (it is not `Send`, and axum would reject the
    // handler): use `#[instrument]` / `#[trace]` functions, `in_span`, or the handle.
    let score = load_score(&client, id).await.map_err(|e| {
        root.set_error(e.to_string());
        StatusCode::BAD_GATEWAY
    })?;
    global::current_span().add_event("score.loaded", []); // the innermost span: the root
    Ok(format!("user {id}: {score}"))
}

/// The service: serves until `shutdown` resolves, then flushes what it recorded.
async fn run(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error>> {
    // Service name, resource, sampler and the OTLP endpoint from OTEL_* variables.
    let (builder, _otlp_stats) = reqtrace_otlp::tracer_builder_from_env(BatchConfig::default())?;
    let tracer = builder
        .tail_sampler(
            TailSampler::new()
                .policy(TailPolicy::Error) // every failed request
                .policy(TailPolicy::Latency(Duration::from_millis(250))), // and every slow one
        )
        .build();
    global::set_tracer(tracer.clone()).map_err(|_| "tracer already set")?;

    // The bridge with its own filter: a global filter (an `EnvFilter` on the registry) would
    // hide spans from it too, and without one it records hyper's and reqwest's TRACE events.
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ReqtraceLayer::global().with_filter(filter)),
    )?;

    let app = Router::new()
        .route("/users/{id}", get(user))
        .layer(Extension(reqwest::Client::new()))
        .layer(ServerLayer::global());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    // Requests are done: send what is buffered (the wait does not block the runtime).
    tracer.shutdown_async().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    run(listener, async {
        let _ = tokio::signal::ctrl_c().await; // SIGINT; add SIGTERM for containers
    })
    .await
}
// README end

/// Requests the parent sends; `/users/13` fails downstream (502), the rest are fast and ok.
const REQUESTS: u32 = 12;
const FAILING_USER: u32 = 13;

/// The child: runs the service on a free port, sends the requests, shuts down.
#[test]
#[ignore = "run by the_readme_service_exports_what_tail_sampling_keeps, in its own process"]
fn real_service_child() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let service = tokio::spawn(async move {
            run(listener, async {
                let _ = stop_rx.await;
            })
            .await
            .map_err(|e| e.to_string())
        });
        let client = reqwest::Client::new();
        for id in (FAILING_USER + 1 - REQUESTS)..=FAILING_USER {
            // Waits for the listener to serve (it is bound already).
            let status = client
                .get(format!("http://{addr}/users/{id}"))
                .send()
                .await
                .unwrap()
                .status();
            let expected = if id == FAILING_USER { 502 } else { 200 };
            assert_eq!(status.as_u16(), expected, "user {id}");
        }
        stop_tx.send(()).unwrap();
        service.await.unwrap().unwrap();
        let s = global::tracer().stats();
        println!("child stats: {s:?}");
    });
}

/// What the fake collector received: one entry per span (name, trace id, parent span id,
/// attribute keys).
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: Vec<String>,
    events: Vec<String>,
}

fn spans_of(body: &serde_json::Value) -> Vec<Received> {
    let mut out = Vec::new();
    for rs in body["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                let keys = |v: &serde_json::Value| -> Vec<String> {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["key"].as_str().map(str::to_owned))
                        .collect()
                };
                out.push(Received {
                    name: s["name"].as_str().unwrap_or_default().to_owned(),
                    trace_id: s["traceId"].as_str().unwrap_or_default().to_owned(),
                    span_id: s["spanId"].as_str().unwrap_or_default().to_owned(),
                    parent: s["parentSpanId"].as_str().unwrap_or_default().to_owned(),
                    attributes: keys(&s["attributes"]),
                    events: s["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e["name"].as_str().map(str::to_owned))
                        .collect(),
                });
            }
        }
    }
    out
}

#[test]
fn the_readme_service_exports_what_tail_sampling_keeps() {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The collector (OTLP/HTTP JSON) and the downstream scores service, on one port.
    let addr = rt.block_on(async {
        let sink = Arc::clone(&received);
        let app = Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let sink = Arc::clone(&sink);
                    async move {
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        sink.lock().unwrap().extend(spans_of(&v));
                        "{}"
                    }
                }),
            )
            .route(
                "/score/{user}",
                get(|Path(user): Path<u32>| async move {
                    if user == FAILING_USER {
                        Err(StatusCode::INTERNAL_SERVER_ERROR)
                    } else {
                        Ok(format!("{}", user * 10))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "real_service_child", "--nocapture"])
        .env("OTEL_SERVICE_NAME", "users-api")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("SCORES_URL", format!("http://{addr}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed:\n{}", out.join("\n"));
    assert!(
        out.iter().any(|l| l.contains("1 passed")),
        "the child test did not run:\n{}",
        out.join("\n")
    );

    let spans = received.lock().unwrap().clone();
    // Tail sampling kept the failed request only (the others were fast and ok): one whole
    // trace, with the SERVER root, the #[instrument] span and the reqwest CLIENT span.
    let traces: std::collections::BTreeSet<_> = spans.iter().map(|s| &s.trace_id).collect();
    assert_eq!(traces.len(), 1, "{spans:#?}");
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name:?} in {spans:#?}"))
    };
    let root = find("GET /users/{id}");
    let load = find("load_score");
    let client = find("GET");
    assert_eq!(spans.len(), 3, "{spans:#?}");
    assert!(root.parent.is_empty());
    assert_eq!(load.parent, root.span_id);
    assert_eq!(client.parent, load.span_id);
    assert!(root.attributes.iter().any(|k| k == "app.user_id"));
    assert!(root.attributes.iter().any(|k| k == "sampling.rule"));
    assert!(root.events.is_empty(), "the failing request returned early");
    assert!(
        client
            .attributes
            .iter()
            .any(|k| k == "http.response.status_code")
    );
}

/// The README's "A real service" block is this file's example, line for line.
#[test]
fn readme_shows_this_example() {
    let this = include_str!("real_service.rs");
    let begin = this.find("// README begin\n").unwrap() + "// README begin\n".len();
    let end = this.find("// README end").unwrap();
    let code = &this[begin..end];
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## A real service")
        .expect("README has a \"A real service\" section");
    let section = &readme[start..];
    // `ignore` for the README doctests (tests/src/lib.rs): this file runs it instead.
    let block_start = section.find("```rust,ignore\n").unwrap() + "```rust,ignore\n".len();
    let block_end = block_start + section[block_start..].find("```\n").unwrap();
    assert_eq!(&section[block_start..block_end], code);
}
