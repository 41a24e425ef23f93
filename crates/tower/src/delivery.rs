//! Where a finished server trace goes: the tracer's exporter (the [`RootSpan`] is dropped) or
//! a user callback (the trace is pulled with [`RootSpan::finish`] and handed over).

use std::sync::Arc;

use reqtrace_core::{RootSpan, Trace};

/// A callback that receives each finished trace.
pub(crate) type OnTrace = Arc<dyn Fn(Trace) + Send + Sync>;

/// Hands a finished root over: to the callback if there is one, else to the exporter. An
/// unsampled trace recorded nothing and is not handed to the callback.
pub(crate) fn deliver(root: RootSpan, on_trace: Option<&OnTrace>) {
    match on_trace {
        Some(f) if root.is_recording() => f(root.finish()),
        _ => drop(root),
    }
}
