//! The OpenTelemetry HTTP semantic-convention names both sides record (one constant per
//! attribute, below), and the attributes read from a request and its connection.
//!
//! | attribute | CLIENT span | SERVER span |
//! | --- | --- | --- |
//! | [`HTTP_REQUEST_METHOD`] (+ [`HTTP_REQUEST_METHOD_ORIGINAL`]) | yes | yes |
//! | [`HTTP_RESPONSE_STATUS_CODE`] | yes | yes |
//! | [`HTTP_ROUTE`] | | when the route is known |
//! | [`URL_FULL`] | yes, redacted | |
//! | [`URL_PATH`], [`URL_SCHEME`] | yes | yes |
//! | [`URL_QUERY`] | | when the request has a query, redacted |
//! | [`SERVER_ADDRESS`] | yes | from the `Host` header |
//! | [`SERVER_PORT`] | always (the scheme's default when the URL has none) | when the `Host` header has one |
//! | [`NETWORK_PROTOCOL_VERSION`] | from the response | from the request |
//! | [`CLIENT_ADDRESS`] | | `Forwarded`, else `X-Forwarded-For`, else the peer |
//! | [`NETWORK_PEER_ADDRESS`], [`NETWORK_PEER_PORT`] | | when the peer is known ([`crate::ServerLayer::peer_with`]) |
//! | [`USER_AGENT_ORIGINAL`] | when sent | when sent |
//! | [`ERROR_TYPE`] | on failure | on failure |
//!
//! Redaction, as the conventions say: credentials in a URL (`https://user:pass@host/`) are
//! recorded as `REDACTED:REDACTED@`, and the values of the query parameters in
//! [`SENSITIVE_QUERY_PARAMETERS`] as [`REDACTED`], in [`URL_FULL`] and [`URL_QUERY`] alike.
//!
//! Values taken from headers are untrusted: they are parsed in place without panicking, an
//! invalid one is skipped (never an error to the caller), and what is kept is bounded by the
//! HTTP server's header limits and again by the tracer's attribute limits
//! (`reqtrace_core::Limits`).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{HeaderMap, HeaderName, Method, Uri, Version, header};
use reqtrace_core::Value;

/// `http.request.method`: the request method (`_OTHER` for a method outside RFC 9110/5789).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`: the method as sent, when it was recorded as `_OTHER`.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`: the response status code (an integer).
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`: the matched route template (e.g. `/users/{id}`), when known.
pub const HTTP_ROUTE: &str = "http.route";
/// `url.full` (CLIENT spans): the absolute URL the request was sent to, e.g.
/// `https://REDACTED:REDACTED@api.example/v1/x?sig=REDACTED&page=2`: credentials and the
/// values of the [`SENSITIVE_QUERY_PARAMETERS`] are replaced by [`REDACTED`]; no fragment
/// (it is not sent).
pub const URL_FULL: &str = "url.full";
/// `url.path`: the request path.
pub const URL_PATH: &str = "url.path";
/// `url.query` (SERVER spans): the query, without the `?`, as received (percent-encoded),
/// with the values of the [`SENSITIVE_QUERY_PARAMETERS`] replaced by [`REDACTED`]; recorded
/// when the request has a non-empty query.
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`: `http` or `https`.
pub const URL_SCHEME: &str = "url.scheme";
/// `server.address`: the host the request was addressed to.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`: the port the request was addressed to (an integer). Always on CLIENT spans,
/// where the conventions require it: the scheme's default (80 for `http`, 443 for `https`)
/// when the URL has none. On SERVER spans when the `Host` header gives one.
pub const SERVER_PORT: &str = "server.port";
/// `network.protocol.version`: the HTTP version (`"1.0"`, `"1.1"`, `"2"`, `"3"`): of the
/// response on CLIENT spans (the version actually used), of the request on SERVER spans.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `client.address` (SERVER spans): the client's address, behind proxies: the `for=` of the
/// first element of `Forwarded` (RFC 7239), else the first entry of `X-Forwarded-For`, else
/// the peer's IP address. An IP address (IPv6 without brackets, no port), or an obfuscated
/// identifier (`_hidden`) from `Forwarded`; `unknown` and invalid values are skipped.
pub const CLIENT_ADDRESS: &str = "client.address";
/// `network.peer.address` (SERVER spans): the IP address of the connection's other end (the
/// client, or the last proxy), when the server gives it ([`crate::ServerLayer::peer_with`]).
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// `network.peer.port` (SERVER spans): the port of the connection's other end (an integer),
/// with [`NETWORK_PEER_ADDRESS`].
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// `user_agent.original`: the `User-Agent` header.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `error.type`: why the operation failed (`panic`, `cancelled`, a status code, an error type).
pub const ERROR_TYPE: &str = "error.type";

