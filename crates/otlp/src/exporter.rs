//! [`OtlpExporter`], its builder, and the resolved [`OtlpConfig`].

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqtrace_core::{ExportError, Resource, SpanData, SpanExporter};

use crate::config::{
    Compression, ConfigError, DEFAULT_ENDPOINT, DEFAULT_GRPC_ENDPOINT, Endpoint, Protocol, Scheme,
    check_header, parse_key_value_list, parse_timeout_ms,
};
use crate::error::SendError;
use crate::stats::{Counters, OtlpStats};
use crate::tls::{Pem, TlsSettings};
use crate::transport::{self, ProxyChoice, Transport};

/// The default request timeout (as `OTEL_EXPORTER_OTLP_TIMEOUT`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The resolved configuration of an [`OtlpExporter`].
///
/// `Debug` and `Display` never show header values or key material (they often hold
/// credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    endpoint: Endpoint,
    headers: Vec<(String, String)>,
    compression: Compression,
    timeout: Duration,
    protocol: Protocol,
    tls: TlsSettings,
    proxy: ProxyChoice,
}

impl OtlpConfig {
    /// The URL requests are POSTed to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Extra request headers, in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Body compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// How long one request may take, connect to last response byte.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Body encoding.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether a CA certificate replaces the default roots (Mozilla's).
    pub fn has_custom_ca(&self) -> bool {
        self.tls.ca.is_some()
    }

    /// Whether a client certificate is presented to the receiver.
    pub fn has_client_certificate(&self) -> bool {
        self.tls.client_cert.is_some()
    }
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint.to_string())
            .field("headers", &names)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl fmt::Display for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, compression {}, timeout {} ms, {} extra headers)",
            self.endpoint,
            self.protocol,
            self.compression,
            self.timeout.as_millis(),
            self.headers.len()
        )
    }
}

/// Raw values of the `OTEL_*` variables, parsed at [`OtlpExporterBuilder::build`].
#[derive(Clone, Default)]
struct EnvValues {
    endpoint: Option<String>,
    traces_endpoint: Option<String>,
    headers: Option<String>,
    traces_headers: Option<String>,
    compression: Option<String>,
    traces_compression: Option<String>,
    timeout: Option<String>,
    traces_timeout: Option<String>,
    protocol: Option<String>,
    traces_protocol: Option<String>,
    certificate: Option<String>,
    traces_certificate: Option<String>,
    client_certificate: Option<String>,
    traces_client_certificate: Option<String>,
    client_key: Option<String>,
    traces_client_key: Option<String>,
}

/// Configures an [`OtlpExporter`].
///
/// Values set on the builder win over the environment ([`OtlpExporterBuilder::from_env`]),
/// whatever the order of the calls; the environment wins over the defaults. Headers are
/// merged: a header set on the builder replaces an environment header of the same name.
///
/// ```
/// use std::time::Duration;
/// use reqtrace_otlp::{Compression, OtlpExporter};
///
/// let exporter = OtlpExporter::builder()
///     .endpoint("http://127.0.0.1:4318")
///     .header("x-api-key", "secret")
///     .gzip(true)
///     .timeout(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// let config = exporter.config();
/// assert_eq!(config.endpoint().to_string(), "http://127.0.0.1:4318/v1/traces");
/// assert_eq!(config.compression(), Compression::Gzip);
/// assert!(!format!("{config:?}").contains("secret"));
///
/// let err = OtlpExporter::builder().endpoint("127.0.0.1:4318").build().unwrap_err();
/// assert!(err.to_string().contains("invalid OTLP endpoint"));
/// ```
#[derive(Clone, Default)]
pub struct OtlpExporterBuilder {
    endpoint: Option<String>,
    traces_endpoint: Option<String>,
    headers: Vec<(String, String)>,
    compression: Option<Compression>,
    timeout: Option<Duration>,
    protocol: Option<Protocol>,
    tls: TlsSettings,
    proxy: Option<ProxyChoice>,
    env: Option<EnvValues>,
}

impl fmt::Debug for OtlpExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpExporterBuilder")
            .field("endpoint", &self.endpoint)
            .field("traces_endpoint", &self.traces_endpoint)
            .field("headers", &names)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("from_env", &self.env.is_some())
            .finish()
    }
}

