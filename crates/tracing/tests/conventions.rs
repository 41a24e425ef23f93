//! tracing-opentelemetry's documented conventions, ported: a service moving from it keeps the
//! meaning of its special fields and error events. Each test names the behaviour of
//! tracing-opentelemetry it carries over (`dynamic_span_names`, `span_kind`, …), plus what the
//! bridge adds (events outside `tracing` spans, the filter rules).

use reqtrace_core::{RequestTracer, SpanData, SpanKind, StatusCode, Trace, Value};
use reqtrace_tracing::ReqtraceLayer;
use tracing::{Dispatch, Level, dispatcher, instrument};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

fn setup() -> (RequestTracer, Dispatch) {
    let tracer = RequestTracer::new("conventions");
    let dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()).start_traces(false))
        .into();
    (tracer, dispatch)
}

/// Runs `f` in a trace and returns it.
fn traced(f: impl FnOnce()) -> Trace {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        f();
        tracer.end_trace().unwrap()
    })
}

fn only(trace: &Trace) -> &SpanData {
    assert_eq!(trace.spans.len(), 1, "{:?}", trace.spans);
    &trace.spans[0]
}

#[test]
fn dynamic_span_names() {
    let route = "GET /users/{id}".to_string();
    let trace = traced(|| {
        let _s = tracing::debug_span!("static_name", otel.name = route.as_str()).entered();
    });
    let s = only(&trace);
    assert_eq!(s.name, "GET /users/{id}");
    assert_eq!(s.attribute("otel.name"), None, "not kept as an attribute");
    // Recorded later, as a router does once the route is known.
    let trace = traced(|| {
        let s = tracing::info_span!("request", otel.name = tracing::field::Empty);
        s.record("otel.name", "POST /chat");
    });
    assert_eq!(only(&trace).name, "POST /chat");
}

#[test]
fn span_kind() {
    for (text, kind) in [
        ("server", SpanKind::Server),
        ("CLIENT", SpanKind::Client),
        ("Producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ] {
        let trace = traced(|| {
            let _s = tracing::debug_span!("request", otel.kind = text).entered();
        });
        assert_eq!(only(&trace).kind, kind, "{text}");
        assert_eq!(only(&trace).attribute("otel.kind"), None);
    }
    let trace = traced(|| {
        let _s = tracing::debug_span!("request", otel.kind = "sideways").entered();
    });
    assert_eq!(
        only(&trace).kind,
        SpanKind::Internal,
        "unknown kinds are ignored"
    );
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
enum OtelStatus {
    Ok,
    Error { description: String },
}

#[test]
fn span_status_code() {
    let trace = traced(|| {
        let _s = tracing::debug_span!("request", otel.status_code = ?OtelStatus::Ok).entered();
    });
    assert_eq!(only(&trace).status, StatusCode::Ok);
    let trace = traced(|| {
        let _s = tracing::debug_span!("request", otel.status_code = "ERROR").entered();
    });
    assert_eq!(only(&trace).status, StatusCode::Error);
    let trace = traced(|| {
        let _s = tracing::debug_span!(
            "request",
            otel.status_code = ?OtelStatus::Error { description: "x".into() }
        )
        .entered();
    });
    assert_eq!(
        only(&trace).status,
        StatusCode::Error,
        "Debug of an error status"
    );
    assert_eq!(only(&trace).attribute("otel.status_code"), None);
}

#[test]
fn span_status_description() {
    // tracing-opentelemetry's older name and the current one.
    for field in ["description", "message"] {
        let trace = traced(|| match field {
            "description" => {
                let _s =
                    tracing::debug_span!("request", otel.status_description = "quota exceeded")
                        .entered();
            }
            _ => {
                let _s = tracing::debug_span!(
                    "request",
                    otel.status_code = "error",
                    otel.status_message = "quota exceeded"
                )
                .entered();
            }
        });
        let s = only(&trace);
        assert_eq!(s.status, StatusCode::Error, "{field}");
        assert_eq!(s.error.as_deref(), Some("quota exceeded"), "{field}");
    }
    // Ok is final.
    let trace = traced(|| {
        let _s = tracing::debug_span!(
            "request",
            otel.status_code = "ok",
            otel.status_message = "ignored"
        )
        .entered();
    });
    assert_eq!(only(&trace).status, StatusCode::Ok);
}

#[test]
fn records_event_name() {
    let trace = traced(|| {
        tracing::debug_span!("test span").in_scope(|| {
            tracing::event!(Level::INFO, "event name 1");
            tracing::event!(name: "event name 2", Level::INFO, field1 = "field1");
            tracing::event!(name: "event name 3", Level::INFO, error = "field2");
            tracing::event!(name: "event name 4", Level::INFO, message = "field3");
            tracing::event!(name: "event name 5", Level::INFO, name = "field4");
        });
    });
    let names: Vec<&str> = only(&trace).events.iter().map(|e| &*e.name).collect();
    assert_eq!(
        names,
        [
            "event name 1",
            "event name 2",
            "exception",
            "field3",
            "event name 5"
        ]
    );
}

#[derive(Debug)]
struct UpstreamError;

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream timed out")
    }
}

impl std::error::Error for UpstreamError {}

#[instrument(err)]
fn call_upstream() -> Result<(), UpstreamError> {
    Err(UpstreamError)
}

#[instrument(err(Debug), ret)]
fn parse(n: i64) -> Result<i64, String> {
    if n < 0 {
        Err("negative".into())
    } else {
        Ok(n * 2)
    }
}

