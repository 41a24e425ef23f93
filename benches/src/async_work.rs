//! The async rows (issue 10): what instrumenting a future costs, and a whole async request.
//!
//! | row | what is timed | one iteration |
//! | --- | --- | --- |
//! | g | polls of one instrumented future that returns `Pending` each time, inside an open root (the span started and the root ended untimed) | 1 poll |
//! | h | a whole request: a root, 10 child spans each over a sub-future that yields once, until the consumer has the 11 spans | 1 request (11 spans) |
//!
//! The futures are polled by a minimal executor on the calling thread ([`block_on`], a no-op
//! waker), so the rows measure the libraries and not a runtime's scheduler. The floor column
//! is the same work uninstrumented: g polls the bare future; h runs the same request with the
//! floor's span records (two TSC reads and a push per span) around each step.
//!
//! Each library's consumer counts what it received (as for rows a–f): reqtrace's
//! `RootSpan::finish` returns the trace (pull), fastrace's reporter receives the spans.

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use reqtrace_core::{FutureExt, RequestTracer, Sampler};

use crate::floor::Floor;
use crate::{Counters, Subject};

/// Child spans per request in row h (plus the root: [`SPANS_PER_REQUEST`]).
pub const STEPS: u64 = 10;
/// Spans per request in row h.
pub const SPANS_PER_REQUEST: u64 = STEPS + 1;

/// A future that returns `Pending` `n` times, then `Ready`: `n` awaits where the task could
/// move to another thread.
#[derive(Debug)]
pub struct Yields(pub u64);

impl Future for Yields {
    type Output = ();
    #[inline]
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            Poll::Pending
        }
    }
}

/// Polls `fut` to completion on this thread (it must not wait on anything real).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Times `iters` polls of `fut` (each must return `Pending`), then completes it untimed.
pub fn time_polls<F: Future>(fut: F, iters: u64) -> Duration {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    let t0 = Instant::now();
    for _ in 0..iters {
        // black_box: the bare future (the floor) must not be optimised into a counter.
        if black_box(fut.as_mut()).poll(black_box(&mut cx)).is_ready() {
            break;
        }
    }
    let elapsed = t0.elapsed();
    while fut.as_mut().poll(&mut cx).is_pending() {}
    elapsed
}

/// One library in rows g and h.
pub trait AsyncSubject: Sync {
    /// The column name in the table.
    fn name(&self) -> &'static str;
    /// Row g: times `iters` polls of one instrumented future inside an open root; the root
    /// and the future's span are delivered afterwards (and counted made and received).
    fn polls(&self, iters: u64) -> Duration;
    /// Row h: one whole request (root + [`STEPS`] spans across awaits), delivered.
    fn request(&self);
    /// The made/received counters.
    fn counters(&self) -> &Counters;
    /// Pushes whatever the library has queued towards its consumer.
    fn flush(&self) {}
}

/// Row h: wall time of `iters` requests until the consumer received every span.
pub fn requests<S: AsyncSubject>(s: &S, iters: u64) -> Duration {
    s.counters().add_made(iters * SPANS_PER_REQUEST);
    let t0 = Instant::now();
    for _ in 0..iters {
        s.request();
    }
    let acc = crate::settle_counters(s.counters(), || s.flush());
    let elapsed = t0.elapsed();
    crate::check_named(s.name(), acc);
    elapsed
}

/// Waits (untimed) until the consumer of `s` has every span; warns otherwise.
pub fn settle_async<S: AsyncSubject>(s: &S) {
    crate::check_named(s.name(), crate::settle_counters(s.counters(), || s.flush()));
}

/// The floor: the bare future (g); the request with the floor's span records (h).
#[derive(Debug, Default)]
pub struct FloorAsync {
    floor: Floor,
}

impl AsyncSubject for FloorAsync {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn polls(&self, iters: u64) -> Duration {
        time_polls(Yields(iters), iters)
    }

    fn request(&self) {
        let root = self.floor.begin();
        block_on(async {
            for _ in 0..STEPS {
                Yields(1).await;
                self.floor.child();
            }
        });
        self.floor.end(root);
    }

    fn counters(&self) -> &Counters {
        self.floor.counters()
    }
}

/// reqtrace: a [`reqtrace_core::RootSpan`] per request (`root.run(fut)` returns the trace,
/// whose spans the consumer counts); each step is `tracer.in_span("step", fut)`, a pinned
/// [`reqtrace_core::Instrumented`] whose span is current on every poll. Row g polls
/// `fut.in_span(span)` with the span a child of an open root.
#[derive(Debug)]
pub struct ReqtraceAsync {
    tracer: RequestTracer,
    counters: Counters,
}

impl ReqtraceAsync {
    /// A tracer with `Sampler::AlwaysOn` and no exporter (traces are pulled).
    pub fn new() -> Self {
        ReqtraceAsync {
            tracer: RequestTracer::builder("bench")
                .sampler(Sampler::AlwaysOn)
                .build(),
            counters: Counters::default(),
        }
    }

    fn deliver(&self, trace: &reqtrace_core::Trace) {
        crate::consume(trace);
        self.counters.add_received(trace.spans.len() as u64);
    }
}

impl Default for ReqtraceAsync {
    fn default() -> Self {
        Self::new()
    }
}

impl AsyncSubject for ReqtraceAsync {
    fn name(&self) -> &'static str {
        "reqtrace"
    }

    fn polls(&self, iters: u64) -> Duration {
        let root = self.tracer.start_root("root");
        let span = self
            .tracer
            .start_detached_span_with_parent("future", &root.handle());
        let elapsed = time_polls(Yields(iters).in_span(span), iters);
        self.counters.add_made(2);
        self.deliver(&root.finish());
        elapsed
    }

    fn request(&self) {
        let t = &self.tracer;
        let root = t.start_root("request");
        let ((), trace) = block_on(root.run(async {
            for _ in 0..STEPS {
                t.in_span("step", Yields(1)).await;
            }
        }));
        self.deliver(&trace);
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}
