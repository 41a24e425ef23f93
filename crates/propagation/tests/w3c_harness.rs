//! Drives the `w3c_harness` example's server the way the W3C test harness does, with a local
//! receiver standing in for the harness callback endpoint. Loopback only.

#[allow(dead_code)]
#[path = "../examples/w3c_harness/server.rs"]
mod server;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqtrace_core::RequestTracer;
use reqtrace_propagation::{TraceState, Traceparent};
use serde_json::json;

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

/// Starts the harness service on an ephemeral loopback port; returns its `/test` URL.
fn start_service() -> String {
    let listener = server::bind_loopback("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || server::serve(listener, RequestTracer::new("harness-test")));
    format!("http://{addr}/test")
}

/// A receiver that records up to `n` requests (or what arrived within 10 s).
fn start_receiver(n: usize) -> (String, mpsc::Receiver<Vec<server::Request>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let req = server::read_request(&mut reader).unwrap();
                    let mut w = stream;
                    server::write_response(&mut w, 200, "OK", "").unwrap();
                    got.push(req);
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = tx.send(got);
    });
    (base, rx)
}

fn header<'a>(req: &'a server::Request, name: &str) -> Vec<&'a str> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Sends a `/test` request with `headers` asking for `n` callbacks; returns the service's
/// status and what the receiver got.
fn run(headers: &[(&str, &str)], n: usize) -> (u16, Vec<server::Request>) {
    let service = start_service();
    let (base, rx) = start_receiver(n);
    let body = json!(
        (0..n)
            .map(|i| json!({"url": format!("{base}/{i}"), "arguments": [i]}))
            .collect::<Vec<_>>()
    );
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let status = server::post_json(&service, &body, &headers).unwrap();
    (status, rx.recv_timeout(Duration::from_secs(15)).unwrap())
}

fn traceparent_of(req: &server::Request) -> Traceparent {
    let tp = header(req, "traceparent");
    assert_eq!(tp.len(), 1, "exactly one traceparent");
    tp[0].parse().unwrap()
}

#[test]
fn continues_the_trace_with_a_new_parent_id_per_call_and_carries_tracestate() {
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let (status, got) = run(
        &[
            ("traceparent", &incoming),
            ("tracestate", "foo=1,bar=2"),
            ("TraceState", "rojo=1"),
        ],
        3,
    );
    assert_eq!(status, 200);
    assert_eq!(got.len(), 3);
    let mut parents = std::collections::HashSet::new();
    for (i, req) in got.iter().enumerate() {
        // in order, with the arguments as the JSON body
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, format!("/{i}"));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body, json!([i]));
        let tp = traceparent_of(req);
        assert_eq!(tp.trace_id.to_string(), TRACE);
        assert_ne!(tp.parent_id.to_string(), PARENT);
        assert!(parents.insert(tp.parent_id), "parent-id reused");
        assert_eq!(header(req, "tracestate"), vec!["foo=1,bar=2,rojo=1"]);
    }
}

#[test]
fn restarts_the_trace_when_traceparent_is_invalid_and_drops_tracestate() {
    for bad in [
        format!("ff-{TRACE}-{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}-01."),
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase().replace('1', "A")),
    ] {
        let (status, got) = run(&[("traceparent", &bad), ("tracestate", "foo=1")], 2);
        assert_eq!(status, 200);
        assert_eq!(got.len(), 2);
        let a = traceparent_of(&got[0]);
        let b = traceparent_of(&got[1]);
        assert_ne!(a.trace_id.to_string(), TRACE, "{bad}");
        assert_eq!(a.trace_id, b.trace_id, "one new trace for the request");
        assert_ne!(a.parent_id, b.parent_id);
        assert!(a.trace_flags.is_random(), "a new trace id is random");
        assert!(header(&got[0], "tracestate").is_empty(), "{bad}");
    }
}

#[test]
fn restarts_the_trace_when_traceparent_is_duplicated() {
    let a = format!("00-{TRACE}-{PARENT}-01");
    let b = format!("00-12345678901234567890123456789011-{PARENT}-01");
    let (status, got) = run(&[("traceparent", &a), ("traceparent", &b)], 1);
    assert_eq!(status, 200);
    let tp = traceparent_of(&got[0]);
    assert_ne!(tp.trace_id.to_string(), TRACE);
    assert_ne!(tp.trace_id.to_string(), "12345678901234567890123456789011");
}

