//! The protobuf wire format, as much as OTLP needs: a writer of tagged fields into a `Vec<u8>`
//! (varints, fixed32/64, length-delimited bytes and embedded messages) and a bounds-checked
//! reader of one message's fields.
//!
//! Embedded messages are written in one pass: [`ProtoWriter::open`] writes the tag and a
//! one-byte length placeholder, [`ProtoWriter::close`] patches in the real length, moving the
//! message's bytes right when its length needs more than one varint byte (lengths ≥ 128).
//! Invariant: every `open` is matched by a `close` before [`ProtoWriter::finish`].

/// A field's wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    /// 0: a varint.
    Varint,
    /// 1: eight little-endian bytes.
    Fixed64,
    /// 2: a varint length, then that many bytes.
    Len,
    /// 5: four little-endian bytes.
    Fixed32,
}

impl WireType {
    fn bits(self) -> u64 {
        match self {
            WireType::Varint => 0,
            WireType::Fixed64 => 1,
            WireType::Len => 2,
            WireType::Fixed32 => 5,
        }
    }
}

/// The number of bytes `v` takes as a varint.
fn varint_len(v: u64) -> usize {
    // 1 + (index of the highest set bit) / 7, with 0 taking one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Writes protobuf fields to the end of a buffer.
pub(crate) struct ProtoWriter<'a> {
    buf: &'a mut Vec<u8>,
    /// Positions of the length placeholders of the messages still open, innermost last.
    open: Vec<usize>,
}

impl<'a> ProtoWriter<'a> {
    /// A writer appending to `buf`.
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        ProtoWriter {
            buf,
            open: Vec::with_capacity(8),
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: WireType) {
        self.varint((u64::from(field) << 3) | wire.bits());
    }

    /// A varint field, written even when 0 (for oneof members).
    pub(crate) fn varint_field(&mut self, field: u32, v: u64) {
        self.tag(field, WireType::Varint);
        self.varint(v);
    }

    /// An unsigned integer (or enum) field, omitted when 0 (proto3's default).
    pub(crate) fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.varint_field(field, v);
        }
    }

    /// A `fixed64` (or `double`'s bits) field, always written.
    pub(crate) fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, WireType::Fixed64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `fixed32` field, always written.
    pub(crate) fn fixed32(&mut self, field: u32, v: u32) {
        self.tag(field, WireType::Fixed32);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `bytes` (or `string`) field, always written.
    pub(crate) fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, WireType::Len);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// A `string` field, omitted when empty (proto3's default).
    pub(crate) fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// Starts an embedded message in `field`; its fields follow until [`ProtoWriter::close`].
    pub(crate) fn open(&mut self, field: u32) {
        self.tag(field, WireType::Len);
        self.open.push(self.buf.len());
        self.buf.push(0);
    }

    /// Ends the innermost open message, writing its length.
    pub(crate) fn close(&mut self) {
        let Some(at) = self.open.pop() else {
            debug_assert!(false, "close without open");
            return;
        };
        let body_start = at + 1;
        let len = (self.buf.len() - body_start) as u64;
        let n = varint_len(len);
        if n > 1 {
            let end = self.buf.len();
            self.buf.resize(end + n - 1, 0);
            self.buf.copy_within(body_start..end, body_start + n - 1);
        }
        let mut v = len;
        for b in &mut self.buf[at..at + n] {
            *b = (v as u8 & 0x7f) | if v >= 0x80 { 0x80 } else { 0 };
            v >>= 7;
        }
    }

    /// Checks that every message was closed.
    pub(crate) fn finish(self) {
        debug_assert!(self.open.is_empty(), "unclosed message");
    }
}

/// Why a message could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The input ends inside a field.
    Truncated,
    /// A varint longer than ten bytes, a wire type protobuf does not define (or a group),
    /// or field number 0.
    Malformed,
}

/// One field's value, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl<'a> FieldValue<'a> {
    pub(crate) fn wire_type(&self) -> WireType {
        match self {
            FieldValue::Varint(_) => WireType::Varint,
            FieldValue::Fixed64(_) => WireType::Fixed64,
            FieldValue::Len(_) => WireType::Len,
            FieldValue::Fixed32(_) => WireType::Fixed32,
        }
    }

    /// The varint, if this is one.
    pub(crate) fn as_varint(&self) -> Option<u64> {
        match self {
            FieldValue::Varint(v) => Some(*v),
            _ => None,
        }
    }

    /// The bytes of a length-delimited field, if this is one.
    pub(crate) fn as_len(&self) -> Option<&'a [u8]> {
        match self {
            FieldValue::Len(b) => Some(b),
            _ => None,
        }
    }
}

