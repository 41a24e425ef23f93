//! The exporter against an in-process loopback receiver: what arrives, how failures are
//! classified, headers, gzip, partial success, timeouts, connection reuse, clones.
//! Bodies are OTLP/JSON here (easy to inspect); protobuf is in `proto.rs`.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Receiver, Reply, hex, sample_spans};
use reqtrace_core::{BatchConfig, ExportError, RequestTracer, Resource, SpanExporter};
use reqtrace_otlp::{OtlpExporter, Protocol, SendError};

fn exporter(rx: &Receiver) -> OtlpExporter {
    OtlpExporter::builder()
        .endpoint(rx.base_url())
        .protocol(Protocol::HttpJson)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Quick retries. The flush interval stays long so that each ended trace is one batch (a
/// thread hands a trace's spans over early when its batch is older than the interval);
/// `force_flush` and `shutdown` wake the worker anyway.
fn fast_batches() -> BatchConfig {
    BatchConfig::default()
        .flush_interval(Duration::from_secs(1))
        .max_retries(2)
        .initial_backoff(Duration::from_millis(5))
        .max_backoff(Duration::from_secs(5))
}

#[test]
fn every_span_arrives_and_decodes() {
    let rx = Receiver::start();
    let exporter = exporter(&rx);
    let otlp = exporter.stats();
    let tracer = RequestTracer::builder("orders")
        .resource_attribute("service.version", "9.9")
        .exporter(exporter, fast_batches())
        .retain_traces(true)
        .build();
    let mut expected = BTreeSet::new();
    for t in 0..5 {
        tracer.start_trace();
        {
            let root = tracer.start_span("request");
            let ctx = root.handle().unwrap();
            let t2 = tracer.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let mut s = t2.start_span_with_parent(format!("work-{i}"), &ctx);
                    s.set_attribute("trace", t);
                }
            })
            .join()
            .unwrap();
            for i in 0..10 {
                drop(tracer.start_span(format!("local-{i}")));
            }
        }
        let trace = tracer.end_trace().unwrap();
        for s in &trace.spans {
            expected.insert((
                hex(s.trace_id),
                hex(s.span_id),
                s.parent_id.map(hex).unwrap_or_default(),
                s.name.to_string(),
            ));
        }
    }
    assert_eq!(expected.len(), 5 * 31);
    tracer.shutdown().unwrap();

    let got: Vec<_> = rx.accepted_spans();
    assert_eq!(got.len(), expected.len(), "no span lost or duplicated");
    let got: BTreeSet<_> = got.into_iter().collect();
    assert_eq!(got, expected);

    let requests = rx.requests();
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("content-encoding"), None);
        let v = r.json();
        let res = &v["resourceSpans"][0]["resource"]["attributes"];
        let has = |k: &str, want: &str| {
            res.as_array()
                .unwrap()
                .iter()
                .any(|a| a["key"] == k && a["value"]["stringValue"] == want)
        };
        assert!(has("service.name", "orders"), "{res}");
        assert!(has("service.version", "9.9"), "{res}");
    }
    let export = tracer.stats().export;
    assert_eq!(export.exported, expected.len() as u64);
    assert_eq!((export.failed_batches, export.retries), (0, 0));
    let o = otlp.snapshot();
    assert_eq!(o.requests, requests.len() as u64);
    assert_eq!(o.successes, o.requests);
    assert_eq!(o.spans_sent, expected.len() as u64);
    assert_eq!(o.spans_rejected, 0);
    let body_bytes: usize = requests.iter().map(|r| r.raw_body.len()).sum();
    assert_eq!(o.bytes_sent, body_bytes as u64);
    assert_eq!(rx.connections(), 1);
}

#[test]
fn one_connection_is_reused_for_every_request() {
    let rx = Receiver::start();
    let mut e = exporter(&rx);
    let spans = sample_spans(3);
    for _ in 0..10 {
        e.export(&spans, &Resource::new("ka")).unwrap();
    }
    let requests = rx.requests();
    assert_eq!(requests.len(), 10);
    assert_eq!(rx.connections(), 1, "keep-alive: one TCP connection");
    for r in &requests {
        assert_eq!(r.header("connection"), None, "no Connection: close");
    }
    // A receiver that closes the connection: the next request opens a new one.
    rx.script([Reply::Close]);
    assert!(e.export(&spans, &Resource::new("ka")).is_err());
    e.export(&spans, &Resource::new("ka")).unwrap();
    assert_eq!(rx.connections(), 2);
    assert_eq!(e.stats().snapshot().successes, 11);
}

