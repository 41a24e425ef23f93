//! Guards: [`SpanGuard`] (a span on this thread's stack, ended on drop) and [`AttachGuard`]
//! (another thread's span made current here until drop).
//!
//! Both are `!Send`: they refer to the creating thread's stack, so moving one to another thread
//! is a compile error rather than a silent mix-up:
//!
//! ```compile_fail,E0277
//! let tracer = reqtrace_core::RequestTracer::new("svc");
//! tracer.start_trace();
//! let span = tracer.start_span("s");
//! std::thread::spawn(move || drop(span)); // SpanGuard is not Send
//! ```
//!
//! Ending a span twice cannot be written either: [`SpanGuard::end`] takes the guard by value.
//!
//! ```compile_fail,E0382
//! let tracer = reqtrace_core::RequestTracer::new("svc");
//! tracer.start_trace();
//! let span = tracer.start_span("s");
//! span.end();
//! span.end(); // use of moved value
//! ```
//!
//! An `AttachGuard` cannot be moved to another thread either:
//!
//! ```compile_fail,E0277
//! let tracer = reqtrace_core::RequestTracer::new("svc");
//! tracer.start_trace();
//! let span = tracer.start_span("s");
//! let guard = tracer.attach(&span.handle().unwrap());
//! std::thread::spawn(move || drop(guard)); // AttachGuard is not Send
//! ```
//!
//! nor a guard shared with one:
//!
//! ```compile_fail,E0277
//! fn needs_sync<T: Sync>(_: &T) {}
//! let tracer = reqtrace_core::RequestTracer::new("svc");
//! tracer.start_trace();
//! let span = tracer.start_span("s");
//! needs_sync(&span); // SpanGuard is not Sync
//! ```
//!
//! while a detached `Span` can (the control: this one compiles):
//!
//! ```
//! let tracer = reqtrace_core::RequestTracer::new("svc");
//! tracer.start_trace();
//! let span = tracer.start_detached_span("s");
//! std::thread::spawn(move || span.end()).join().unwrap();
//! assert_eq!(tracer.end_trace().unwrap().spans.len(), 1);
//! ```
//!
//! Each names the error it expects, so a doctest that stops compiling for another reason
//! fails; only nightly rustdoc checks the code, and `.ci/run` runs these with nightly.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use crate::collect::handle::SpanHandle;
use crate::local::edit;
use crate::local::scope;
use crate::local::span_ops::{self, FrameKey, GuardCounts, SpanKey};
use crate::local::stack::GuardAttrs;
use crate::model::data::{Link, SpanKind, exception_attributes};
use crate::model::ids::{SpanContext, SpanId};
use crate::model::value::{KeyValue, Value};
use crate::record::pending_edits::SpanEdit;
use crate::record::recorder::cut_str;
use crate::record::recorder::value_may_exceed;

/// An open span on the calling thread; the span ends when the guard drops (or at
/// [`SpanGuard::end`]). If the thread panics while the guard is alive, the span ends with
/// status error `"panicked"`.
///
/// A guard of an unsampled trace, or one started with no trace active, records nothing and
/// every method is a cheap no-op.
#[must_use = "the span ends when the guard is dropped"]
#[derive(Debug)]
pub struct SpanGuard {
    key: Option<SpanKey>,
    /// Attributes are collected in the guard (inline up to four) and move into the thread's
    /// batch when the span ends: setting one touches no shared or thread-local state.
    /// `ManuallyDrop` so that the common case (empty, inline) costs no drop call; see `Drop`.
    attrs: ManuallyDrop<GuardAttrs>,
    counts: GuardCounts,
    _not_send: PhantomData<*const ()>,
}

impl SpanGuard {
    #[inline]
    pub(crate) fn new(key: Option<SpanKey>) -> Self {
        SpanGuard {
            key,
            attrs: ManuallyDrop::new(GuardAttrs::new()),
            counts: GuardCounts::default(),
            _not_send: PhantomData,
        }
    }

    /// Whether the span is being recorded (sampled and still open).
    pub fn is_recording(&self) -> bool {
        self.key.is_some_and(|k| edit::span_context(k).is_some())
    }

    /// The span's id, if it is recorded.
    pub fn span_id(&self) -> Option<SpanId> {
        self.key.and_then(|k| SpanId::from_u64(k.span_id))
    }

