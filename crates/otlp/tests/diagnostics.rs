//! What the OTLP exporter says while it fails: export failures with the port-4317 hint,
//! partial successes, and invalid `OTEL_*` values that are reported and ignored (one rule
//! across the crates: code errs, the environment warns).
//!
//! The diagnostics handler is process-wide and these tests run in parallel: one capturing
//! handler, and each test reads only the reports about its own subject.

mod common;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::{Receiver, Reply};
use reqtrace_core::diagnostics::{self, Diagnostic, DiagnosticKind};
use reqtrace_core::{BatchConfig, RequestTracer};
use reqtrace_otlp::{OtlpExporter, Protocol};

fn reports_about(subject: &str) -> Vec<Diagnostic> {
    static SEEN: OnceLock<&'static Mutex<Vec<Diagnostic>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| {
        let seen: &'static Mutex<Vec<Diagnostic>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        diagnostics::set_handler(move |d| seen.lock().unwrap().push(d.clone()));
        seen
    });
    seen.lock()
        .unwrap()
        .iter()
        .filter(|d| d.subject == subject)
        .cloned()
        .collect()
}

#[test]
fn the_grpc_port_given_to_the_http_exporter_is_named_in_the_failure() {
    reports_about("");
    // Whatever is on 4317 here (nothing, or a gRPC server), it is not OTLP/HTTP; hold the
    // port with a listener that hangs up, when it is free.
    let _hang_up = std::net::TcpListener::bind("127.0.0.1:4317").ok().map(|l| {
        std::thread::spawn(move || {
            for c in l.incoming() {
                drop(c);
            }
        })
    });
    let exporter = OtlpExporter::builder()
        .endpoint("http://127.0.0.1:4317")
        .protocol(Protocol::HttpJson)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let tracer = RequestTracer::builder("diag-grpc-port")
        .exporter(
            exporter,
            BatchConfig::default()
                .max_retries(1)
                .initial_backoff(Duration::from_millis(1)),
        )
        .build();
    tracer.start_trace();
    drop(tracer.start_span("op"));
    tracer.end_trace();
    assert!(tracer.shutdown().is_err());
    let reports = reports_about("diag-grpc-port");
    let kinds: Vec<_> = reports.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [DiagnosticKind::ExportFailed, DiagnosticKind::SpansDropped],
        "{reports:#?}"
    );
    for d in &reports {
        assert!(d.message.contains("127.0.0.1:4317"), "{d:?}");
        assert!(
            d.message.contains("port 4317 is OTLP/gRPC's") && d.message.contains("4318"),
            "{d:?}"
        );
    }
}

#[test]
fn a_partial_success_is_reported() {
    reports_about("");
    let rx = Receiver::start();
    rx.script([Reply::Status(
        200,
        vec![("Content-Type".into(), "application/json".into())],
        r#"{"partialSuccess":{"rejectedSpans":"1","errorMessage":"span too old"}}"#.into(),
    )]);
    let exporter = OtlpExporter::builder()
        .endpoint(rx.base_url())
        .protocol(Protocol::HttpJson)
        .build()
        .unwrap();
    let tracer = RequestTracer::builder("diag-partial")
        .exporter(exporter, BatchConfig::default())
        .build();
    tracer.start_trace();
    drop(tracer.start_span("a"));
    drop(tracer.start_span("b"));
    tracer.end_trace();
    tracer.shutdown().unwrap();
    let reports = reports_about("diag-partial");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, DiagnosticKind::SpansRejected);
    assert!(
        reports[0]
            .message
            .ends_with("rejected 1 of 2 spans: span too old"),
        "{reports:#?}"
    );
}

#[test]
fn invalid_environment_values_are_reported_and_ignored() {
    reports_about("");
    let env = |k: &str| {
        Some(
            match k {
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => "thrift",
                "OTEL_EXPORTER_OTLP_TIMEOUT" => "10s",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => "localhost:4318",
                "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://collector:4318",
                "OTEL_EXPORTER_OTLP_HEADERS" => "api-key",
                _ => return None,
            }
            .to_owned(),
        )
    };
    // The process starts: a bad value does not stop the build.
    let exporter = OtlpExporter::builder().from_env_with(env).build().unwrap();
    let c = exporter.config();
    assert_eq!(c.protocol(), Protocol::default());
    assert_eq!(c.timeout(), reqtrace_otlp::DEFAULT_TIMEOUT);
    assert_eq!(c.endpoint().to_string(), "http://collector:4318/v1/traces");
    assert!(c.headers().is_empty());

    let one = |var: &str| {
        let r = reports_about(var);
        assert_eq!(r.len(), 1, "{var}: {r:#?}");
        assert_eq!(r[0].kind, DiagnosticKind::InvalidConfig);
        r[0].message.clone()
    };
    let m = one("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
    assert!(
        m.starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"thrift\" ignored: "),
        "{m}"
    );
    assert!(m.contains("unsupported OTLP protocol"), "{m}");
    let default = Protocol::default().to_string();
    assert!(m.ends_with(&format!("using {default}")), "{m}");
    let m = one("OTEL_EXPORTER_OTLP_TIMEOUT");
    assert!(m.ends_with("using 10000 ms"), "{m}");
    // A bad signal-specific value falls back to the generic one, and says so.
    let m = one("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    assert!(m.ends_with("using OTEL_EXPORTER_OTLP_ENDPOINT"), "{m}");
    let m = one("OTEL_EXPORTER_OTLP_HEADERS");
    assert!(m.ends_with("using no headers from it"), "{m}");
    // The generic endpoint was fine: nothing said about it.
    assert!(reports_about("OTEL_EXPORTER_OTLP_ENDPOINT").is_empty());

    let resource = reqtrace_otlp::resource_from_env_with(|k| match k {
        "OTEL_SERVICE_NAME" => Some("svc".to_owned()),
        "OTEL_RESOURCE_ATTRIBUTES" => Some("=nokey".to_owned()),
        _ => None,
    });
    assert_eq!(resource.service_name, "svc");
    assert_eq!(
        resource,
        reqtrace_core::Resource::detected().merge(reqtrace_core::Resource::new("svc")),
        "only what was detected: nothing from the invalid list"
    );
    let m = one("OTEL_RESOURCE_ATTRIBUTES");
    assert!(m.ends_with("using no resource attributes"), "{m}");
}
