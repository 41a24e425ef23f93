//! The W3C `baggage` header: [`Baggage`], its [`BaggageMember`]s and [`BaggageError`].
//!
//! `baggage: key1=value1;property1;property2=x, key2=value2`. Keys are RFC 7230 tokens; values
//! (and property values) are percent-decoded when read, and bytes that are not valid UTF-8
//! after decoding become U+FFFD. When written, every byte outside the spec's `baggage-octet`
//! set, and `%` itself, is percent-encoded, so any string survives a round trip.
//!
//! Limits: at most [`MAX_MEMBERS`] members and [`MAX_BYTES`] bytes of header value. A `Baggage`
//! never exceeds them: [`Baggage::insert`] refuses a member that would not fit, and
//! [`Baggage::from_header`] drops whole members (never part of one) that would not fit.
//!
//! Cost: parsing is linear in its input and stops at the limit. [`Baggage::from_header`] reads
//! only the first [`MAX_BYTES`] bytes of the received value (the W3C limit is on the received
//! `baggage-string`; a member cut by that boundary is dropped whole), and `FromStr` rejects a
//! longer value without reading it. The canonical length is kept up to date on every insert, so
//! adding a member costs the member's size, not the baggage's.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::traceparent::trim_ows;

/// The most members a `baggage` may carry.
pub const MAX_MEMBERS: usize = 64;
/// The most bytes of `baggage` header value.
pub const MAX_BYTES: usize = 8192;

/// Why a `baggage` value or a member could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaggageError {
    /// A member (or property) key is empty or not an RFC 7230 token.
    InvalidKey {
        /// Index of the member in the header (0 for [`Baggage::insert`]).
        index: usize,
    },
    /// A member has no `=`.
    MissingEquals {
        /// Index of the member in the header.
        index: usize,
    },
    /// A value or property contains a character outside `baggage-octet`.
    InvalidValue {
        /// Index of the member in the header.
        index: usize,
    },
    /// More than [`MAX_MEMBERS`] members.
    TooManyMembers,
    /// The header value would be longer than [`MAX_BYTES`].
    TooLong,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey { index } => write!(f, "baggage member {index} has an invalid key"),
            Self::MissingEquals { index } => write!(f, "baggage member {index} has no '='"),
            Self::InvalidValue { index } => {
                write!(f, "baggage member {index} has an invalid value or property")
            }
            Self::TooManyMembers => write!(f, "baggage has more than {MAX_MEMBERS} members"),
            Self::TooLong => write!(f, "baggage is longer than {MAX_BYTES} bytes"),
        }
    }
}

impl std::error::Error for BaggageError {}

/// Whether `c` is an RFC 7230 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `key` is a valid baggage key (a non-empty RFC 7230 token).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(is_tchar)
}

/// `baggage-octet`: printable ASCII except space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn percent_decode(s: &str) -> String {
    fn nibble(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                b.get(i + 1).copied().and_then(nibble),
                b.get(i + 2).copied().and_then(nibble),
            )
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str, out: &mut String) {
    for &c in s.as_bytes() {
        if is_baggage_octet(c) && c != b'%' {
            out.push(c as char);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
}

fn encoded_len(s: &str) -> usize {
    s.bytes()
        .map(|c| {
            if is_baggage_octet(c) && c != b'%' {
                1
            } else {
                3
            }
        })
        .sum()
}

/// A property attached to a member: `;key` or `;key=value` (value percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaggageProperty {
    /// The property key (a token).
    pub key: String,
    /// The decoded value, if the property has one.
    pub value: Option<String>,
}

/// One baggage entry: its decoded value and its properties. The key is held by [`Baggage`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaggageMember {
    /// The decoded value.
    pub value: String,
    /// Properties, in order.
    pub properties: Vec<BaggageProperty>,
}

impl BaggageMember {
    /// A member with a value and no properties.
    pub fn new(value: impl Into<String>) -> Self {
        BaggageMember {
            value: value.into(),
            properties: Vec::new(),
        }
    }
}

/// Length of `key=value;props` on the wire.
fn member_wire_len(key: &str, m: &BaggageMember) -> usize {
    let props: usize = m
        .properties
        .iter()
        .map(|p| 1 + p.key.len() + p.value.as_deref().map_or(0, |v| 1 + encoded_len(v)))
        .sum();
    key.len() + 1 + encoded_len(&m.value) + props
}

