//! Self-diagnostics: how the tracer says it is failing. Exports that fail, spans dropped
//! because a queue is full or a shutdown ran out of time, and `OTEL_*` values that were
//! ignored are reported as [`Diagnostic`]s to one process-wide handler: by default a line on
//! standard error starting `reqtrace: `; [`set_handler`] routes them elsewhere (a `tracing`
//! event, a log line, a metric, or nowhere). Layer: bottom (imports nothing of the crate).
//!
//! Reports are rate-limited per kind and subject: at most one per [`RATE_LIMIT`] (10 s); the
//! next one that gets through carries how many were suppressed in between, so a collector
//! that is down for an hour costs a few hundred lines, not one per batch.
//!
//! The one rule for bad configuration, across the crates: **a value given in code that is
//! invalid is an error** (the builder returns it); **a value from the environment
//! (`OTEL_*`) that is invalid is reported here and ignored**, the default used in its place,
//! as the OpenTelemetry specification asks of SDKs. The process starts; the line says what
//! was ignored and what is used instead.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use reqtrace_core::diagnostics::{self, DiagnosticKind};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&seen);
//! diagnostics::set_handler(move |d| sink.lock().unwrap().push((d.kind, d.message.clone())));
//!
//! // An unknown sampler name in the environment: reported, and the default kept.
//! let env = |k: &str| (k == "OTEL_TRACES_SAMPLER").then(|| "probabilistic".to_owned());
//! assert_eq!(reqtrace_core::Sampler::from_env_with(env), None);
//! let seen = seen.lock().unwrap();
//! assert_eq!(seen[0].0, DiagnosticKind::InvalidConfig);
//! assert!(seen[0].1.starts_with("OTEL_TRACES_SAMPLER=\"probabilistic\" ignored"));
//! # drop(seen);
//! # diagnostics::reset_handler();
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

/// The shortest time between two reports of the same kind and subject.
pub const RATE_LIMIT: Duration = Duration::from_secs(10);

/// What a [`Diagnostic`] is about. More kinds may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// An export attempt failed; the batch is retried (or, when it was the last attempt or
    /// the failure is permanent, dropped: then [`DiagnosticKind::SpansDropped`] follows).
    ExportFailed,
    /// Finished spans were lost: an export gave up, the export queue was full, or shutdown
    /// ran out of time. They are counted in [`crate::Stats`] too.
    SpansDropped,
    /// The destination accepted a request but rejected some of its spans (OTLP partial
    /// success).
    SpansRejected,
    /// A configuration value (an `OTEL_*` variable) was invalid and ignored.
    InvalidConfig,
}

impl DiagnosticKind {
    /// A short name: `export_failed`, `spans_dropped`, `spans_rejected`, `invalid_config`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticKind::ExportFailed => "export_failed",
            DiagnosticKind::SpansDropped => "spans_dropped",
            DiagnosticKind::SpansRejected => "spans_rejected",
            DiagnosticKind::InvalidConfig => "invalid_config",
        }
    }
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One report: what happened, in a sentence, and how many like it were suppressed since the
/// last one that got through.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// What it is about.
    pub kind: DiagnosticKind,
    /// What it is about within the kind: the variable's name for configuration, the
    /// service name for export reports. Reports are rate-limited per kind and subject.
    pub subject: String,
    /// What happened, and what the tracer does about it.
    pub message: String,
    /// Reports of the same kind and subject suppressed by the rate limit since the previous
    /// one that got through.
    pub suppressed: u64,
}

impl fmt::Display for Diagnostic {
    /// `{message}`, then `(N similar reports suppressed)` when there were some.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if self.suppressed > 0 {
            write!(f, " ({} similar reports suppressed)", self.suppressed)?;
        }
        Ok(())
    }
}

type Handler = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

fn handler_slot() -> &'static RwLock<Option<Handler>> {
    static SLOT: RwLock<Option<Handler>> = RwLock::new(None);
    &SLOT
}

/// Sends every later report to `handler` instead of standard error (replacing any handler
/// set before). The handler runs on the thread that reports (often the export worker's) and
/// must not block for long.
pub fn set_handler(handler: impl Fn(&Diagnostic) + Send + Sync + 'static) {
    *handler_slot().write() = Some(Arc::new(handler));
}

/// Goes back to the default handler: one line on standard error per report,
/// `reqtrace: {kind}: {message}`.
pub fn reset_handler() {
    *handler_slot().write() = None;
}