/// What redacted values are replaced by (in [`URL_FULL`] and [`URL_QUERY`]).
pub const REDACTED: &str = "REDACTED";
/// The query parameters whose values the conventions list as sensitive (signed-URL
/// credentials), recorded as [`REDACTED`]. Names are matched exactly (case-sensitive), as the
/// conventions list them.
pub const SENSITIVE_QUERY_PARAMETERS: [&str; 4] =
    ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// Which side of the request a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// The method as the conventions name it: one of the known methods, or `None` (`_OTHER`).
pub(crate) fn known_method(m: &Method) -> Option<&'static str> {
    Some(match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return None,
    })
}

/// A span name from the method and, when known, the route: `GET /users/{id}`, `GET`, or
/// `HTTP` for an unknown method (as the conventions say).
pub(crate) fn span_name(method: &Method, route: Option<&str>) -> Cow<'static, str> {
    let m = known_method(method).unwrap_or("HTTP");
    match route {
        Some(r) => Cow::Owned(format!("{m} {r}")),
        None => Cow::Borrowed(m),
    }
}

/// The request's attributes: method, path, scheme, server address and port, user agent; and
/// for a client the full URL (and the scheme's default port), for a server the query.
/// `default_scheme` is used when the URI has none (a server sees origin-form URIs).
pub(crate) fn request_attributes(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    default_scheme: &'static str,
    side: Side,
    mut set: impl FnMut(&'static str, Value),
) {
    match known_method(method) {
        Some(m) => set(HTTP_REQUEST_METHOD, Value::from(m)),
        None => {
            set(HTTP_REQUEST_METHOD, Value::from("_OTHER"));
            set(
                HTTP_REQUEST_METHOD_ORIGINAL,
                Value::from(method.as_str().to_owned()),
            );
        }
    }
    set(URL_PATH, Value::from(uri.path().to_owned()));
    let scheme: Cow<'static, str> = match uri.scheme_str() {
        None => Cow::Borrowed(default_scheme),
        Some("http") => Cow::Borrowed("http"),
        Some("https") => Cow::Borrowed("https"),
        Some(other) => Cow::Owned(other.to_owned()),
    };
    set(URL_SCHEME, Value::from(scheme.clone()));
    if let Some((host, port)) = server_address(uri, headers) {
        set(SERVER_ADDRESS, Value::from(host.to_owned()));
        let port = match side {
            Side::Client => port.or_else(|| default_port(&scheme)),
            Side::Server => port,
        };
        if let Some(p) = port {
            set(SERVER_PORT, Value::from(i64::from(p)));
        }
    }
    match side {
        Side::Client => {
            if let Some(full) = full_url(&scheme, uri, headers) {
                set(URL_FULL, Value::from(full));
            }
        }
        Side::Server => {
            if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
                set(URL_QUERY, Value::from(redact_query(q).into_owned()));
            }
        }
    }
    if let Some(ua) = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        set(USER_AGENT_ORIGINAL, Value::from(ua.to_owned()));
    }
}

/// The attributes of a server's connection: `client.address` (from `Forwarded`, else
/// `X-Forwarded-For`, else the peer), and the peer's address and port when known.
pub(crate) fn connection_attributes(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    mut set: impl FnMut(&'static str, Value),
) {
    let client = forwarded_client(headers).or_else(|| peer.map(|p| p.ip().to_string()));
    if let Some(c) = client {
        set(CLIENT_ADDRESS, Value::from(c));
    }
    if let Some(p) = peer {
        set(NETWORK_PEER_ADDRESS, Value::from(p.ip().to_string()));
        set(NETWORK_PEER_PORT, Value::from(i64::from(p.port())));
    }
}

/// `network.protocol.version` for an HTTP version (`None` for a version `http` may add).
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(if version == Version::HTTP_11 {
        "1.1"
    } else if version == Version::HTTP_2 {
        "2"
    } else if version == Version::HTTP_10 {
        "1.0"
    } else if version == Version::HTTP_3 {
        "3"
    } else if version == Version::HTTP_09 {
        "0.9"
    } else {
        return None;
    })
}

