//! [`TracedBody`]: a response body that finishes the request's trace when its last frame has
//! been taken (streaming bodies included), or, marked `cancelled`, when it is dropped before
//! its end (the client went away).

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use reqtrace_core::RootSpan;

use crate::attributes::ERROR_TYPE;
use crate::delivery::{OnTrace, deliver};

pin_project_lite::pin_project! {
    /// The response body of [`crate::ServerService`]: the inner body, polled with the request's
    /// root current; the trace finishes at the body's end.
    pub struct TracedBody<B>
    where
        B: Body,
    {
        #[pin]
        inner: B,
        // Invariant: `Some` until the trace is delivered (at the end, an error, or drop).
        root: Option<RootSpan>,
        on_trace: Option<OnTrace>,
        // False for a response that carries no body on the wire (to HEAD; 1xx, 204, 304):
        // the server may drop it without polling, which is then no cancellation.
        sent: bool,
    }

    impl<B> PinnedDrop for TracedBody<B>
    where
        B: Body,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(mut root) = this.root.take() {
                // A body whose end was reached without a last poll (e.g. an empty body, which
                // the server never polls) is complete; any other was cut short.
                if *this.sent && !this.inner.is_end_stream() {
                    root.set_error("cancelled: the response body was dropped before its end");
                    root.set_attribute(ERROR_TYPE, "cancelled");
                }
                deliver(root, this.on_trace.as_ref());
            }
        }
    }
}

impl<B: Body> TracedBody<B> {
    pub(crate) fn new(
        inner: B,
        root: Option<RootSpan>,
        on_trace: Option<OnTrace>,
        sent: bool,
    ) -> Self {
        TracedBody {
            inner,
            root,
            on_trace,
            sent,
        }
    }
}

impl<B: Body> std::fmt::Debug for TracedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedBody")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let out = {
            // Spans a streaming body starts while producing a frame are the root's children.
            // A body of known length is already in memory: no attach for it (it costs a tenth
            // of the layer).
            let streaming = this.inner.size_hint().exact().is_none();
            let _current = this
                .root
                .as_ref()
                .filter(|_| streaming)
                .map(RootSpan::attach);
            this.inner.as_mut().poll_frame(cx)
        };
        let done = match &out {
            Poll::Pending => false,
            Poll::Ready(None) => true,
            Poll::Ready(Some(Err(_))) => {
                if let Some(r) = this.root.as_mut() {
                    r.set_error("the response body failed");
                    r.set_attribute(ERROR_TYPE, "body");
                }
                true
            }
            Poll::Ready(Some(Ok(frame))) => {
                // A gRPC call's status arrives in the trailers.
                if let (Some(trailers), Some(r)) = (frame.trailers_ref(), this.root.as_mut()) {
                    crate::rpc::record_status(r, trailers, true);
                }
                this.inner.is_end_stream()
            }
        };
        if done && let Some(root) = this.root.take() {
            deliver(root, this.on_trace.as_ref());
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
