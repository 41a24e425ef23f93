//! Identifiers: [`TraceId`], [`SpanId`], [`TraceFlags`] and the [`SpanContext`] that carries them.
//!
//! The wire forms follow W3C Trace Context: a trace id is 32 lowercase hex digits, a span id 16,
//! flags 2. All-zero ids are invalid and cannot be constructed through the checked constructors.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an id could not be parsed from its hex form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdError {
    /// The text had the wrong number of characters (`expected`, `found`).
    Length {
        /// Characters the id needs.
        expected: usize,
        /// Characters given (capped at the input length).
        found: usize,
    },
    /// A character that is not a lowercase hex digit, at byte offset `at`.
    NotLowercaseHex {
        /// Byte offset of the first offending character.
        at: usize,
    },
    /// The id was all zeros, which W3C Trace Context forbids.
    AllZero,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Length { expected, found } => {
                write!(f, "expected {expected} hex characters, found {found}")
            }
            IdError::NotLowercaseHex { at } => {
                write!(f, "character at offset {at} is not a lowercase hex digit")
            }
            IdError::AllZero => f.write_str("id is all zeros, which is invalid"),
        }
    }
}

impl std::error::Error for IdError {}

/// Parses exactly `N * 2` lowercase hex characters into bytes. Uppercase is rejected, as W3C
/// Trace Context requires.
pub(crate) fn parse_lower_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return Err(IdError::Length {
            expected: N * 2,
            found: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(IdError::NotLowercaseHex { at: i * 2 })?;
        let lo = hex_val(pair[1]).ok_or(IdError::NotLowercaseHex { at: i * 2 + 1 })?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A 128-bit trace id, shared by every span of one trace across services.
///
/// New ids come from UUID v4, whose rightmost 7 bytes are random, so reqtrace sets the W3C
/// `random` trace flag on the traces it starts.
///
/// ```
/// use reqtrace_core::TraceId;
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!("4BF92F3577B34DA6A3CE929D0E0E4736".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// A new random trace id (UUID v4 bits; never zero).
    pub fn random() -> Self {
        // A v4 UUID has its version nibble set, so it is never zero.
        TraceId(uuid::Uuid::new_v4().as_u128())
    }

    /// The id from its integer value; `None` for zero.
    pub const fn from_u128(value: u128) -> Option<Self> {
        if value == 0 {
            None
        } else {
            Some(TraceId(value))
        }
    }

    /// The id from 16 big-endian bytes; `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        Self::from_u128(u128::from_be_bytes(bytes))
    }

    /// The integer value.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// The 16 big-endian bytes (the order of the hex form).
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bytes = parse_lower_hex::<16>(s)?;
        TraceId::from_bytes(bytes).ok_or(IdError::AllZero)
    }
}

/// A 64-bit span id, unique within its trace. Never zero.
///
/// ```
/// use reqtrace_core::SpanId;
/// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// assert!("0000000000000000".parse::<SpanId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl SpanId {
    /// The id from its integer value; `None` for zero.
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(v) => Some(SpanId(v)),
            None => None,
        }
    }

    /// The id from 8 big-endian bytes; `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(bytes))
    }

    /// The integer value (never zero).
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The 8 big-endian bytes (the order of the hex form).
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// A new random span id from the calling thread's generator (wyrand, seeded from the OS).
    pub fn random() -> Self {
        SpanId(crate::util::rng::next_nonzero())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0.get())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl FromStr for SpanId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bytes = parse_lower_hex::<8>(s)?;
        SpanId::from_bytes(bytes).ok_or(IdError::AllZero)
    }
}

macro_rules! hex_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(TraceId);
hex_serde!(SpanId);

/// W3C trace flags: a bit field of which Level 2 defines `sampled` (0x01) and `random` (0x02).
///
/// ```
/// use reqtrace_core::TraceFlags;
/// let f = TraceFlags::SAMPLED | TraceFlags::RANDOM;
/// assert!(f.is_sampled() && f.is_random());
/// assert_eq!(f.to_string(), "03");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set: not sampled.
    pub const NONE: TraceFlags = TraceFlags(0);
    /// The caller may have recorded the trace.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// The trace id's rightmost 7 bytes are random (W3C Trace Context Level 2).
    pub const RANDOM: TraceFlags = TraceFlags(0x02);
    /// The bits this version of the spec defines; others are not emitted.
    pub const KNOWN: TraceFlags = TraceFlags(0x03);

    /// Flags from their byte, keeping unknown bits (use [`TraceFlags::known`] before emitting).
    pub const fn from_u8(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// The byte.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// Only the bits the spec defines.
    pub const fn known(self) -> Self {
        TraceFlags(self.0 & Self::KNOWN.0)
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the `random` bit is set.
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with `sampled` set to `sampled`.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | Self::SAMPLED.0)
        } else {
            TraceFlags(self.0 & !Self::SAMPLED.0)
        }
    }
}

