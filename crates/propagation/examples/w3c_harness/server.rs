//! The W3C Trace Context test-harness service: a tiny bounded HTTP/1.1 server on `std::net`,
//! and a tiny client for the callbacks. Shared by the `w3c_harness` example and its test.
//!
//! Protocol: `POST /test` with a JSON array of `{"url": "...", "arguments": [...]}`. The
//! service continues the incoming trace once for the request (or restarts it when the
//! `traceparent` is missing, invalid or duplicated), then for each element in order starts a
//! child span and `POST`s `arguments` as JSON to `url` with the propagated `traceparent` (a new
//! parent-id per call) and `tracestate`. It answers 200 when every call was made.
//!
//! Safety limits: request head ≤ 16 KiB and ≤ 100 headers, body ≤ 1 MiB with a
//! `Content-Length` (no chunked bodies), 10 s socket timeouts, ≤ 32 connections at once, and
//! both the listening address and every callback URL must be loopback.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqtrace_core::RequestTracer;
use reqtrace_propagation::TracerExt;

/// Longest request line plus headers.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header lines.
pub const MAX_HEADERS: usize = 100;
/// Largest body.
pub const MAX_BODY: usize = 1024 * 1024;
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Most elements in one `/test` body.
pub const MAX_CALLS: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, e.g. `/test`.
    pub path: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Why a request could not be read; each maps to a status code.
#[derive(Debug)]
pub enum HttpError {
    /// Malformed request (400).
    Bad(&'static str),
    /// Head larger than [`MAX_HEAD`] or more than [`MAX_HEADERS`] headers (431).
    HeadTooLarge,
    /// Body larger than [`MAX_BODY`] (413).
    BodyTooLarge,
    /// Transfer-Encoding is not supported (501).
    Unsupported,
    /// The socket failed or timed out.
    Io(io::Error),
}

impl HttpError {
    fn status(&self) -> (u16, &'static str) {
        match self {
            HttpError::Bad(_) | HttpError::Io(_) => (400, "Bad Request"),
            HttpError::HeadTooLarge => (431, "Request Header Fields Too Large"),
            HttpError::BodyTooLarge => (413, "Content Too Large"),
            HttpError::Unsupported => (501, "Not Implemented"),
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Bad(why) => write!(f, "bad request: {why}"),
            HttpError::HeadTooLarge => f.write_str("request head too large"),
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::Unsupported => f.write_str("transfer-encoding is not supported"),
            HttpError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// Reads one line of at most `budget` bytes (including CRLF), lowering the budget.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<String, HttpError> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64)
        .read_until(b'\n', &mut buf)?;
    *budget -= n;
    if buf.last() != Some(&b'\n') {
        return Err(if *budget == 0 {
            HttpError::HeadTooLarge
        } else {
            HttpError::Bad("unexpected end of request")
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| HttpError::Bad("head is not UTF-8"))
}

/// Reads a request head and body within the limits.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Request, HttpError> {
    let mut budget = MAX_HEAD;
    let line = read_line(r, &mut budget)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Bad("bad request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !path.starts_with('/') {
        return Err(HttpError::Bad("bad request line"));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::HeadTooLarge);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Bad("header without ':'"))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(HttpError::Bad("bad header name"));
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    if headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        return Err(HttpError::Unsupported);
    }
    let mut lengths = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    let len = match (lengths.next(), lengths.next()) {
        (None, _) => 0,
        (Some((_, v)), None) => v
            .parse::<usize>()
            .map_err(|_| HttpError::Bad("bad Content-Length"))?,
        (Some(_), Some(_)) => return Err(HttpError::Bad("two Content-Length headers")),
    };
    if len > MAX_BODY {
        return Err(HttpError::BodyTooLarge);
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body,
    })
}

/// Writes a response with a plain-text body and closes the exchange.
pub fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    reason: &str,
    body: &str,
) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    w.flush()
}