impl OtlpExporterBuilder {
    /// The collector's base URL; `/v1/traces` is appended (unless the path already ends with
    /// it), as for `OTEL_EXPORTER_OTLP_ENDPOINT`. Default `http://localhost:4318`.
    pub fn endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.endpoint = Some(base_url.into());
        self.traces_endpoint = None;
        self
    }

    /// The full URL to POST to, used as-is, as for `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_endpoint = Some(url.into());
        self.endpoint = None;
        self
    }

    /// Adds a request header (e.g. an API key). Checked at [`OtlpExporterBuilder::build`]:
    /// the name must be an HTTP token, the value free of control characters, and the name
    /// not one the exporter sets itself (`Content-Type`, `Content-Length`, ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Gzip request bodies (`true`) or not (`false`).
    pub fn gzip(self, on: bool) -> Self {
        self.compression(if on {
            Compression::Gzip
        } else {
            Compression::None
        })
    }

    /// Body compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// How long one request may take, from connecting to the last byte of the response.
    /// Default 10 s. A zero timeout is refused at build.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Body encoding (default [`Protocol::HttpProtobuf`], or [`Protocol::HttpJson`] in a
    /// build without the `proto` feature, where asking for protobuf is refused at build).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// A PEM file of the CA certificate(s) that verify the receiver's certificate, instead
    /// of the default roots (Mozilla's), as `OTEL_EXPORTER_OTLP_CERTIFICATE`. Read at build.
    pub fn certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca = Some(Pem::File(path.into()));
        self
    }

    /// [`OtlpExporterBuilder::certificate`] with the PEM text itself.
    pub fn certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca = Some(Pem::Bytes(pem.into()));
        self
    }

    /// A PEM file of the client certificate (chain) to present for mutual TLS, as
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`; needs [`OtlpExporterBuilder::client_key`].
    pub fn client_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.client_cert = Some(Pem::File(path.into()));
        self
    }

    /// A PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1), as
    /// `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
    pub fn client_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.client_key = Some(Pem::File(path.into()));
        self
    }

    /// The client certificate (chain) and its private key as PEM text, for mutual TLS.
    pub fn client_identity_pem(
        mut self,
        certificate: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_cert = Some(Pem::Bytes(certificate.into()));
        self.tls.client_key = Some(Pem::Bytes(key.into()));
        self
    }

    /// Sends every request through this proxy (`http://`, `https://`, `socks5://` URL),
    /// whatever the proxy variables say.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(ProxyChoice::Url(url.into()));
        self
    }

    /// Connects directly, ignoring the proxy variables. Without this or
    /// [`OtlpExporterBuilder::proxy`], the first of `ALL_PROXY`, `HTTPS_PROXY`,
    /// `HTTP_PROXY` that is set (either case) is used for hosts `NO_PROXY` does not list.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = Some(ProxyChoice::None);
        self
    }

    /// Reads the standard OTLP exporter variables from the process environment (see
    /// [`OtlpExporterBuilder::from_env_with`]).
    pub fn from_env(self) -> Self {
        self.from_env_with(|k| std::env::var(k).ok())
    }

    /// Reads the standard OTLP exporter variables through `lookup` (a name to value
    /// function); empty values count as unset. Signal-specific variables win over generic
    /// ones:
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full URL, used as-is |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL, `/v1/traces` appended |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | `k=v,k2=v2`, percent-decoded |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `gzip` or `none` |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | milliseconds |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | `http/protobuf` (default) or `http/json` |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` | PEM file of the CA(s) to trust |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE` | PEM file of the client certificate |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY` | PEM file of the client key |
    ///
    /// Values are checked at [`OtlpExporterBuilder::build`]. One that cannot be used (it does
    /// not parse, names an unsupported protocol such as `grpc`, or needs a feature this build
    /// lacks) is reported through `reqtrace_core::diagnostics` (`OTEL_X="value" ignored:
    /// why; using ...`) and ignored: the generic variable or the default takes its place, as
    /// the OpenTelemetry specification asks. Values given in code are errors instead. TLS
    /// files named here that cannot be read stay errors ([`ConfigError::InvalidTlsFile`]):
    /// falling back would change whom the exporter trusts.
    ///
    /// ```
    /// use reqtrace_otlp::OtlpExporter;
    /// let env = |k: &str| match k {
    ///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".to_owned()),
    ///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=abc%3D".to_owned()),
    ///     "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".to_owned()),
    ///     _ => None,
    /// };
    /// let exporter = OtlpExporter::builder().from_env_with(env).build().unwrap();
    /// let config = exporter.config();
    /// assert_eq!(config.endpoint().to_string(), "http://collector:4318/v1/traces");
    /// assert_eq!(config.headers(), [("api-key".to_owned(), "abc=".to_owned())]);
    /// ```
    pub fn from_env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        self.env = Some(EnvValues {
            endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            traces_endpoint: get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            headers: get("OTEL_EXPORTER_OTLP_HEADERS"),
            traces_headers: get("OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
            compression: get("OTEL_EXPORTER_OTLP_COMPRESSION"),
            traces_compression: get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"),
            timeout: get("OTEL_EXPORTER_OTLP_TIMEOUT"),
            traces_timeout: get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
            protocol: get("OTEL_EXPORTER_OTLP_PROTOCOL"),
            traces_protocol: get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            certificate: get("OTEL_EXPORTER_OTLP_CERTIFICATE"),
            traces_certificate: get("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
            client_certificate: get("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
            traces_client_certificate: get("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"),
            client_key: get("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            traces_client_key: get("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"),
        });
        self
    }

    /// Checks the configuration and makes the exporter. Connects to nothing: an unreachable
    /// collector shows up as transient export errors later.
    pub fn build(self) -> Result<OtlpExporter, ConfigError> {
        let env = self.env.unwrap_or_default();

        let protocol = match self.protocol {
            Some(p) => p,
            None => from_env(
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", &env.traces_protocol),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", &env.protocol),
                |p, _| p.parse().and_then(supported),
                if cfg!(feature = "proto") {
                    "http/protobuf"
                } else {
                    "http/json"
                },
            )
            .unwrap_or_default(),
        };
        let protocol = supported(protocol)?;

        // OTLP/HTTP appends `/v1/traces` to a base URL; an OTLP/gRPC endpoint is used as it is
        // (the call names its own path), with its own default port.
        let grpc = protocol == Protocol::Grpc;
        let base = |url: &str| -> Result<Endpoint, ConfigError> {
            if grpc {
                url.parse()
            } else {
                Endpoint::from_base(url)
            }
        };
        let default_endpoint = if grpc {
            DEFAULT_GRPC_ENDPOINT
        } else {
            DEFAULT_ENDPOINT
        };
        let endpoint = match (&self.traces_endpoint, &self.endpoint) {
            (Some(url), _) => url.parse()?,
            (None, Some(b)) => base(b)?,
            (None, None) => from_env(
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &env.traces_endpoint),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &env.endpoint),
                |url, specific| {
                    let e = if specific { url.parse()? } else { base(url)? };
                    reachable(e)
                },
                default_endpoint,
            )
            .map_or_else(|| base(default_endpoint), Ok)?,
        };
        let endpoint = reachable(endpoint)?;

        let mut headers: Vec<(String, String)> = Vec::new();
        let mut merge = |list: Vec<(String, String)>| {
            for (k, v) in list {
                headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&k));
                headers.push((k, v));
            }
        };
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_HEADERS", &env.headers),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &env.traces_headers),
        ] {
            let parsed = value.as_deref().and_then(|v| {
                let list = parse_key_value_list(v).and_then(|list| {
                    list.iter().try_for_each(|(k, v)| check_header(k, v))?;
                    Ok(list)
                });
                ignore_invalid(var, v, list, "no headers from it")
            });
            if let Some(list) = parsed {
                merge(list);
            }
        }
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        merge(self.headers);

        let compression = match self.compression {
            Some(c) => c,
            None => from_env(
                (
                    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                    &env.traces_compression,
                ),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", &env.compression),
                |c, _| c.parse(),
                "none",
            )
            .unwrap_or(Compression::None),
        };

        let timeout = match self.timeout {
            Some(t) if t.is_zero() => return Err(ConfigError::InvalidTimeout("0".into())),
            Some(t) => t,
            None => from_env(
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &env.traces_timeout),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", &env.timeout),
                |t, _| parse_timeout_ms(t),
                "10000 ms",
            )
            .unwrap_or(DEFAULT_TIMEOUT),
        };

        // TLS files: builder over signal-specific variable over generic variable.
        let mut tls = self.tls;
        let env_file = |specific: &Option<String>, generic: &Option<String>| {
            specific
                .as_ref()
                .or(generic.as_ref())
                .map(|p| Pem::File(PathBuf::from(p.trim())))
        };
        if tls.ca.is_none() {
            tls.ca = env_file(&env.traces_certificate, &env.certificate);
        }
        if tls.client_cert.is_none() && tls.client_key.is_none() {
            tls.client_cert = env_file(&env.traces_client_certificate, &env.client_certificate);
            tls.client_key = env_file(&env.traces_client_key, &env.client_key);
        }
        let proxy = self.proxy.unwrap_or_default();
        let transport = match protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => Wire::Grpc(crate::grpc::GrpcTransport::new(
                &endpoint,
                timeout,
                &tls,
                &headers,
                compression == Compression::Gzip,
            )?),
            _ => Wire::Http(Transport::new(&endpoint, timeout, &tls, &proxy)?),
        };

        Ok(OtlpExporter {
            config: Arc::new(OtlpConfig {
                endpoint,
                headers,
                compression,
                timeout,
                protocol,
                tls,
                proxy,
            }),
            transport,
            stats: OtlpStats::default(),
            body: Vec::new(),
            compressed: Vec::new(),
        })
    }
}