#[test]
fn clones_share_the_pool_and_the_stats_and_export_at_once() {
    const THREADS: usize = 4;
    const EXPORTS: usize = 25;
    let rx = Receiver::start();
    let first = exporter(&rx);
    let stats = first.stats();
    let spans = sample_spans(7);
    let barrier = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let mut e = first.clone();
            let (spans, barrier) = (&spans, &barrier);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..EXPORTS {
                    e.export(spans, &Resource::new("clones")).unwrap();
                }
            });
        }
    });
    let o = stats.snapshot();
    let n = (THREADS * EXPORTS) as u64;
    assert_eq!((o.requests, o.successes), (n, n));
    assert_eq!(o.spans_sent, n * 7);
    assert_eq!(rx.requests().len(), THREADS * EXPORTS);
    assert_eq!(rx.accepted_spans().len(), THREADS * EXPORTS * 7);
    // At most one connection per clone exporting at once; idle ones are reused.
    let connections = rx.connections();
    assert!(
        (1..=THREADS).contains(&connections),
        "{connections} connections"
    );
    assert_eq!(first.config(), first.clone().config());
}

#[test]
fn gzip_bodies_decompress_to_the_same_request() {
    let rx = Receiver::start();
    let mut e = OtlpExporter::builder()
        .endpoint(rx.base_url())
        .protocol(Protocol::HttpJson)
        .gzip(true)
        .build()
        .unwrap();
    let spans = sample_spans(40);
    e.export(&spans, &Resource::new("gz")).unwrap();
    let r = &rx.requests()[0];
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.raw_body[..2], [0x1f, 0x8b], "gzip magic");
    let names: Vec<String> = r.spans().into_iter().map(|s| s.3).collect();
    let want: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, want);
    let mut plain = Vec::new();
    reqtrace_export_json::write_otlp_batch(&mut plain, &spans, &Resource::new("gz")).unwrap();
    assert_eq!(
        r.body, plain,
        "the decompressed body is the OTLP/JSON encoding"
    );
    let o = e.stats().snapshot();
    assert_eq!(o.bytes_uncompressed, plain.len() as u64);
    assert!(o.bytes_sent < o.bytes_uncompressed, "{o}");
}

#[test]
fn receiver_down_then_up() {
    // The receiver keeps its socket throughout (no port is released for another test to
    // take): while "down" it closes every connection without answering.
    let rx = Receiver::start();
    rx.script([Reply::Close, Reply::Close, Reply::Close]);
    let exporter = OtlpExporter::builder()
        .endpoint(rx.base_url())
        .protocol(Protocol::HttpJson)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let otlp = exporter.stats();
    let tracer = RequestTracer::builder("flaky")
        .exporter(
            exporter,
            BatchConfig::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(5))
                .max_backoff(Duration::from_millis(20))
                .flush_interval(Duration::from_secs(1)),
        )
        .build();
    let record = |prefix: &str, n: usize| {
        tracer.start_trace();
        for i in 0..n {
            drop(tracer.start_span(format!("{prefix}-{i}")));
        }
        tracer.end_trace();
    };

    record("lost", 7);
    let flushed = tracer.force_flush(Duration::from_secs(10));
    assert!(
        matches!(flushed, Err(ExportError::Transient { .. })),
        "{flushed:?}"
    );
    let s = tracer.stats();
    assert_eq!(s.export.dropped_failed, 7);
    assert_eq!(s.export.failed_batches, 1);
    assert_eq!(s.export.retries, 2);
    assert_eq!(s.dropped.export_failed, 7);
    assert_eq!(otlp.snapshot().connection_errors, 3);
    assert!(otlp.last_error().is_some());
    assert_eq!(rx.requests().len(), 3, "one request and two retries");

    // The receiver is back up.
    record("kept", 5);
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    let names: BTreeSet<String> = rx.accepted_spans().into_iter().map(|s| s.3).collect();
    let want: BTreeSet<String> = (0..5).map(|i| format!("kept-{i}")).collect();
    assert_eq!(names, want);
    let s = tracer.stats();
    assert_eq!(s.export.exported, 5);
    assert_eq!(s.export.dropped_failed, 7, "the earlier loss stays counted");
    tracer.shutdown().unwrap();
}

#[test]
fn nothing_listening_is_a_transient_connect_error() {
    // Port 1 (tcpmux) is privileged and served by nothing on a test machine: connecting is
    // refused. (Binding an ephemeral port and releasing it would race other tests.)
    let port = 1;
    let mut e = OtlpExporter::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = e.send(&sample_spans(1), &Resource::new("x")).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, SendError::Connect(_)), "{err:?}");
}