/// The port a scheme implies when the URL gives none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `url.full`: `scheme://authority/path?query` from the URI (its authority, else a valid
/// `Host` header), credentials and sensitive query values redacted; `None` without a host.
fn full_url(scheme: &str, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let authority = match uri.authority() {
        Some(a) => a.as_str(),
        None => {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            split_host_port(host)?;
            host
        }
    };
    // Userinfo ends at the last `@` (a host has none).
    let (credentials, host) = match authority.rfind('@') {
        Some(i) => (true, &authority[i + 1..]),
        None => (false, authority),
    };
    let query = uri.query().map(redact_query);
    let mut full = String::with_capacity(
        scheme.len()
            + 3
            + 18
            + host.len()
            + uri.path().len()
            + query.as_ref().map_or(0, |q| q.len() + 1),
    );
    full.push_str(scheme);
    full.push_str("://");
    if credentials {
        full.push_str("REDACTED:REDACTED@");
    }
    full.push_str(host);
    full.push_str(uri.path());
    if let Some(q) = query {
        full.push('?');
        full.push_str(&q);
    }
    Some(full)
}

/// The query with the values of [`SENSITIVE_QUERY_PARAMETERS`] replaced by [`REDACTED`]
/// (borrowed when there is nothing to redact).
pub(crate) fn redact_query(query: &str) -> Cow<'_, str> {
    let sensitive = |pair: &str| {
        pair.split_once('=')
            .is_some_and(|(k, _)| SENSITIVE_QUERY_PARAMETERS.contains(&k))
    };
    if !query.split('&').any(sensitive) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len() + REDACTED.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if SENSITIVE_QUERY_PARAMETERS.contains(&k) => {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A node longer than this is no address (the longest IPv6 one with a port and zone is ~60).
const MAX_NODE_LEN: usize = 96;

/// The client's address from the first element of the first `Forwarded` header (its `for=`),
/// else from the first entry of the first `X-Forwarded-For` header; invalid values skipped.
pub(crate) fn forwarded_client(headers: &HeaderMap) -> Option<String> {
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(forwarded_for)
        .and_then(|node| node_address(node, true));
    forwarded.or_else(|| {
        let xff = headers.get(X_FORWARDED_FOR)?.to_str().ok()?;
        let first = xff.split(',').next()?.trim_matches([' ', '\t']);
        node_address(first, false)
    })
}

/// The `for=` value of the first element of a `Forwarded` header value (RFC 7239:
/// `element *( "," element )`, `element = pair *( ";" pair )`, `pair = token "=" ( token /
/// quoted-string )`): one pass over the bytes, no allocation. `None` when the first element
/// has no `for=`, or when it is malformed (an unterminated or escaped quoted string).
fn forwarded_for(value: &str) -> Option<&str> {
    let b = value.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b';') {
            i += 1;
        }
        if i >= b.len() || b[i] == b',' {
            return None; // the first element ended without `for=`
        }
        let key_start = i;
        while i < b.len() && !matches!(b[i], b'=' | b';' | b',') {
            i += 1;
        }
        let key = value[key_start..i].trim_matches([' ', '\t']);
        if i >= b.len() || b[i] != b'=' {
            continue; // a pair without a value: skipped (`;`), or the element's end (`,`)
        }
        i += 1;
        let v = if b.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            loop {
                match b.get(j) {
                    None => return None,
                    Some(b'"') => break,
                    Some(b'\\') => {
                        escaped = true;
                        j += 2;
                    }
                    Some(_) => j += 1,
                }
            }
            i = j + 1;
            // An escape is valid in a quoted-string but in no node: such a `for=` is invalid.
            (!escaped).then(|| &value[start..j])
        } else {
            let start = i;
            while i < b.len() && !matches!(b[i], b';' | b',') {
                i += 1;
            }
            Some(value[start..i].trim_matches([' ', '\t']))
        };
        if key.eq_ignore_ascii_case("for") {
            return v;
        }
    }
}