    /// The span's context (a plain value), to inject into a header or a log line.
    pub fn context(&self) -> Option<SpanContext> {
        self.key.and_then(edit::span_context)
    }

    /// A handle on the span, to parent work on another thread or task so that it joins this
    /// trace (see [`SpanHandle`] for how long it keeps the trace open).
    pub fn handle(&self) -> Option<SpanHandle> {
        self.key.and_then(edit::span_handle)
    }

    /// Sets an attribute. Takes bools, integers, floats, strings and arrays of them:
    /// `span.set_attribute("tokens", 1500)`. Over `max_attributes_per_span` the attribute is
    /// dropped and counted; long strings are cut to `max_attribute_value_len`.
    ///
    /// Attributes are recorded when the span ends; a span closed early because its trace
    /// ended while the guard was alive is returned (as `unfinished`) without them.
    #[inline]
    pub fn set_attribute(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(k) = self.key {
            let mut key = key.into();
            let mut value = value.into();
            // For literal keys and non-string values these checks fold away at compile time.
            let max_len = k.max_value_len as usize;
            if value_may_exceed(&value, max_len) && value.limit(max_len, k.max_array_len as usize) {
                self.counts.truncated += 1;
            }
            if key.len() > k.max_key_len as usize && cut_str(&mut key, k.max_key_len as usize) {
                self.counts.keys_truncated += 1;
            }
            if self.attrs.len() < k.max_attrs as usize {
                self.attrs.push(KeyValue { key, value });
            } else {
                self.counts.dropped += 1;
            }
        }
    }

    /// Adds a timestamped event with attributes.
    pub fn add_event<I>(&mut self, name: impl Into<Cow<'static, str>>, attributes: I)
    where
        I: IntoIterator<Item = KeyValue>,
    {
        if let Some(k) = self.key {
            edit::add_event(k, name.into(), attributes.into_iter().collect());
        }
    }

    /// Marks the span failed with `message` (status `Error`).
    pub fn set_error(&mut self, message: impl Into<String>) {
        if let Some(k) = self.key {
            edit::set_status(k, false, Some(message.into()));
        }
    }

    /// Marks the span successful (status `Ok`), clearing an error.
    pub fn set_ok(&mut self) {
        if let Some(k) = self.key {
            edit::set_status(k, true, None);
        }
    }

    /// Sets the span's kind (server, client, …).
    pub fn set_kind(&mut self, kind: SpanKind) {
        if let Some(k) = self.key {
            edit::set_kind(k, kind);
        }
    }

    /// Renames the span.
    pub fn update_name(&mut self, name: impl Into<Cow<'static, str>>) {
        if let Some(k) = self.key {
            edit::set_name(k, name.into());
        }
    }

    /// Adds a link to another span (see [`crate::Link`]).
    pub fn add_link(
        &mut self,
        context: SpanContext,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) {
        if let Some(k) = self.key {
            edit::edit_open(k, SpanEdit::Link(Link::new(context, attributes)));
        }
    }

    /// Records `error` as an `exception` event (see [`crate::EditSpan::record_exception`]).
    pub fn record_exception<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        if self.key.is_some() {
            self.add_event("exception", exception_attributes(error));
        }
    }

    /// Ends the span now.
    pub fn end(self) {
        // Drop does the work.
    }
}

impl Drop for SpanGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            span_ops::end_span(k, &mut self.attrs, self.counts);
        }
        // Only a non-empty or spilled vector owns anything; an empty inline one is dropped by
        // simply forgetting it (safe: it holds no resources).
        if self.attrs.spilled() || !self.attrs.is_empty() {
            drop(std::mem::take(&mut *self.attrs));
        }
    }
}

/// Makes another thread's span current on this thread until dropped
/// ([`crate::RequestTracer::attach`]). Spans started meanwhile join that span's trace; when the
/// guard drops they are handed over to it (any still open are closed as unfinished).
#[must_use = "the context is detached when the guard is dropped"]
#[derive(Debug)]
pub struct AttachGuard {
    key: Option<FrameKey>,
    _not_send: PhantomData<*const ()>,
}

impl AttachGuard {
    pub(crate) fn new(key: Option<FrameKey>) -> Self {
        AttachGuard {
            key,
            _not_send: PhantomData,
        }
    }

    /// Whether the context was attached (it had a live local trace of this tracer).
    pub fn is_attached(&self) -> bool {
        self.key.is_some()
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            scope::detach(k);
        }
    }
}
