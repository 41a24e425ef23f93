//! fastrace 0.7 in the async rows (g, h): `fastrace::future::FutureExt::in_span`, fastrace's
//! pinned future wrapper, which makes its span the local parent on every poll
//! (`Span::set_local_parent`) and ends the span when the future completes. Spans reach the
//! same counting reporter as in rows a–f ([`super::fastrace_subject::Fastrace`]).
//!
//! Row g polls `fut.in_span(Span::enter_with_parent("future", &root))`; row h runs a request
//! as `async { for each step: Yields(1).in_span(Span::enter_with_local_parent("step")).await }`
//! under `.in_span(Span::root("request", SpanContext::random()))`.

use std::time::Duration;

use fastrace::collector::SpanContext;
use fastrace::future::FutureExt;
use fastrace::prelude::Span;

use super::fastrace_subject::Fastrace;
use crate::async_work::{AsyncSubject, STEPS, Yields, block_on, time_polls};
use crate::{Counters, Subject};

/// fastrace's async subject.
#[derive(Debug, Default)]
pub struct FastraceAsync {
    fastrace: Fastrace,
}

impl AsyncSubject for FastraceAsync {
    fn name(&self) -> &'static str {
        "fastrace"
    }

    fn polls(&self, iters: u64) -> Duration {
        let root = Span::root("root", SpanContext::random());
        let fut = Yields(iters).in_span(Span::enter_with_parent("future", &root));
        let elapsed = time_polls(fut, iters);
        self.counters().add_made(2);
        drop(root);
        elapsed
    }

    fn request(&self) {
        let root = Span::root("request", SpanContext::random());
        block_on(
            async {
                for _ in 0..STEPS {
                    Yields(1)
                        .in_span(Span::enter_with_local_parent("step"))
                        .await;
                }
            }
            .in_span(root),
        );
    }

    fn counters(&self) -> &Counters {
        self.fastrace.counters()
    }

    fn flush(&self) {
        self.fastrace.flush();
    }
}