/// The crates' one rule for the environment (see `reqtrace_core::diagnostics`): a value that
/// cannot be used is reported and ignored. Tries the signal-specific variable, then the
/// generic one (`parse` is told which), and says what is used in place of a bad one.
fn from_env<T>(
    specific: (&'static str, &Option<String>),
    generic: (&'static str, &Option<String>),
    parse: impl Fn(&str, bool) -> Result<T, ConfigError>,
    default: &str,
) -> Option<T> {
    if let Some(v) = specific.1 {
        let instead = if generic.1.is_some() {
            generic.0
        } else {
            default
        };
        if let Some(t) = ignore_invalid(specific.0, v, parse(v, true), instead) {
            return Some(t);
        }
    }
    let v = generic.1.as_deref()?;
    ignore_invalid(generic.0, v, parse(v, false), default)
}

/// `Some(t)`, or `None` after reporting `var`'s value as ignored, `instead` used.
fn ignore_invalid<T>(
    var: &'static str,
    value: &str,
    parsed: Result<T, ConfigError>,
    instead: &str,
) -> Option<T> {
    parsed
        .map_err(|e| reqtrace_core::diagnostics::invalid_env(var, value, &e, instead))
        .ok()
}

/// `Ok(e)` unless `e` needs TLS and this build has none.
fn reachable(e: Endpoint) -> Result<Endpoint, ConfigError> {
    if e.scheme() == Scheme::Https && !cfg!(feature = "tls") {
        return Err(ConfigError::TlsUnavailable {
            endpoint: e.to_string(),
        });
    }
    Ok(e)
}

/// `Ok(p)` if this build can encode `p`.
fn supported(p: Protocol) -> Result<Protocol, ConfigError> {
    match p {
        Protocol::HttpProtobuf if !cfg!(feature = "proto") => Err(ConfigError::ProtobufUnavailable),
        Protocol::Grpc if !cfg!(feature = "grpc") => Err(ConfigError::GrpcUnavailable),
        p => Ok(p),
    }
}

/// How requests leave: OTLP/HTTP through the `ureq` pool, or an OTLP/gRPC channel.
#[derive(Clone, Debug)]
enum Wire {
    Http(Transport),
    #[cfg(feature = "grpc")]
    Grpc(crate::grpc::GrpcTransport),
}

/// A [`SpanExporter`] that POSTs each batch to an OTLP/HTTP receiver (an OpenTelemetry
/// Collector, Jaeger, Tempo, Arize Phoenix, ...) as one `ExportTraceServiceRequest`.
///
/// Each `export` is one request, synchronous, on the calling thread (the tracer's export
/// worker), within the configured timeout, over a kept-alive connection when one is idle.
/// Its outcome steers the worker:
/// - `2xx`: exported. A partial success (`rejectedSpans`) is counted in [`OtlpStats`];
/// - `429`, `502`, `503`, `504`, and failures to connect, send or read (including
///   timeouts): [`ExportError::Transient`], with the `Retry-After` header (seconds or an
///   HTTP date) as `retry_after_ms`: the worker retries with backoff;
/// - any other status, and TLS handshake failures: [`ExportError::Permanent`] with the
///   reason: the worker drops the batch and counts it.
///
/// [`OtlpExporter::send`] does the same and returns the typed [`SendError`].
///
/// Cloning is cheap: a clone shares the configuration, the connection pool and the
/// [`OtlpStats`], and has its own encoding buffers, so clones can export at once from
/// several threads.
///
/// ```no_run
/// use reqtrace_core::{BatchConfig, RequestTracer};
/// use reqtrace_otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder().endpoint("http://127.0.0.1:4318").build()?;
/// let otlp = exporter.stats();
/// let tracer = RequestTracer::builder("checkout")
///     .exporter(exporter, BatchConfig::default())
///     .build();
/// tracer.start_trace();
/// drop(tracer.start_span("charge-card"));
/// tracer.end_trace();
/// tracer.shutdown()?;
/// println!("exported {} spans; {}", tracer.stats().export.exported, otlp.snapshot());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OtlpExporter {
    config: Arc<OtlpConfig>,
    transport: Wire,
    stats: OtlpStats,
    body: Vec<u8>,
    compressed: Vec<u8>,
}

impl Clone for OtlpExporter {
    /// Shares the configuration, the connection pool and the stats; fresh buffers.
    fn clone(&self) -> Self {
        OtlpExporter {
            config: self.config.clone(),
            transport: self.transport.clone(),
            stats: self.stats.clone(),
            body: Vec::new(),
            compressed: Vec::new(),
        }
    }
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("config", &self.config)
            .field("stats", &self.stats.snapshot())
            .finish()
    }
}

