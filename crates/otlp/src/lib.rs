//! # reqtrace-otlp
//!
//! Sends reqtrace spans to an OpenTelemetry Collector (or any OTLP/HTTP receiver: Jaeger,
//! Tempo, Arize Phoenix, ...): an [`OtlpExporter`] that POSTs each batch of the tracer's
//! export worker to `{endpoint}/v1/traces` as OTLP protobuf (the default) or OTLP/JSON,
//! optionally gzip-compressed, over kept-alive HTTP/1.1 or HTTPS connections, configured in
//! code or by the standard `OTEL_*` variables.
//!
//! ```
//! use std::time::Duration;
//! use reqtrace_core::{BatchConfig, RequestTracer};
//! use reqtrace_otlp::{Compression, OtlpExporter};
//!
//! // In production `.from_env()` reads the process environment; here a stand-in.
//! let env = |name: &str| match name {
//!     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:4318".to_owned()),
//!     "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-api-key=s3cret".to_owned()),
//!     _ => None,
//! };
//! let exporter = OtlpExporter::builder()
//!     .from_env_with(env)
//!     .gzip(true)
//!     .timeout(Duration::from_secs(3))
//!     .build()?;
//! assert_eq!(exporter.config().endpoint().to_string(), "http://127.0.0.1:4318/v1/traces");
//! assert_eq!(exporter.config().compression(), Compression::Gzip);
//!
//! let otlp_stats = exporter.stats(); // readable after the exporter moves into the tracer
//! let tracer = RequestTracer::builder("checkout")
//!     .exporter(exporter, BatchConfig::default())
//!     .build();
//! // ... start traces and spans; the worker thread exports them as they finish ...
//! tracer.shutdown()?; // delivers what is queued
//! assert_eq!(otlp_stats.snapshot().requests, 0); // nothing was traced here
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With a collector listening, a whole service set up from the environment
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_*`,
//! `OTEL_TRACES_SAMPLER`):
//!
//! ```no_run
//! use reqtrace_core::BatchConfig;
//!
//! let (builder, otlp_stats) = reqtrace_otlp::tracer_builder_from_env(BatchConfig::default())?;
//! let tracer = builder.build();
//! tracer.start_trace();
//! {
//!     let mut span = tracer.start_span("handle_request");
//!     span.set_attribute("http.route", "/v1/chat");
//! }
//! tracer.end_trace();
//! tracer.shutdown()?;
//! let export = tracer.stats().export;
//! println!("exported {} spans, dropped {}", export.exported, export.dropped_failed);
//! println!("{}", otlp_stats.snapshot());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Delivery
//! Each `export` call is one HTTP/1.1 request, bounded by the timeout, over a connection
//! kept alive between requests (an [`OtlpExporter`] and its clones share one pool).
//! Throttling and unavailability (`429`, `502`, `503`, `504`, connection errors, timeouts)
//! are transient: the tracer's worker retries them with backoff, honouring `Retry-After`
//! (delta-seconds or any HTTP date, capped by [`reqtrace_core::BatchConfig::max_backoff`]);
//! other statuses and TLS failures drop the batch. [`OtlpExporter::send`] returns the typed
//! [`SendError`]. Partial successes are counted in [`OtlpStats`].
//!
//! ## TLS and proxies
//! `https://` endpoints are verified against Mozilla's roots, or only against the CA of
//! [`OtlpExporterBuilder::certificate`] (`OTEL_EXPORTER_OTLP_CERTIFICATE`); a client
//! certificate for mutual TLS comes from [`OtlpExporterBuilder::client_certificate`] and
//! [`OtlpExporterBuilder::client_key`] (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` /
//! `_CLIENT_KEY`). Requests go through the proxy of `ALL_PROXY` / `HTTPS_PROXY` /
//! `HTTP_PROXY` unless `NO_PROXY` lists the host, or through
//! [`OtlpExporterBuilder::proxy`]; [`OtlpExporterBuilder::no_proxy`] connects directly.
//!
//! ## Features
//! - `proto` (default): OTLP protobuf bodies ([`Protocol::HttpProtobuf`], the default
//!   protocol), written by reqtrace's own encoder from the same mapping as OTLP/JSON
//!   ([`reqtrace_export_json::otlp_mapping`]); it adds no dependency. Without it the default
//!   is `http/json`, and asking for protobuf is a [`ConfigError::ProtobufUnavailable`].
//! - `tls` (default): `https://` endpoints, through rustls with the ring provider. Without
//!   it an `https://` endpoint or a TLS setting is a [`ConfigError::TlsUnavailable`].
//! - `grpc` (off by default: tonic, hyper, h2 and tokio are heavy): OTLP/gRPC,
//!   [`Protocol::Grpc`] / `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, the same protobuf request as
//!   the unary `TraceService/Export` call (default endpoint `http://localhost:4317`, used as
//!   it is), gzip per message, headers as metadata, TLS with the same settings, and the
//!   specification's retry rules for status codes (`UNAVAILABLE` and the like retried,
//!   `RESOURCE_EXHAUSTED` only with a `RetryInfo`, whose delay is honoured). Without it
//!   asking for grpc is a [`ConfigError::GrpcUnavailable`] in code, and reported and
//!   ignored from the environment.