#[test]
fn retry_after_is_honoured() {
    let rx = Receiver::start();
    rx.script([Reply::Status(
        429,
        vec![("Retry-After".into(), "1".into())],
        "slow down".into(),
    )]);
    let exporter = exporter(&rx);
    let otlp = exporter.stats();
    let tracer = RequestTracer::builder("polite")
        .exporter(exporter, fast_batches())
        .build();
    tracer.start_trace();
    for i in 0..3 {
        drop(tracer.start_span(format!("s{i}")));
    }
    tracer.end_trace();
    tracer.force_flush(Duration::from_secs(30)).unwrap();

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2, "one refused request, one retry");
    assert_eq!((reqs[0].status, reqs[1].status), (429, 200));
    let waited = reqs[1].at.duration_since(reqs[0].at);
    // The worker's own backoff is 5 ms; only the hint explains a wait of about a second.
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(reqs[0].body, reqs[1].body, "the same batch is sent again");
    assert_eq!(rx.accepted_spans().len(), 3);
    let s = tracer.stats().export;
    assert_eq!((s.exported, s.retries, s.failed_batches), (3, 1, 0));
    let o = otlp.snapshot();
    assert_eq!((o.requests, o.retryable_responses, o.successes), (2, 1, 1));
    assert!(otlp.last_error().unwrap().contains("429"));
}

