//! [`OtlpExporter`], its builder, and the resolved [`OtlpConfig`].

use std::fmt;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqtrace_core::{ExportError, Resource, SpanData, SpanExporter};

use crate::config::{
    Compression, ConfigError, DEFAULT_ENDPOINT, Endpoint, Protocol, Scheme, check_header,
    parse_key_value_list, parse_timeout_ms,
};
use crate::http;
use crate::stats::{Counters, OtlpStats};

/// The default request timeout (as `OTEL_EXPORTER_OTLP_TIMEOUT`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The resolved configuration of an [`OtlpExporter`].
///
/// `Debug` and `Display` never show header values (they often hold credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    endpoint: Endpoint,
    headers: Vec<(String, String)>,
    compression: Compression,
    timeout: Duration,
    protocol: Protocol,
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

    /// Body encoding. [`Protocol::HttpProtobuf`] needs the `proto` feature.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
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
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | `http/json` or `http/protobuf` |
    ///
    /// Values are checked at [`OtlpExporterBuilder::build`]; a bad one is a
    /// [`ConfigError::Env`] naming the variable. `http/protobuf` without the `proto` feature
    /// falls back to `http/json` (every OTLP/HTTP receiver accepts both).
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
        });
        self
    }

    /// Checks the configuration and makes the exporter. Connects to nothing: an unreachable
    /// collector shows up as transient export errors later.
    pub fn build(self) -> Result<OtlpExporter, ConfigError> {
        let env = self.env.unwrap_or_default();
        let in_env = |var: &'static str| {
            move |error| ConfigError::Env {
                var,
                error: Box::new(error),
            }
        };

        let endpoint = match (&self.traces_endpoint, &self.endpoint) {
            (Some(url), _) => url.parse()?,
            (None, Some(base)) => Endpoint::from_base(base)?,
            (None, None) => match (&env.traces_endpoint, &env.endpoint) {
                (Some(url), _) => url
                    .parse()
                    .map_err(in_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))?,
                (None, Some(base)) => {
                    Endpoint::from_base(base).map_err(in_env("OTEL_EXPORTER_OTLP_ENDPOINT"))?
                }
                (None, None) => Endpoint::from_base(DEFAULT_ENDPOINT)?,
            },
        };
        if endpoint.scheme() == Scheme::Https {
            return Err(ConfigError::TlsUnavailable {
                endpoint: endpoint.to_string(),
            });
        }

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
            if let Some(v) = value {
                let list = parse_key_value_list(v).map_err(in_env(var))?;
                for (k, v) in &list {
                    check_header(k, v).map_err(in_env(var))?;
                }
                merge(list);
            }
        }
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        merge(self.headers);

        let compression = match self.compression {
            Some(c) => c,
            None => match (&env.traces_compression, &env.compression) {
                (Some(c), _) => c
                    .parse()
                    .map_err(in_env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"))?,
                (None, Some(c)) => c
                    .parse()
                    .map_err(in_env("OTEL_EXPORTER_OTLP_COMPRESSION"))?,
                (None, None) => Compression::None,
            },
        };

        let timeout = match self.timeout {
            Some(t) if t.is_zero() => return Err(ConfigError::InvalidTimeout("0".into())),
            Some(t) => t,
            None => match (&env.traces_timeout, &env.timeout) {
                (Some(t), _) => {
                    parse_timeout_ms(t).map_err(in_env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"))?
                }
                (None, Some(t)) => {
                    parse_timeout_ms(t).map_err(in_env("OTEL_EXPORTER_OTLP_TIMEOUT"))?
                }
                (None, None) => DEFAULT_TIMEOUT,
            },
        };

        let protocol = match self.protocol {
            Some(Protocol::HttpProtobuf) if !cfg!(feature = "proto") => {
                return Err(ConfigError::ProtobufUnavailable);
            }
            Some(p) => p,
            None => {
                let p = match (&env.traces_protocol, &env.protocol) {
                    (Some(p), _) => p
                        .parse()
                        .map_err(in_env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))?,
                    (None, Some(p)) => p.parse().map_err(in_env("OTEL_EXPORTER_OTLP_PROTOCOL"))?,
                    (None, None) => Protocol::HttpJson,
                };
                if cfg!(feature = "proto") {
                    p
                } else {
                    Protocol::HttpJson
                }
            }
        };

        Ok(OtlpExporter {
            config: OtlpConfig {
                endpoint,
                headers,
                compression,
                timeout,
                protocol,
            },
            stats: OtlpStats::default(),
            body: Vec::new(),
            compressed: Vec::new(),
        })
    }
}

