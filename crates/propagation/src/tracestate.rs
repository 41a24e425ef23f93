//! The W3C `tracestate` header: [`TraceState`] and its [`TraceStateError`].
//!
//! A list of at most [`MAX_MEMBERS`] `key=value` members, left-most first (Level 2 grammar):
//!
//! * key: `(lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")`;
//! * value: 1 to 256 printable ASCII characters (0x20–0x7E) other than `,` and `=`, not ending
//!   in a space (leading spaces are part of the value);
//! * spaces and tabs around members are ignored, empty members are allowed and dropped;
//! * several headers are joined with `,` before parsing ([`TraceState::from_headers`]);
//! * a repeated key keeps its first (left-most) value; later members with that key are dropped
//!   (the header is well formed, and a vendor MAY discard duplicate keys: W3C test suite's
//!   `test_tracestate_duplicated_keys`);
//! * one bad member, or more than 32 non-empty members (repeated keys count), make the whole
//!   value invalid: the caller then discards the tracestate (the `traceparent` still stands).
//!
//! Cost: parsing is linear in its input and stops at the limits: at the 33rd member or the
//! first bad one, and a joined value longer than [`MAX_HEADER_LEN`] (which no valid
//! `tracestate` needs) is rejected before any member is read.

use std::fmt;
use std::str::FromStr;

use crate::traceparent::trim_ows;

/// The most members a `tracestate` may have.
pub const MAX_MEMBERS: usize = 32;
/// The longest key.
pub const MAX_KEY_LEN: usize = 256;
/// The longest value.
pub const MAX_VALUE_LEN: usize = 256;
/// Entries longer than this (`key=value`) are the first to go when truncating.
pub const LARGE_ENTRY_LEN: usize = 128;
/// The longest joined `tracestate` value read: twice the longest valid list (32 members of the
/// longest key and value, 16,447 bytes), leaving room for whitespace and empty members.
pub const MAX_HEADER_LEN: usize = 2 * MAX_MEMBERS * (MAX_KEY_LEN + 1 + MAX_VALUE_LEN + 1);

/// Why a `tracestate` value (or a key/value given to [`TraceState::insert`]) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TraceStateError {
    /// More than [`MAX_MEMBERS`] non-empty members.
    TooManyMembers {
        /// How many members were found (counting stops at 33).
        count: usize,
    },
    /// A member has no `=`.
    MissingEquals {
        /// Index of the member among the non-empty ones.
        index: usize,
    },
    /// A key breaks the key grammar.
    InvalidKey {
        /// The offending key (at most 256 bytes kept).
        key: String,
    },
    /// A value breaks the value grammar.
    InvalidValue {
        /// The key whose value is invalid.
        key: String,
    },
    /// The joined value is longer than [`MAX_HEADER_LEN`] bytes.
    TooLong {
        /// Length of the joined value read so far (at least `MAX_HEADER_LEN + 1`).
        len: usize,
    },
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyMembers { count } => write!(
                f,
                "tracestate has more than {MAX_MEMBERS} members ({count} or more)"
            ),
            Self::MissingEquals { index } => {
                write!(f, "tracestate member {index} has no '='")
            }
            Self::InvalidKey { key } => write!(f, "tracestate key {key:?} is invalid"),
            Self::InvalidValue { key } => {
                write!(f, "tracestate value for key {key:?} is invalid")
            }
            Self::TooLong { len } => write!(
                f,
                "tracestate is {len} bytes or more, longer than {MAX_HEADER_LEN}"
            ),
        }
    }
}

impl std::error::Error for TraceStateError {}

