//! gRPC calls through the HTTP layers (tonic clients and servers), by the OpenTelemetry RPC
//! semantic conventions: a request whose `Content-Type` is `application/grpc` (or
//! `application/grpc+…`) and whose path is `/{service}/{method}` gets the span name
//! `{service}/{method}`, `rpc.system = grpc`, `rpc.service`, `rpc.method`, and, once known,
//! `rpc.grpc.status_code` (from the `grpc-status` of the response head — a trailers-only
//! response — or of the trailers at the body's end).
//!
//! Which codes fail the span is the conventions' rule: on a SERVER span `UNKNOWN`,
//! `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS` (the
//! others are the caller's doing); on a CLIENT span every code but `OK`. `error.type` is then
//! the code's name. Header values are untrusted: a `grpc-status` that is not a number from 0
//! to 16 is ignored.

use std::borrow::Cow;

use http::{HeaderMap, header};
use reqtrace_core::EditSpan;

use crate::attributes::ERROR_TYPE;

/// `rpc.system`: `grpc`.
pub const RPC_SYSTEM: &str = "rpc.system";
/// `rpc.service`: the full service name (`package.Service`).
pub const RPC_SERVICE: &str = "rpc.service";
/// `rpc.method`: the method name.
pub const RPC_METHOD: &str = "rpc.method";
/// `rpc.grpc.status_code`: the call's gRPC status code (an integer).
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";

/// The gRPC status codes by number.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `(service, method)` when the request is a gRPC call.
pub(crate) fn grpc_call<'a>(headers: &HeaderMap, path: &'a str) -> Option<(&'a str, &'a str)> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let is_grpc = ct
        .strip_prefix("application/grpc")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('+') || rest.starts_with(';'));
    if !is_grpc {
        return None;
    }
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// The `grpc-status` of a response head or trailers, when it is a valid code.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<u8> {
    let v = headers.get("grpc-status")?.to_str().ok()?;
    let code: u8 = v.trim().parse().ok()?;
    (usize::from(code) < CODE_NAMES.len()).then_some(code)
}

/// The name of code `code` (0–16).
pub(crate) fn code_name(code: u8) -> &'static str {
    CODE_NAMES
        .get(usize::from(code))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Whether `code` fails a SERVER span.
pub(crate) fn fails_server(code: u8) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// A gRPC call's span name and its `rpc.*` attributes.
pub(crate) type CallStart = (Cow<'static, str>, [(&'static str, String); 3]);

/// The span name and `rpc.*` attributes of a gRPC call, or `None` when the request is not one.
pub(crate) fn start_attributes(headers: &HeaderMap, path: &str) -> Option<CallStart> {
    let (service, method) = grpc_call(headers, path)?;
    Some((
        Cow::Owned(format!("{service}/{method}")),
        [
            (RPC_SYSTEM, "grpc".to_owned()),
            (RPC_SERVICE, service.to_owned()),
            (RPC_METHOD, method.to_owned()),
        ],
    ))
}

/// Records a call's `grpc-status` found in `headers` (a response head or trailers), if any:
/// `rpc.grpc.status_code`, and the error status when the code fails the span (`server`: the
/// SERVER rule, else every code but OK).
pub(crate) fn record_status(span: &mut impl EditSpan, headers: &HeaderMap, server: bool) {
    let Some(code) = grpc_status(headers) else {
        return;
    };
    span.set_attribute(RPC_GRPC_STATUS_CODE, i64::from(code));
    let fails = if server {
        fails_server(code)
    } else {
        code != 0
    };
    if fails {
        let message = headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .filter(|m| !m.is_empty());
        span.set_error(match message {
            Some(m) => format!("gRPC {}: {m}", code_name(code)),
            None => format!("gRPC {}", code_name(code)),
        });
        span.set_attribute(ERROR_TYPE, code_name(code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn calls_are_recognised_by_content_type_and_path() {
        let grpc = headers(&[("content-type", "application/grpc")]);
        assert_eq!(
            grpc_call(&grpc, "/demo.Echo/Say"),
            Some(("demo.Echo", "Say"))
        );
        let proto = headers(&[("content-type", "application/grpc+proto")]);
        assert_eq!(grpc_call(&proto, "/a.B/C"), Some(("a.B", "C")));
        assert_eq!(grpc_call(&grpc, "/a.B/C/D"), None);
        assert_eq!(grpc_call(&grpc, "/a.B"), None);
        assert_eq!(grpc_call(&grpc, "//C"), None);
        let web = headers(&[("content-type", "application/grpcfoo")]);
        assert_eq!(grpc_call(&web, "/a.B/C"), None);
        assert_eq!(
            grpc_call(&headers(&[("content-type", "application/json")]), "/a.B/C"),
            None
        );
        assert_eq!(grpc_call(&HeaderMap::new(), "/a.B/C"), None);
    }

    #[test]
    fn statuses_are_read_strictly() {
        assert_eq!(grpc_status(&headers(&[("grpc-status", "0")])), Some(0));
        assert_eq!(grpc_status(&headers(&[("grpc-status", "14")])), Some(14));
        assert_eq!(grpc_status(&headers(&[("grpc-status", "17")])), None);
        assert_eq!(grpc_status(&headers(&[("grpc-status", "-1")])), None);
        assert_eq!(grpc_status(&headers(&[("grpc-status", "x")])), None);
        assert_eq!(grpc_status(&HeaderMap::new()), None);
        assert_eq!(code_name(3), "INVALID_ARGUMENT");
        assert!(fails_server(13) && !fails_server(3) && !fails_server(0));
    }
}
