//! An in-process OTLP/HTTP receiver on 127.0.0.1 for the integration tests: records every
//! request (headers, decompressed body, arrival time) and answers from a script.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqtrace_core::{RequestTracer, SpanData};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body as sent (maybe gzip).
    pub raw_body: Vec<u8>,
    /// Body after `Content-Encoding` was undone.
    pub body: Vec<u8>,
    /// Status the receiver answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as OTLP/JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// `(traceId, spanId, parentSpanId, name)` of every span in the body.
    pub fn spans(&self) -> Vec<(String, String, String, String)> {
        let v = self.json();
        let mut out = Vec::new();
        for rs in v["resourceSpans"].as_array().expect("resourceSpans") {
            for ss in rs["scopeSpans"].as_array().expect("scopeSpans") {
                for s in ss["spans"].as_array().expect("spans") {
                    let f = |k: &str| s[k].as_str().unwrap_or("").to_owned();
                    out.push((f("traceId"), f("spanId"), f("parentSpanId"), f("name")));
                }
            }
        }
        out
    }
}

/// What to answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Status, extra headers, body.
    Status(u16, Vec<(String, String)>, String),
    /// Read the request, then answer nothing for this long, then close.
    Silence(Duration),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Status(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            "{}".into(),
        )
    }
}

pub struct Receiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts on an ephemeral loopback port.
    pub fn start() -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
    }

    /// Starts on a given listener (e.g. a port reused after a "crash").
    pub fn start_on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (requests.clone(), script.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let reply = s.lock().unwrap().pop_front().unwrap_or_else(Reply::ok);
                let _ = serve(conn, reply, &r);
            }
        });
        Receiver {
            addr,
            requests,
            script,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues replies for the next requests (then 200 `{}`).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Spans of the requests answered 2xx.
    pub fn accepted_spans(&self) -> Vec<(String, String, String, String)> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.spans())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, reply: Reply, out: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut raw_body = vec![0; len];
    r.read_exact(&mut raw_body)?;
    let gzip = headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v.eq_ignore_ascii_case("gzip"));
    let body = if gzip {
        let mut d = Vec::new();
        flate2::read::GzDecoder::new(&raw_body[..]).read_to_end(&mut d)?;
        d
    } else {
        raw_body.clone()
    };
    let status = match &reply {
        Reply::Status(s, ..) => *s,
        Reply::Silence(_) => 0,
    };
    out.lock().unwrap().push(Received {
        at,
        method,
        path,
        headers,
        raw_body,
        body,
        status,
    });
    let mut conn = conn;
    match reply {
        Reply::Status(status, extra, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("Connection: close\r\n\r\n");
            conn.write_all(head.as_bytes())?;
            conn.write_all(body.as_bytes())?;
        }
        Reply::Silence(d) => std::thread::sleep(d),
    }
    Ok(())
}

/// Finished spans to feed an exporter directly: one trace of `n` spans (a root and children).
pub fn sample_spans(n: usize) -> Vec<SpanData> {
    let tracer = RequestTracer::new("sample");
    tracer.start_trace();
    {
        let _root = tracer.start_span("root");
        for i in 1..n {
            let mut s = tracer.start_span(format!("child-{i}"));
            s.set_attribute("i", i);
        }
    }
    tracer.end_trace().expect("a trace").spans
}

/// Lowercase hex of anything `Display`-ing as hex ids do.
pub fn hex(id: impl std::fmt::Display) -> String {
    id.to_string()
}