fn deliver(d: &Diagnostic) {
    let handler = handler_slot().read().clone();
    match handler {
        Some(h) => h(d),
        None => eprintln!("reqtrace: {}: {d}", d.kind),
    }
}

/// Reports `message()` (built only when the report is not suppressed) through the
/// process-wide rate limit, for `kind` and `subject`. For exporters and integrations
/// outside this crate; the tracer reports its own failures.
pub fn report(kind: DiagnosticKind, subject: &str, message: impl FnOnce() -> String) {
    static GLOBAL: OnceLock<RateLimiter> = OnceLock::new();
    GLOBAL
        .get_or_init(RateLimiter::default)
        .report(kind, subject, message);
}

/// Reports an invalid `OTEL_*` value that is ignored: `{var}={value:?} ignored: {why};
/// using {instead}`. Rate-limited per variable.
pub fn invalid_env(var: &str, value: &str, why: &dyn fmt::Display, instead: &str) {
    report(DiagnosticKind::InvalidConfig, var, || {
        let shown: String = value.chars().take(100).collect();
        format!("{var}={shown:?} ignored: {why}; using {instead}")
    });
}

#[derive(Default)]
struct Slot {
    last: Option<Instant>,
    suppressed: u64,
}

/// A rate limit of its own (each tracer's export worker has one, so that one tracer's
/// failures never hide another's).
#[derive(Default)]
pub(crate) struct RateLimiter {
    slots: Mutex<HashMap<(DiagnosticKind, String), Slot>>,
}

impl RateLimiter {
    /// Reports through this limiter, now.
    pub(crate) fn report(
        &self,
        kind: DiagnosticKind,
        subject: &str,
        message: impl FnOnce() -> String,
    ) {
        if let Some(suppressed) = self.admit(kind, subject, Instant::now()) {
            deliver(&Diagnostic {
                kind,
                subject: subject.to_owned(),
                message: message(),
                suppressed,
            });
        }
    }

    /// Whether a report at `now` gets through: `Some(suppressed since the last one)`, or
    /// `None` (counted as suppressed).
    fn admit(&self, kind: DiagnosticKind, subject: &str, now: Instant) -> Option<u64> {
        let mut slots = self.slots.lock();
        // Bounded: subjects are variable names and service names, but a caller could pass
        // anything; forget old slots rather than grow.
        if slots.len() >= 1024 && !slots.contains_key(&(kind, subject.to_owned())) {
            slots.clear();
        }
        let slot = slots.entry((kind, subject.to_owned())).or_default();
        match slot.last {
            Some(last) if now.saturating_duration_since(last) < RATE_LIMIT => {
                slot.suppressed += 1;
                None
            }
            _ => {
                slot.last = Some(now);
                Some(std::mem::take(&mut slot.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_interval_then_the_suppressed_count() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        let k = DiagnosticKind::ExportFailed;
        assert_eq!(l.admit(k, "a", t0), Some(0));
        for i in 1..=5 {
            assert_eq!(l.admit(k, "a", t0 + Duration::from_secs(i)), None);
        }
        // Another subject and another kind are limited separately.
        assert_eq!(l.admit(k, "b", t0), Some(0));
        assert_eq!(l.admit(DiagnosticKind::SpansDropped, "a", t0), Some(0));
        assert_eq!(
            l.admit(k, "a", t0 + RATE_LIMIT - Duration::from_millis(1)),
            None
        );
        assert_eq!(l.admit(k, "a", t0 + RATE_LIMIT), Some(6));
        assert_eq!(l.admit(k, "a", t0 + RATE_LIMIT), None);
        assert_eq!(l.admit(k, "a", t0 + RATE_LIMIT * 2), Some(1));
    }

    #[test]
    fn the_slot_table_stays_bounded() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..5000 {
            l.admit(DiagnosticKind::InvalidConfig, &i.to_string(), t0);
        }
        assert!(l.slots.lock().len() <= 1024);
    }

    #[test]
    fn display_names_the_suppressed_reports() {
        let mut d = Diagnostic {
            kind: DiagnosticKind::SpansDropped,
            subject: "api".into(),
            message: "export queue full: 3 spans dropped".into(),
            suppressed: 0,
        };
        assert_eq!(d.to_string(), "export queue full: 3 spans dropped");
        d.suppressed = 2;
        assert!(d.to_string().ends_with("(2 similar reports suppressed)"));
    }
}
