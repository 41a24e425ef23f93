//! Carriers: where headers are read from ([`Extractor`]) and written to ([`Injector`]).
//!
//! Built in: `HashMap<String, String>` (header names compared case-insensitively),
//! `Vec<(String, String)>` (a header list that can hold repeated names, as on the wire), and,
//! with the `http` feature, `http::HeaderMap`.

use std::collections::HashMap;

/// Something headers can be written to.
pub trait Injector {
    /// Sets header `name` (always given in lowercase) to `value`, replacing any earlier value
    /// of that name in any case.
    fn set(&mut self, name: &str, value: String);
}

/// Something headers can be read from. Header names are matched case-insensitively.
pub trait Extractor {
    /// The first value of header `name`.
    fn get(&self, name: &str) -> Option<&str>;

    /// Every value of header `name`, in order (a carrier that cannot repeat names returns at
    /// most one per spelling).
    fn get_all(&self, name: &str) -> Vec<&str>;
}

impl<E: Extractor + ?Sized> Extractor for &E {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
    fn get_all(&self, name: &str) -> Vec<&str> {
        (**self).get_all(name)
    }
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
        self.insert(name.to_ascii_lowercase(), value);
    }
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = HashMap::get(self, name) {
            return Some(v.as_str());
        }
        matching(self.iter(), name).next()
    }

    /// Every entry whose key equals `name` ignoring case: `Traceparent` and `traceparent`
    /// are two headers. Their order is the map's (unspecified).
    fn get_all(&self, name: &str) -> Vec<&str> {
        matching(self.iter(), name).collect()
    }
}

/// The values of the entries whose key equals `name` ignoring ASCII case.
fn matching<'a, 'n>(
    entries: impl Iterator<Item = (&'a String, &'a String)> + 'n,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + 'n
where
    'a: 'n,
{
    entries
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.push((name.to_ascii_lowercase(), value));
    }
}

impl Extractor for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Extractor::get(self.as_slice(), name)
    }
    fn get_all(&self, name: &str) -> Vec<&str> {
        Extractor::get_all(self.as_slice(), name)
    }
}

impl Extractor for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        matching(self.iter().map(|(k, v)| (k, v)), name).next()
    }
    fn get_all(&self, name: &str) -> Vec<&str> {
        matching(self.iter().map(|(k, v)| (k, v)), name).collect()
    }
}

#[cfg(feature = "http")]
mod http_impl {
    use super::{Extractor, Injector};
    use http::header::{HeaderMap, HeaderName, HeaderValue};

    /// Values that are not valid header values (control characters) are not written.
    impl Injector for HeaderMap {
        fn set(&mut self, name: &str, value: String) {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) else {
                return;
            };
            self.insert(name, value);
        }
    }

    /// A value that is not visible ASCII is returned as `"\u{fffd}"`, which no header format
    /// accepts: it still counts (two `traceparent` headers stay a duplicate) but cannot pass.
    impl Extractor for HeaderMap {
        fn get(&self, name: &str) -> Option<&str> {
            Extractor::get_all(self, name).into_iter().next()
        }
        fn get_all(&self, name: &str) -> Vec<&str> {
            HeaderMap::get_all(self, name)
                .iter()
                .map(|v| v.to_str().unwrap_or("\u{fffd}"))
                .collect()
        }
    }
}
