//! README.md's "HTTP services" example, run as a test, and a check that the README shows
//! exactly this code (between the `README begin` / `README end` markers below).

// README begin
use axum::{Router, extract::Path, routing::get};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use reqtrace_core::{FutureExt, RequestTracer};
use reqtrace_tower::{ClientLayer, ServerLayer};
use tower::ServiceExt;

async fn user(Path(id): Path<u32>) -> String {
    format!("user {id}")
}

#[tokio::main]
async fn main() {
    // The server: one layer. Traces go to the tracer's exporter unless `on_trace` takes them.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = RequestTracer::new("users-api");
    let app = Router::new()
        .route("/users/{id}", get(user))
        .layer(ServerLayer::new(server).on_trace(move |trace| drop(tx.send(trace))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A client: a CLIENT span under the current context, `traceparent` sent along.
    let client_tracer = RequestTracer::new("frontend");
    let client = tower::ServiceBuilder::new()
        .layer(ClientLayer::new(client_tracer.clone()))
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());
    let root = client_tracer.start_root("page load");
    let request = http::Request::get(format!("http://{addr}/users/7"))
        .body(Empty::new())
        .unwrap();
    let response = client
        .oneshot(request)
        .with_context(root.handle())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "user 7");
    let frontend = root.finish();

    let backend = rx.recv().unwrap(); // delivered once the body was sent
    let span = &backend.spans[0];
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(backend.trace_id, frontend.trace_id); // one trace across both services
    assert_eq!(span.parent_id, frontend.span("GET").map(|s| s.span_id)); // the CLIENT span
}
// README end

#[test]
fn readme_http_example_runs() {
    main();
}

/// The README's "HTTP services" Rust block is this file's example, line for line.
#[test]
fn readme_shows_this_example() {
    let this = include_str!("readme_http.rs");
    let example = between(this, "// README begin\n", "// README end\n");
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## HTTP services")
        .expect("README has no \"HTTP services\" section")..];
    let block = between(section, "```rust,ignore\n", "```\n");
    assert_eq!(
        block, example,
        "README.md differs from tests/readme_http.rs"
    );
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).expect("start marker") + start.len();
    let len = text[from..].find(end).expect("end marker");
    &text[from..from + len]
}