#[test]
fn invalid_tracestate_is_dropped_but_the_trace_continues() {
    let incoming = format!("00-{TRACE}-{PARENT}-00");
    let (status, got) = run(
        &[("traceparent", &incoming), ("tracestate", "foo=1,BAR=2")],
        1,
    );
    assert_eq!(status, 200);
    assert_eq!(traceparent_of(&got[0]).trace_id.to_string(), TRACE);
    assert!(header(&got[0], "tracestate").is_empty());
}

/// The suite's `test_tracestate_duplicated_keys`: the tracestate is carried on, keeping the
/// first of the repeated keys.
#[test]
fn duplicated_tracestate_keys_keep_the_first() {
    let incoming = format!("00-{TRACE}-{PARENT}-00");
    for (sent, kept) in [("foo=1,foo=1", "foo=1"), ("foo=1,foo=2", "foo=1")] {
        let (status, got) = run(&[("traceparent", &incoming), ("tracestate", sent)], 1);
        assert_eq!(status, 200);
        assert_eq!(traceparent_of(&got[0]).trace_id.to_string(), TRACE);
        assert_eq!(header(&got[0], "tracestate"), vec![kept], "{sent}");
    }
}

#[test]
fn higher_version_is_continued_and_sent_as_version_00() {
    let incoming = format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like");
    let (_, got) = run(&[("traceparent", &incoming), ("tracestate", "foo=1")], 1);
    let raw = header(&got[0], "traceparent")[0];
    assert!(raw.starts_with(&format!("00-{TRACE}-")), "{raw}");
    assert_eq!(raw.len(), 55);
    let ts: TraceState = header(&got[0], "tracestate")[0].parse().unwrap();
    assert_eq!(ts.get("foo"), Some("1"));
}

#[test]
fn no_headers_start_a_new_trace() {
    let (status, got) = run(&[], 1);
    assert_eq!(status, 200);
    traceparent_of(&got[0]);
}

fn raw_exchange(service_url: &str, request: &[u8]) -> String {
    let (addr, _, _) = server::parse_url(service_url).unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn bad_requests_get_error_statuses() {
    let service = start_service();
    let status = |req: &[u8]| -> String {
        raw_exchange(&service, req)
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(status(b"GET /test HTTP/1.1\r\nHost: x\r\n\r\n"), "405");
    assert_eq!(
        status(b"POST /other HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]"),
        "404"
    );
    assert_eq!(
        status(b"POST /test HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
        "400"
    );
    assert_eq!(status(b"garbage\r\n\r\n"), "400");
    let big = format!("POST /test HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(status(big.as_bytes()), "431");
    let many: String = (0..150).map(|i| format!("X{i}: y\r\n")).collect();
    assert_eq!(
        status(format!("POST /test HTTP/1.1\r\n{many}\r\n").as_bytes()),
        "431"
    );
    assert_eq!(
        status(b"POST /test HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
        "413"
    );
    assert_eq!(
        status(b"POST /test HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        "501"
    );
    // a callback that cannot be made is reported, not ignored
    let body = br#"[{"url": "http://192.0.2.1:80/x", "arguments": []}]"#;
    let req = format!(
        "POST /test HTTP/1.1\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        std::str::from_utf8(body).unwrap()
    );
    assert_eq!(status(req.as_bytes()), "502");
}

#[test]
fn only_loopback_addresses_are_bound_or_called() {
    assert!(server::bind_loopback("0.0.0.0:0").is_err());
    assert!(server::bind_loopback("192.0.2.1:0").is_err());
    assert!(
        server::bind_loopback("[::1]:0").is_ok() || std::net::TcpListener::bind("[::1]:0").is_err()
    );
    assert!(server::parse_url("http://192.0.2.1:80/x").is_err());
    assert!(server::parse_url("https://127.0.0.1/x").is_err());
    assert!(server::parse_url("http://127.0.0.1:1/x\r\nInjected: 1").is_err());
    let (addr, host, path) = server::parse_url("http://127.0.0.1:9/cb/0").unwrap();
    assert_eq!(
        (addr.port(), host.as_str(), path.as_str()),
        (9, "127.0.0.1:9", "/cb/0")
    );
    assert_eq!(server::parse_url("http://127.0.0.1").unwrap().0.port(), 80);
}