impl std::ops::BitOr for TraceFlags {
    type Output = TraceFlags;
    fn bitor(self, rhs: TraceFlags) -> TraceFlags {
        TraceFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// The part of a span that crosses boundaries: trace id, span id, flags, and whether it came
/// from another process. A plain value (as in OpenTelemetry and fastrace): it holds no link to
/// any live trace, so keeping contexts (for a link, a log line, a cache) keeps nothing open.
///
/// Take one with [`crate::SpanGuard::context`] or
/// [`crate::RequestTracer::current_span_context`] to inject into a header or a log line. To
/// parent work on another thread or task *in this process* so that its spans join the same
/// local trace, hand over a [`crate::SpanHandle`] instead
/// ([`crate::SpanGuard::handle`], [`crate::RequestTracer::current_span_handle`]). A context
/// parsed from a header (see `reqtrace-propagation`) has `is_remote` set, and is accepted
/// wherever a parent is: [`crate::RequestTracer::start_span_with_parent`],
/// [`crate::RequestTracer::start_detached_span_with_parent`] and
/// [`crate::RequestTracer::attach`] continue it as a local trace that ends with the span or
/// guard; [`crate::RequestTracer::start_trace_from`] and a root's `parent` start a trace
/// you end yourself.
///
/// ```
/// use reqtrace_core::{RequestTracer, SpanContext};
///
/// let tracer = RequestTracer::new("api");
/// let root = tracer.start_root("request");
/// let kept: Vec<SpanContext> = (0..3).map(|_| root.context()).collect();
/// let trace = root.finish();
/// assert_eq!(kept[0].span_id, trace.spans[0].span_id);
/// assert_eq!(tracer.stats().traces_open, 0); // the kept contexts hold nothing open
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// W3C flags (sampled, random).
    pub trace_flags: TraceFlags,
    /// True when the context was received from another process.
    #[serde(default)]
    pub is_remote: bool,
}

impl SpanContext {
    /// A context from its parts.
    pub fn new(
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: TraceFlags,
        is_remote: bool,
    ) -> Self {
        SpanContext {
            trace_id,
            span_id,
            trace_flags,
            is_remote,
        }
    }

    /// Whether the `sampled` flag is set.
    pub fn is_sampled(&self) -> bool {
        self.trace_flags.is_sampled()
    }
}

impl fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanContext")
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("trace_flags", &self.trace_flags)
            .field("is_remote", &self.is_remote)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_hex_round_trip_and_rejections() {
        let s = "4bf92f3577b34da6a3ce929d0e0e4736";
        let id: TraceId = s.parse().unwrap();
        assert_eq!(id.to_string(), s);
        assert_eq!(
            "4bf92f3577b34da6a3ce929d0e0e473".parse::<TraceId>(),
            Err(IdError::Length {
                expected: 32,
                found: 31
            })
        );
        assert_eq!(
            "4bf92f3577b34da6a3ce929d0e0e473G".parse::<TraceId>(),
            Err(IdError::NotLowercaseHex { at: 31 })
        );
        assert_eq!(
            "00000000000000000000000000000000".parse::<TraceId>(),
            Err(IdError::AllZero)
        );
        assert!(
            "4BF92F3577B34DA6A3CE929D0E0E4736"
                .parse::<TraceId>()
                .is_err()
        );
        // multi-byte input must not panic on slicing
        assert!("ééééééééééééééééé".parse::<TraceId>().is_err());
    }

    #[test]
    fn random_ids_are_distinct_and_nonzero() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert_ne!(a, b);
        assert_ne!(a.to_u128(), 0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..if cfg!(miri) { 500 } else { 10_000 } {
            assert!(seen.insert(SpanId::random()));
        }
    }

    #[test]
    fn serde_uses_hex_strings() {
        let id = SpanId::from_u64(0xf067aa0ba902b7).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"00f067aa0ba902b7\"");
        let back: SpanId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<SpanId>("\"0000000000000000\"").is_err());
    }

    #[test]
    fn flags_bits() {
        let f = TraceFlags::from_u8(0xff);
        assert_eq!(f.known(), TraceFlags::from_u8(0x03));
        assert!(!TraceFlags::NONE.is_sampled());
        assert!(TraceFlags::NONE.with_sampled(true).is_sampled());
        assert!(!TraceFlags::SAMPLED.with_sampled(false).is_sampled());
    }
}