impl OtlpExporter {
    /// A builder with the defaults: `http://localhost:4318/v1/traces`, protobuf (JSON
    /// without the `proto` feature), no compression, 10 s timeout, Mozilla's roots, proxy
    /// from the environment, no `OTEL_*` variables.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }

    /// An exporter configured from the `OTEL_EXPORTER_OTLP_*` environment variables alone.
    pub fn from_env() -> Result<OtlpExporter, ConfigError> {
        Self::builder().from_env().build()
    }

    /// The configuration in force.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    /// A handle on this exporter's counters (shared with its clones), readable after the
    /// exporter moved into a tracer.
    pub fn stats(&self) -> OtlpStats {
        self.stats.clone()
    }

    /// Encodes `batch` as one request body (the configured protocol), compressed if asked:
    /// the one place a body is made.
    fn encode(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), SendError> {
        self.body.clear();
        match self.config.protocol {
            Protocol::HttpJson => {
                reqtrace_export_json::write_otlp_batch(&mut self.body, batch, resource)
                    .map_err(|e| SendError::Encode(format!("encoding OTLP/JSON: {e}")))?;
            }
            Protocol::HttpProtobuf | Protocol::Grpc => {
                #[cfg(feature = "proto")]
                crate::proto::encode_protobuf_batch(batch, resource, &mut self.body);
                #[cfg(not(feature = "proto"))]
                return Err(SendError::Encode(
                    "http/protobuf needs the `proto` feature".into(),
                ));
            }
        }
        // gRPC compresses each message itself (`grpc-encoding: gzip`).
        if self.config.compression == Compression::Gzip && self.config.protocol != Protocol::Grpc {
            self.compressed.clear();
            let mut gz = flate2::write::GzEncoder::new(
                std::mem::take(&mut self.compressed),
                flate2::Compression::fast(),
            );
            let done = gz.write_all(&self.body).and_then(|()| gz.finish());
            self.compressed =
                done.map_err(|e| SendError::Encode(format!("gzip-compressing the body: {e}")))?;
        }
        Ok(())
    }

