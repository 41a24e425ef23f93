//! [`Instrumented`]: a future that carries a [`Span`] and makes it current on every poll, so an
//! async task that hops threads keeps its parent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::span::Span;
use crate::tracer::RequestTracer;

/// A future wrapped by [`RequestTracer::in_span`]: each poll attaches the span on the polling
/// thread (spans started inside become its children and are handed over when the poll
/// returns); the span ends when the future completes or is dropped.
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Instrumented<F> {
    tracer: RequestTracer,
    span: Option<Span>,
    fut: Pin<Box<F>>,
}

impl<F> Instrumented<F> {
    pub(crate) fn new(tracer: RequestTracer, span: Span, fut: F) -> Self {
        Instrumented {
            tracer,
            span: Some(span),
            fut: Box::pin(fut),
        }
    }

    /// The span covering the future (e.g. to set attributes), until it completes.
    pub fn span_mut(&mut self) -> Option<&mut Span> {
        self.span.as_mut()
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let ctx = this.span.as_ref().and_then(Span::context);
        let guard = ctx.as_ref().map(|c| this.tracer.attach(c));
        let out = this.fut.as_mut().poll(cx);
        drop(guard);
        if out.is_ready() {
            if let Some(s) = this.span.take() {
                s.end();
            }
        }
        out
    }
}