/// A [`SpanExporter`] that POSTs each batch to an OTLP/HTTP receiver (an OpenTelemetry
/// Collector, Jaeger, Tempo, ...) as one `ExportTraceServiceRequest`.
///
/// Each `export` is one request, synchronous, on the tracer's export worker thread, within
/// the configured timeout. Its outcome steers the worker:
/// - `2xx`: exported. A partial success (`rejectedSpans`) is counted in [`OtlpStats`];
/// - `429`, `502`, `503`, `504`, and failures to connect, send or read (including
///   timeouts): [`ExportError::Transient`], with the `Retry-After` header (seconds or an
///   HTTP date) as `retry_after_ms`: the worker retries with backoff;
/// - any other status: [`ExportError::Permanent`] with the status and the start of the
///   body: the worker drops the batch and counts it.
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
    config: OtlpConfig,
    stats: OtlpStats,
    body: Vec<u8>,
    compressed: Vec<u8>,
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
    /// A builder with the defaults: `http://localhost:4318/v1/traces`, JSON, no compression,
    /// 10 s timeout, no environment.
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

    /// A handle on this exporter's counters, readable after the exporter moved into a tracer.
    pub fn stats(&self) -> OtlpStats {
        self.stats.clone()
    }

    fn encode(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError> {
        self.body.clear();
        match self.config.protocol {
            Protocol::HttpJson => {
                reqtrace_export_json::write_otlp_batch(&mut self.body, batch, resource)
                    .map_err(|e| ExportError::permanent(format!("encoding OTLP/JSON: {e}")))?;
            }
            Protocol::HttpProtobuf => {
                #[cfg(feature = "proto")]
                crate::proto::encode_protobuf_batch(batch, resource, &mut self.body);
                #[cfg(not(feature = "proto"))]
                return Err(ExportError::permanent(
                    "http/protobuf needs the `proto` feature",
                ));
            }
        }
        if self.config.compression == Compression::Gzip {
            self.compressed.clear();
            let mut gz = flate2::write::GzEncoder::new(
                std::mem::take(&mut self.compressed),
                flate2::Compression::fast(),
            );
            let done = gz.write_all(&self.body).and_then(|()| gz.finish());
            self.compressed = done
                .map_err(|e| ExportError::permanent(format!("gzip-compressing the body: {e}")))?;
        }
        Ok(())
    }
}

impl SpanExporter for OtlpExporter {
    fn export(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.encode(batch, resource)?;
        let c: &Counters = &self.stats.inner;
        let gzip = self.config.compression == Compression::Gzip;
        let body = if gzip { &self.compressed } else { &self.body };
        Counters::add(&c.requests, 1);
        Counters::add(&c.bytes_sent, body.len() as u64);
        Counters::add(&c.bytes_uncompressed, self.body.len() as u64);
        let request = http::Request {
            endpoint: &self.config.endpoint,
            content_type: self.config.protocol.content_type(),
            content_encoding: gzip.then_some("gzip"),
            headers: &self.config.headers,
            body,
        };
        let response = match http::post(&request, self.config.timeout) {
            Ok(r) => r,
            Err(e) => {
                Counters::add(&c.connection_errors, 1);
                let message = format!("POST {}: {e}", self.config.endpoint);
                c.set_last_error(message.clone());
                return Err(ExportError::Transient {
                    message,
                    retry_after_ms: None,
                });
            }
        };
        let n = batch.len() as u64;
        match response.status {
            200..=299 => {
                Counters::add(&c.successes, 1);
                Counters::add(&c.spans_sent, n);
                if let Some((rejected, message)) = partial_success(&response, self.config.protocol)
                {
                    Counters::add(&c.partial_successes, 1);
                    Counters::add(&c.spans_rejected, rejected.min(n));
                    c.set_last_error(format!(
                        "{} rejected {rejected} of {n} spans: {message}",
                        self.config.endpoint
                    ));
                }
                Ok(())
            }
            429 | 502 | 503 | 504 => {
                Counters::add(&c.retryable_responses, 1);
                let message = describe(&self.config.endpoint, &response);
                c.set_last_error(message.clone());
                let hint = response.header("retry-after");
                Err(ExportError::Transient {
                    message,
                    retry_after_ms: hint.and_then(|h| retry_after_ms(h, SystemTime::now())),
                })
            }
            _ => {
                Counters::add(&c.failed_responses, 1);
                let message = describe(&self.config.endpoint, &response);
                c.set_last_error(message.clone());
                Err(ExportError::Permanent(message))
            }
        }
    }
}

