//! An in-process OTLP/HTTP receiver on 127.0.0.1 for the integration tests: records every
//! request (headers, decompressed body, arrival time, connection), answers from a script,
//! keeps connections alive as HTTP/1.1 does, and optionally speaks TLS (rustls) with
//! certificates the test makes (`rcgen`).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqtrace_core::{RequestTracer, SpanData};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    /// Which accepted connection (0, 1, ...) carried it.
    pub connection: usize,
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body as sent (maybe gzip).
    pub raw_body: Vec<u8>,
    /// Body after `Content-Encoding` was undone.
    pub body: Vec<u8>,
    /// Status the receiver answered with (0: none).
    pub status: u16,
    /// Whether the TLS client presented a certificate (always false without TLS).
    pub client_certificate: bool,
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
    /// Read the request, then close the connection without answering (a receiver that is
    /// down or crashing).
    Close,
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

/// State shared by the accept loop and the connection threads.
struct Shared {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    connections: AtomicUsize,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    tls: bool,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts on an ephemeral loopback port.
    pub fn start() -> Receiver {
        Self::start_inner(None)
    }

    /// Starts a TLS receiver on an ephemeral loopback port.
    pub fn start_tls(config: rustls::ServerConfig) -> Receiver {
        Self::start_inner(Some(Arc::new(config)))
    }

    fn start_inner(tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            connections: AtomicUsize::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (sh, st, is_tls) = (shared.clone(), stop.clone(), tls.is_some());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let id = sh.connections.fetch_add(1, Ordering::SeqCst);
                let (sh, tls) = (sh.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
                    let _ = match tls {
                        None => serve(conn, id, false, &sh),
                        Some(config) => serve_tls(conn, id, config, &sh),
                    };
                });
            }
        });
        Receiver {
            addr,
            shared,
            stop,
            tls: is_tls,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Queues replies for the next requests (then 200 `{}`).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Connections accepted so far (TLS handshakes that failed included).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
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

fn serve_tls(
    conn: TcpStream,
    id: usize,
    config: Arc<rustls::ServerConfig>,
    shared: &Shared,
) -> std::io::Result<()> {
    let server = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(server, conn);
    // Complete the handshake first, so the client certificate (if any) is known.
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            // The alert is written; let the client read it: closing now, with its data
            // unread, would reset the connection and the client would see a broken pipe.
            let _ = stream.sock.shutdown(std::net::Shutdown::Write);
            let _ = stream.sock.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = std::io::copy(&mut stream.sock, &mut std::io::sink());
            return Err(e);
        }
    }
    let client_certificate = stream
        .conn
        .peer_certificates()
        .is_some_and(|c| !c.is_empty());
    serve(stream, id, client_certificate, shared)
}

/// Serves requests on one connection until the client closes it or a reply closes it.
fn serve<S: Read + Write>(
    conn: S,
    id: usize,
    client_certificate: bool,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
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
        let reply = shared
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(Reply::ok);
        let status = match &reply {
            Reply::Status(s, ..) => *s,
            Reply::Silence(_) | Reply::Close => 0,
        };
        shared.requests.lock().unwrap().push(Received {
            at,
            connection: id,
            method,
            path,
            headers,
            raw_body,
            body,
            status,
            client_certificate,
        });
        match reply {
            Reply::Status(status, extra, body) => {
                let mut head = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let w = r.get_mut();
                w.write_all(head.as_bytes())?;
                w.write_all(body.as_bytes())?;
                w.flush()?;
            }
            Reply::Silence(d) => {
                std::thread::sleep(d);
                return Ok(());
            }
            Reply::Close => return Ok(()),
        }
    }
}

/// Certificates for a TLS test, made here: a CA, a server certificate for 127.0.0.1 and
/// `localhost` signed by it, and a client certificate signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_der: Vec<u8>,
    pub server_key_der: Vec<u8>,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    ca_der: Vec<u8>,
}

impl TestPki {
    pub fn new(ca_name: &str) -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client
            .distinguished_name
            .push(DnType::CommonName, "reqtrace test client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key).unwrap();

        TestPki {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            server_cert_der: server_cert.der().to_vec(),
            server_key_der: server_key.serialize_der(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// A server configuration presenting the server certificate; with `require_client`,
    /// clients must present a certificate signed by this CA.
    pub fn server_config(&self, require_client: bool) -> rustls::ServerConfig {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from(self.ca_der.clone()))
                .unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder
            .with_single_cert(
                vec![CertificateDer::from(self.server_cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
            )
            .unwrap()
    }
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
