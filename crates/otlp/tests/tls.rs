//! TLS against a local rustls receiver whose certificates the test makes (`rcgen`): a custom
//! CA is trusted, an unknown CA is refused with a typed error, a client certificate is
//! presented when the receiver requires one.
#![cfg(feature = "tls")]

mod common;

use std::time::Duration;

use common::{Receiver, TestPki, sample_spans};
use reqtrace_core::{BatchConfig, ExportError, RequestTracer, Resource, SpanExporter};
use reqtrace_otlp::{OtlpExporter, Protocol, SendError};

fn builder(rx: &Receiver) -> reqtrace_otlp::OtlpExporterBuilder {
    OtlpExporter::builder()
        .endpoint(rx.base_url())
        .protocol(Protocol::HttpJson)
        .timeout(Duration::from_secs(5))
}

#[test]
fn a_custom_ca_is_trusted_and_the_connection_reused() {
    let pki = TestPki::new("reqtrace test CA");
    let rx = Receiver::start_tls(pki.server_config(false));
    assert!(rx.base_url().starts_with("https://127.0.0.1:"));
    let mut e = builder(&rx)
        .certificate_pem(pki.ca_pem.clone())
        .build()
        .unwrap();
    assert!(e.config().has_custom_ca());
    let spans = sample_spans(4);
    for _ in 0..3 {
        e.export(&spans, &Resource::new("tls")).unwrap();
    }
    let requests = rx.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(rx.accepted_spans().len(), 12);
    assert_eq!(rx.connections(), 1, "one TLS session, kept alive");
    assert!(requests.iter().all(|r| !r.client_certificate));
}

#[test]
fn the_ca_file_comes_from_the_environment() {
    let pki = TestPki::new("reqtrace env CA");
    let rx = Receiver::start_tls(pki.server_config(false));
    let dir = std::env::temp_dir().join(format!("reqtrace-otlp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (base, ca_path) = (rx.base_url(), ca.display().to_string());
    let env = move |k: &str| match k {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some(format!("{base}/v1/traces")),
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE" => Some(ca_path.clone()),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/json".to_owned()),
        _ => None,
    };
    let exporter = OtlpExporter::builder().from_env_with(env).build().unwrap();
    let tracer = RequestTracer::builder("tls-env")
        .exporter(exporter, BatchConfig::default())
        .build();
    tracer.start_trace();
    drop(tracer.start_span("secure"));
    tracer.end_trace();
    tracer.shutdown().unwrap();
    let names: Vec<String> = rx.accepted_spans().into_iter().map(|s| s.3).collect();
    assert_eq!(names, ["secure"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_ca_is_refused_with_a_typed_permanent_error() {
    let server_pki = TestPki::new("the server's CA");
    let other = TestPki::new("some other CA");
    let rx = Receiver::start_tls(server_pki.server_config(false));
    let spans = sample_spans(2);

    // Trusting another CA, and trusting the default (Mozilla) roots: both refuse.
    for mut e in [
        builder(&rx)
            .certificate_pem(other.ca_pem.clone())
            .build()
            .unwrap(),
        builder(&rx).build().unwrap(),
    ] {
        let err = e.send(&spans, &Resource::new("tls")).unwrap_err();
        assert!(matches!(err, SendError::Tls(_)), "{err:?}");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("TLS"), "{err}");
        let export = e.export(&spans, &Resource::new("tls")).unwrap_err();
        assert!(matches!(export, ExportError::Permanent(_)), "{export:?}");
        assert_eq!(e.stats().snapshot().connection_errors, 2);
    }
    assert!(rx.requests().is_empty(), "nothing was sent in the clear");
}

#[test]
fn a_client_certificate_is_presented_when_required() {
    let pki = TestPki::new("reqtrace mTLS CA");
    let rx = Receiver::start_tls(pki.server_config(true));
    let spans = sample_spans(3);

    let mut without = builder(&rx)
        .certificate_pem(pki.ca_pem.clone())
        .build()
        .unwrap();
    let err = without.send(&spans, &Resource::new("mtls")).unwrap_err();
    assert!(matches!(err, SendError::Tls(_)), "{err:?}");
    assert!(
        rx.requests().is_empty(),
        "the receiver took no request without a certificate"
    );

    let mut with = builder(&rx)
        .certificate_pem(pki.ca_pem.clone())
        .client_identity_pem(pki.client_cert_pem.clone(), pki.client_key_pem.clone())
        .build()
        .unwrap();
    assert!(with.config().has_client_certificate());
    with.send(&spans, &Resource::new("mtls")).unwrap();
    let requests = rx.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].client_certificate);
    assert_eq!(rx.accepted_spans().len(), 3);
}