    /// Sends `batch` as one request and reads the answer: what [`SpanExporter::export`]
    /// does, with the typed error. Counts everything in [`OtlpStats`]. An empty batch sends
    /// nothing.
    pub fn send(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), SendError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.encode(batch, resource) {
            self.stats.inner.set_last_error(e.to_string());
            return Err(e);
        }
        let c: &Counters = &self.stats.inner;
        // One arm without the `grpc` feature.
        #[allow(clippy::infallible_destructuring_match)]
        let http = match &self.transport {
            Wire::Http(t) => t,
            #[cfg(feature = "grpc")]
            Wire::Grpc(g) => {
                Counters::add(&c.requests, 1);
                Counters::add(&c.bytes_sent, self.body.len() as u64);
                Counters::add(&c.bytes_uncompressed, self.body.len() as u64);
                // The call owns its message: hand the body over rather than copy it (the
                // next batch encodes into a fresh buffer).
                let outcome = g.export(std::mem::take(&mut self.body));
                return self.grpc_outcome(outcome, batch.len() as u64, resource);
            }
        };
        let gzip = self.config.compression == Compression::Gzip;
        let body = if gzip { &self.compressed } else { &self.body };
        Counters::add(&c.requests, 1);
        Counters::add(&c.bytes_sent, body.len() as u64);
        Counters::add(&c.bytes_uncompressed, self.body.len() as u64);
        let request = transport::Request {
            content_type: self.config.protocol.content_type(),
            content_encoding: gzip.then_some("gzip"),
            headers: &self.config.headers,
            body,
        };
        let response = match http.post(&request) {
            Ok(r) => r,
            Err(e) => {
                Counters::add(&c.connection_errors, 1);
                c.set_last_error(e.to_string());
                return Err(e);
            }
        };
        let n = batch.len() as u64;
        match response.status {
            200..=299 => {
                Counters::add(&c.successes, 1);
                Counters::add(&c.spans_sent, n);
                if let Some(partial) = partial_success(&response, self.config.protocol) {
                    self.count_partial_success(partial, n, resource);
                }
                Ok(())
            }
            status => {
                let e = SendError::Status {
                    status,
                    message: describe(&self.config.endpoint, &response),
                    retry_after_ms: response
                        .retry_after
                        .as_deref()
                        .and_then(|h| retry_after_ms(h, SystemTime::now())),
                };
                if e.is_transient() {
                    Counters::add(&c.retryable_responses, 1);
                } else {
                    Counters::add(&c.failed_responses, 1);
                }
                c.set_last_error(e.to_string());
                Err(e)
            }
        }
    }
}

