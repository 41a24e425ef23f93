//! A small HTTP/1.1 client over `std::net`: one POST per connection (`Connection: close`),
//! an overall deadline covering connect, send and receive, and bounded response reading.
//!
//! Everything read from the network is bounded: the status line and headers to
//! [`MAX_HEAD`] bytes, the kept body to [`MAX_BODY`] bytes (the rest is read and discarded
//! up to the deadline, or the connection is simply closed).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::{Endpoint, Scheme};

/// Longest status line plus headers accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most response body bytes kept.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// A response: status, headers (names lowercased) and (possibly truncated) body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to send.
pub(crate) struct Request<'a> {
    pub endpoint: &'a Endpoint,
    pub content_type: &'a str,
    pub content_encoding: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A TCP stream whose every read and write is bounded by one deadline.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "request timed out"))
        } else {
            Ok(left)
        }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf).map_err(timeout_kind)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.stream.set_write_timeout(Some(left))?;
        // Bounded chunks so that the deadline is checked between them.
        let n = buf.len().min(64 * 1024);
        self.stream.write(&buf[..n]).map_err(timeout_kind)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Socket timeouts surface as `WouldBlock` on some platforms; call them what they are.
fn timeout_kind(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "request timed out")
    } else {
        e
    }
}

fn connect(endpoint: &Endpoint, deadline: Instant) -> io::Result<TcpStream> {
    let addrs = (endpoint.host(), endpoint.port()).to_socket_addrs()?;
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} resolved to no address", endpoint.host()),
    );
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// POSTs `req` and reads the response, all within `timeout`.
pub(crate) fn post(req: &Request<'_>, timeout: Duration) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    if req.endpoint.scheme() == Scheme::Https {
        // The builder refuses https endpoints when TLS is not compiled in.
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "https needs the `tls` feature",
        ));
    }
    let stream = connect(req.endpoint, deadline)?;
    let mut s = DeadlineStream { stream, deadline };
    let head = request_head(req);
    s.write_all(head.as_bytes())?;
    s.write_all(req.body)?;
    s.flush()?;
    read_response(&mut BufReader::with_capacity(16 * 1024, s))
}

fn request_head(req: &Request<'_>) -> String {
    let mut h = String::with_capacity(256);
    h.push_str("POST ");
    h.push_str(req.endpoint.path());
    h.push_str(" HTTP/1.1\r\nHost: ");
    h.push_str(&req.endpoint.host_header());
    h.push_str("\r\nUser-Agent: reqtrace-otlp/");
    h.push_str(env!("CARGO_PKG_VERSION"));
    h.push_str("\r\nContent-Type: ");
    h.push_str(req.content_type);
    if let Some(enc) = req.content_encoding {
        h.push_str("\r\nContent-Encoding: ");
        h.push_str(enc);
    }
    h.push_str("\r\nContent-Length: ");
    h.push_str(&req.body.len().to_string());
    h.push_str("\r\nConnection: close\r\n");
    for (k, v) in req.headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one line (up to LF), counting it against `budget`.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    let limit = (*budget as u64).saturating_add(1);
    let n = r.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response was complete",
        ));
    }
    if n > *budget || line.last() != Some(&b'\n') {
        return Err(invalid("response head too long or cut short"));
    }
    *budget -= n;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("response head is not UTF-8"))
}

/// Reads a response (skipping `1xx` interim responses).
pub(crate) fn read_response<R: BufRead>(r: &mut R) -> io::Result<Response> {
    let mut budget = MAX_HEAD;
    loop {
        let status_line = read_line(r, &mut budget)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let code = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") || code.len() != 3 {
            return Err(invalid(format!(
                "not an HTTP/1.x status line: {status_line:.80}"
            )));
        }
        let status: u16 = code
            .parse()
            .map_err(|_| invalid(format!("bad status code {code:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(r, &mut budget)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| invalid("malformed response header"))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        read_body(r, &mut resp)?;
        return Ok(resp);
    }
}

fn read_body<R: BufRead>(r: &mut R, resp: &mut Response) -> io::Result<()> {
    if resp.status == 204 || resp.status == 304 {
        return Ok(());
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut budget = MAX_HEAD;
        loop {
            let line = read_line(r, &mut budget)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk size {size:.20?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(r, &mut budget)?.is_empty() {}
                return Ok(());
            }
            keep_bounded(r, size, &mut resp.body)?;
            if !read_line(r, &mut budget)?.is_empty() {
                return Err(invalid("chunk not followed by CRLF"));
            }
        }
    }
    match resp.header("content-length") {
        Some(len) => {
            let len: u64 = len
                .trim()
                .parse()
                .map_err(|_| invalid("bad Content-Length"))?;
            keep_bounded(r, len, &mut resp.body)
        }
        // No length: the body runs to the end of the connection.
        None => {
            r.by_ref()
                .take(MAX_BODY as u64)
                .read_to_end(&mut resp.body)?;
            Ok(())
        }
    }
}

/// Reads exactly `n` bytes, keeping those that fit under [`MAX_BODY`].
fn keep_bounded<R: Read>(r: &mut R, n: u64, body: &mut Vec<u8>) -> io::Result<()> {
    let keep = n.min(MAX_BODY.saturating_sub(body.len()) as u64);
    let got = r.by_ref().take(keep).read_to_end(body)? as u64;
    let skipped = io::copy(&mut r.by_ref().take(n - keep), &mut io::sink())?;
    if got + skipped < n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of the response body",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> io::Result<Response> {
        read_response(&mut io::Cursor::new(raw))
    }

    #[test]
    fn content_length_body() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
        assert_eq!(r.header("x-a"), Some("b"));
    }

    #[test]
    fn chunked_body_and_interim_response() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\nRetry-After: 2\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.body, b"abcde");
        assert_eq!(r.header("retry-after"), Some("2"));
    }

    #[test]
    fn body_to_eof_and_truncated_bodies() {
        let r = parse(b"HTTP/1.0 500 Oops\r\n\r\nall of it").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (500, &b"all of it"[..]));
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nx",
        ] {
            assert!(parse(raw).is_err(), "{raw:?}");
        }
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(parse(huge.as_bytes()).is_err());
    }

    #[test]
    fn oversized_bodies_are_cut() {
        let mut raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 10
        )
        .into_bytes();
        raw.resize(raw.len() + MAX_BODY + 10, b'x');
        let r = parse(&raw).unwrap();
        assert_eq!(r.body.len(), MAX_BODY);
    }
}
