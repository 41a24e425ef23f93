//! The crate's typed errors: [`ConfigError`] (refused configuration given in code, at build
//! time; invalid `OTEL_*` values are reported and ignored instead) and
//! [`SendError`] (one request that did not succeed, at export time).

use std::fmt;

use reqtrace_core::ExportError;

/// Why a configuration value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not an `http://` or `https://` URL this exporter can reach.
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `https://` endpoint, or a TLS setting, but the crate was built without its `tls`
    /// feature.
    TlsUnavailable {
        /// The endpoint as given.
        endpoint: String,
    },
    /// A certificate or key (`OTEL_EXPORTER_OTLP_CERTIFICATE`, `..._CLIENT_CERTIFICATE`,
    /// `..._CLIENT_KEY`) that cannot be read or holds no usable PEM item.
    InvalidTlsFile {
        /// The file's path, or `"<PEM>"` for PEM given in memory.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A client certificate without its key, or a key without its certificate.
    IncompleteClientIdentity,
    /// A proxy URL that the HTTP client does not accept.
    InvalidProxy {
        /// The proxy URL as given.
        proxy: String,
    },
    /// A header name or value that cannot be sent, or a header the exporter sets itself.
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `key=value,key2=value2` list (`OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_RESOURCE_ATTRIBUTES`) that does not parse.
    InvalidList {
        /// The offending entry.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A compression other than `gzip` or `none`.
    UnknownCompression(String),
    /// A protocol other than `http/protobuf`, `http/json` or `grpc`.
    UnknownProtocol(String),
    /// `http/protobuf` was asked for, but the crate was built without its `proto` feature.
    ProtobufUnavailable,
    /// A timeout that is not a positive whole number of milliseconds.
    InvalidTimeout(String),
    /// `grpc` was asked for, but the crate was built without its `grpc` feature.
    GrpcUnavailable,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidEndpoint { endpoint, reason } => {
                write!(f, "invalid OTLP endpoint {endpoint:?}: {reason}")
            }
            ConfigError::TlsUnavailable { endpoint } => write!(
                f,
                "OTLP endpoint {endpoint:?} needs TLS: build reqtrace-otlp with its `tls` feature"
            ),
            ConfigError::InvalidTlsFile { path, reason } => {
                write!(f, "OTLP TLS file {path}: {reason}")
            }
            ConfigError::IncompleteClientIdentity => f.write_str(
                "an OTLP client certificate and its client key must be configured together",
            ),
            ConfigError::InvalidProxy { proxy } => write!(f, "invalid proxy URL {proxy:?}"),
            ConfigError::InvalidHeader { name, reason } => {
                write!(f, "invalid OTLP header {name:?}: {reason}")
            }
            ConfigError::InvalidList { entry, reason } => {
                write!(f, "invalid key=value list entry {entry:?}: {reason}")
            }
            ConfigError::UnknownCompression(c) => {
                write!(f, "unknown OTLP compression {c:?} (expected gzip or none)")
            }
            ConfigError::UnknownProtocol(p) => write!(
                f,
                "unsupported OTLP protocol {p:?} (expected http/protobuf, http/json or grpc)"
            ),
            ConfigError::GrpcUnavailable => {
                f.write_str("OTLP grpc needs reqtrace-otlp's `grpc` feature (or set http/protobuf)")
            }
            ConfigError::ProtobufUnavailable => f.write_str(
                "OTLP http/protobuf needs reqtrace-otlp's `proto` feature (or set http/json)",
            ),
            ConfigError::InvalidTimeout(t) => write!(
                f,
                "invalid OTLP timeout {t:?} (expected a positive number of milliseconds)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why one request to the receiver did not succeed ([`crate::OtlpExporter::send`]).
///
/// [`SendError::is_transient`] says whether sending the same batch again may succeed; the
/// [`reqtrace_core::SpanExporter`] implementation turns transient errors into
/// [`ExportError::Transient`] (the worker retries) and the others into
/// [`ExportError::Permanent`] (the worker drops the batch and counts it).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No connection: refused, reset, unreachable, name not resolved, proxy failure.
    /// Transient.
    Connect(String),
    /// The request did not complete within the configured timeout. Transient.
    Timeout(String),
    /// The TLS handshake failed: a server certificate no configured root vouches for, a
    /// name mismatch, a client certificate the server refused. Permanent (retrying the
    /// same configuration cannot help).
    Tls(String),
    /// The reply is not HTTP (or is cut short). Transient.
    Protocol(String),
    /// The receiver answered with a status other than `2xx`. `429`, `502`, `503` and `504`
    /// are transient (with the `Retry-After` hint, if any); the others are permanent.
    Status {
        /// The HTTP status.
        status: u16,
        /// The endpoint, the status and the start of the body, printable.
        message: String,
        /// `Retry-After` in milliseconds from when the reply arrived.
        retry_after_ms: Option<u64>,
    },
    /// The batch could not be encoded or compressed. Permanent.
    Encode(String),
    /// An OTLP/gRPC call ended with a non-OK status. Transient for the codes the OTLP
    /// specification lists as retryable (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, …;
    /// `RESOURCE_EXHAUSTED` only with a server retry delay), permanent otherwise.
    Grpc {
        /// The gRPC status code.
        code: i32,
        /// The endpoint, the code and the status message, printable.
        message: String,
        /// The delay of the server's `google.rpc.RetryInfo`, in milliseconds.
        retry_after_ms: Option<u64>,
    },
}

impl SendError {
    /// Whether the same request may succeed later (the export worker retries it).
    pub fn is_transient(&self) -> bool {
        match self {
            SendError::Connect(_) | SendError::Timeout(_) | SendError::Protocol(_) => true,
            SendError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            SendError::Tls(_) | SendError::Encode(_) => false,
            SendError::Grpc {
                code,
                retry_after_ms,
                ..
            } => grpc_retryable(*code, retry_after_ms.is_some()),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(m) | SendError::Protocol(m) | SendError::Encode(m) => f.write_str(m),
            SendError::Timeout(m) => write!(f, "{m} (timed out)"),
            SendError::Tls(m) => write!(f, "TLS: {m}"),
            SendError::Status { message, .. } | SendError::Grpc { message, .. } => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for ExportError {
    fn from(e: SendError) -> ExportError {
        let retry_after_ms = match &e {
            SendError::Status { retry_after_ms, .. } | SendError::Grpc { retry_after_ms, .. } => {
                *retry_after_ms
            }
            _ => None,
        };
        if e.is_transient() {
            ExportError::Transient {
                message: e.to_string(),
                retry_after_ms,
            }
        } else {
            ExportError::Permanent(e.to_string())
        }
    }
}

/// Whether a gRPC status code may succeed on a retry, as the OTLP specification lists them:
/// `CANCELLED` (1), `DEADLINE_EXCEEDED` (4), `ABORTED` (10), `OUT_OF_RANGE` (11),
/// `UNAVAILABLE` (14), `DATA_LOSS` (15); `RESOURCE_EXHAUSTED` (8) only when the server sent a
/// retry delay (`google.rpc.RetryInfo`). Every other code is permanent.
pub(crate) fn grpc_retryable(code: i32, has_retry_info: bool) -> bool {
    match code {
        1 | 4 | 10 | 11 | 14 | 15 => true,
        8 => has_retry_info,
        _ => false,
    }
}
