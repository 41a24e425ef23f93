//! reqtrace — PLACEHOLDER until `reqtrace_core::RequestTracer` compiles: delegates to the
//! floor so that the harness, the peers and the table can be built and run.

use crate::floor::{Floor, FloorRoot};
use crate::{Counters, Subject};

/// reqtrace's subject (placeholder: the floor under another name).
#[derive(Debug, Default)]
pub struct Reqtrace {
    inner: Floor,
}

impl Reqtrace {
    /// A new subject.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Subject for Reqtrace {
    type Root<'a> = FloorRoot;

    fn name(&self) -> &'static str {
        "reqtrace"
    }
    fn begin(&self) -> FloorRoot {
        self.inner.begin()
    }
    fn child(&self) {
        self.inner.child()
    }
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        self.inner.child_attrs(model, tokens)
    }
    fn end(&self, root: FloorRoot) {
        self.inner.end(root)
    }
    fn begin_unsampled(&self) -> FloorRoot {
        self.inner.begin_unsampled()
    }
    fn unsampled_child(&self) {}
    fn counters(&self) -> &Counters {
        self.inner.counters()
    }
}
