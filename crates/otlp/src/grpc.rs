//! OTLP/gRPC (feature `grpc`): the same protobuf `ExportTraceServiceRequest` the HTTP
//! transport posts (one mapping, `proto.rs`), sent as the unary call
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export` over HTTP/2 with tonic.
//!
//! The body is already protobuf, so tonic carries it through a codec of raw bytes: no
//! generated types. The exporter stays synchronous (its worker thread calls `export`); each
//! exporter owns a one-thread tokio runtime that drives its channel, shared by its clones.
//! Statuses are sorted as the OTLP specification asks: `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS` are retried, `RESOURCE_EXHAUSTED`
//! only when the server sends a `google.rpc.RetryInfo` (whose delay is honoured, like
//! `Retry-After`), every other code is permanent.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut};
use tonic::Status;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint as TonicEndpoint};

use crate::config::{Endpoint, Scheme};
use crate::error::{ConfigError, SendError};
use crate::proto_wire::ProtoReader;
use crate::tls::TlsSettings;

/// The RPC OTLP receivers serve traces on.
pub(crate) const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Most response bytes read (a partial-success message).
const MAX_RESPONSE: usize = 1024 * 1024;

/// Added to failures of gRPC requests to 4318, the OTLP/HTTP port.
const HTTP_PORT_HINT: &str =
    " (port 4318 is OTLP/HTTP's; this exporter speaks OTLP/gRPC, which a Collector serves on 4317)";

/// The channel of one exporter and the runtime that drives it (cheap to clone: shared).
#[derive(Clone)]
pub(crate) struct GrpcTransport {
    runtime: Arc<tokio::runtime::Runtime>,
    channel: Channel,
    metadata: MetadataMap,
    gzip: bool,
    timeout: Duration,
    endpoint: String,
    port: u16,
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("endpoint", &self.endpoint)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl GrpcTransport {
    /// A lazily connecting channel to `endpoint` (its path is ignored: gRPC calls name their
    /// own), with `headers` as metadata on every call.
    pub fn new(
        endpoint: &Endpoint,
        timeout: Duration,
        tls: &TlsSettings,
        headers: &[(String, String)],
        gzip: bool,
    ) -> Result<GrpcTransport, ConfigError> {
        let bad = |reason| ConfigError::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            reason,
        };
        let scheme = match endpoint.scheme() {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let host = if endpoint.host().contains(':') {
            format!("[{}]", endpoint.host())
        } else {
            endpoint.host().to_owned()
        };
        let origin = format!("{scheme}://{host}:{}", endpoint.port());
        let mut builder = TonicEndpoint::from_shared(origin.clone())
            .map_err(|_| bad("not a valid gRPC endpoint"))?
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("reqtrace-otlp/", env!("CARGO_PKG_VERSION")))
            .map_err(|_| bad("not a valid gRPC endpoint"))?;
        if endpoint.scheme() == Scheme::Https {
            #[cfg(feature = "tls")]
            {
                builder = builder
                    .tls_config(tls.grpc_config(endpoint.host())?)
                    .map_err(|_| bad("TLS settings the gRPC client refuses"))?;
            }
            #[cfg(not(feature = "tls"))]
            return Err(ConfigError::TlsUnavailable {
                endpoint: endpoint.to_string(),
            });
        }
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("reqtrace-otlp-grpc")
            .enable_all()
            .build()
            .map_err(|_| bad("no runtime for the gRPC client could be started"))?;
        let channel = {
            let _entered = runtime.enter();
            builder.connect_lazy()
        };
        let mut metadata = MetadataMap::new();
        for (k, v) in headers {
            let key =
                AsciiMetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
                    ConfigError::InvalidHeader {
                        name: k.clone(),
                        reason: "not a valid gRPC metadata key",
                    }
                })?;
            let value = AsciiMetadataValue::try_from(v.as_str()).map_err(|_| {
                ConfigError::InvalidHeader {
                    name: k.clone(),
                    reason: "not a valid gRPC metadata value",
                }
            })?;
            metadata.append(key, value);
        }
        Ok(GrpcTransport {
            runtime: Arc::new(runtime),
            channel,
            metadata,
            gzip,
            timeout,
            endpoint: origin,
            port: endpoint.port(),
        })
    }

    /// Sends `body` (an encoded `ExportTraceServiceRequest`) and returns the response message
    /// (an `ExportTraceServiceResponse`, possibly empty), within the timeout.
    pub fn export(&self, body: Vec<u8>) -> Result<Vec<u8>, SendError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.max_decoding_message_size(MAX_RESPONSE);
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let call = async move {
            grpc.ready()
                .await
                .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
            let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
            grpc.unary(request, path, RawCodec).await
        };
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, call).await });
        match outcome {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(self.status_error(&status)),
            Err(_) => Err(SendError::Timeout(format!(
                "gRPC {EXPORT_PATH} to {}",
                self.endpoint
            ))),
        }
    }

    fn status_error(&self, status: &Status) -> SendError {
        let code = status.code();
        let mut message = format!(
            "gRPC {EXPORT_PATH} to {} answered {code:?}: {}",
            self.endpoint,
            status.message()
        );
        if self.port == 4318 {
            message.push_str(HTTP_PORT_HINT);
        }
        // A refused certificate arrives as UNAVAILABLE; retrying cannot fix it (as for HTTP).
        if tls_failure(status) {
            return SendError::Tls(message);
        }
        SendError::Grpc {
            code: code as i32,
            message,
            retry_after_ms: retry_delay_ms(status.details()),
        }
    }
}

/// Whether `status` comes from a TLS handshake that failed on the certificates (a rustls
/// error in its source chain).
fn tls_failure(status: &Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(status);
    for _ in 0..16 {
        let Some(e) = source else { break };
        #[cfg(feature = "tls")]
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(_)
            );
        }
        if e.to_string().contains("invalid peer certificate") {
            return true;
        }
        source = e.source();
    }
    false
}

/// The delay of a `google.rpc.RetryInfo` in a `grpc-status-details-bin` (a
/// `google.rpc.Status`), in milliseconds. Malformed input gives `None`, never a panic.
pub(crate) fn retry_delay_ms(details: &[u8]) -> Option<u64> {
    const RETRY_INFO: &str = "type.googleapis.com/google.rpc.RetryInfo";
    let mut status = ProtoReader::new(details);
    while let Ok(Some((field, value))) = status.next_field() {
        // google.rpc.Status.details = 3 (repeated google.protobuf.Any)
        let Some(any) = (field == 3).then(|| value.as_len()).flatten() else {
            continue;
        };
        let (mut type_url, mut payload) = (None, None);
        let mut r = ProtoReader::new(any);
        while let Ok(Some((f, v))) = r.next_field() {
            match f {
                1 => type_url = v.as_len(),
                2 => payload = v.as_len(),
                _ => {}
            }
        }
        if type_url != Some(RETRY_INFO.as_bytes()) {
            continue;
        }
        // RetryInfo.retry_delay = 1 (google.protobuf.Duration { seconds = 1, nanos = 2 })
        let mut info = ProtoReader::new(payload?);
        while let Ok(Some((f, v))) = info.next_field() {
            if f != 1 {
                continue;
            }
            let (mut seconds, mut nanos) = (0u64, 0u64);
            let mut d = ProtoReader::new(v.as_len()?);
            while let Ok(Some((df, dv))) = d.next_field() {
                match df {
                    1 => seconds = dv.as_varint().unwrap_or(0),
                    2 => nanos = dv.as_varint().unwrap_or(0).min(999_999_999),
                    _ => {}
                }
            }
            // Negative seconds (two's complement varints) are no delay we can honour.
            if seconds > i64::MAX as u64 {
                return None;
            }
            return Some(
                seconds
                    .saturating_mul(1000)
                    .saturating_add(nanos / 1_000_000),
            );
        }
    }
    None
}

/// A tonic codec whose messages are bytes already encoded (protobuf made elsewhere): what
/// the exporter sends its `ExportTraceServiceRequest` with, and what a test receiver or a
/// hand-written gRPC service can decode and answer with, without generated types.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::grpc_retryable;
    use crate::proto_wire::ProtoWriter;

    fn status_with_retry_info(seconds: u64, nanos: u64, type_url: &str) -> Vec<u8> {
        let mut duration = Vec::new();
        let mut w = ProtoWriter::new(&mut duration);
        w.uint(1, seconds);
        w.uint(2, nanos);
        w.finish();
        let mut info = Vec::new();
        let mut w = ProtoWriter::new(&mut info);
        w.bytes(1, &duration);
        w.finish();
        let mut any = Vec::new();
        let mut w = ProtoWriter::new(&mut any);
        w.string(1, type_url);
        w.bytes(2, &info);
        w.finish();
        let mut status = Vec::new();
        let mut w = ProtoWriter::new(&mut status);
        w.uint(1, 8);
        w.string(2, "slow down");
        w.bytes(3, &any);
        w.finish();
        status
    }

    #[test]
    fn retry_info_gives_the_delay_and_junk_gives_none() {
        let ok = status_with_retry_info(2, 500_000_000, "type.googleapis.com/google.rpc.RetryInfo");
        assert_eq!(retry_delay_ms(&ok), Some(2_500));
        let other = status_with_retry_info(2, 0, "type.googleapis.com/google.rpc.DebugInfo");
        assert_eq!(retry_delay_ms(&other), None);
        assert_eq!(retry_delay_ms(&[]), None);
        for cut in 0..ok.len() {
            let _ = retry_delay_ms(&ok[..cut]); // never panics
        }
        assert_eq!(retry_delay_ms(&[0xff; 64]), None);
    }

    #[test]
    fn codes_sort_as_the_otlp_specification_says() {
        use tonic::Code;
        for c in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert!(grpc_retryable(c as i32, false), "{c:?}");
        }
        assert!(!grpc_retryable(Code::ResourceExhausted as i32, false));
        assert!(grpc_retryable(Code::ResourceExhausted as i32, true));
        for c in [
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Unimplemented,
            Code::Internal,
            Code::NotFound,
        ] {
            assert!(!grpc_retryable(c as i32, false), "{c:?}");
        }
    }
}
