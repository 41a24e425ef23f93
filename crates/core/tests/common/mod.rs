//! Helpers the core's integration tests share: a future that yields once, hand-driven
//! polling, and a trace's parent lookup by span name.
#![allow(dead_code)] // each test file uses its own subset

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use reqtrace_core::Trace;

/// A future that is pending once, then ready.
#[derive(Default)]
pub struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Polls `f` once with a no-op waker.
pub fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `f` on the calling thread until it is ready.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = poll_once(f.as_mut()) {
            return v;
        }
    }
}

/// The name of the parent of the span named `name` in `t`.
pub fn parent_of<'a>(t: &'a Trace, name: &str) -> Option<&'a str> {
    let s = t.span(name)?;
    let p = s.parent_id?;
    t.spans
        .iter()
        .find(|x| x.span_id == p)
        .map(|x| x.name.as_ref())
}