/// `"{endpoint} answered {status}: {start of body}"`, printable.
fn describe(endpoint: &Endpoint, r: &http::Response) -> String {
    let text = String::from_utf8_lossy(&r.body);
    let detail: String = text
        .trim()
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if detail.is_empty() {
        format!("{endpoint} answered {}", r.status)
    } else {
        format!("{endpoint} answered {}: {detail}", r.status)
    }
}

/// A 2xx response's partial success: `(rejected spans, error message)`, or `None` when the
/// response reports full success (or cannot be read: the status already says success).
fn partial_success(r: &http::Response, protocol: Protocol) -> Option<(u64, String)> {
    if r.body.is_empty() {
        return None;
    }
    let is_proto = r
        .header("content-type")
        .is_some_and(|t| t.contains("protobuf"));
    if is_proto || (protocol == Protocol::HttpProtobuf && r.header("content-type").is_none()) {
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

/// `Retry-After` as milliseconds from `now`: delta-seconds, or an HTTP date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`). A date in the past means "now" (0).
pub(crate) fn retry_after_ms(value: &str, now: SystemTime) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = parse_http_date(v)?;
    let now_ms = now.duration_since(UNIX_EPOCH).ok()?.as_millis();
    let at_ms = u128::from(at) * 1000;
    Some(u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch of an IMF-fixdate.
fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let mut it = rest.split(' ');
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    if !(1970..=9999).contains(&year) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let days = u64::try_from(days).ok()?;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(1_582_977_600)
        );
        for bad in [
            "",
            "-1",
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
        assert_eq!(d.config().protocol(), Protocol::HttpJson);
    }

    #[test]
    fn bad_env_values_name_their_variable() {
        let cases = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad%20name=1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x=a%0D%0Ab"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        for (var, value) in cases {
            let err = OtlpExporter::builder()
                .from_env_with(|k| (k == var).then(|| value.to_owned()))
                .build()
                .unwrap_err();
            match &err {
                ConfigError::Env { var: v, .. } => assert_eq!(*v, var),
                other => panic!("{var}={value}: {other:?}"),
            }
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }

    #[test]
    fn typed_builder_errors() {
        let b = OtlpExporter::builder;
        assert!(matches!(
            b().endpoint("https://h").build(),
            Err(ConfigError::TlsUnavailable { .. })
        ));
        assert!(matches!(
            b().header("content-type", "text/plain").build(),
            Err(ConfigError::InvalidHeader { .. })
        ));
        assert!(matches!(
            b().timeout(Duration::ZERO).build(),
            Err(ConfigError::InvalidTimeout(_))
        ));
        if !cfg!(feature = "proto") {
            assert!(matches!(
                b().protocol(Protocol::HttpProtobuf).build(),
                Err(ConfigError::ProtobufUnavailable)
            ));
            let env_proto = b()
                .from_env_with(|k| {
                    (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "http/protobuf".to_owned())
                })
                .build()
                .unwrap();
            assert_eq!(env_proto.config().protocol(), Protocol::HttpJson);
        }
    }
}
