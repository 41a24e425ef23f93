//! The HTTP side of an export: one `ureq` agent per exporter (shared by its clones), which
//! keeps connections alive in a pool, bounds each request by the configured timeout, routes
//! through a proxy from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (minus `NO_PROXY`) or the
//! builder, and speaks TLS through rustls (feature `tls`).
//!
//! Everything read from the network is bounded: response heads by the client's limit, the
//! kept body to [`MAX_BODY`] bytes (a longer body is cut and its connection not reused).

use std::io::Read;
use std::time::Duration;

use crate::config::Endpoint;
use crate::error::{ConfigError, SendError};
use crate::tls::TlsSettings;

/// Most response body bytes kept (an error message or a partial-success message).
pub(crate) const MAX_BODY: u64 = 1024 * 1024;

/// Idle connections kept per receiver: enough for every clone of an exporter exporting at
/// once (the worker's `max_concurrent_exports`) to find one.
const IDLE_CONNECTIONS_PER_HOST: usize = 16;

/// Which proxy requests go through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum ProxyChoice {
    /// `ALL_PROXY`, `HTTPS_PROXY` or `HTTP_PROXY` (the first set, either case), skipping
    /// hosts that `NO_PROXY` lists.
    #[default]
    FromEnv,
    /// This proxy URL for every request.
    Url(String),
    /// Connect directly.
    None,
}

/// A response: status, the headers the exporter reads, and (possibly cut) body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What to send.
pub(crate) struct Request<'a> {
    pub content_type: &'a str,
    pub content_encoding: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The connection pool and the request settings of one exporter (cheap to clone: the pool
/// is shared).
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    uri: http::Uri,
}

impl Transport {
    /// The agent for `endpoint`. Connects to nothing yet.
    pub fn new(
        endpoint: &Endpoint,
        timeout: Duration,
        tls: &TlsSettings,
        proxy: &ProxyChoice,
    ) -> Result<Transport, ConfigError> {
        let uri: http::Uri =
            endpoint
                .to_string()
                .parse()
                .map_err(|_| ConfigError::InvalidEndpoint {
                    endpoint: endpoint.to_string(),
                    reason: "not a valid URI",
                })?;
        let proxy = match proxy {
            ProxyChoice::FromEnv => ureq::Proxy::try_from_env(),
            ProxyChoice::Url(url) => Some(
                ureq::Proxy::new(url)
                    .map_err(|_| ConfigError::InvalidProxy { proxy: url.clone() })?,
            ),
            ProxyChoice::None => None,
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("reqtrace-otlp/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(IDLE_CONNECTIONS_PER_HOST)
            .max_idle_connections(IDLE_CONNECTIONS_PER_HOST)
            .proxy(proxy);
        #[cfg(feature = "tls")]
        let config = config.tls_config(tls.client_config()?);
        #[cfg(not(feature = "tls"))]
        if tls.is_set() {
            return Err(ConfigError::TlsUnavailable {
                endpoint: endpoint.to_string(),
            });
        }
        Ok(Transport {
            agent: config.build().new_agent(),
            uri,
        })
    }

    /// POSTs `req` and reads the response, all within the timeout.
    pub fn post(&self, req: &Request<'_>) -> Result<Response, SendError> {
        let mut builder = self
            .agent
            .post(self.uri.clone())
            .header("Content-Type", req.content_type);
        if let Some(enc) = req.content_encoding {
            builder = builder.header("Content-Encoding", enc);
        }
        for (k, v) in req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let mut resp = builder.send(req.body).map_err(|e| classify(&self.uri, e))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (retry_after, content_type) = (header("retry-after"), header("content-type"));
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| classify(&self.uri, ureq::Error::from(e)))?;
        Ok(Response {
            status,
            retry_after,
            content_type,
            body,
        })
    }
}

/// OTLP/gRPC's port: the usual mistake is to give it to this OTLP/HTTP exporter.
const GRPC_PORT: u16 = 4317;

/// Added to failures of requests to [`GRPC_PORT`].
pub(crate) const GRPC_PORT_HINT: &str =
    " (port 4317 is OTLP/gRPC's; this exporter speaks OTLP/HTTP, which a Collector serves on 4318)";

/// Sorts a client error into the [`SendError`] kinds.
fn classify(uri: &http::Uri, e: ureq::Error) -> SendError {
    let mut message = format!("POST {uri}: {e}");
    if uri.port_u16() == Some(GRPC_PORT) {
        message.push_str(GRPC_PORT_HINT);
    }
    match &e {
        ureq::Error::Timeout(_) => SendError::Timeout(message),
        ureq::Error::Io(io) if is_tls(io) => SendError::Tls(message),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            SendError::Timeout(message)
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            SendError::Protocol(message)
        }
        ureq::Error::Io(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::InvalidProxyUrl => SendError::Connect(message),
        #[cfg(feature = "tls")]
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => {
            SendError::Tls(message)
        }
        _ => SendError::Protocol(message),
    }
}

/// Whether an I/O error is rustls refusing the handshake (ureq reports those as I/O).
fn is_tls(io: &std::io::Error) -> bool {
    #[cfg(feature = "tls")]
    {
        io.get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = io;
        false
    }
}
