//! Attribute values: [`Value`] and [`KeyValue`].
//!
//! `set_attribute` takes anything `Into<Value>`: `bool`, every integer type, `f32`/`f64`,
//! `&'static str` (stored without copying), `String`, `Cow<'static, str>` and `Vec`s of those.
//! A borrowed string that is not `'static` must be turned into a `String` first, as in
//! OpenTelemetry, so the hot path never copies a string behind the caller's back.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An attribute value.
///
/// In JSON a value is the plain JSON value: `true`, `1500`, `0.5`, `"gpt-4o"`, `[1, 2]`.
/// A float that is NaN or infinite has no JSON number form; it is written as the string
/// `"NaN"`, `"inf"` or `"-inf"` (so serialization never fails).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer (unsigned values above `i64::MAX` saturate).
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A string; `&'static str` values are stored without allocation.
    String(Cow<'static, str>),
    /// A homogeneous or mixed array of values.
    Array(Vec<Value>),
}

impl Value {
    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a float, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// Shortens an array to at most `max_elements` elements and its string values (also inside
    /// arrays) to at most `max_bytes` bytes each; what is cut is freed. Returns whether
    /// anything was cut.
    pub(crate) fn limit(&mut self, max_bytes: usize, max_elements: usize) -> bool {
        match self {
            Value::Array(items) => {
                let mut cut = false;
                if items.len() > max_elements {
                    items.truncate(max_elements);
                    items.shrink_to_fit();
                    cut = true;
                }
                for v in items {
                    cut |= v.limit(max_bytes, max_elements);
                }
                cut
            }
            _ => self.truncate(max_bytes),
        }
    }

    /// Shortens string values (also inside arrays) to at most `max_bytes` bytes, cutting at a
    /// character boundary and freeing the rest. Returns whether anything was cut.
    pub(crate) fn truncate(&mut self, max_bytes: usize) -> bool {
        match self {
            Value::String(s) => cut_str(s, max_bytes),
            Value::Array(items) => {
                let mut any = false;
                for v in items {
                    any |= v.truncate(max_bytes);
                }
                any
            }
            _ => false,
        }
    }
}

/// The value of the last attribute named `key` in `attrs` (the one that wins on export).
pub(crate) fn last_value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// Cuts `s` to at most `max` bytes at a character boundary, freeing the rest (what is kept
/// costs what it holds). Returns whether it was cut.
pub(crate) fn cut_str(s: &mut Cow<'static, str>, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    match s {
        Cow::Borrowed(b) => *s = Cow::Borrowed(&b[..cut]),
        Cow::Owned(o) => {
            o.truncate(cut);
            o.shrink_to_fit();
        }
    }
    true
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(v) => f.write_str(v),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

macro_rules! int_into_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_into_value!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::F64(f64::from(v))
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::String(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value::String(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Bool(v) => s.serialize_bool(*v),
            Value::I64(v) => s.serialize_i64(*v),
            Value::F64(v) if v.is_finite() => s.serialize_f64(*v),
            Value::F64(v) => s.serialize_str(Value::non_finite_name(*v)),
            Value::String(v) => s.serialize_str(v),
            Value::Array(items) => s.collect_seq(items),
        }
    }
}

impl Value {
    /// The string reqtrace writes for a float with no JSON number form: `NaN`, `inf`, `-inf`
    /// (every encoding uses it, so the serde form and the exporters agree).
    pub fn non_finite_name(v: f64) -> &'static str {
        if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a bool, number, string or array")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::I64(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::F64(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::String(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::String(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Value::Array(items))
            }
        }
        d.deserialize_any(V)
    }
}

/// One attribute: a key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The key; `&'static str` keys are stored without allocation.
    pub key: Cow<'static, str>,
    /// The value.
    pub value: Value,
}

impl KeyValue {
    /// A key-value pair.
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Serde helpers that write a `Vec<KeyValue>` as a JSON object (`{"model": "gpt-4o"}`), the
/// seed's shape, and read it back in order.
pub mod attribute_map {
    use super::*;
    use serde::ser::SerializeMap;

    /// Writes the attributes as a map, in order.
    pub fn serialize<S: Serializer>(attrs: &[KeyValue], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(attrs.len()))?;
        for kv in attrs {
            map.serialize_entry(&*kv.key, &kv.value)?;
        }
        map.end()
    }

    /// Reads a map into attributes, in document order.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyValue>, D::Error> {
        struct M;
        impl<'de> Visitor<'de> for M {
            type Value = Vec<KeyValue>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<KeyValue>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push(KeyValue {
                        key: Cow::Owned(k),
                        value: v,
                    });
                }
                Ok(out)
            }
        }
        d.deserialize_map(M)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_value_covers_the_common_types() {
        assert_eq!(Value::from(1500), Value::I64(1500));
        assert_eq!(Value::from(u64::MAX), Value::I64(i64::MAX));
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(0.5f32), Value::F64(0.5));
        assert_eq!(Value::from("gpt-4o").as_str(), Some("gpt-4o"));
        assert!(matches!(Value::from("x"), Value::String(Cow::Borrowed(_))));
        assert_eq!(
            Value::from(vec![1, 2]),
            Value::Array(vec![Value::I64(1), Value::I64(2)])
        );
    }

    #[test]
    fn truncate_cuts_on_char_boundary() {
        let mut v = Value::from("héllo".to_string());
        assert!(v.truncate(2));
        assert_eq!(v.as_str(), Some("h"));
        let mut s = Value::from("static-long");
        assert!(s.truncate(6));
        assert_eq!(s.as_str(), Some("static"));
        let mut short = Value::from("ok");
        assert!(!short.truncate(6));
    }

    #[test]
    fn non_finite_floats_serialize_as_strings() {
        let j = serde_json::to_string(&vec![
            Value::F64(f64::NAN),
            Value::F64(f64::INFINITY),
            Value::F64(f64::NEG_INFINITY),
            Value::F64(1.5),
        ])
        .unwrap();
        assert_eq!(j, r#"["NaN","inf","-inf",1.5]"#);
    }
}
