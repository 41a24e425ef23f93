//! The HTTP server layer's cost per request (issue 11): one request through a tower service
//! driven directly (no network, no runtime: the futures are ready at the first poll), with a
//! trivial handler that injects the current context into an outgoing `HeaderMap` (what a
//! handler calling another service does). Per request: extract `traceparent`, start the server
//! span with the request's attributes, run the handler with the span current, inject, record
//! the status, drain the body, end the span, hand it to a counting exporter.
//!
//! | subject | layer | where spans go |
//! | --- | --- | --- |
//! | `baseline` | none (the handler and the request alone) | — |
//! | `reqtrace` | `reqtrace_tower::ServerLayer` | `RequestTracer` export worker (queue 2^20 spans, 10 ms flush interval) → counting `SpanExporter` |
//! | `tower-http+tracing-otel` | tower-http `TraceLayer` (span with the same attributes, parent extracted with `TraceContextPropagator`, status recorded `on_response`, no log events) over `tracing-opentelemetry` | `BatchSpanProcessor` (queue 2^20, batches of 512) → counting exporter |
//! | `fastrace-axum` | `fastrace_axum::FastraceLayer` (extracts `traceparent`; method and path) | fastrace's collector → counting reporter |
//!
//! Two groups: `http_wall` (wall time on the calling thread, per request) and `http_cpu`
//! (process CPU time, all threads, per request until every span reached its exporter; the
//! one to trust on a loaded machine). fastrace-axum is only in `http_wall`: its reporter
//! hands spans over on its own schedule (`fastrace::flush` does not wait for them), so the
//! CPU loop cannot tell when its spans have arrived.
//! `cargo bench -p reqtrace-benches --features peers --bench http_layer` (`REQTRACE_BENCH_QUICK=1`
//! for a short run).