/// Reads the fields of one message, in order. Never reads past its input, never allocates.
pub(crate) struct ProtoReader<'a> {
    rest: &'a [u8],
}

impl<'a> ProtoReader<'a> {
    /// A reader of the message `input`.
    pub(crate) fn new(input: &'a [u8]) -> Self {
        ProtoReader { rest: input }
    }

    fn varint(&mut self) -> Result<u64, ReadError> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.rest.split_first().ok_or(ReadError::Truncated)?;
            self.rest = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(ReadError::Malformed)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.rest.len() < n {
            return Err(ReadError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// The next field's number and value; `Ok(None)` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, FieldValue<'a>)>, ReadError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| ReadError::Malformed)?;
        if field == 0 {
            return Err(ReadError::Malformed);
        }
        let value = match key & 7 {
            0 => FieldValue::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                FieldValue::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| ReadError::Truncated)?;
                FieldValue::Len(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                FieldValue::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            }
            _ => return Err(ReadError::Malformed),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_the_encoding() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            ProtoWriter::new(&mut buf).varint(v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            let mut r = ProtoReader::new(&buf);
            assert_eq!(r.varint(), Ok(v));
        }
    }

    /// Messages of every length class around the one-byte boundary, nested, read back.
    #[test]
    fn nested_lengths_are_patched_across_the_varint_boundary() {
        for inner_len in [0usize, 1, 125, 126, 127, 128, 129, 16_383, 16_384, 70_000] {
            let payload = vec![b'x'; inner_len];
            let mut buf = vec![0xAA]; // bytes before the message stay put
            let mut w = ProtoWriter::new(&mut buf);
            w.open(1);
            w.open(2);
            w.bytes(3, &payload);
            w.close();
            w.varint_field(4, 7);
            w.close();
            w.finish();
            assert_eq!(buf[0], 0xAA);
            let mut outer = ProtoReader::new(&buf[1..]);
            let (f, v) = outer.next_field().unwrap().unwrap();
            assert_eq!(f, 1);
            assert_eq!(outer.next_field(), Ok(None));
            let mut mid = ProtoReader::new(v.as_len().unwrap());
            let (f, v) = mid.next_field().unwrap().unwrap();
            assert_eq!(f, 2);
            let mut inner = ProtoReader::new(v.as_len().unwrap());
            assert_eq!(
                inner.next_field(),
                Ok(Some((3, FieldValue::Len(&payload[..]))))
            );
            assert_eq!(inner.next_field(), Ok(None));
            assert_eq!(mid.next_field(), Ok(Some((4, FieldValue::Varint(7)))));
            assert_eq!(mid.next_field(), Ok(None));
        }
    }

    #[test]
    fn defaults_are_omitted_except_when_asked() {
        let mut buf = Vec::new();
        let mut w = ProtoWriter::new(&mut buf);
        w.uint(1, 0);
        w.string(2, "");
        assert!(buf.is_empty());
        let mut w = ProtoWriter::new(&mut buf);
        w.varint_field(1, 0);
        assert_eq!(buf, [0x08, 0x00]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let cases: [(&[u8], ReadError); 6] = [
            (&[0x0a], ReadError::Truncated),             // tag, no length
            (&[0x0a, 0x05, 1, 2], ReadError::Truncated), // length past the end
            (&[0x09, 1, 2, 3], ReadError::Truncated),    // fixed64 cut short
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                ReadError::Malformed,
            ), // an 11-byte varint value
            (&[0x03], ReadError::Malformed),             // group start (wire type 3)
            (&[0x00, 0x00], ReadError::Malformed),       // field 0
        ];
        for (input, want) in cases {
            let mut r = ProtoReader::new(input);
            let mut got = Ok(None);
            for _ in 0..input.len() + 1 {
                got = r.next_field();
                if !matches!(got, Ok(Some(_))) {
                    break;
                }
            }
            assert_eq!(got, Err(want), "{input:?}");
        }
        let mut r = ProtoReader::new(&[0x88; 11]);
        assert_eq!(r.next_field(), Err(ReadError::Malformed), "11-byte varint");
    }
}