/// W3C baggage: user key/value pairs that travel with the trace.
///
/// Keys are unique (a repeated key in a header keeps its last value, at the first position).
/// Order is kept. `Display` writes the header value; `FromStr` is strict (any bad member or a
/// broken limit is an error), while [`Baggage::from_header`] is the lenient reader for network
/// input: it skips bad members and members that would break a limit.
///
/// ```
/// use reqtrace_propagation::Baggage;
/// let mut b: Baggage = "userId=alice, serverNode=DF%2028;p=1".parse()?;
/// assert_eq!(b.get("serverNode"), Some("DF 28"));
/// b.insert("isProduction", "false")?;
/// assert_eq!(b.to_string(), "userId=alice,serverNode=DF%2028;p=1,isProduction=false");
/// # Ok::<(), reqtrace_propagation::BaggageError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    members: Vec<Entry>,
    /// Invariant: `header_len()`, i.e. the sum of the entries' `wire_len` plus one `,` between
    /// each two entries (0 when empty).
    wire_len: usize,
}

/// A member with its key and its length on the wire (`key=value;props`, kept so that limit
/// checks never re-measure the whole baggage).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Entry {
    key: String,
    member: BaggageMember,
    /// Invariant: `member_wire_len(&key, &member)`.
    wire_len: usize,
}

impl Baggage {
    /// An empty baggage.
    pub const fn new() -> Self {
        Baggage {
            members: Vec::new(),
            wire_len: 0,
        }
    }

    /// Reads every `baggage` header of a request leniently, as if joined with `,`: members are
    /// taken in order; malformed members are skipped, and so are members that would make the
    /// baggage exceed [`MAX_MEMBERS`] or [`MAX_BYTES`] (whole members only).
    ///
    /// Only the first [`MAX_BYTES`] bytes of the joined value are read (the W3C limit is on the
    /// received `baggage-string`); a member that this boundary cuts, and everything after it,
    /// is dropped. So the work is bounded whatever the input's size.
    pub fn from_header<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut b = Baggage::new();
        let mut index = 0;
        // Bytes of the joined value still to read.
        let mut budget = MAX_BYTES;
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                // the `,` joining two headers
                let Some(rest) = budget.checked_sub(1) else {
                    break;
                };
                budget = rest;
            }
            let (window, complete) = prefix_of_members(value, budget);
            budget -= window.len();
            if !complete {
                budget = 0;
            }
            for raw in window.split(',') {
                if let Ok(Some((k, m))) = parse_member(raw, index) {
                    let _ = b.insert_member(k, m);
                }
                index += 1;
            }
            if budget == 0 {
                break;
            }
        }
        b
    }

    /// The decoded value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.member(key).map(|m| m.value.as_str())
    }

    /// The member (value and properties) for `key`.
    pub fn member(&self, key: &str) -> Option<&BaggageMember> {
        self.position(key).map(|i| &self.members[i].member)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.members.iter().position(|e| e.key == key)
    }

    /// Sets `key` to `value` (no properties). See [`Baggage::insert_member`].
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), BaggageError> {
        self.insert_member(key.to_owned(), BaggageMember::new(value))
    }

    /// Sets `key` to `member`: an existing key is replaced in place, a new one is appended.
    /// Refused, leaving the baggage unchanged, when the key or a property key is not a token
    /// or when a limit would be exceeded. Values may be any string (they are percent-encoded
    /// on the wire).
    pub fn insert_member(
        &mut self,
        key: String,
        member: BaggageMember,
    ) -> Result<(), BaggageError> {
        if !is_valid_key(&key) || !member.properties.iter().all(|p| is_valid_key(&p.key)) {
            return Err(BaggageError::InvalidKey { index: 0 });
        }
        let existing = self.position(&key);
        let wire_len = member_wire_len(&key, &member);
        let (count, bytes) = match existing {
            Some(i) => (
                self.members.len(),
                self.wire_len - self.members[i].wire_len + wire_len,
            ),
            None => (
                self.members.len() + 1,
                self.wire_len + wire_len + usize::from(!self.members.is_empty()),
            ),
        };
        if count > MAX_MEMBERS {
            return Err(BaggageError::TooManyMembers);
        }
        if bytes > MAX_BYTES {
            return Err(BaggageError::TooLong);
        }
        let entry = Entry {
            key,
            member,
            wire_len,
        };
        match existing {
            Some(i) => self.members[i] = entry,
            None => self.members.push(entry),
        }
        self.wire_len = bytes;
        Ok(())
    }

    /// Removes `key`, returning its member.
    pub fn remove(&mut self, key: &str) -> Option<BaggageMember> {
        let pos = self.position(key)?;
        let entry = self.members.remove(pos);
        self.wire_len -= entry.wire_len + usize::from(!self.members.is_empty());
        Some(entry.member)
    }

    /// The members in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &BaggageMember)> {
        self.members.iter().map(|e| (e.key.as_str(), &e.member))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Length in bytes of the header value [`Display`](fmt::Display) writes (kept up to date,
    /// so this is O(1)).
    pub fn header_len(&self) -> usize {
        self.wire_len
    }
}

