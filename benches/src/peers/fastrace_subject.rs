//! fastrace 0.7 with the `enable` feature and a counting reporter.
//!
//! Per child span: `LocalSpan::enter_with_local_parent` pushes a raw span (id, parent cursor,
//! TSC begin) into the thread-local `SpanQueue`; the drop writes the end time at its index. No
//! atomics, no locks, no allocation after the queue has grown. Properties (scenario b) are
//! `(Cow<'static, str>, Cow<'static, str>)` pairs: `"gpt-4o"` is borrowed, `1500` must be
//! formatted into a `String` (fastrace has no integer values).
//!
//! When the root `Span` drops, the local spans are shipped to the global collector through a
//! per-thread SPSC ring; fastrace's collector thread drains every `report_interval` (1 s by
//! default), converts times and calls the [`CountingReporter`], which counts the spans it
//! receives. [`Subject::flush`] calls `fastrace::flush()` (which drains on a helper thread).
//!
//! fastrace's collector is slower than its producers: when a thread's ring (10,240 commands)
//! is full, further commands wait in an unbounded thread-local queue that moves on only when
//! that thread sends again, and whatever is still queued when the thread exits is lost. So
//! `flush` also sends a one-span "nudge" trace from the calling thread (counted as made), and
//! the threaded workload settles on each worker before it exits.
//!
//! Unsampled: the root is `Span::root` with a `SpanContext` whose `sampled` flag is false;
//! children of it are no-ops.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::OnceLock;

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use fastrace::local::LocalParentGuard;
use fastrace::prelude::{LocalSpan, Span};

use crate::{Counters, Subject};

/// The consumer: counts every span fastrace reports.
#[derive(Debug)]
pub struct CountingReporter {
    counters: Arc<Counters>,
}

impl Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        crate::consume(&spans);
        self.counters.add_received(spans.len() as u64);
    }
}

static COUNTERS: OnceLock<Arc<Counters>> = OnceLock::new();

/// fastrace with its global reporter installed (once per process).
#[derive(Debug)]
pub struct Fastrace {
    counters: Arc<Counters>,
}

impl Fastrace {
    /// Installs the counting reporter on first use (fastrace has one global collector).
    pub fn new() -> Self {
        let counters = COUNTERS
            .get_or_init(|| {
                let counters = Arc::new(Counters::default());
                fastrace::set_reporter(
                    CountingReporter {
                        counters: counters.clone(),
                    },
                    Config::default(),
                );
                counters
            })
            .clone();
        Self { counters }
    }
}

impl Default for Fastrace {
    fn default() -> Self {
        Self::new()
    }
}

/// An open fastrace root: the local-parent guard (dropped first), then the root span.
#[allow(missing_debug_implementations)]
pub struct FastraceRoot {
    _guard: LocalParentGuard,
    _span: Span,
}

impl Subject for Fastrace {
    type Root<'a> = FastraceRoot;

    fn name(&self) -> &'static str {
        "fastrace"
    }

    fn begin(&self) -> FastraceRoot {
        let span = Span::root("root", SpanContext::random());
        FastraceRoot {
            _guard: span.set_local_parent(),
            _span: span,
        }
    }

    #[inline]
    fn child(&self) {
        let _s = LocalSpan::enter_with_local_parent("child");
    }

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let _s = LocalSpan::enter_with_local_parent("child").with_properties(|| {
            [
                ("model", Cow::Borrowed(model)),
                ("tokens", Cow::Owned(tokens.to_string())),
            ]
        });
    }

    fn end(&self, root: FastraceRoot) {
        drop(root);
    }

    fn begin_unsampled(&self) -> FastraceRoot {
        let span = Span::root("root", SpanContext::random().sampled(false));
        FastraceRoot {
            _guard: span.set_local_parent(),
            _span: span,
        }
    }

    #[inline]
    fn unsampled_child(&self) {
        let _s = LocalSpan::enter_with_local_parent("child");
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn flush(&self) {
        fastrace::flush();
        if !self.counters.snapshot().complete() {
            // Commands that did not fit the thread's ring wait in a thread-local queue until
            // the thread sends again: a one-span trace pushes them on.
            self.counters.add_made(1);
            drop(Span::root("nudge", SpanContext::random()));
            fastrace::flush();
        }
    }
}
