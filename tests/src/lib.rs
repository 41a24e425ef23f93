//! Cross-crate integration tests live in `tests/tests/`: `stress.rs` (exact accounting under
//! load), `faults.rs` (a failing, stalling, recovering export destination), `misuse.rs`,
//! `hostile.rs` (oversized and malformed input, non-finite floats).
//!
//! Two misuses are compile errors by design; `reqtrace-core`'s `guard.rs` checks them for
//! `SpanGuard`, and these check the same for `AttachGuard` (`misuse.rs` tests the runtime
//! analogues). Each names the error it expects (E0277: a `Send`/`Sync` bound not met), so a
//! doctest that stops compiling for another reason fails. Only nightly rustdoc checks the code
//! (stable accepts any error); `.ci/run` runs these doctests with nightly.
//!
//! An `AttachGuard` cannot be moved to another thread:
//!
//! ```compile_fail,E0277
//! let tracer = reqtrace_core::RequestTracer::new("svc");
//! tracer.start_trace();
//! let span = tracer.start_span("s");
//! let guard = tracer.attach(&span.context().unwrap());
//! std::thread::spawn(move || drop(guard)); // AttachGuard is not Send
//! ```
//!
//! nor shared with one:
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

/// The README's Rust examples, compiled and run as doctests so the README never shows code
/// that does not work.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