/// Whether `addr` is a loopback address (the only kind this service binds or calls).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Splits `http://host:port/path` into the address to connect to, the `Host` header and
/// the path. Only `http`, and only hosts that resolve to loopback addresses.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported: {url:?}"))?;
    if rest
        .bytes()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(format!("bad URL {url:?}"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("bad URL authority {authority:?}"));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.ends_with(']') || p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority:?}: {e}"))?
        .collect();
    let addr =
        addrs.iter().copied().find(is_loopback).ok_or_else(|| {
            format!("{authority:?} is not a loopback address; refusing to call it")
        })?;
    Ok((addr, authority.to_string(), path.to_string()))
}

/// `POST`s `body` as JSON to `url` with `headers`; returns the response status.
pub fn post_json(
    url: &str,
    body: &serde_json::Value,
    headers: &[(String, String)],
) -> Result<u16, String> {
    let (addr, host, path) = parse_url(url)?;
    let body = body.to_string();
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(format!("refusing to send header {k:?}"));
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut budget = MAX_HEAD;
    let status_line =
        read_line(&mut reader, &mut budget).map_err(|e| format!("response from {addr}: {e}"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    // drain (bounded) so the peer is not reset mid-write
    let _ = io::copy(&mut reader.take(MAX_BODY as u64), &mut io::sink());
    Ok(status)
}

/// Handles one `/test` request: returns the status and a message.
pub fn handle_test(tracer: &RequestTracer, req: &Request) -> (u16, String) {
    let calls: Vec<serde_json::Value> = match serde_json::from_slice(&req.body) {
        Ok(serde_json::Value::Array(a)) => a,
        _ => return (400, "body must be a JSON array".into()),
    };
    if calls.len() > MAX_CALLS {
        return (400, format!("at most {MAX_CALLS} calls"));
    }
    tracer.start_trace_from_carrier(&req.headers);
    let mut errors = Vec::new();
    for call in &calls {
        let Some(url) = call.get("url").and_then(|u| u.as_str()) else {
            errors.push("element without a \"url\" string".to_string());
            continue;
        };
        let arguments = call
            .get("arguments")
            .cloned()
            .unwrap_or(serde_json::json!([]));
        let mut span = tracer.start_span("harness-callback");
        span.set_attribute("url", url.to_string());
        let mut out: Vec<(String, String)> = Vec::new();
        tracer.inject(&mut out);
        match post_json(url, &arguments, &out) {
            Ok(status) => span.set_attribute("status", i64::from(status)),
            Err(e) => {
                span.set_error(e.clone());
                errors.push(e);
            }
        }
    }
    tracer.end_trace();
    if errors.is_empty() {
        (200, "ok".into())
    } else {
        (502, errors.join("\n"))
    }
}

fn handle_connection(tracer: &RequestTracer, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    match read_request(&mut reader) {
        Ok(req) => {
            let (status, msg) = match (req.method.as_str(), req.path.as_str()) {
                ("POST", "/test") => handle_test(tracer, &req),
                (_, "/test") => (405, "use POST".to_string()),
                _ => (404, "not found".to_string()),
            };
            let reason = match status {
                200 => "OK",
                400 => "Bad Request",
                404 => "Not Found",
                405 => "Method Not Allowed",
                _ => "Bad Gateway",
            };
            write_response(&mut writer, status, reason, &msg)
        }
        Err(e) => {
            let (status, reason) = e.status();
            write_response(&mut writer, status, reason, &e.to_string())
        }
    }
}

/// Serves the harness protocol on `listener` forever (one thread per connection, at most
/// [`MAX_CONNECTIONS`] at once; more are answered 503).
pub fn serve(listener: TcpListener, tracer: RequestTracer) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = write_response(&mut stream, 503, "Service Unavailable", "busy");
            continue;
        }
        let tracer = tracer.clone();
        let active = Arc::clone(&active);
        std::thread::spawn(move || {
            let _ = handle_connection(&tracer, stream);
            active.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// Binds `addr` after checking it is loopback.
pub fn bind_loopback(addr: &str) -> Result<TcpListener, String> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an IP:PORT address: {e}"))?;
    if !is_loopback(&addr) {
        return Err(format!(
            "{addr} is not a loopback address; this service binds loopback only"
        ));
    }
    TcpListener::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))
}