#[test]
fn statuses_are_classified() {
    let rx = Receiver::start();
    let mut e = exporter(&rx);
    let spans = sample_spans(2);
    let res = Resource::new("s");
    for (status, header, transient, hint) in [
        (429, None, true, None),
        (502, None, true, None),
        (503, Some("7"), true, Some(7000)),
        (504, Some("junk"), true, None),
        (400, None, false, None),
        (401, None, false, None),
        (404, None, false, None),
        (413, None, false, None),
        (500, None, false, None),
    ] {
        let headers = header
            .map(|h: &str| vec![("Retry-After".to_owned(), h.to_owned())])
            .unwrap_or_default();
        rx.script([Reply::Status(
            status,
            headers,
            r#"{"code":3,"message":"why"}"#.into(),
        )]);
        let err = e.export(&spans, &res).unwrap_err();
        match err {
            ExportError::Transient {
                message,
                retry_after_ms,
            } => {
                assert!(transient, "{status} should be permanent");
                assert_eq!(retry_after_ms, hint, "{status}");
                assert!(message.contains(&status.to_string()), "{message}");
            }
            ExportError::Permanent(message) => {
                assert!(!transient, "{status} should be transient");
                assert!(message.contains(&status.to_string()), "{message}");
                assert!(message.contains("why"), "the body is reported: {message}");
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    let o = e.stats().snapshot();
    assert_eq!(
        (o.retryable_responses, o.failed_responses, o.successes),
        (4, 5, 0)
    );
    assert_eq!(o.spans_sent, 0);
    e.export(&spans, &res).unwrap();
    assert_eq!(e.stats().snapshot().spans_sent, 2);
}

#[test]
fn permanent_failure_is_not_retried() {
    let rx = Receiver::start();
    rx.script([Reply::Status(400, vec![], "bad".into())]);
    let tracer = RequestTracer::builder("strict")
        .exporter(exporter(&rx), fast_batches())
        .build();
    tracer.start_trace();
    drop(tracer.start_span("a"));
    tracer.end_trace();
    assert!(tracer.force_flush(Duration::from_secs(10)).is_err());
    assert_eq!(rx.requests().len(), 1);
    let s = tracer.stats().export;
    assert_eq!((s.retries, s.failed_batches, s.dropped_failed), (0, 1, 1));
}

#[test]
fn headers_from_config_and_env_are_sent() {
    let rx = Receiver::start();
    let base = rx.base_url();
    let env = move |k: &str| match k {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(base.clone()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-tenant=acme%20corp,x-override=env".to_owned()),
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => Some("authorization=Bearer%20t0k%3D".to_owned()),
        _ => None,
    };
    let mut e = OtlpExporter::builder()
        .header("x-api-key", "k-123")
        .header("X-Override", "builder")
        .from_env_with(env)
        .build()
        .unwrap();
    e.export(&sample_spans(1), &Resource::new("h")).unwrap();
    let r = &rx.requests()[0];
    assert_eq!(r.path, "/v1/traces");
    assert_eq!(r.header("x-api-key"), Some("k-123"));
    assert_eq!(r.header("x-tenant"), Some("acme corp"));
    assert_eq!(r.header("authorization"), Some("Bearer t0k="));
    assert_eq!(r.header("x-override"), Some("builder"));
    assert_eq!(
        r.headers.iter().filter(|(k, _)| k == "x-override").count(),
        1
    );
    assert!(
        r.header("user-agent")
            .unwrap()
            .starts_with("reqtrace-otlp/")
    );
    assert_eq!(r.header("host"), Some(&*rx.addr.to_string()));
}

#[test]
fn traces_endpoint_is_used_as_is() {
    let rx = Receiver::start();
    let mut e = OtlpExporter::builder()
        .traces_endpoint(format!("{}/custom/path?x=1", rx.base_url()))
        .build()
        .unwrap();
    e.export(&sample_spans(1), &Resource::new("p")).unwrap();
    assert_eq!(rx.requests()[0].path, "/custom/path?x=1");
}

#[test]
fn partial_success_is_counted() {
    let rx = Receiver::start();
    rx.script([Reply::Status(
        200,
        vec![("Content-Type".into(), "application/json".into())],
        r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"2 spans too old"}}"#.into(),
    )]);
    let exporter = exporter(&rx);
    let otlp = exporter.stats();
    let tracer = RequestTracer::builder("partial")
        .exporter(exporter, fast_batches())
        .build();
    tracer.start_trace();
    for i in 0..5 {
        drop(tracer.start_span(format!("s{i}")));
    }
    tracer.end_trace();
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    tracer.start_trace();
    drop(tracer.start_span("later"));
    tracer.end_trace();
    tracer.shutdown().unwrap();

    let o = otlp.snapshot();
    assert_eq!(o.spans_sent, 6);
    assert_eq!(o.spans_rejected, 2);
    assert_eq!(o.spans_accepted(), 4);
    assert_eq!(o.partial_successes, 1);
    assert!(otlp.last_error().unwrap().contains("2 spans too old"));
    // A partial success is not a failure: the worker neither retries nor drops.
    let s = tracer.stats().export;
    assert_eq!((s.exported, s.retries, s.failed_batches), (6, 0, 0));
}

#[test]
fn a_silent_receiver_times_out_as_transient() {
    let rx = Receiver::start();
    rx.script([Reply::Silence(Duration::from_secs(1))]);
    let mut e = OtlpExporter::builder()
        .endpoint(rx.base_url())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = e.export(&sample_spans(1), &Resource::new("t")).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    match err {
        ExportError::Transient {
            message,
            retry_after_ms: None,
        } => assert!(message.contains("timed out"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.stats().snapshot().connection_errors, 1);
}

#[test]
fn a_non_http_reply_is_an_error_not_a_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        let _ = c.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
    });
    let mut e = OtlpExporter::builder()
        .endpoint(format!("http://{addr}"))
        .build()
        .unwrap();
    let err = e.export(&sample_spans(1), &Resource::new("x")).unwrap_err();
    assert!(matches!(err, ExportError::Transient { .. }), "{err:?}");
    server.join().unwrap();
}

#[test]
fn empty_batches_send_nothing() {
    let rx = Receiver::start();
    let mut e = exporter(&rx);
    e.export(&[], &Resource::new("e")).unwrap();
    assert_eq!(e.stats().snapshot().requests, 0);
    assert!(rx.requests().is_empty());
}

#[test]
fn requests_go_through_the_configured_proxy() {
    // The receiver plays an HTTP proxy: it answers the CONNECT, then receives the POST
    // through the tunnel on the same connection. The collector's name never resolves.
    let proxy = Receiver::start();
    proxy.script([Reply::Status(200, vec![], String::new())]);
    let mut e = OtlpExporter::builder()
        .endpoint("http://collector.invalid:4318")
        .protocol(Protocol::HttpJson)
        .proxy(proxy.base_url())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    e.send(&sample_spans(2), &Resource::new("proxied")).unwrap();
    let requests = proxy.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].method, "CONNECT");
    assert_eq!(requests[0].path, "collector.invalid:4318");
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("POST", "/v1/traces")
    );
    assert_eq!(requests[1].header("host"), Some("collector.invalid:4318"));
    assert_eq!(requests[1].spans().len(), 2);
    assert_eq!(proxy.connections(), 1);

    // .no_proxy() connects directly: to a port nothing serves (no name lookup here).
    let mut direct = OtlpExporter::builder()
        .endpoint("http://127.0.0.1:1")
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = direct
        .send(&sample_spans(1), &Resource::new("direct"))
        .unwrap_err();
    assert!(matches!(err, SendError::Connect(_)), "{err:?}");
}
