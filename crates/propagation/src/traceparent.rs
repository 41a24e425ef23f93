//! The W3C `traceparent` header: [`Traceparent`] and its [`TraceparentError`].
//!
//! Wire form (version `00`): `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, lowercase
//! hex only, exactly 55 characters. Parsing follows W3C Trace Context Level 2:
//!
//! * spaces and tabs around the value are ignored;
//! * version `ff` is invalid; a version other than `00` and `ff` is read with the version-00
//!   layout as long as the 55 characters are followed by nothing or by `-` (what comes after is
//!   ignored), and is always emitted again as `00`;
//! * an all-zero trace-id or parent-id is invalid;
//! * the flags are a bit field: `sampled` (`0x01`) and `random` (`0x02`) are kept, unknown bits
//!   are dropped so that they are never emitted.
//!
//! Cost: the parser reads the whitespace around the value and then at most 56 characters;
//! what follows a higher version's fields is never read, and a version-00 value longer than
//! 55 characters is rejected at its 56th.

use std::fmt;
use std::str::FromStr;

use reqtrace_core::{IdError, SpanContext, SpanId, TraceFlags, TraceId};

/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// The only version this crate emits.
pub const SUPPORTED_VERSION: u8 = 0x00;

/// Why a `traceparent` value was rejected. Every variant means "restart the trace".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceparentError {
    /// No value, or only spaces and tabs.
    Empty,
    /// The version is not two lowercase hex digits followed by `-`.
    InvalidVersion,
    /// Version `ff`, which the spec forbids.
    ForbiddenVersion,
    /// The value is shorter than the 55 characters every version needs.
    TooShort {
        /// Length of the (trimmed) value.
        len: usize,
    },
    /// A version-00 value longer than 55 characters, or a higher-version value whose 56th
    /// character is not `-`.
    TrailingData,
    /// A `-` separator is missing at byte offset `at`.
    MissingDash {
        /// Byte offset where the dash was expected.
        at: usize,
    },
    /// The trace-id is malformed (not 32 lowercase hex digits) or all zeros.
    TraceId(IdError),
    /// The parent-id is malformed (not 16 lowercase hex digits) or all zeros.
    ParentId(IdError),
    /// The flags are not two lowercase hex digits.
    InvalidFlags,
    /// More than one `traceparent` header was received.
    Duplicate,
}

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("traceparent is empty"),
            Self::InvalidVersion => {
                f.write_str("traceparent version is not two lowercase hex digits")
            }
            Self::ForbiddenVersion => f.write_str("traceparent version ff is invalid"),
            Self::TooShort { len } => {
                write!(
                    f,
                    "traceparent has {len} characters, at least 55 are needed"
                )
            }
            Self::TrailingData => f.write_str("traceparent has unexpected data after the flags"),
            Self::MissingDash { at } => write!(f, "traceparent needs '-' at offset {at}"),
            Self::TraceId(e) => write!(f, "traceparent trace-id is invalid: {e}"),
            Self::ParentId(e) => write!(f, "traceparent parent-id is invalid: {e}"),
            Self::InvalidFlags => f.write_str("traceparent flags are not two lowercase hex digits"),
            Self::Duplicate => f.write_str("more than one traceparent header"),
        }
    }
}

impl std::error::Error for TraceparentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TraceId(e) | Self::ParentId(e) => Some(e),
            _ => None,
        }
    }
}

/// A parsed `traceparent`: which trace, which remote span is the parent, and the flags.
///
/// `Display` always writes version `00` with only the known flag bits; `FromStr` implements the
/// Level 2 parsing rules (see the [module docs](self)).
///
/// ```
/// use reqtrace_propagation::Traceparent;
/// let tp: Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse()?;
/// assert!(tp.trace_flags.is_sampled());
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// # Ok::<(), reqtrace_propagation::TraceparentError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Traceparent {
    /// The trace id.
    pub trace_id: TraceId,
    /// The id of the caller's span (the parent of the spans this service starts).
    pub parent_id: SpanId,
    /// The flags; only the known bits are emitted.
    pub trace_flags: TraceFlags,
}

