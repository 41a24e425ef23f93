//! The OpenTelemetry HTTP semantic-convention names both sides record, and the attributes read
//! from a request (method, path, scheme, server address and port, user agent).
//!
//! Values taken from headers are bounded by the HTTP server's header limits and again by the
//! tracer's attribute limits (`reqtrace_core::Limits`).

use std::borrow::Cow;

use http::{HeaderMap, Method, Uri, header};
use reqtrace_core::Value;

/// `http.request.method`: the request method (`_OTHER` for a method outside RFC 9110/5789).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`: the method as sent, when it was recorded as `_OTHER`.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`: the response status code (an integer).
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`: the matched route template (e.g. `/users/{id}`), when known.
pub const HTTP_ROUTE: &str = "http.route";
/// `url.path`: the request path.
pub const URL_PATH: &str = "url.path";
/// `url.scheme`: `http` or `https`.
pub const URL_SCHEME: &str = "url.scheme";
/// `server.address`: the host the request was addressed to.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`: the port the request was addressed to, when given.
pub const SERVER_PORT: &str = "server.port";
/// `user_agent.original`: the `User-Agent` header.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `error.type`: why the operation failed (`panic`, `cancelled`, a status code, an error type).
pub const ERROR_TYPE: &str = "error.type";

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

/// The request's attributes: method, path, scheme, server address and port, user agent.
/// `default_scheme` is used when the URI has none (a server sees origin-form URIs).
pub(crate) fn request_attributes(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    default_scheme: &'static str,
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
    set(URL_SCHEME, Value::from(scheme));
    if let Some((host, port)) = server_address(uri, headers) {
        set(SERVER_ADDRESS, Value::from(host.to_owned()));
        if let Some(p) = port {
            set(SERVER_PORT, Value::from(i64::from(p)));
        }
    }
    if let Some(ua) = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        set(USER_AGENT_ORIGINAL, Value::from(ua.to_owned()));
    }
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

    fn attrs(method: Method, uri: &str, headers: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut out = Vec::new();
        request_attributes(&method, &uri.parse().unwrap(), &map, "http", |k, v| {
            out.push((k.to_string(), v.to_string()))
        });
        out
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
        assert_eq!(get(&a, URL_SCHEME), Some("http"));
        assert_eq!(get(&a, SERVER_ADDRESS), Some("api.example"));
        assert_eq!(get(&a, SERVER_PORT), Some("8080"));
        assert_eq!(get(&a, USER_AGENT_ORIGINAL), Some("curl/8"));
    }

    #[test]
    fn client_request_takes_absolute_uri() {
        let a = attrs(Method::POST, "https://10.0.0.1/x", &[("host", "ignored:1")]);
        assert_eq!(get(&a, URL_SCHEME), Some("https"));
        assert_eq!(get(&a, SERVER_ADDRESS), Some("10.0.0.1"));
        assert_eq!(get(&a, SERVER_PORT), None);
        assert_eq!(get(&a, USER_AGENT_ORIGINAL), None);
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