/// The address of a node: `ipv4`, `ipv4:port`, `[ipv6]`, `[ipv6]:port`, a bare `ipv6`, or
/// (from `Forwarded`, `obfuscated`) an RFC 7239 obfuscated identifier `_name`. IP addresses
/// are recorded in their canonical form, without brackets or port; `unknown` and anything
/// else is `None`.
fn node_address(node: &str, obfuscated: bool) -> Option<String> {
    if node.is_empty() || node.len() > MAX_NODE_LEN {
        return None;
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        if !after.is_empty() && !valid_port(after.strip_prefix(':')?) {
            return None;
        }
        return Some(ip.to_string());
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    if let Some((host, port)) = node.split_once(':')
        && let Ok(ip) = host.parse::<std::net::Ipv4Addr>()
        && valid_port(port)
    {
        return Some(ip.to_string());
    }
    (obfuscated && obfuscated_identifier(node)).then(|| node.to_owned())
}

/// A port: digits that make a `u16`, or an obfuscated one (`_name`, RFC 7239).
fn valid_port(port: &str) -> bool {
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    (digits && port.parse::<u16>().is_ok()) || obfuscated_identifier(port)
}

/// RFC 7239 `obfnode` / `obfport`: `"_" 1*( ALPHA / DIGIT / "." / "_" / "-" )`.
fn obfuscated_identifier(s: &str) -> bool {
    s.len() > 1
        && s.starts_with('_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Host and port from the URI's authority, else from the `Host` header.
fn server_address<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<(&'a str, Option<u16>)> {
    if let Some(host) = uri.host() {
        return Some((host, uri.port_u16()));
    }
    split_host_port(headers.get(header::HOST)?.to_str().ok()?)
}

/// `host[:port]` or `[v6]:port`, without allocating; `None` when it is not one (a character
/// no host name or address has, an empty host, a port that is not a `u16`).
fn split_host_port(value: &str) -> Option<(&str, Option<u16>)> {
    let (host, rest) = match value.strip_prefix('[') {
        Some(v6) => {
            let end = v6.find(']')? + 2;
            (&value[..end], &value[end..])
        }
        None => match value.rfind(':') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, ""),
        },
    };
    let port = match rest {
        "" => None,
        p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
    };
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~[]:%".contains(&b);
    (!host.is_empty() && host.bytes().all(allowed)).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn attrs_on(
        side: Side,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let map = header_map(headers);
        let mut out = Vec::new();
        request_attributes(
            &method,
            &uri.parse().unwrap(),
            &map,
            "http",
            side,
            |k, v| out.push((k.to_string(), v.to_string())),
        );
        out
    }

    fn attrs(method: Method, uri: &str, headers: &[(&str, &str)]) -> Vec<(String, String)> {
        attrs_on(Side::Server, method, uri, headers)
    }

    fn client(uri: &str) -> Vec<(String, String)> {
        attrs_on(Side::Client, Method::GET, uri, &[])
    }

    fn get<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
        a.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn server_request_takes_host_header_and_default_scheme() {
        let a = attrs(
            Method::GET,
            "/users/7?x=1",
            &[("host", "api.example:8080"), ("user-agent", "curl/8")],
        );
        assert_eq!(get(&a, HTTP_REQUEST_METHOD), Some("GET"));
        assert_eq!(get(&a, URL_PATH), Some("/users/7"));
        assert_eq!(get(&a, URL_QUERY), Some("x=1"));
        assert_eq!(get(&a, URL_SCHEME), Some("http"));
        assert_eq!(get(&a, SERVER_ADDRESS), Some("api.example"));
        assert_eq!(get(&a, SERVER_PORT), Some("8080"));
        assert_eq!(get(&a, USER_AGENT_ORIGINAL), Some("curl/8"));
        assert_eq!(get(&a, URL_FULL), None, "url.full is the client's");
    }

    #[test]
    fn server_port_is_not_made_up_and_empty_query_is_not_recorded() {
        let a = attrs(Method::GET, "/x?", &[("host", "api.example")]);
        assert_eq!(get(&a, SERVER_PORT), None);
        assert_eq!(get(&a, URL_QUERY), None);
        let a = attrs(Method::GET, "/x", &[]);
        assert_eq!(get(&a, URL_QUERY), None);
    }

    #[test]
    fn server_query_is_redacted() {
        let a = attrs(
            Method::GET,
            "/dl?X-Goog-Signature=abc&sig=s1&keep=1&Signature=&AWSAccessKeyId=AKIA",
            &[],
        );
        assert_eq!(
            get(&a, URL_QUERY),
            Some(
                "X-Goog-Signature=REDACTED&sig=REDACTED&keep=1&Signature=REDACTED&AWSAccessKeyId=REDACTED"
            )
        );
    }

    #[test]
    fn client_request_takes_absolute_uri() {
        let a = attrs_on(
            Side::Client,
            Method::POST,
            "https://10.0.0.1/x",
            &[("host", "ignored:1")],
        );
        assert_eq!(get(&a, URL_SCHEME), Some("https"));
        assert_eq!(get(&a, SERVER_ADDRESS), Some("10.0.0.1"));
        assert_eq!(get(&a, SERVER_PORT), Some("443"), "the scheme's default");
        assert_eq!(get(&a, URL_FULL), Some("https://10.0.0.1/x"));
        assert_eq!(get(&a, URL_QUERY), None, "url.query is the server's");
        assert_eq!(get(&a, USER_AGENT_ORIGINAL), None);
    }

    #[test]
    fn client_port_defaults_by_scheme() {
        assert_eq!(get(&client("http://a.example/"), SERVER_PORT), Some("80"));
        assert_eq!(get(&client("https://a.example/"), SERVER_PORT), Some("443"));
        assert_eq!(
            get(&client("http://a.example:8080/"), SERVER_PORT),
            Some("8080")
        );
        assert_eq!(
            get(&client("https://a.example:80/"), SERVER_PORT),
            Some("80")
        );
        // an unknown scheme implies no port
        assert_eq!(get(&client("ftp://a.example/"), SERVER_PORT), None);
        // origin-form on a client: the Host header, the default scheme's port
        let a = attrs_on(
            Side::Client,
            Method::GET,
            "/p?q=1",
            &[("host", "h.example")],
        );
        assert_eq!(get(&a, SERVER_PORT), Some("80"));
        assert_eq!(get(&a, URL_FULL), Some("http://h.example/p?q=1"));
        // no authority and no valid Host: no url.full, no address
        let a = attrs_on(Side::Client, Method::GET, "/p", &[("host", "bad host")]);
        assert_eq!(get(&a, URL_FULL), None);
        assert_eq!(get(&a, SERVER_PORT), None);
    }

    #[test]
    fn url_full_redacts_credentials() {
        let full = |u: &str| get(&client(u), URL_FULL).map(str::to_owned);
        assert_eq!(
            full("https://alice:s3cret@api.example/v1/x").as_deref(),
            Some("https://REDACTED:REDACTED@api.example/v1/x")
        );
        assert_eq!(
            full("http://alice@api.example:8080/").as_deref(),
            Some("http://REDACTED:REDACTED@api.example:8080/")
        );
        assert_eq!(
            full("http://a%40b:p%3Aw@[::1]:9/").as_deref(),
            Some("http://REDACTED:REDACTED@[::1]:9/")
        );
        assert_eq!(
            full("http://a.example").as_deref(),
            Some("http://a.example/")
        );
        for u in ["https://alice:s3cret@api.example/", "http://alice@h/"] {
            let a = client(u);
            assert!(
                a.iter()
                    .all(|(_, v)| !v.contains("alice") && !v.contains("s3cret")),
                "{a:?}"
            );
            assert_eq!(
                get(&a, SERVER_ADDRESS),
                u.split('@').nth(1).map(|h| h.trim_end_matches('/'))
            );
        }
    }

    #[test]
    fn url_full_redacts_each_sensitive_query_parameter() {
        for key in SENSITIVE_QUERY_PARAMETERS {
            let a = client(&format!("https://s3.example/o?a=1&{key}=secret-value&b=2"));
            assert_eq!(
                get(&a, URL_FULL),
                Some(format!("https://s3.example/o?a=1&{key}=REDACTED&b=2").as_str()),
                "{key}"
            );
        }
        let a = client("https://s3.example/o?sig=1&sig=2&signature=kept&Sig=kept&sig");
        assert_eq!(
            get(&a, URL_FULL),
            Some("https://s3.example/o?sig=REDACTED&sig=REDACTED&signature=kept&Sig=kept&sig")
        );
    }

    #[test]
    fn redact_query_borrows_when_nothing_is_sensitive() {
        assert!(matches!(redact_query("a=1&b=2"), Cow::Borrowed("a=1&b=2")));
        assert!(matches!(redact_query(""), Cow::Borrowed("")));
        assert_eq!(redact_query("sig="), "sig=REDACTED");
        assert_eq!(redact_query("&&sig=x=y&"), "&&sig=REDACTED&");
        assert_eq!(redact_query("Signature=a%26b"), "Signature=REDACTED");
    }

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version(Version::HTTP_09), Some("0.9"));
        assert_eq!(protocol_version(Version::HTTP_10), Some("1.0"));
        assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
        assert_eq!(protocol_version(Version::HTTP_3), Some("3"));
    }

    fn client_address(headers: &[(&str, &str)]) -> Option<String> {
        forwarded_client(&header_map(headers))
    }

    #[test]
    fn client_address_from_forwarded() {
        let f = |v: &str| client_address(&[("forwarded", v)]);
        assert_eq!(
            f("for=192.0.2.60;proto=http;by=203.0.113.43").as_deref(),
            Some("192.0.2.60")
        );
        assert_eq!(
            f("For=\"[2001:db8:cafe::17]:4711\"").as_deref(),
            Some("2001:db8:cafe::17")
        );
        assert_eq!(f("for=\"[2001:DB8::1]\"").as_deref(), Some("2001:db8::1"));
        assert_eq!(
            f("proto=https; for=10.0.0.1:8443 ;by=x").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            f("for=192.0.2.43, for=198.51.100.17").as_deref(),
            Some("192.0.2.43")
        );
        assert_eq!(
            f("for=_hidden, for=198.51.100.17").as_deref(),
            Some("_hidden")
        );
        assert_eq!(f("for=\"10.0.0.2:_port\"").as_deref(), Some("10.0.0.2"));
        assert_eq!(f("by=\"a;b,c\";for=10.0.0.3").as_deref(), Some("10.0.0.3"));
        // only the first element counts, and only the first Forwarded header
        assert_eq!(f("proto=http, for=10.0.0.4"), None);
        assert_eq!(
            client_address(&[("forwarded", "for=10.0.0.5"), ("forwarded", "for=10.0.0.6")])
                .as_deref(),
            Some("10.0.0.5")
        );
    }

    #[test]
    fn client_address_from_x_forwarded_for_and_forwarded_first() {
        let xff = |v: &str| client_address(&[("x-forwarded-for", v)]);
        assert_eq!(
            xff("203.0.113.195, 70.41.3.18, 150.172.238.178").as_deref(),
            Some("203.0.113.195")
        );
        assert_eq!(
            xff(" 2001:db8:85a3::8a2e:370:7334 ,10.0.0.1").as_deref(),
            Some("2001:db8:85a3::8a2e:370:7334")
        );
        assert_eq!(xff("[::1]:5000").as_deref(), Some("::1"));
        assert_eq!(xff("198.51.100.1:5000").as_deref(), Some("198.51.100.1"));
        assert_eq!(
            xff("_hidden"),
            None,
            "obfuscated identifiers are Forwarded's"
        );
        assert_eq!(
            client_address(&[
                ("x-forwarded-for", "10.9.9.9"),
                ("forwarded", "for=10.1.1.1")
            ])
            .as_deref(),
            Some("10.1.1.1")
        );
        // a Forwarded header with no usable for= falls back to X-Forwarded-For
        for bad in ["for=unknown", "proto=https", "for=\"[::1", "for=garbage"] {
            assert_eq!(
                client_address(&[("forwarded", bad), ("x-forwarded-for", "10.9.9.9")]).as_deref(),
                Some("10.9.9.9"),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_forwarding_values_are_skipped() {
        let long = format!("for={}", "1".repeat(64 * 1024));
        let long_list = "a=b;".repeat(10_000);
        let cases: Vec<&str> = vec![
            "",
            " ",
            ",",
            ";",
            "=",
            "for",
            "for=",
            "for=\"",
            "for=\"\"",
            "for=\"\\",
            "for=\"\\\"",
            "for=\"10.0.0.1\\\"\"",
            "for=\"[::1]:99999\"",
            "for=\"[::1]x\"",
            "for=[::1",
            "for=\"[]\"",
            "for=10.0.0.1:",
            "for=10.0.0.1:+80",
            "for=10.0.0.1:80:80",
            "for=256.0.0.1",
            "for=01.2.3.4x",
            "for=_",
            "for=_a b",
            "for=unknown",
            "for=localhost",
            "for=a.example",
            "for=::1]",
            "for=\"[v4:1.2.3.4]\"",
            "for=1.2.3.4%",
            "===;;;,,,",
            "for==1.2.3.4",
            &long,
            &long_list,
        ];
        for v in cases {
            assert_eq!(
                client_address(&[("forwarded", v)]),
                None,
                "Forwarded: {v:.60}"
            );
            let v = v.strip_prefix("for=").unwrap_or(v);
            assert_eq!(
                client_address(&[("x-forwarded-for", v)]),
                None,
                "X-Forwarded-For: {v:.60}"
            );
        }
        // not visible ASCII: the value is not read
        let mut map = HeaderMap::new();
        map.insert(
            header::FORWARDED,
            http::HeaderValue::from_bytes(b"for=10.0.0.1\xff").unwrap(),
        );
        map.insert(
            X_FORWARDED_FOR,
            http::HeaderValue::from_bytes(b"\xfe10.0.0.2").unwrap(),
        );
        assert_eq!(forwarded_client(&map), None);
    }

    #[test]
    fn connection_attributes_use_the_peer_last() {
        let peer: SocketAddr = "[::ffff:10.0.0.7]:50123".parse().unwrap();
        let collect = |headers: &[(&str, &str)], peer| {
            let mut out = Vec::new();
            connection_attributes(&header_map(headers), peer, |k, v| {
                out.push((k.to_string(), v.to_string()))
            });
            out
        };
        let a = collect(&[], Some(peer));
        assert_eq!(get(&a, CLIENT_ADDRESS), Some("::ffff:10.0.0.7"));
        assert_eq!(get(&a, NETWORK_PEER_ADDRESS), Some("::ffff:10.0.0.7"));
        assert_eq!(get(&a, NETWORK_PEER_PORT), Some("50123"));
        let a = collect(&[("x-forwarded-for", "192.0.2.1")], Some(peer));
        assert_eq!(get(&a, CLIENT_ADDRESS), Some("192.0.2.1"));
        assert_eq!(get(&a, NETWORK_PEER_ADDRESS), Some("::ffff:10.0.0.7"));
        let a = collect(&[("x-forwarded-for", "nonsense")], None);
        assert!(a.is_empty(), "{a:?}");
    }

    #[test]
    fn host_header_forms() {
        assert_eq!(split_host_port("a.example"), Some(("a.example", None)));
        assert_eq!(
            split_host_port("a.example:80"),
            Some(("a.example", Some(80)))
        );
        assert_eq!(split_host_port("[::1]:8080"), Some(("[::1]", Some(8080))));
        assert_eq!(split_host_port("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_host_port("a:99999"), None);
        assert_eq!(split_host_port("a:"), None);
        assert_eq!(split_host_port(":80"), None);
        assert_eq!(split_host_port("[::1"), None);
        assert_eq!(split_host_port("a b"), None);
        assert_eq!(split_host_port(""), None);
    }

    #[test]
    fn unknown_method_is_other_and_bad_host_is_skipped() {
        let m = Method::from_bytes(b"PURGE").unwrap();
        let a = attrs(m.clone(), "/", &[("host", "bad host")]);
        assert_eq!(get(&a, HTTP_REQUEST_METHOD), Some("_OTHER"));
        assert_eq!(get(&a, HTTP_REQUEST_METHOD_ORIGINAL), Some("PURGE"));
        assert_eq!(get(&a, SERVER_ADDRESS), None);
        assert_eq!(span_name(&m, None), "HTTP");
        assert_eq!(span_name(&Method::GET, Some("/a/{id}")), "GET /a/{id}");
        assert_eq!(span_name(&Method::GET, None), "GET");
    }
}
