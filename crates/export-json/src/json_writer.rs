//! The one JSON writer every format in this crate uses: string escaping, numbers, commas and
//! indentation, written token by token to an [`io::Write`] (no intermediate tree).
//!
//! The writer keeps only a stack of "is this container still empty" flags; each format drives
//! it with `begin_object`/`key`/value calls in document order. Escaping follows RFC 8259: `"`
//! and `\` are escaped, control characters below U+0020 become `\n`, `\t`, … or `\u00XX`, and
//! everything else (including non-ASCII) is written as UTF-8.

use std::io::{self, Write};

use reqtrace_core::{KeyValue, SpanId, TraceId, Value};

use crate::last_wins::last_wins;

/// Compact or indented output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Style {
    /// No whitespace between tokens: smallest output, one line.
    #[default]
    Compact,
    /// Two-space indentation, one member or element per line.
    Pretty,
}

/// Escapes for bytes below 0x20 and for `"` and `\`: 0 means "write as is".
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` as a JSON string literal (with the quotes).
pub(crate) fn write_escaped<W: Write + ?Sized>(out: &mut W, s: &str) -> io::Result<()> {
    let bytes = s.as_bytes();
    out.write_all(b"\"")?;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        if start < i {
            out.write_all(&bytes[start..i])?;
        }
        if esc == b'u' {
            let seq = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ];
            out.write_all(&seq)?;
        } else {
            out.write_all(&[b'\\', esc])?;
        }
        start = i + 1;
    }
    if start < bytes.len() {
        out.write_all(&bytes[start..])?;
    }
    out.write_all(b"\"")
}

/// Writes an unsigned integer in decimal.
pub(crate) fn write_u64<W: Write + ?Sized>(out: &mut W, mut v: u64) -> io::Result<()> {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.write_all(&buf[i..])
}

/// Writes a signed integer in decimal.
pub(crate) fn write_i64<W: Write + ?Sized>(out: &mut W, v: i64) -> io::Result<()> {
    if v < 0 {
        out.write_all(b"-")?;
    }
    write_u64(out, v.unsigned_abs())
}

/// Writes a finite float so that it reads back as the same float, and as a float (always with
/// a `.` or an exponent: `1.0`, `1e300`). The caller handles NaN and infinities, which JSON
/// numbers cannot express; if one slips through it is written as `null`.
pub(crate) fn write_f64<W: Write + ?Sized>(out: &mut W, v: f64) -> io::Result<()> {
    if v.is_finite() {
        // `{:?}` is the shortest representation that round-trips, and always looks like a float.
        write!(out, "{v:?}")
    } else {
        out.write_all(b"null")
    }
}

/// A streaming JSON writer: tracks commas and indentation, nothing else.
pub(crate) struct JsonWriter<W: Write> {
    out: W,
    pretty: bool,
    /// One flag per open container: true while it has no member yet.
    empty: Vec<bool>,
    /// A key was just written; the next value needs no separator.
    after_key: bool,
}

impl<W: Write> JsonWriter<W> {
    /// A writer producing `style` output into `out`.
    pub(crate) fn new(out: W, style: Style) -> Self {
        JsonWriter {
            out,
            pretty: style == Style::Pretty,
            empty: Vec::with_capacity(16),
            after_key: false,
        }
    }

    /// The underlying writer.
    pub(crate) fn into_inner(self) -> W {
        self.out
    }

    fn newline_indent(&mut self, depth: usize) -> io::Result<()> {
        const SPACES: &[u8; 64] = &[b' '; 64];
        self.out.write_all(b"\n")?;
        let mut n = depth * 2;
        while n > 0 {
            let k = n.min(SPACES.len());
            self.out.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }

    /// Separator before a value or key: a comma unless first, then a newline in pretty mode.
    fn before_item(&mut self) -> io::Result<()> {
        if self.after_key {
            self.after_key = false;
            return Ok(());
        }
        let depth = self.empty.len();
        if let Some(empty) = self.empty.last_mut() {
            if !*empty {
                self.out.write_all(b",")?;
            }
            *empty = false;
            if self.pretty {
                self.newline_indent(depth)?;
            }
        }
        Ok(())
    }

    fn close(&mut self, bracket: &[u8]) -> io::Result<()> {
        let was_empty = self.empty.pop().unwrap_or(true);
        if self.pretty && !was_empty {
            let depth = self.empty.len();
            self.newline_indent(depth)?;
        }
        self.out.write_all(bracket)
    }

    /// `{`
    pub(crate) fn begin_object(&mut self) -> io::Result<()> {
        self.before_item()?;
        self.empty.push(true);
        self.out.write_all(b"{")
    }

    /// `}`
    pub(crate) fn end_object(&mut self) -> io::Result<()> {
        self.close(b"}")
    }

    /// `[`
    pub(crate) fn begin_array(&mut self) -> io::Result<()> {
        self.before_item()?;
        self.empty.push(true);
        self.out.write_all(b"[")
    }

    /// `]`
    pub(crate) fn end_array(&mut self) -> io::Result<()> {
        self.close(b"]")
    }

    /// An object member's key; the next call writes its value.
    pub(crate) fn key(&mut self, k: &str) -> io::Result<()> {
        self.before_item()?;
        write_escaped(&mut self.out, k)?;
        self.out.write_all(if self.pretty { b": " } else { b":" })?;
        self.after_key = true;
        Ok(())
    }

    /// An object member's key that is a format's field name: written as is, without the
    /// escaping scan (field names are plain ASCII that needs none).
    pub(crate) fn field(&mut self, name: &'static str) -> io::Result<()> {
        debug_assert!(name.bytes().all(|b| ESCAPE[b as usize] == 0), "{name}");
        self.before_item()?;
        self.out.write_all(b"\"")?;
        self.out.write_all(name.as_bytes())?;
        self.out
            .write_all(if self.pretty { b"\": " } else { b"\":" })?;
        self.after_key = true;
        Ok(())
    }

    /// A string value.
    pub(crate) fn string(&mut self, s: &str) -> io::Result<()> {
        self.before_item()?;
        write_escaped(&mut self.out, s)
    }

    /// Bytes as a quoted lowercase hex string (trace and span ids).
    pub(crate) fn hex_string(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.before_item()?;
        let mut buf = [0u8; 2 * 16 + 2];
        let n = bytes.len().min(16);
        buf[0] = b'"';
        for (i, b) in bytes[..n].iter().enumerate() {
            buf[1 + 2 * i] = HEX[(b >> 4) as usize];
            buf[2 + 2 * i] = HEX[(b & 0xf) as usize];
        }
        buf[1 + 2 * n] = b'"';
        self.out.write_all(&buf[..2 + 2 * n])
    }

    /// A trace id as its 32-digit hex string.
    pub(crate) fn trace_id(&mut self, id: TraceId) -> io::Result<()> {
        self.hex_string(&id.to_bytes())
    }

    /// A span id as its 16-digit hex string.
    pub(crate) fn span_id(&mut self, id: SpanId) -> io::Result<()> {
        self.hex_string(&id.to_bytes())
    }

    /// An unsigned integer value.
    pub(crate) fn u64(&mut self, v: u64) -> io::Result<()> {
        self.before_item()?;
        write_u64(&mut self.out, v)
    }

    /// An unsigned integer as a decimal string (`"123"`), as proto3 JSON writes 64-bit ints.
    pub(crate) fn u64_string(&mut self, v: u64) -> io::Result<()> {
        self.before_item()?;
        self.out.write_all(b"\"")?;
        write_u64(&mut self.out, v)?;
        self.out.write_all(b"\"")
    }

    /// A signed integer as a decimal string.
    pub(crate) fn i64_string(&mut self, v: i64) -> io::Result<()> {
        self.before_item()?;
        self.out.write_all(b"\"")?;
        write_i64(&mut self.out, v)?;
        self.out.write_all(b"\"")
    }

    /// A signed integer value.
    pub(crate) fn i64(&mut self, v: i64) -> io::Result<()> {
        self.before_item()?;
        write_i64(&mut self.out, v)
    }

    /// A float value; must be finite (non-finite floats become `null`, see [`write_f64`]).
    pub(crate) fn f64(&mut self, v: f64) -> io::Result<()> {
        self.before_item()?;
        write_f64(&mut self.out, v)
    }

    /// A boolean value.
    pub(crate) fn bool(&mut self, v: bool) -> io::Result<()> {
        self.before_item()?;
        self.out.write_all(if v { b"true" } else { b"false" })
    }

    /// `null`.
    pub(crate) fn null(&mut self) -> io::Result<()> {
        self.before_item()?;
        self.out.write_all(b"null")
    }

    /// An attribute value in reqtrace's plain shape: `true`, `1500`, `0.5`, `"text"`, `[..]`;
    /// NaN and infinities as the strings `"NaN"`, `"inf"`, `"-inf"` (as core's serde does).
    pub(crate) fn value(&mut self, v: &Value) -> io::Result<()> {
        match v {
            Value::Bool(b) => self.bool(*b),
            Value::I64(i) => self.i64(*i),
            Value::F64(f) if f.is_finite() => self.f64(*f),
            Value::F64(f) => self.string(Value::non_finite_name(*f)),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.begin_array()?;
                for item in items {
                    self.value(item)?;
                }
                self.end_array()
            }
        }
    }

    /// Attributes as one JSON object (`{"model": "gpt-4o"}`), each key once, the last wins.
    pub(crate) fn attribute_map(&mut self, attrs: &[KeyValue]) -> io::Result<()> {
        self.begin_object()?;
        for kv in last_wins(attrs) {
            self.key(&kv.key)?;
            self.value(&kv.value)?;
        }
        self.end_object()
    }

    /// Raw bytes between tokens (a newline between JSON lines); resets nothing.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut v = Vec::new();
        write_escaped(&mut v, s).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escaping_round_trips_through_serde_json_for_every_char_class() {
        let mut all_controls = String::new();
        for c in 0u8..0x20 {
            all_controls.push(char::from(c));
        }
        let cases = [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            all_controls.as_str(),
            "\u{7f} del, é, 漢字, 🦀, \u{2028}\u{2029}",
            "\"\"\\\\",
        ];
        for s in cases {
            let json = escaped(s);
            let back: String = serde_json::from_str(&json).unwrap();
            assert_eq!(back, s, "{json}");
            // No raw control character may remain in the output.
            assert!(json.bytes().all(|b| b >= 0x20), "{json:?}");
        }
    }

    #[test]
    fn integers_and_floats_read_back_exactly() {
        for v in [0u64, 1, 9, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, v).unwrap();
            assert_eq!(serde_json::from_slice::<u64>(&out).unwrap(), v);
        }
        for v in [0i64, -1, i64::MIN, i64::MAX, -1234567] {
            let mut out = Vec::new();
            write_i64(&mut out, v).unwrap();
            assert_eq!(serde_json::from_slice::<i64>(&out).unwrap(), v);
        }
        for v in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e300,
            -2.5e-308,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v).unwrap();
            let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert!(
                parsed.is_f64(),
                "{} must read back as a float",
                String::from_utf8_lossy(&out)
            );
            assert_eq!(parsed.as_f64().unwrap().to_bits(), v.to_bits());
        }
    }

    #[test]
    fn ids_are_written_as_their_hex_form() {
        let t = TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c).unwrap();
        let sp = SpanId::from_u64(0x00f067aa0ba902b7).unwrap();
        let mut w = JsonWriter::new(Vec::new(), Style::Compact);
        w.begin_array().unwrap();
        w.trace_id(t).unwrap();
        w.span_id(sp).unwrap();
        w.end_array().unwrap();
        let ids: Vec<String> = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(ids[0].parse::<TraceId>().unwrap(), t);
        assert_eq!(ids[1].parse::<SpanId>().unwrap(), sp);
    }

    #[test]
    fn pretty_and_compact_describe_the_same_document() {
        let doc = |style| {
            let mut w = JsonWriter::new(Vec::new(), style);
            w.begin_object().unwrap();
            w.key("a").unwrap();
            w.begin_array().unwrap();
            w.u64(1).unwrap();
            w.begin_object().unwrap();
            w.end_object().unwrap();
            w.begin_array().unwrap();
            w.end_array().unwrap();
            w.string("x").unwrap();
            w.end_array().unwrap();
            w.key("b").unwrap();
            w.null().unwrap();
            w.end_object().unwrap();
            String::from_utf8(w.into_inner()).unwrap()
        };
        let compact = doc(Style::Compact);
        let pretty = doc(Style::Pretty);
        assert!(!compact.contains(char::is_whitespace));
        assert!(pretty.lines().count() > 3);
        let a: serde_json::Value = serde_json::from_str(&compact).unwrap();
        let b: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["a"][0], 1);
        assert!(a["b"].is_null());
    }
}
