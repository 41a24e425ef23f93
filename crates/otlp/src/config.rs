//! Configuration values and their parsers: [`Endpoint`], [`Protocol`], [`Compression`],
//! header lists, and the typed [`ConfigError`].

use std::fmt;
use std::str::FromStr;

/// The path OTLP/HTTP receivers serve traces on.
pub const TRACES_PATH: &str = "/v1/traces";

/// The endpoint used when none is configured: a collector on this host.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// Why a configuration value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint is not an `http://` or `https://` URL this exporter can reach.
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `https://` endpoint, but the crate was built without its `tls` feature.
    TlsUnavailable {
        /// The endpoint as given.
        endpoint: String,
    },
    /// A header name or value that cannot be sent, or a header the exporter sets itself.
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `key=value,key2=value2` list (`OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_RESOURCE_ATTRIBUTES`) that does not parse.
    InvalidList {
        /// The offending entry.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A compression other than `gzip` or `none`.
    UnknownCompression(String),
    /// A protocol other than `http/json` or `http/protobuf`.
    UnknownProtocol(String),
    /// `http/protobuf` was asked for explicitly, but the crate was built without its `proto`
    /// feature.
    ProtobufUnavailable,
    /// A timeout that is not a positive whole number of milliseconds.
    InvalidTimeout(String),
    /// An environment variable's value was refused.
    Env {
        /// The variable's name.
        var: &'static str,
        /// Why its value was refused.
        error: Box<ConfigError>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidEndpoint { endpoint, reason } => {
                write!(f, "invalid OTLP endpoint {endpoint:?}: {reason}")
            }
            ConfigError::TlsUnavailable { endpoint } => write!(
                f,
                "OTLP endpoint {endpoint:?} needs TLS: build reqtrace-otlp with its `tls` feature"
            ),
            ConfigError::InvalidHeader { name, reason } => {
                write!(f, "invalid OTLP header {name:?}: {reason}")
            }
            ConfigError::InvalidList { entry, reason } => {
                write!(f, "invalid key=value list entry {entry:?}: {reason}")
            }
            ConfigError::UnknownCompression(c) => {
                write!(f, "unknown OTLP compression {c:?} (expected gzip or none)")
            }
            ConfigError::UnknownProtocol(p) => write!(
                f,
                "unsupported OTLP protocol {p:?} (expected http/json or http/protobuf)"
            ),
            ConfigError::ProtobufUnavailable => f.write_str(
                "OTLP http/protobuf needs reqtrace-otlp's `proto` feature (or use http/json)",
            ),
            ConfigError::InvalidTimeout(t) => write!(
                f,
                "invalid OTLP timeout {t:?} (expected a positive number of milliseconds)"
            ),
            ConfigError::Env { var, error } => write!(f, "{var}: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Env { error, .. } => Some(&**error),
            _ => None,
        }
    }
}

/// The OTLP/HTTP encoding of request bodies.
///
/// ```
/// use reqtrace_otlp::Protocol;
/// let p: Protocol = "http/json".parse().unwrap();
/// assert_eq!(p, Protocol::HttpJson);
/// assert_eq!(Protocol::HttpProtobuf.to_string(), "http/protobuf");
/// assert!("grpc".parse::<Protocol>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `application/json` (the default: needs no extra dependency).
    #[default]
    HttpJson,
    /// `application/x-protobuf` (needs the `proto` feature).
    HttpProtobuf,
}

impl Protocol {
    /// The `Content-Type` of request bodies.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpJson => "application/json",
            Protocol::HttpProtobuf => "application/x-protobuf",
        }
    }
}

impl FromStr for Protocol {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http/json" => Ok(Protocol::HttpJson),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            _ => Err(ConfigError::UnknownProtocol(s.to_owned())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::HttpJson => "http/json",
            Protocol::HttpProtobuf => "http/protobuf",
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
        let (scheme, rest) = match t.split_once("://") {
            Some((sch, rest)) if sch.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some((sch, rest)) if sch.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("expected a URL such as http://localhost:4318")),
        };
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        let tail = tail.split('#').next().unwrap_or("");
        if authority.contains('@') {
            return Err(bad(
                "user information in the URL is not supported (use a header)",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in the host"))?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("junk after the host"))?,
                ),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if !host.contains(':')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(bad("invalid character in the host"));
        }
        let port = match port {
            None | Some("") => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad("the port must be a number from 1 to 65535")),
            },
        };
        let path = if tail.is_empty() {
            "/".to_owned()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_owned()
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
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