use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::body::Body;
use criterion::{BatchSize, Criterion};
use http::{HeaderMap, HeaderValue, Request, Response};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData,
};
use reqtrace_benches::Subject;
use reqtrace_benches::cpu::process_cpu_time;
use reqtrace_benches::peers::fastrace_subject::Fastrace;
use reqtrace_benches::results;
use reqtrace_core::{BatchConfig, ExportError, RequestTracer, Resource};
use reqtrace_propagation::TracerExt;
use tower::{Service, ServiceBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn request() -> Request<Body> {
    Request::get("/users/7")
        .header("host", "api.example:8080")
        .header("user-agent", "bench/1.0")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .expect("request")
}

fn ok() -> Response<Body> {
    Response::new(Body::from("ok"))
}

/// One request: ready, call, poll the response future once, drain the body.
fn drive<S>(svc: &mut S, req: Request<Body>)
where
    S: Service<Request<Body>>,
    S::Response: IntoBody,
    S::Error: std::fmt::Debug,
{
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut fut = pin!(svc.call(req));
    let Poll::Ready(resp) = fut.as_mut().poll(&mut cx) else {
        panic!("the bench's services are ready at once")
    };
    resp.expect("response").drain(&mut cx);
}

/// A response whose body can be drained synchronously.
trait IntoBody {
    fn drain(self, cx: &mut Context<'_>);
}

impl<B: http_body::Body> IntoBody for Response<B> {
    fn drain(self, cx: &mut Context<'_>) {
        let mut body = pin!(self.into_body());
        loop {
            match body.as_mut().poll_frame(cx) {
                Poll::Ready(Some(f)) => drop(black_box(f.is_ok())),
                Poll::Ready(None) => break,
                Poll::Pending => panic!("the bench's bodies are ready at once"),
            }
        }
    }
}

// ---- reqtrace

#[derive(Clone)]
struct CountingExporter(Arc<AtomicU64>);

impl reqtrace_core::SpanExporter for CountingExporter {
    fn export(
        &mut self,
        batch: &[reqtrace_core::SpanData],
        _: &Resource,
    ) -> Result<(), ExportError> {
        black_box(batch);
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

static REQTRACE: OnceLock<(RequestTracer, Arc<AtomicU64>)> = OnceLock::new();

fn reqtrace() -> &'static (RequestTracer, Arc<AtomicU64>) {
    REQTRACE.get_or_init(|| {
        let count = Arc::new(AtomicU64::new(0));
        let tracer = RequestTracer::builder("bench")
            .exporter(
                CountingExporter(Arc::clone(&count)),
                // A 10 ms flush interval: the worker wakes when half of max_queue_spans is
                // queued, but its queue holds max_queue_spans / 8 *batches* and every request
                // here is a one-span batch, so with the default (1 s) it would sleep through
                // a full queue and drop (reported to core).
                BatchConfig::default()
                    .max_queue_spans(1 << 20)
                    .flush_interval(Duration::from_millis(10)),
            )
            .build();
        (tracer, count)
    })
}

// ---- tower-http + tracing-opentelemetry

#[derive(Debug, Clone)]
struct OtelCounting(Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for OtelCounting {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        black_box(&batch);
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);
impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);
impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();

fn server_span(req: &Request<Body>) -> tracing::Span {
    let parent = PROPAGATOR
        .get_or_init(TraceContextPropagator::new)
        .extract(&HeaderExtractor(req.headers()));
    let span = tracing::info_span!(
        "request",
        otel.name = %req.method(),
        otel.kind = "server",
        http.request.method = %req.method(),
        url.path = req.uri().path(),
        url.scheme = "http",
        server.address = req.headers().get("host").and_then(|h| h.to_str().ok()),
        user_agent.original = req.headers().get("user-agent").and_then(|h| h.to_str().ok()),
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(parent);
    span
}

fn main() {
    let c = Criterion::default();
    let mut c = if results::quick() {
        c.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(900))
            .sample_size(10)
    } else {
        c.warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(4))
            .sample_size(30)
    }
    .configure_from_args();

    // baseline: the handler alone
    let mut baseline = ServiceBuilder::new().service_fn(|_req: Request<Body>| async {
        black_box(HeaderMap::new());
        Ok::<_, BoxError>(ok())
    });

    // reqtrace
    let (tracer, reqtrace_count) = reqtrace();
    let mut reqtrace_svc = ServiceBuilder::new()
        .layer(reqtrace_tower::ServerLayer::new(tracer.clone()))
        .service_fn(|_req: Request<Body>| async {
            let mut out = HeaderMap::new();
            reqtrace().0.inject(&mut out);
            black_box(out);
            Ok::<_, BoxError>(ok())
        });

    // tower-http + tracing-opentelemetry, on this thread's default subscriber
    let otel_count = Arc::new(AtomicU64::new(0));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(OtelCounting(Arc::clone(&otel_count)))
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(1 << 20)
                        .with_max_export_batch_size(512)
                        .build(),
                )
                .build(),
        )
        .build();
    let otel_tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "bench");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(otel_tracer));
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let mut tower_http_svc = ServiceBuilder::new()
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(server_span)
                .on_request(())
                .on_response(|resp: &Response<Body>, _: Duration, span: &tracing::Span| {
                    span.record("http.response.status_code", resp.status().as_u16());
                })
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .service_fn(|_req: Request<Body>| async {
            let mut out = HeaderMap::new();
            let cx = tracing::Span::current().context();
            PROPAGATOR
                .get_or_init(TraceContextPropagator::new)
                .inject_context(&cx, &mut HeaderInjector(&mut out));
            black_box(out);
            Ok::<_, BoxError>(ok())
        });

    // fastrace-axum
    let fastrace = Fastrace::new();
    let mut fastrace_svc = ServiceBuilder::new()
        .layer(fastrace_axum::FastraceLayer::default())
        .service_fn(|_req: Request<Body>| async {
            let mut out = HeaderMap::new();
            if let Some(cx) = fastrace::prelude::SpanContext::current_local_parent()
                && let Ok(v) = HeaderValue::from_str(&cx.encode_w3c_traceparent())
            {
                out.insert("traceparent", v);
            }
            black_box(out);
            Ok::<_, std::convert::Infallible>(ok())
        });

    // Every subject really exports: one request each, then wait for its span.
    drive(&mut reqtrace_svc, request());
    drive(&mut tower_http_svc, request());
    drive(&mut fastrace_svc, request());
    let received = |name: &str| match name {
        "reqtrace" => reqtrace_count.load(Ordering::Relaxed),
        "tower-http+tracing-otel" => otel_count.load(Ordering::Relaxed),
        _ => fastrace.counters().snapshot().received,
    };
    let flush = |name: &str| match name {
        "reqtrace" => drop(tracer.force_flush(Duration::from_secs(5))),
        "tower-http+tracing-otel" => drop(provider.force_flush()),
        _ => fastrace::flush(),
    };
    let base: Vec<(&str, u64)> = ["reqtrace", "tower-http+tracing-otel", "fastrace-axum"]
        .iter()
        .map(|n| {
            flush(n);
            (*n, received(n))
        })
        .collect();
    for (n, r) in &base {
        assert!(
            *r >= 1,
            "{n}: the first request's span did not reach the exporter"
        );
    }

    let mut g = c.benchmark_group("http_wall");
    g.bench_function("baseline", |b| {
        b.iter_batched(request, |r| drive(&mut baseline, r), BatchSize::SmallInput)
    });
    g.bench_function("reqtrace", |b| {
        b.iter_batched(
            request,
            |r| drive(&mut reqtrace_svc, r),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("tower-http+tracing-otel", |b| {
        b.iter_batched(
            request,
            |r| drive(&mut tower_http_svc, r),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("fastrace-axum", |b| {
        b.iter_batched(
            request,
            |r| drive(&mut fastrace_svc, r),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Process CPU time (all threads) until every span reached its exporter; building the
    // request is inside the timed loop here, alike for every subject (the baseline shows it).
    let mut g = c.benchmark_group("http_cpu");
    let cpu = |iters: u64, name: &str, run: &mut dyn FnMut()| {
        flush(name);
        let before = received(name);
        let c0 = process_cpu_time();
        for _ in 0..iters {
            run();
        }
        // Wait without burning CPU: one flush, then sleep until the exporter has them all.
        flush(name);
        let deadline = Instant::now() + Duration::from_secs(10);
        while received(name) < before + iters && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        let used = process_cpu_time().saturating_sub(c0);
        let got = received(name) - before;
        if got != iters {
            eprintln!("warning: {name}: {got} of {iters} spans reached the exporter");
        }
        used
    };
    g.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            let c0 = process_cpu_time();
            for _ in 0..iters {
                drive(&mut baseline, request());
            }
            process_cpu_time().saturating_sub(c0)
        })
    });
    g.bench_function("reqtrace", |b| {
        b.iter_custom(|iters| {
            cpu(iters, "reqtrace", &mut || {
                drive(&mut reqtrace_svc, request())
            })
        })
    });
    g.bench_function("tower-http+tracing-otel", |b| {
        b.iter_custom(|iters| {
            cpu(iters, "tower-http+tracing-otel", &mut || {
                drive(&mut tower_http_svc, request())
            })
        })
    });
    g.finish();

    let stats = tracer.stats();
    println!(
        "reqtrace: spans delivered to the exporter {} (dropped {:?}); tracing-otel: {}; fastrace: {}",
        reqtrace_count.load(Ordering::Relaxed),
        stats.dropped,
        otel_count.load(Ordering::Relaxed),
        fastrace.counters().snapshot().received
    );
    c.final_summary();
}