impl OtlpExporter {
    /// Counts and reports a partial success: `rejected` of `n` spans refused, with a message.
    fn count_partial_success(
        &self,
        (rejected, message): (u64, String),
        n: u64,
        resource: &Resource,
    ) {
        let c: &Counters = &self.stats.inner;
        Counters::add(&c.partial_successes, 1);
        Counters::add(&c.spans_rejected, rejected.min(n));
        let text = format!(
            "{} rejected {rejected} of {n} spans: {message}",
            self.config.endpoint
        );
        reqtrace_core::diagnostics::report(
            reqtrace_core::diagnostics::DiagnosticKind::SpansRejected,
            &resource.service_name,
            || format!("{}: {text}", resource.service_name),
        );
        c.set_last_error(text);
    }

    /// Counts the outcome of an OTLP/gRPC call of `n` spans, as `send` does for HTTP.
    #[cfg(feature = "grpc")]
    fn grpc_outcome(
        &self,
        outcome: Result<Vec<u8>, SendError>,
        n: u64,
        resource: &Resource,
    ) -> Result<(), SendError> {
        let c: &Counters = &self.stats.inner;
        match outcome {
            Ok(response) => {
                Counters::add(&c.successes, 1);
                Counters::add(&c.spans_sent, n);
                if let Some(partial) = crate::proto::partial_success(&response) {
                    self.count_partial_success(partial, n, resource);
                }
                Ok(())
            }
            Err(e) => {
                match &e {
                    SendError::Grpc { .. } if e.is_transient() => {
                        Counters::add(&c.retryable_responses, 1)
                    }
                    SendError::Grpc { .. } => Counters::add(&c.failed_responses, 1),
                    _ => Counters::add(&c.connection_errors, 1),
                }
                c.set_last_error(e.to_string());
                Err(e)
            }
        }
    }
}