impl Traceparent {
    /// A traceparent from its parts.
    pub const fn new(trace_id: TraceId, parent_id: SpanId, trace_flags: TraceFlags) -> Self {
        Traceparent {
            trace_id,
            parent_id,
            trace_flags,
        }
    }

    /// Parses one header value (same as [`str::parse`]).
    pub fn parse(value: &str) -> Result<Self, TraceparentError> {
        value.parse()
    }

    /// Parses the values of every `traceparent` header a request carried: exactly one is
    /// needed; none gives `Ok(None)`, two or more give [`TraceparentError::Duplicate`].
    pub fn from_headers<'a, I>(values: I) -> Result<Option<Self>, TraceparentError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut iter = values.into_iter();
        let Some(first) = iter.next() else {
            return Ok(None);
        };
        if iter.next().is_some() {
            return Err(TraceparentError::Duplicate);
        }
        first.parse().map(Some)
    }

    /// The remote [`SpanContext`] this header describes (`is_remote` set, unknown flag bits
    /// dropped).
    pub fn to_span_context(&self) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.parent_id,
            self.trace_flags.known(),
            true,
        )
    }
}

impl From<&SpanContext> for Traceparent {
    fn from(cx: &SpanContext) -> Self {
        Traceparent::new(cx.trace_id, cx.span_id, cx.trace_flags.known())
    }
}

impl From<Traceparent> for SpanContext {
    fn from(tp: Traceparent) -> Self {
        tp.to_span_context()
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{}",
            self.trace_id,
            self.parent_id,
            self.trace_flags.known()
        )
    }
}

/// `s` without leading and trailing spaces and horizontal tabs (HTTP optional whitespace).
/// Reads only the whitespace it removes and the byte after it, at each end.
pub(crate) fn trim_ows(s: &str) -> &str {
    let b = s.as_bytes();
    let is_ows = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_ows(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ows(c)).map_or(start, |i| i + 1);
    // Both ends sit next to ASCII whitespace or at the ends of `s`: char boundaries.
    &s[start..end]
}

/// Two lowercase hex digits as a byte.
fn hex_byte(b: &[u8]) -> Option<u8> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    match b {
        [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
        _ => None,
    }
}

/// `s[range]`, or the offset (within the range) of the first non-ASCII byte when the range cuts
/// a multi-byte character (such text is not hex anyway).
fn field(s: &str, range: std::ops::Range<usize>) -> Result<&str, IdError> {
    s.get(range.clone()).ok_or_else(|| {
        let at = s.as_bytes()[range]
            .iter()
            .position(|c| !c.is_ascii())
            .unwrap_or(0);
        IdError::NotLowercaseHex { at }
    })
}

impl FromStr for Traceparent {
    type Err = TraceparentError;

    fn from_str(s: &str) -> Result<Self, TraceparentError> {
        let s = trim_ows(s);
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(TraceparentError::Empty);
        }
        // Version: two lowercase hex digits, then '-'.
        let version = b
            .get(..2)
            .and_then(hex_byte)
            .ok_or(TraceparentError::InvalidVersion)?;
        if b.get(2) != Some(&b'-') {
            return Err(TraceparentError::InvalidVersion);
        }
        if version == 0xff {
            return Err(TraceparentError::ForbiddenVersion);
        }
        if b.len() < TRACEPARENT_LEN {
            return Err(TraceparentError::TooShort { len: b.len() });
        }
        if b.len() > TRACEPARENT_LEN && (version == SUPPORTED_VERSION || b[TRACEPARENT_LEN] != b'-')
        {
            return Err(TraceparentError::TrailingData);
        }
        for at in [35, 52] {
            if b[at] != b'-' {
                return Err(TraceparentError::MissingDash { at });
            }
        }
        let trace_id: TraceId = field(s, 3..35)
            .and_then(str::parse)
            .map_err(TraceparentError::TraceId)?;
        let parent_id: SpanId = field(s, 36..52)
            .and_then(str::parse)
            .map_err(TraceparentError::ParentId)?;
        let flags = hex_byte(&b[53..55]).ok_or(TraceparentError::InvalidFlags)?;
        Ok(Traceparent::new(
            trace_id,
            parent_id,
            TraceFlags::from_u8(flags).known(),
        ))
    }
}
