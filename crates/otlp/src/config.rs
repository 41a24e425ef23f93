//! Configuration values and their parsers: [`Endpoint`], [`Protocol`], [`Compression`],
//! header lists and timeouts. Refusals are [`ConfigError`]s.

use std::fmt;
use std::str::FromStr;

pub use crate::error::ConfigError;

/// The path OTLP/HTTP receivers serve traces on.
pub const TRACES_PATH: &str = "/v1/traces";

/// The endpoint used when none is configured: a collector on this host.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// The endpoint used for [`Protocol::Grpc`] when none is configured: a collector's OTLP/gRPC
/// port on this host.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// The OTLP transport and encoding: OTLP/HTTP with protobuf or JSON bodies, or OTLP/gRPC.
///
/// The default is `http/protobuf`, as the OTLP exporter specification asks of SDKs (some
/// receivers, Arize Phoenix among them, accept nothing else); in a build without the
/// `proto` feature it is `http/json`. `grpc` needs the `grpc` feature.
///
/// ```
/// use reqtrace_otlp::Protocol;
/// let p: Protocol = "http/json".parse().unwrap();
/// assert_eq!(p, Protocol::HttpJson);
/// assert_eq!(Protocol::HttpProtobuf.to_string(), "http/protobuf");
/// assert_eq!("grpc".parse::<Protocol>().unwrap(), Protocol::Grpc);
/// assert!("thrift".parse::<Protocol>().is_err());
/// # #[cfg(feature = "proto")]
/// assert_eq!(Protocol::default(), Protocol::HttpProtobuf);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `application/json`.
    #[cfg_attr(not(feature = "proto"), default)]
    HttpJson,
    /// `application/x-protobuf` (needs the `proto` feature).
    #[cfg_attr(feature = "proto", default)]
    HttpProtobuf,
    /// OTLP/gRPC: the protobuf request as a unary call over HTTP/2 (needs the `grpc`
    /// feature). The endpoint is used as it is (default `http://localhost:4317`).
    Grpc,
}

impl Protocol {
    /// The `Content-Type` of request bodies.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpJson => "application/json",
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::Grpc => "application/grpc",
        }
    }
}

impl FromStr for Protocol {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http/json" => Ok(Protocol::HttpJson),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "grpc" => Ok(Protocol::Grpc),
            _ => Err(ConfigError::UnknownProtocol(s.trim().to_owned())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::HttpJson => "http/json",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        })
    }
}

/// Compression of request bodies.
///
/// ```
/// use reqtrace_otlp::Compression;
/// assert_eq!("gzip".parse::<Compression>().unwrap(), Compression::Gzip);
/// assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
/// assert_eq!(Compression::Gzip.to_string(), "gzip");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Bodies are sent as they are (the default).
    #[default]
    None,
    /// Bodies are gzip-compressed (`Content-Encoding: gzip`).
    Gzip,
}

impl FromStr for Compression {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gzip" => Ok(Compression::Gzip),
            "none" | "" => Ok(Compression::None),
            _ => Err(ConfigError::UnknownCompression(s.to_owned())),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        })
    }
}

/// URL scheme of an [`Endpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS (needs the `tls` feature to be sent to).
    Https,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed `http://` or `https://` URL that requests are POSTed to, used as-is.