impl SpanExporter for OtlpExporter {
    fn export(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError> {
        self.send(batch, resource).map_err(ExportError::from)
    }

    /// A clone sharing the connection pool and the statistics, so the tracer's worker can
    /// run `BatchConfig::max_concurrent_exports` requests at once.
    fn try_clone(&self) -> Option<Box<dyn SpanExporter>> {
        Some(Box::new(self.clone()))
    }
}

/// `"{endpoint} answered {status}: {start of body}"`, printable.
fn describe(endpoint: &Endpoint, r: &transport::Response) -> String {
    let text = String::from_utf8_lossy(&r.body);
    let detail: String = text
        .trim()
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut m = if detail.is_empty() {
        format!("{endpoint} answered {}", r.status)
    } else {
        format!("{endpoint} answered {}: {detail}", r.status)
    };
    if endpoint.port() == 4317 {
        m.push_str(transport::GRPC_PORT_HINT);
    }
    m
}

/// A 2xx response's partial success: `(rejected spans, error message)`, or `None` when the
/// response reports full success (or cannot be read: the status already says success).
fn partial_success(r: &transport::Response, protocol: Protocol) -> Option<(u64, String)> {
    if r.body.is_empty() {
        return None;
    }
    let is_proto = r
        .content_type
        .as_deref()
        .is_some_and(|t| t.contains("protobuf"));
    if is_proto || (protocol == Protocol::HttpProtobuf && r.content_type.is_none()) {
        #[cfg(feature = "proto")]
        return crate::proto::partial_success(&r.body);
        #[cfg(not(feature = "proto"))]
        return None;
    }
    partial_success_json(&r.body)
}

/// Reads `{"partialSuccess":{"rejectedSpans":"N","errorMessage":"..."}}` (the count may be a
/// string or a number, as proto3 JSON allows).
pub(crate) fn partial_success_json(body: &[u8]) -> Option<(u64, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let p = v
        .get("partialSuccess")
        .or_else(|| v.get("partial_success"))?;
    let rejected = p
        .get("rejectedSpans")
        .or_else(|| p.get("rejected_spans"))
        .and_then(|n| match n {
            serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
            n => n.as_u64(),
        })
        .unwrap_or(0);
    let message = p
        .get("errorMessage")
        .or_else(|| p.get("error_message"))
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_owned();
    (rejected > 0 || !message.is_empty()).then_some((rejected, message))
}

/// `Retry-After` as milliseconds from `now`: delta-seconds, or an HTTP date in any of the
/// three formats RFC 9110 requires recipients to read (IMF-fixdate, RFC 850, asctime). A
/// date in the past means "now" (0).
pub(crate) fn retry_after_ms(value: &str, now: SystemTime) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds: not a usable hint.
        return v.parse::<u64>().ok().map(|secs| secs.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_ms("1", now), Some(1000));
        assert_eq!(retry_after_ms(" 120 ", now), Some(120_000));
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(3000)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(0)
        );
        // RFC 9110's obsolete formats too: RFC 850 and asctime.
        assert_eq!(
            retry_after_ms("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(10_000)
        );
        assert_eq!(
            retry_after_ms("Sun Nov  6 08:50:37 1994", now),
            Some(60_000)
        );
        let leap = UNIX_EPOCH + Duration::from_secs(1_582_977_600); // Sat, 29 Feb 2020 12:00:00
        assert_eq!(
            retry_after_ms("Sat, 29 Feb 2020 12:00:02 GMT", leap),
            Some(2000)
        );
        for bad in [
            "",
            "-1",
            "+5",
            "1.5",
            "soon",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
        ] {
            assert_eq!(retry_after_ms(bad, now), None, "{bad:?}");
        }
        assert_eq!(retry_after_ms("99999999999999999999", now), None);
        assert_eq!(retry_after_ms("18446744073709551615", now), Some(u64::MAX));
    }

    proptest::proptest! {
        /// Any Retry-After value: a hint or none, never a panic.
        #[test]
        fn retry_after_takes_any_text(s in "\\PC{0,40}", secs in 0u64..4_000_000_000) {
            let now = UNIX_EPOCH + Duration::from_secs(secs);
            let _ = retry_after_ms(&s, now);
            let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
            proptest::prop_assert_eq!(retry_after_ms(&date, now), Some(5000));
        }
    }

    #[test]
    fn partial_success_bodies() {
        let p = |s: &str| partial_success_json(s.as_bytes());
        assert_eq!(p("{}"), None);
        assert_eq!(p("{\"partialSuccess\":{}}"), None);
        assert_eq!(
            p(r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"too big"}}"#),
            Some((3, "too big".into()))
        );
        assert_eq!(
            p(r#"{"partialSuccess":{"rejectedSpans":2}}"#),
            Some((2, String::new()))
        );
        assert_eq!(
            p(r#"{"partialSuccess":{"errorMessage":"warning only"}}"#),
            Some((0, "warning only".into()))
        );
        assert_eq!(p("not json"), None);
    }

    #[test]
    fn precedence_builder_over_env_over_default() {
        let env = |k: &str| {
            Some(
                match k {
                    "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://generic:1",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => "http://specific:2/custom",
                    "OTEL_EXPORTER_OTLP_HEADERS" => "a=generic,b=generic",
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => "b=specific",
                    "OTEL_EXPORTER_OTLP_TIMEOUT" => "1500",
                    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => "gzip",
                    "OTEL_EXPORTER_OTLP_COMPRESSION" => "none",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let c = OtlpExporter::builder().from_env_with(env).build().unwrap();
        let c = c.config();
        assert_eq!(c.endpoint().to_string(), "http://specific:2/custom");
        assert_eq!(
            c.headers(),
            [
                ("a".to_owned(), "generic".to_owned()),
                ("b".to_owned(), "specific".to_owned())
            ]
        );
        assert_eq!(c.timeout(), Duration::from_millis(1500));
        assert_eq!(c.compression(), Compression::Gzip);

        // Builder values win, whichever comes first.
        let c = OtlpExporter::builder()
            .endpoint("http://mine:3")
            .header("B", "mine")
            .gzip(false)
            .from_env_with(env)
            .timeout(Duration::from_millis(7))
            .build()
            .unwrap();
        let c = c.config();
        assert_eq!(c.endpoint().to_string(), "http://mine:3/v1/traces");
        assert_eq!(c.headers()[1], ("B".to_owned(), "mine".to_owned()));
        assert_eq!(c.headers().len(), 2);
        assert_eq!(c.compression(), Compression::None);
        assert_eq!(c.timeout(), Duration::from_millis(7));

        let d = OtlpExporter::builder().build().unwrap();
        assert_eq!(
            d.config().endpoint().to_string(),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(d.config().timeout(), DEFAULT_TIMEOUT);
        assert_eq!(d.config().protocol(), Protocol::default());
        let want = if cfg!(feature = "proto") {
            Protocol::HttpProtobuf
        } else {
            Protocol::HttpJson
        };
        assert_eq!(d.config().protocol(), want);
    }

    #[test]
    fn bad_env_values_are_ignored_for_the_next_setting() {
        // (The reports themselves are checked in tests/diagnostics.rs.)
        type Check = fn(&OtlpConfig) -> bool;
        let cases: [(&str, &str, Check); 9] = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", |c| {
                c.endpoint().to_string() == "http://localhost:4318/v1/traces"
            }),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x", |c| {
                c.endpoint().to_string() == "http://generic:9/v1/traces"
            }),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", |c| {
                c.headers().is_empty()
            }),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad%20name=1", |c| {
                c.headers().is_empty()
            }),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x=a%0D%0Ab", |c| {
                c.headers().is_empty()
            }),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", |c| {
                c.compression() == Compression::None
            }),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", |c| {
                c.timeout() == DEFAULT_TIMEOUT
            }),
            // Without the `grpc` feature grpc is ignored (reported) for the default.
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", |c| {
                c.protocol()
                    == if cfg!(feature = "grpc") {
                        Protocol::Grpc
                    } else {
                        Protocol::default()
                    }
            }),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml", |c| {
                c.protocol() == Protocol::HttpJson
            }),
        ];
        for (var, value, ok) in cases {
            let exporter = OtlpExporter::builder()
                .from_env_with(|k| {
                    if k == var {
                        return Some(value.to_owned());
                    }
                    match k {
                        "OTEL_EXPORTER_OTLP_ENDPOINT" if var.contains("TRACES_ENDPOINT") => {
                            Some("http://generic:9".to_owned())
                        }
                        "OTEL_EXPORTER_OTLP_PROTOCOL" if var.contains("TRACES_PROTOCOL") => {
                            Some("http/json".to_owned())
                        }
                        _ => None,
                    }
                })
                .build()
                .unwrap_or_else(|e| panic!("{var}={value}: {e}"));
            assert!(
                ok(exporter.config()),
                "{var}={value}: {:?}",
                exporter.config()
            );
        }
    }

    #[test]
    fn typed_builder_errors() {
        let b = OtlpExporter::builder;
        let https = b().endpoint("https://h").build();
        if cfg!(feature = "tls") {
            assert!(https.is_ok(), "{https:?}");
        } else {
            assert!(matches!(https, Err(ConfigError::TlsUnavailable { .. })));
        }
        assert!(matches!(
            b().header("content-type", "text/plain").build(),
            Err(ConfigError::InvalidHeader { .. })
        ));
        assert!(matches!(
            b().timeout(Duration::ZERO).build(),
            Err(ConfigError::InvalidTimeout(_))
        ));
        // Without the `grpc` feature: grpc from the environment is ignored (reported), in code
        // it is an error.
        let grpc = b()
            .from_env_with(|k| (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "grpc".to_owned()))
            .build()
            .unwrap();
        let in_code = b().protocol(Protocol::Grpc).build();
        if cfg!(feature = "grpc") {
            assert_eq!(grpc.config().protocol(), Protocol::Grpc);
            assert!(in_code.is_ok());
        } else {
            assert_eq!(grpc.config().protocol(), Protocol::default());
            assert!(matches!(in_code, Err(ConfigError::GrpcUnavailable)));
        }
        let env_proto = b()
            .from_env_with(|k| {
                (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "http/protobuf".to_owned())
            })
            .build();
        let explicit = b().protocol(Protocol::HttpProtobuf).build();
        if cfg!(feature = "proto") {
            assert_eq!(
                env_proto.unwrap().config().protocol(),
                Protocol::HttpProtobuf
            );
            assert_eq!(
                explicit.unwrap().config().protocol(),
                Protocol::HttpProtobuf
            );
        } else {
            // From the environment: ignored, the default (JSON) used; in code: refused.
            assert_eq!(env_proto.unwrap().config().protocol(), Protocol::HttpJson);
            assert!(matches!(explicit, Err(ConfigError::ProtobufUnavailable)));
        }
        let json = b()
            .from_env_with(|k| {
                (k == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").then(|| "http/json".to_owned())
            })
            .build()
            .unwrap();
        assert_eq!(json.config().protocol(), Protocol::HttpJson);
        assert!(matches!(
            b().proxy("not a url").build(),
            Err(ConfigError::InvalidProxy { .. })
        ));
    }

    #[test]
    fn tls_settings_from_builder_and_env() {
        let missing = |k: &str| {
            (k == "OTEL_EXPORTER_OTLP_CERTIFICATE").then(|| "/nonexistent/ca.pem".to_owned())
        };
        let err = OtlpExporter::builder()
            .from_env_with(missing)
            .build()
            .unwrap_err();
        if cfg!(feature = "tls") {
            match err {
                ConfigError::InvalidTlsFile { path, .. } => assert_eq!(path, "/nonexistent/ca.pem"),
                other => panic!("{other:?}"),
            }
        } else {
            assert!(matches!(err, ConfigError::TlsUnavailable { .. }), "{err:?}");
        }
        if cfg!(feature = "tls") {
            let no_cert = OtlpExporter::builder()
                .certificate_pem("not PEM at all")
                .build()
                .unwrap_err();
            assert!(
                matches!(no_cert, ConfigError::InvalidTlsFile { .. }),
                "{no_cert:?}"
            );
            let half = OtlpExporter::builder()
                .client_certificate("/nonexistent/client.pem")
                .build()
                .unwrap_err();
            assert_eq!(half, ConfigError::IncompleteClientIdentity);
        }
    }
}
