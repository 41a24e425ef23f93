//! Self-diagnostics: the tracer reports failing exports, dropped spans and ignored `OTEL_*`
//! values through the process-wide handler, and `shutdown_async` does not block its runtime.
//!
//! The handler is process-wide and the tests of this file run in parallel: one capturing
//! handler is installed once, and each test reads only the reports about its own subject
//! (its tracer's service name, or the variable it sets).

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqtrace_core::diagnostics::{self, Diagnostic, DiagnosticKind};
use reqtrace_core::{
    BatchConfig, ExportError, RequestTracer, Resource, Sampler, SpanData, SpanExporter,
};

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

/// Fails every export, transiently or permanently.
struct Failing {
    transient: bool,
}

impl SpanExporter for Failing {
    fn export(&mut self, _: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        Err(if self.transient {
            ExportError::transient("connection refused (collector down)")
        } else {
            ExportError::permanent("400 bad request")
        })
    }
}

fn record_spans(tracer: &RequestTracer, n: usize) {
    tracer.start_trace();
    for i in 0..n {
        let mut s = tracer.start_span("work");
        s.set_attribute("i", i as i64);
    }
    tracer.end_trace();
}

#[test]
fn a_failing_export_is_reported_while_it_retries_and_when_it_gives_up() {
    reports_about("");
    let tracer = RequestTracer::builder("diag-transient")
        .exporter(
            Failing { transient: true },
            BatchConfig::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1)),
        )
        .build();
    record_spans(&tracer, 3);
    assert!(tracer.shutdown().is_err());
    let reports = reports_about("diag-transient");
    let failed: Vec<_> = reports
        .iter()
        .filter(|d| d.kind == DiagnosticKind::ExportFailed)
        .collect();
    // Two retries, but one report per interval: the first attempt's.
    assert_eq!(failed.len(), 1, "{reports:#?}");
    assert!(
        failed[0]
            .message
            .contains("export of 3 spans failed (attempt 1 of 3)")
    );
    assert!(
        failed[0]
            .message
            .contains("connection refused (collector down)")
    );
    let dropped: Vec<_> = reports
        .iter()
        .filter(|d| d.kind == DiagnosticKind::SpansDropped)
        .collect();
    assert_eq!(dropped.len(), 1, "{reports:#?}");
    assert!(
        dropped[0]
            .message
            .contains("3 spans failed after 3 attempts")
    );
    assert_eq!(tracer.stats().export.dropped_failed, 3);
}

#[test]
fn a_permanent_failure_is_reported_once_as_dropped_spans() {
    reports_about("");
    let tracer = RequestTracer::builder("diag-permanent")
        .exporter(Failing { transient: false }, BatchConfig::default())
        .build();
    record_spans(&tracer, 2);
    assert!(tracer.shutdown().is_err());
    let reports = reports_about("diag-permanent");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, DiagnosticKind::SpansDropped);
    assert!(
        reports[0]
            .message
            .starts_with("diag-permanent: export of 2 spans failed after 1 attempts")
    );
    assert!(reports[0].message.ends_with("400 bad request"));
}

/// Holds every export until released.
struct Held(mpsc::Receiver<()>);

impl SpanExporter for Held {
    fn export(&mut self, _: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        self.0
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| ExportError::permanent("never released"))
    }
}

#[test]
fn a_full_export_queue_is_reported_with_the_spans_it_dropped() {
    reports_about("");
    let (release, held) = mpsc::channel();
    let tracer = RequestTracer::builder("diag-queue")
        .exporter(
            Held(held),
            BatchConfig::default()
                .max_queue_spans(4)
                .max_export_batch_size(1)
                .max_concurrent_exports(1) // the worker itself is held: no report before all drops
                .flush_interval(Duration::from_millis(20)),
        )
        .build();
    // Hold the worker in its first export, so it reports only once every drop happened.
    record_spans(&tracer, 2);
    while tracer.stats().export.in_flight == 0 {
        std::thread::yield_now();
    }
    for _ in 0..9 {
        record_spans(&tracer, 2);
    }
    let dropped = tracer.stats().export.dropped_queue_full;
    assert!(dropped > 0);
    // The worker reports on its next round, from its own thread; it is held in an export,
    // so release it until the report is there.
    let mut reports = Vec::new();
    for _ in 0..500 {
        let _ = release.send(());
        reports = reports_about("diag-queue");
        if !reports.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..100 {
        let _ = release.send(());
    }
    tracer.shutdown().unwrap();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, DiagnosticKind::SpansDropped);
    assert!(
        reports[0]
            .message
            .contains(&format!("export queue full: {dropped} spans dropped")),
        "{reports:#?}"
    );
    let s = tracer.stats().export;
    assert_eq!(s.exported + s.dropped_queue_full, 20);
}

#[test]
fn shutdown_async_lets_the_runtime_run_while_it_waits() {
    // The export is held until another task on the same single-threaded runtime releases
    // it: a shutdown that blocked the runtime's thread would never see the release.
    let (release, held) = mpsc::channel();
    let tracer = RequestTracer::builder("diag-async")
        .exporter(Held(held), BatchConfig::default())
        .build();
    record_spans(&tracer, 5);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let releaser = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            release.send(()).unwrap();
        };
        let (result, ()) = tokio::join!(tracer.shutdown_async(), releaser);
        result
    });
    assert_eq!(result, Ok(()));
    assert_eq!(tracer.stats().export.exported, 5);
}

#[test]
fn invalid_sampler_values_in_the_environment_are_reported_and_ignored() {
    let env = |name: &'static str, arg: &'static str| {
        move |k: &str| match k {
            "OTEL_TRACES_SAMPLER" => Some(name.to_owned()),
            "OTEL_TRACES_SAMPLER_ARG" => Some(arg.to_owned()),
            _ => None,
        }
    };
    // A ratio out of range: the sampler stays, with the default ratio.
    assert_eq!(
        Sampler::from_env_with(env("traceidratio", "2.5")),
        Some(Sampler::TraceIdRatio(1.0))
    );
    let arg = reports_about("OTEL_TRACES_SAMPLER_ARG");
    assert_eq!(arg.len(), 1, "{arg:#?}");
    assert_eq!(arg[0].kind, DiagnosticKind::InvalidConfig);
    assert_eq!(
        arg[0].message,
        "OTEL_TRACES_SAMPLER_ARG=\"2.5\" ignored: the ratio must be a number from 0 to 1; using 1.0"
    );
    // An unknown name: no sampler from the environment, the builder's stays.
    let tracer = RequestTracer::builder("diag-sampler")
        .sampler(Sampler::AlwaysOff)
        .sampler_from_env_with(env("jaeger_remote", ""))
        .build();
    assert_eq!(tracer.sampler(), &Sampler::AlwaysOff);
    let name = reports_about("OTEL_TRACES_SAMPLER");
    assert_eq!(name.len(), 1, "{name:#?}");
    assert!(
        name[0]
            .message
            .starts_with("OTEL_TRACES_SAMPLER=\"jaeger_remote\" ignored: unknown sampler")
    );
    assert!(name[0].message.ends_with("using the configured sampler"));
    // Valid values say nothing.
    assert_eq!(
        Sampler::from_env_with(env("parentbased_always_off", "")),
        Some(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
    );
    assert_eq!(reports_about("OTEL_TRACES_SAMPLER").len(), 1);
}