/// Whether `key` matches the Level 2 key grammar.
pub fn is_valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        _ => return false,
    }
    b.len() <= MAX_KEY_LEN
        && b[1..].iter().all(|&c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// Whether `value` matches the value grammar.
pub fn is_valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    match b.last() {
        Some(&c) if c != b' ' => {}
        _ => return false,
    }
    b.len() <= MAX_VALUE_LEN
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

fn check(key: &str, value: &str) -> Result<(), TraceStateError> {
    if !is_valid_key(key) {
        return Err(TraceStateError::InvalidKey {
            key: truncate_for_error(key),
        });
    }
    if !is_valid_value(value) {
        return Err(TraceStateError::InvalidValue {
            key: key.to_owned(),
        });
    }
    Ok(())
}

fn truncate_for_error(s: &str) -> String {
    let mut end = s.len().min(MAX_KEY_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A parsed `tracestate`: vendor entries, left-most (most recently updated) first.
///
/// Always valid: every way to build one checks the grammar and the 32-member limit, and keeps
/// keys unique. `Display` writes the canonical header value (`k1=v1,k2=v2`, no whitespace);
/// an empty `TraceState` displays as the empty string, which is not worth sending.
///
/// ```
/// use reqtrace_propagation::TraceState;
/// let mut ts: TraceState = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".parse()?;
/// ts.insert("congo", "new")?; // updated keys move to the front
/// assert_eq!(ts.to_string(), "congo=new,rojo=00f067aa0ba902b7");
/// assert_eq!(ts.get("rojo"), Some("00f067aa0ba902b7"));
/// # Ok::<(), reqtrace_propagation::TraceStateError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState {
    entries: Vec<(String, String)>,
}

impl TraceState {
    /// An empty tracestate.
    pub const fn new() -> Self {
        TraceState {
            entries: Vec::new(),
        }
    }

    /// Parses every `tracestate` header of a request, joined in order with `,`. A repeated key
    /// keeps its first value.
    pub fn from_headers<'a, I>(values: I) -> Result<Self, TraceStateError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut ts = TraceState::new();
        // non-empty members read so far, repeated keys included
        let mut index = 0;
        // length of the joined value so far
        let mut len = 0;
        for (i, value) in values.into_iter().enumerate() {
            len += usize::from(i > 0) + value.len();
            if len > MAX_HEADER_LEN {
                return Err(TraceStateError::TooLong { len });
            }
            for member in value.split(',') {
                ts.push_member(member, &mut index)?;
            }
        }
        Ok(ts)
    }

    fn push_member(&mut self, member: &str, index: &mut usize) -> Result<(), TraceStateError> {
        let member = trim_ows(member);
        if member.is_empty() {
            return Ok(());
        }
        if *index == MAX_MEMBERS {
            return Err(TraceStateError::TooManyMembers {
                count: MAX_MEMBERS + 1,
            });
        }
        let (key, value) = member
            .split_once('=')
            .ok_or(TraceStateError::MissingEquals { index: *index })?;
        check(key, value)?;
        *index += 1;
        if self.get(key).is_none() {
            self.entries.push((key.to_owned(), value.to_owned()));
        }
        Ok(())
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Adds or updates `key`, moving it to the front (left) as the spec requires. When the list
    /// would exceed [`MAX_MEMBERS`], the right-most entry is dropped. Invalid keys or values are
    /// rejected and leave the list unchanged.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        check(key, value)?;
        self.remove(key);
        if self.entries.len() == MAX_MEMBERS {
            self.entries.pop();
        }
        self.entries.insert(0, (key.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(pos).1)
    }

    /// The entries, left-most first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Length of the header value [`Display`](fmt::Display) writes.
    pub fn header_len(&self) -> usize {
        let members: usize = self
            .entries
            .iter()
            .map(|(k, v)| k.len() + 1 + v.len())
            .sum();
        members + self.entries.len().saturating_sub(1)
    }

    /// Drops whole entries until the header value is at most `max_len` characters: first
    /// entries longer than [`LARGE_ENTRY_LEN`] (right-most first), then entries from the right
    /// end. Returns how many entries were dropped.
    pub fn truncate_to(&mut self, max_len: usize) -> usize {
        let before = self.entries.len();
        while self.header_len() > max_len {
            let large = self
                .entries
                .iter()
                .rposition(|(k, v)| k.len() + 1 + v.len() > LARGE_ENTRY_LEN);
            match large {
                Some(pos) => {
                    self.entries.remove(pos);
                }
                None => {
                    self.entries.pop();
                }
            }
        }
        before - self.entries.len()
    }
}

impl FromStr for TraceState {
    type Err = TraceStateError;

    /// Parses one header value (for several headers use [`TraceState::from_headers`]).
    fn from_str(s: &str) -> Result<Self, TraceStateError> {
        TraceState::from_headers([s])
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}
