//! Futures and spawned work that keep their trace: [`Instrumented`] (a future whose span or
//! context is current on every poll, on whichever thread polls it), [`FutureExt`], and
//! [`bind`] for closures run on other threads (`spawn_blocking`, `std::thread::spawn`).
//! Layer: API.
//!
//! `Instrumented` is a pinned wrapper (no heap allocation per future). Each poll attaches the
//! context on the polling thread; spans started during the poll become its children and are
//! handed over to the trace when the poll returns, so nothing waits on a worker thread for the
//! thread to do something else.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::api::guard::AttachGuard;
use crate::api::span::Span;
use crate::collect::handle::SpanHandle;
use crate::local::scope::{self, Parked};
use crate::local::span_ops;
use crate::model::ids::SpanContext;

pin_project_lite::pin_project! {
    /// A future with a span (or a context) that is current on every poll
    /// ([`crate::RequestTracer::in_span`], [`FutureExt::in_span`],
    /// [`FutureExt::with_context`], [`crate::RequestTracer::in_current_span`]). Its span ends
    /// when the future completes or is dropped.
    ///
    /// If the code around it started a trace on the polling thread with `start_trace` and the
    /// future yields, that trace goes with the future (off the thread, so another task on the
    /// thread can neither end it nor add to it) and comes back on whichever thread polls it
    /// next; `end_trace` after the `.await` then finds it (see
    /// [`crate::Stats::traces_parked`]).
    #[must_use = "futures do nothing unless polled"]
    pub struct Instrumented<F> {
        span: Option<Span>,
        // The span current on every poll, and the live trace it joins.
        handle: Option<SpanHandle>,
        parked: Option<Parked>,
        #[pin]
        fut: F,
    }

    impl<F> PinnedDrop for Instrumented<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped unfinished while carrying `start_trace` traces: give them back to the
            // dropping thread (before the span ends, so it joins them).
            if let Some(p) = this.project().parked.take() {
                scope::unpark(p);
            }
        }
    }
}

impl<F> std::fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumented")
            .field("span", &self.span)
            .field("context", &self.context())
            .finish_non_exhaustive()
    }
}

impl<F> Instrumented<F> {
    /// A future that makes `span` current on every poll and ends it at completion.
    pub fn new(span: Span, fut: F) -> Self {
        let handle = span.handle();
        Self::with_parts(Some(span), handle, fut)
    }

    pub(crate) fn with_parts(span: Option<Span>, handle: Option<SpanHandle>, fut: F) -> Self {
        Instrumented {
            span,
            handle,
            parked: None,
            fut,
        }
    }

    /// The span covering the future (e.g. to set attributes), until it completes.
    pub fn span_mut(&mut self) -> Option<&mut Span> {
        self.span.as_mut()
    }

    /// The context current while the future runs.
    pub fn context(&self) -> Option<&SpanContext> {
        self.handle.as_ref().map(SpanHandle::context)
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(handle) = this.handle.as_ref() else {
            return this.fut.poll(cx);
        };
        // Left on drop too, so a panicking inner future does not leave its context attached
        // to the polling thread.
        let mut scope = Scope(scope::enter_scope(
            &handle.trace,
            handle.span_id().to_u64(),
            this.parked.take(),
        ));
        let out = this.fut.poll(cx);
        if let Some(key) = scope.0.take() {
            *this.parked = scope::exit_scope(key, out.is_pending());
        }
        if out.is_ready()
            && let Some(s) = this.span.take()
        {
            s.end();
        }
        out
    }
}

/// A poll's attached scope, left when dropped (an unwinding poll).
struct Scope(Option<span_ops::FrameKey>);

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(key) = self.0.take() {
            scope::detach(key);
        }
    }
}

/// Instrumenting futures: `fut.in_span(span)`, `fut.with_context(ctx)`.
///
/// ```
/// use reqtrace_core::{FutureExt, RequestTracer};
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let tracer = RequestTracer::new("api");
/// let root = tracer.start_root("request");
/// let step = tracer.start_detached_span_with_parent("step", &root.handle());
/// let t = tracer.clone();
/// block_on(
///     async move {
///         let _inner = t.start_span("inner"); // a child of "step"
///     }
///     .in_span(step),
/// );
/// let trace = root.finish();
/// let step = trace.span("step").unwrap();
/// assert_eq!(trace.span("inner").unwrap().parent_id, Some(step.span_id));
/// ```
pub trait FutureExt: Future + Sized {
    /// Makes `span` current on every poll; ends it when the future completes or is dropped.
    fn in_span(self, span: Span) -> Instrumented<Self> {
        Instrumented::new(span, self)
    }

    /// Makes the span of `handle` (e.g. taken before `tokio::spawn`) current on every poll,
    /// without a span of its own.
    fn with_context(self, handle: SpanHandle) -> Instrumented<Self> {
        Instrumented::with_parts(None, Some(handle), self)
    }
}

impl<F: Future> FutureExt for F {}

/// Wraps a closure so that it runs with the span of `handle` current (for `spawn_blocking`,
/// thread pools and `std::thread::spawn`): spans it starts with `start_span` join the
/// handle's trace as its children. With `None` the closure runs as is.
pub fn bind<R>(
    handle: Option<SpanHandle>,
    f: impl FnOnce() -> R + Send + 'static,
) -> impl FnOnce() -> R + Send + 'static {
    move || {
        // Detached on drop, so a panicking closure leaves nothing attached on a pool thread.
        let _scope = AttachGuard::new(
            handle
                .as_ref()
                .and_then(|h| scope::attach(&h.trace.tracer.0, h.into())),
        );
        f()
    }
}