///
/// Parsing checks the shape only (scheme, host, port); it resolves nothing.
///
/// ```
/// use reqtrace_otlp::Endpoint;
/// let e: Endpoint = "http://127.0.0.1:4318/v1/traces".parse().unwrap();
/// assert_eq!(e.host(), "127.0.0.1");
/// assert_eq!(e.port(), 4318);
/// assert_eq!(e.path(), "/v1/traces");
/// assert_eq!(e.to_string(), "http://127.0.0.1:4318/v1/traces");
///
/// // A base URL, as in OTEL_EXPORTER_OTLP_ENDPOINT, gets the traces path appended.
/// let base = Endpoint::from_base("http://collector:4318").unwrap();
/// assert_eq!(base.to_string(), "http://collector:4318/v1/traces");
///
/// assert!("ftp://example".parse::<Endpoint>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    scheme: Scheme,
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    /// A base URL with the traces path appended: `http://h:4318` and `http://h:4318/` become
    /// `http://h:4318/v1/traces`, `http://h/otlp` becomes `http://h/otlp/v1/traces` (the rule
    /// of `OTEL_EXPORTER_OTLP_ENDPOINT`). A URL whose path already ends in `/v1/traces` is kept
    /// as it is.
    pub fn from_base(base: &str) -> Result<Endpoint, ConfigError> {
        let mut e: Endpoint = base.parse()?;
        let (path, query) = match e.path.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (e.path.clone(), None),
        };
        if !path.ends_with(TRACES_PATH) {
            let mut p = path.trim_end_matches('/').to_owned();
            p.push_str(TRACES_PATH);
            if let Some(q) = query {
                p.push('?');
                p.push_str(&q);
            }
            e.path = p;
        }
        Ok(e)
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or address (an IPv6 address without its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `Host` header's value.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| ConfigError::InvalidEndpoint {
            endpoint: s.to_owned(),
            reason,
        };
        let t = s.trim();
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        // A fragment is never sent; `http::Uri` refuses it, so cut it first.
        let t = t.split('#').next().unwrap_or("");
        let uri: http::Uri = t
            .parse()
            .map_err(|_| bad("expected a URL such as http://localhost:4318"))?;
        let scheme = match uri.scheme_str() {
            Some(sch) if sch.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(sch) if sch.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("expected a URL such as http://localhost:4318")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "user information in the URL is not supported (use a header)",
            ));
        }
        let raw_host = authority.host();
        let host = raw_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(raw_host);
        if host.is_empty() {
            return Err(bad("no host"));
        }
        // `http::Uri` checks characters only: make an IP literal an address, a name a name.
        if raw_host.starts_with('[') {
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 address"));
            }
        } else if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(bad("invalid character in the host"));
        }
        // `Authority::port` hides a port that does not fit a u16: read what follows the host.
        let port = match authority.as_str()[raw_host.len()..].strip_prefix(':') {
            None | Some("") => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad("the port must be a number from 1 to 65535")),
            },
        };
        let path = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        Ok(Endpoint {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}{}", self.host_header(), self.path)
    }
}

/// Headers the exporter writes itself; configuring them is refused.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
];

/// Checks that `name: value` can be sent as a request header.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), ConfigError> {
    let bad = |reason| ConfigError::InvalidHeader {
        name: name.to_owned(),
        reason,
    };
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(bad(
            "a header name is a non-empty token (letters, digits, -_.!#$%&'*+^`|~)",
        ));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(bad("the exporter sets this header itself"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad(
            "the value contains a control character (CR, LF, NUL, ...)",
        ));
    }
    Ok(())
}

