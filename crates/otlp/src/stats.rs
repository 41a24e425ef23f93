//! [`OtlpStats`]: what the exporter sent and what the receiver said about it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub successes: AtomicU64,
    pub spans_sent: AtomicU64,
    pub spans_rejected: AtomicU64,
    pub partial_successes: AtomicU64,
    pub retryable_responses: AtomicU64,
    pub failed_responses: AtomicU64,
    pub connection_errors: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_uncompressed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn set_last_error(&self, message: String) {
        let mut slot = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(message);
    }
}

/// A handle on an [`crate::OtlpExporter`]'s counters; clone it before handing the exporter to
/// the tracer, read it any time (from any thread).
///
/// These count HTTP requests and the receiver's answers. The tracer's own
/// [`reqtrace_core::ExportStats`] counts spans exported, retried and dropped.
///
/// ```
/// let exporter = reqtrace_otlp::OtlpExporter::builder().build().unwrap();
/// let stats = exporter.stats();
/// assert_eq!(stats.snapshot().requests, 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct OtlpStats {
    pub(crate) inner: Arc<Counters>,
}

impl OtlpStats {
    /// The counters now.
    pub fn snapshot(&self) -> OtlpStatsSnapshot {
        let c = &self.inner;
        OtlpStatsSnapshot {
            requests: c.requests.load(Relaxed),
            successes: c.successes.load(Relaxed),
            spans_sent: c.spans_sent.load(Relaxed),
            spans_rejected: c.spans_rejected.load(Relaxed),
            partial_successes: c.partial_successes.load(Relaxed),
            retryable_responses: c.retryable_responses.load(Relaxed),
            failed_responses: c.failed_responses.load(Relaxed),
            connection_errors: c.connection_errors.load(Relaxed),
            bytes_sent: c.bytes_sent.load(Relaxed),
            bytes_uncompressed: c.bytes_uncompressed.load(Relaxed),
        }
    }

    /// The last failure or rejection message: a connection error, an error status with the
    /// start of its body, or a partial success's `errorMessage`.
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A copy of an [`OtlpStats`]' counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpStatsSnapshot {
    /// HTTP requests attempted (each retry is a request).
    pub requests: u64,
    /// Requests answered with a `2xx` status.
    pub successes: u64,
    /// Spans in requests answered with `2xx` (including spans the receiver then rejected).
    pub spans_sent: u64,
    /// Spans the receiver reported as rejected in a partial-success response.
    pub spans_rejected: u64,
    /// `2xx` responses that carried a partial success (rejected spans or a warning).
    pub partial_successes: u64,
    /// Responses `429`, `502`, `503` or `504`: the batch was handed back to the tracer's
    /// worker to retry.
    pub retryable_responses: u64,
    /// Responses with any other non-`2xx` status (the batch is dropped by the worker).
    pub failed_responses: u64,
    /// Requests that got no HTTP response: refused or failed connections, timeouts,
    /// malformed replies (retried by the worker).
    pub connection_errors: u64,
    /// Request body bytes sent (after compression).
    pub bytes_sent: u64,
    /// Request body bytes before compression.
    pub bytes_uncompressed: u64,
}

impl OtlpStatsSnapshot {
    /// Spans the receiver accepted: sent minus rejected.
    pub fn spans_accepted(&self) -> u64 {
        self.spans_sent.saturating_sub(self.spans_rejected)
    }
}

impl fmt::Display for OtlpStatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requests {} (ok {}, retryable {}, failed {}, connection errors {}), spans sent {} \
             rejected {}, bytes {} ({} uncompressed)",
            self.requests,
            self.successes,
            self.retryable_responses,
            self.failed_responses,
            self.connection_errors,
            self.spans_sent,
            self.spans_rejected,
            self.bytes_sent,
            self.bytes_uncompressed
        )
    }
}
