//! W3C Trace Context and Baggage propagation for reqtrace: carry a trace from one service to
//! the next.
//!
//! ```
//! use std::collections::HashMap;
//! use reqtrace_propagation::{Propagated, Traceparent, TraceparentError};
//!
//! // Server side: read the incoming headers (names are case-insensitive).
//! let mut headers = HashMap::new();
//! headers.insert("Traceparent".to_string(),
//!     " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03\t".to_string());
//! headers.insert("tracestate".to_string(), "rojo=00f067aa0ba902b7".to_string());
//! let incoming = Propagated::extract(&headers);
//! let parent = incoming.span_context.as_ref().expect("valid traceparent");
//! assert!(parent.is_remote && parent.is_sampled() && parent.trace_flags.is_random());
//!
//! // Client side: write the headers for the next hop.
//! let mut out: HashMap<String, String> = HashMap::new();
//! incoming.inject(&mut out);
//! assert_eq!(out["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
//! assert_eq!(out["tracestate"], "rojo=00f067aa0ba902b7");
//!
//! // Malformed input is a typed error, never a panic.
//! assert_eq!("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse::<Traceparent>(),
//!            Err(TraceparentError::ForbiddenVersion));
//! ```
//!
//! | header | type | rules |
//! | --- | --- | --- |
//! | `traceparent` | [`Traceparent`] | [`traceparent`] module |
//! | `tracestate` | [`TraceState`] | [`tracestate`] module |
//! | `baggage` | [`Baggage`] | [`baggage`] module |
//!
//! Headers are read through an [`Extractor`] and written through an [`Injector`]
//! ([`carrier`] module: `HashMap<String, String>`, `Vec<(String, String)>`, and
//! `http::HeaderMap` with the `http` feature). [`Propagated`] extracts or injects all three at
//! once. [`TracerExt`] connects all this to `reqtrace_core::RequestTracer`.
//!
//! Every parser takes untrusted network input: none of them panics, and each is fuzzed
//! (`cargo xtask fuzz`).

pub mod baggage;
pub mod carrier;
mod propagated;
pub mod traceparent;
mod tracer_ext;
pub mod tracestate;

pub use baggage::{Baggage, BaggageError, BaggageMember, BaggageProperty};
pub use carrier::{Extractor, Injector};
pub use propagated::{
    BAGGAGE_HEADER, Propagated, TRACEPARENT_HEADER, TRACESTATE_HEADER, extract_baggage,
    extract_trace_state, extract_traceparent,
};
pub use traceparent::{Traceparent, TraceparentError};
pub use tracer_ext::TracerExt;
pub use tracestate::{TraceState, TraceStateError};