/// Parses a W3C-baggage-style `key=value,key2=value2` list with percent-encoded keys and
/// values, as in `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`. Empty entries
/// are skipped; keys and values are trimmed of spaces.
///
/// ```
/// let pairs = reqtrace_otlp::parse_key_value_list("api-key=s3cr%3Dt, x-tenant = a%20b,").unwrap();
/// assert_eq!(pairs, [("api-key".to_owned(), "s3cr=t".to_owned()),
///                    ("x-tenant".to_owned(), "a b".to_owned())]);
/// assert!(reqtrace_otlp::parse_key_value_list("no-equals-sign").is_err());
/// ```
pub fn parse_key_value_list(list: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for entry in list.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        let bad = |reason| ConfigError::InvalidList {
            entry: entry.trim().to_owned(),
            reason,
        };
        let (k, v) = entry
            .split_once('=')
            .ok_or_else(|| bad("expected key=value"))?;
        let k = percent_decode(k.trim()).ok_or_else(|| bad("invalid percent-encoding"))?;
        let v = percent_decode(v.trim()).ok_or_else(|| bad("invalid percent-encoding"))?;
        if k.is_empty() {
            return Err(bad("empty key"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; `None` on a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Parses a timeout in milliseconds (`OTEL_EXPORTER_OTLP_TIMEOUT`).
pub(crate) fn parse_timeout_ms(s: &str) -> Result<std::time::Duration, ConfigError> {
    match s.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        _ => Err(ConfigError::InvalidTimeout(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        let e: Endpoint = "HTTP://Collector.Example:4318".parse().unwrap();
        assert_eq!(e.host(), "collector.example");
        assert_eq!(e.path(), "/");
        assert_eq!(e.to_string(), "http://collector.example:4318/");
        let e: Endpoint = "https://h/x?y=1#frag".parse().unwrap();
        assert_eq!(
            (e.scheme(), e.port(), e.path()),
            (Scheme::Https, 443, "/x?y=1")
        );
        let e: Endpoint = "http://[::1]:9/v1/traces".parse().unwrap();
        assert_eq!((e.host(), e.port()), ("::1", 9));
        assert_eq!(e.to_string(), "http://[::1]:9/v1/traces");
        for bad in [
            "",
            "localhost:4318",
            "http://",
            "http://:80",
            "http://h:0",
            "http://h:99999",
            "http://h:x",
            "http://u:p@h",
            "http://[::1",
            "http://[zz]:1",
            "http://h h",
            "http://h\r\n:1",
            "gopher://h",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn base_endpoints_get_the_traces_path_once() {
        let cases = [
            ("http://h:4318", "http://h:4318/v1/traces"),
            ("http://h:4318/", "http://h:4318/v1/traces"),
            ("http://h/otlp/", "http://h/otlp/v1/traces"),
            ("http://h/v1/traces", "http://h/v1/traces"),
            ("http://h/p?k=v", "http://h/p/v1/traces?k=v"),
        ];
        for (base, want) in cases {
            assert_eq!(Endpoint::from_base(base).unwrap().to_string(), want);
        }
    }

    #[test]
    fn key_value_lists() {
        assert_eq!(parse_key_value_list("").unwrap(), vec![]);
        assert_eq!(
            parse_key_value_list("a=1,b=x%2Cy,c=").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x,y".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(parse_key_value_list("a=%zz").is_err());
        assert!(parse_key_value_list("a=%f").is_err());
        assert!(parse_key_value_list("a=%ff").is_err()); // not UTF-8
        assert!(parse_key_value_list("=v").is_err());
    }

    #[test]
    fn headers_are_checked() {
        assert!(check_header("x-api-key", "abc def").is_ok());
        assert!(check_header("x api", "v").is_err());
        assert!(check_header("", "v").is_err());
        assert!(check_header("x", "a\r\nInjected: 1").is_err());
        assert!(check_header("Content-Length", "1").is_err());
    }

    proptest::proptest! {
        /// Configuration text from the environment never panics a parser, and a parsed
        /// endpoint prints to a URL that parses back to itself.
        #[test]
        fn parsers_take_any_text(s in "\\PC{0,60}", t in "(https?://)?[a-zA-Z0-9:\\[\\]@%/?#._-]{0,40}") {
            let _ = s.parse::<Protocol>();
            let _ = s.parse::<Compression>();
            let _ = parse_key_value_list(&s);
            let _ = parse_timeout_ms(&s);
            let _ = Endpoint::from_base(&s);
            for text in [&s, &t] {
                if let Ok(e) = text.parse::<Endpoint>() {
                    let again: Endpoint = e.to_string().parse().unwrap();
                    proptest::prop_assert_eq!(again, e);
                }
            }
        }
    }

    #[test]
    fn enums_round_trip() {
        for p in [Protocol::HttpJson, Protocol::HttpProtobuf] {
            assert_eq!(p.to_string().parse::<Protocol>().unwrap(), p);
        }
        for c in [Compression::None, Compression::Gzip] {
            assert_eq!(c.to_string().parse::<Compression>().unwrap(), c);
        }
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(parse_timeout_ms("250").unwrap().as_millis(), 250);
        assert!(parse_timeout_ms("0").is_err());
        assert!(parse_timeout_ms("-1").is_err());
        assert!(parse_timeout_ms("1s").is_err());
    }
}