/// The longest prefix of `value` of at most `budget` bytes, without the member the boundary
/// cuts; and whether that prefix is the whole value. A member ending exactly at the boundary
/// (followed by `,`) is whole.
fn prefix_of_members(value: &str, budget: usize) -> (&str, bool) {
    if value.len() <= budget {
        return (value, true);
    }
    if value.as_bytes()[budget] == b',' {
        return (&value[..budget], false);
    }
    // `value[..budget]` ends inside a member: drop that member.
    let cut = value.as_bytes()[..budget]
        .iter()
        .rposition(|&c| c == b',')
        .unwrap_or(0);
    (&value[..cut], false)
}

/// Parses one list member; `Ok(None)` for an empty (whitespace-only) member.
fn parse_member(raw: &str, index: usize) -> Result<Option<(String, BaggageMember)>, BaggageError> {
    let raw = trim_ows(raw);
    if raw.is_empty() {
        return Ok(None);
    }
    let mut parts = raw.split(';');
    let kv = parts.next().unwrap_or("");
    let (key, value) = kv
        .split_once('=')
        .ok_or(BaggageError::MissingEquals { index })?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_valid_key(key) {
        return Err(BaggageError::InvalidKey { index });
    }
    if !value.bytes().all(is_baggage_octet) {
        return Err(BaggageError::InvalidValue { index });
    }
    let mut properties = Vec::new();
    for prop in parts {
        let prop = trim_ows(prop);
        let (pk, pv) = match prop.split_once('=') {
            Some((k, v)) => (trim_ows(k), Some(trim_ows(v))),
            None => (prop, None),
        };
        if !is_valid_key(pk) {
            return Err(BaggageError::InvalidKey { index });
        }
        if pv.is_some_and(|v| !v.bytes().all(is_baggage_octet)) {
            return Err(BaggageError::InvalidValue { index });
        }
        properties.push(BaggageProperty {
            key: pk.to_owned(),
            value: pv.map(percent_decode),
        });
    }
    Ok(Some((
        key.to_owned(),
        BaggageMember {
            value: percent_decode(value),
            properties,
        },
    )))
}

impl FromStr for Baggage {
    type Err = BaggageError;

    /// Strict parse of one header value: any malformed member or broken limit is an error. A
    /// value longer than [`MAX_BYTES`] is [`BaggageError::TooLong`] without being read.
    fn from_str(s: &str) -> Result<Self, BaggageError> {
        if s.len() > MAX_BYTES {
            return Err(BaggageError::TooLong);
        }
        let mut b = Baggage::new();
        for (index, raw) in s.split(',').enumerate() {
            if let Some((k, m)) = parse_member(raw, index)? {
                b.insert_member(k, m)?;
            }
        }
        Ok(b)
    }
}

impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(self.header_len());
        for (
            i,
            Entry {
                key: k, member: m, ..
            },
        ) in self.members.iter().enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            percent_encode(&m.value, &mut out);
            for p in &m.properties {
                out.push(';');
                out.push_str(&p.key);
                if let Some(v) = &p.value {
                    out.push('=');
                    percent_encode(v, &mut out);
                }
            }
        }
        f.write_str(&out)
    }
}