mod config;
mod error;
mod exporter;
#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "grpc")]
pub use grpc::RawCodec;
#[cfg(feature = "proto")]
mod proto;
#[cfg(feature = "proto")]
mod proto_wire;
mod stats;
mod tls;
mod transport;

use std::borrow::Cow;

use reqtrace_core::{BatchConfig, KeyValue, RequestTracer, RequestTracerBuilder, Resource};

pub use config::{
    Compression, ConfigError, DEFAULT_ENDPOINT, Endpoint, Protocol, Scheme, TRACES_PATH,
    parse_key_value_list,
};
pub use error::SendError;
pub use exporter::{DEFAULT_TIMEOUT, OtlpConfig, OtlpExporter, OtlpExporterBuilder};
#[cfg(feature = "proto")]
pub use proto::encode_protobuf_batch;
pub use stats::{OtlpStats, OtlpStatsSnapshot};

/// The service name when none is configured (as in the OpenTelemetry SDKs).
pub use reqtrace_core::UNKNOWN_SERVICE;

/// The [`Resource`] of this process: what [`Resource::detected`] finds (service instance,
/// process, host, SDK), updated by `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` from
/// the process environment (see [`resource_from_env_with`]).
pub fn resource_from_env() -> Resource {
    resource_from_env_with(|k| std::env::var(k).ok())
}

/// The [`Resource`] of this process, with the environment read through `lookup`, in the
/// OpenTelemetry specification's order (later wins): what [`Resource::detected`] finds, then
/// `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, percent-decoded, string values), then
/// `OTEL_SERVICE_NAME` for the service name. The service name is `OTEL_SERVICE_NAME`, else
/// `service.name` from the attributes, else `unknown_service:<executable name>`. An
/// `OTEL_RESOURCE_ATTRIBUTES` that does not parse is reported and ignored
/// (`reqtrace_core::diagnostics`: the rule for every `OTEL_*` value). Attributes set in code
/// on the tracer builder win over all of these.
///
/// ```
/// let env = |k: &str| match k {
///     "OTEL_SERVICE_NAME" => Some("checkout".to_owned()),
///     "OTEL_RESOURCE_ATTRIBUTES" => Some("service.version=1.2,host.name=from-env".to_owned()),
///     _ => None,
/// };
/// let resource = reqtrace_otlp::resource_from_env_with(env);
/// assert_eq!(resource.service_name, "checkout");
/// let attr = |k| resource.attribute(k).and_then(|v| v.as_str());
/// assert_eq!(attr("service.version"), Some("1.2"));
/// assert_eq!(attr("host.name"), Some("from-env"), "the environment wins over detection");
/// assert!(resource.attribute("process.pid").is_some(), "detected");
/// let unnamed = reqtrace_otlp::resource_from_env_with(|_| None);
/// assert!(unnamed.service_name.starts_with("unknown_service"));
/// ```
pub fn resource_from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Resource {
    const VAR: &str = "OTEL_RESOURCE_ATTRIBUTES";
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let attrs = get(VAR)
        .and_then(|list| match parse_key_value_list(&list) {
            Ok(attrs) => Some(attrs),
            Err(e) => {
                reqtrace_core::diagnostics::invalid_env(VAR, &list, &e, "no resource attributes");
                None
            }
        })
        .unwrap_or_default();
    let mut service: Option<String> = get("OTEL_SERVICE_NAME").map(|s| s.trim().to_owned());
    let mut from_env = Resource::new(UNKNOWN_SERVICE);
    for (k, v) in attrs {
        if k == "service.name" {
            service.get_or_insert(v);
        } else {
            from_env = from_env.with_attribute(KeyValue::new(k, v));
        }
    }
    if let Some(s) = service {
        from_env.service_name = Cow::Owned(s);
    }
    Resource::detected().merge(from_env)
}

/// A tracer builder set up entirely from the environment: the service and resource from
/// `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`, the sampler from `OTEL_TRACES_SAMPLER`,
/// and an [`OtlpExporter`] from `OTEL_EXPORTER_OTLP_*` with `batch`. Returns the exporter's
/// [`OtlpStats`] handle beside it. Adjust the builder further, then `build()` it.
pub fn tracer_builder_from_env(
    batch: BatchConfig,
) -> Result<(RequestTracerBuilder, OtlpStats), ConfigError> {
    let resource = resource_from_env();
    let exporter = OtlpExporter::from_env()?;
    let stats = exporter.stats();
    let mut builder = RequestTracer::builder(resource.service_name);
    for kv in resource.attributes {
        builder = builder.resource_attribute(kv.key, kv.value);
    }
    Ok((builder.sampler_from_env().exporter(exporter, batch), stats))
}
