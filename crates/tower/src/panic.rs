//! [`CatchPanic`]: a future whose panics come back as a value, so that the server layer can
//! mark and deliver the trace, and then let the panic go on (`resume_unwind`) exactly as it
//! would have without the layer. It runs *inside* the instrumented scope, so the scope is left
//! normally even when the handler panics.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A panic's payload, as `catch_unwind` returns it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

pin_project_lite::pin_project! {
    /// Polls `fut`, returning a panic of its poll as `Err(payload)`.
    pub(crate) struct CatchPanic<F> {
        #[pin]
        fut: F,
    }
}

impl<F> CatchPanic<F> {
    pub(crate) fn new(fut: F) -> Self {
        CatchPanic { fut }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Payload>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Unwind safety: the payload is re-raised by the caller after it has marked the
        // trace; the panicked future is dropped and never polled again.
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

/// The panic's message, when it is a string.
pub(crate) fn message(p: &Payload) -> &str {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