#[test]
fn instrument_err_is_an_exception_event_and_fails_the_span() {
    let trace = traced(|| {
        let _ = call_upstream();
        let _ = parse(-1);
        let _ = parse(2);
    });
    let span = |name: &str| trace.spans.iter().find(|s| s.name == name).unwrap();
    let up = span("call_upstream");
    assert_eq!(up.status, StatusCode::Error);
    assert_eq!(up.error.as_deref(), Some("upstream timed out"));
    assert_eq!(up.events.len(), 1);
    let ev = &up.events[0];
    assert_eq!(ev.name, "exception");
    let attr = |k: &str| {
        ev.attributes
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| &kv.value)
    };
    assert_eq!(
        attr("exception.message"),
        Some(&Value::from("upstream timed out"))
    );
    assert_eq!(
        attr("error"),
        None,
        "the error field became exception.message"
    );
    assert_eq!(attr("level"), Some(&Value::from("ERROR")));

    let failed: Vec<&SpanData> = trace.spans.iter().filter(|s| s.name == "parse").collect();
    assert_eq!(failed.len(), 2);
    let (neg, ok) = if failed[0].status == StatusCode::Error {
        (failed[0], failed[1])
    } else {
        (failed[1], failed[0])
    };
    assert_eq!(neg.error.as_deref(), Some("\"negative\""), "err(Debug)");
    assert_eq!(neg.events[0].name, "exception");
    assert_eq!(ok.status, StatusCode::Unset, "ret is not an error");
    assert_eq!(ok.events.len(), 1);
    assert!(
        ok.events[0]
            .attributes
            .iter()
            .any(|kv| kv.key == "return" && kv.value == Value::from("4")),
        "{:?}",
        ok.events[0]
    );
}

#[test]
fn an_error_level_event_fails_an_unset_span_only() {
    let trace = traced(|| {
        tracing::info_span!("unset").in_scope(|| tracing::error!("disk almost full"));
        tracing::info_span!("ok", otel.status_code = "ok").in_scope(|| tracing::error!("noisy"));
        tracing::info_span!("warned").in_scope(|| tracing::warn!("slow"));
    });
    let span = |name: &str| trace.spans.iter().find(|s| s.name == name).unwrap();
    assert_eq!(span("unset").status, StatusCode::Error);
    assert_eq!(span("unset").error.as_deref(), Some("disk almost full"));
    assert_eq!(span("ok").status, StatusCode::Ok, "an ok status is final");
    assert_eq!(span("warned").status, StatusCode::Unset);
}

#[test]
fn events_outside_tracing_spans_go_to_the_current_reqtrace_span() {
    let (tracer, dispatch) = setup();
    dispatcher::with_default(&dispatch, || {
        tracer.start_trace();
        {
            let _handler = tracer.start_span("handler");
            tracing::info!(user = 42, "loaded user");
            tracing::error!(error = "db down", "query failed");
        }
        // No reqtrace span and no tracing span: nothing to attach to, nothing recorded.
        tracing::info!("between requests");
        let trace = tracer.end_trace().unwrap();
        let h = only(&trace);
        let names: Vec<&str> = h.events.iter().map(|e| &*e.name).collect();
        assert_eq!(names, ["loaded user", "query failed"]);
        assert_eq!(h.events[0].attributes[0].value, Value::I64(42));
        assert_eq!(h.status, StatusCode::Error);
        assert_eq!(h.error.as_deref(), Some("db down"));
    });
}

/// A per-layer filter hides spans from its own layer only; a filter on the subscriber hides
/// them from every layer, reqtrace's too (their work is parented to the nearest recorded span).
#[test]
fn filter_rules() {
    let tracer = RequestTracer::new("filters");
    // The fmt-like layer sees INFO and above; reqtrace sees everything.
    let printed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&printed);
    struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let per_layer: Dispatch = tracing_subscriber::registry()
        .with(Counting(seen).with_filter(LevelFilter::INFO))
        .with(ReqtraceLayer::new(tracer.clone()).start_traces(false))
        .into();
    dispatcher::with_default(&per_layer, || {
        tracer.start_trace();
        tracing::info_span!("request").in_scope(|| {
            let _d = tracing::debug_span!("db").entered();
        });
        let trace = tracer.end_trace().unwrap();
        assert_eq!(trace.spans.len(), 2, "reqtrace records the DEBUG span");
    });
    assert_eq!(printed.load(std::sync::atomic::Ordering::Relaxed), 1);

    // A global filter: `hyper`'s spans are off for everyone; the work inside them is parented
    // to the nearest recorded span.
    let global: Dispatch = tracing_subscriber::registry()
        .with(ReqtraceLayer::new(tracer.clone()).start_traces(false))
        .with(
            Targets::new()
                .with_default(Level::TRACE)
                .with_target("hyper", LevelFilter::OFF),
        )
        .into();
    dispatcher::with_default(&global, || {
        tracer.start_trace();
        tracing::info_span!("request").in_scope(|| {
            tracing::info_span!(target: "hyper", "poll").in_scope(|| {
                let _w = tracing::info_span!("work").entered();
            });
        });
        let trace = tracer.end_trace().unwrap();
        let names: Vec<&str> = trace.spans.iter().map(|s| &*s.name).collect();
        assert_eq!(names, ["request", "work"]);
        assert_eq!(trace.spans[1].parent_id, Some(trace.spans[0].span_id));
    });
}
