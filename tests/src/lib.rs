//! Cross-crate integration tests live in `tests/tests/`: `stress.rs` (exact accounting under
//! load), `faults.rs` (a failing, stalling, recovering export destination), `misuse.rs`,
//! `hostile.rs` (oversized and malformed input, non-finite floats).
//!
//! The compile errors misuse must give (`SpanGuard` and `AttachGuard` are neither `Send` nor
//! `Sync`) are checked by `reqtrace-core`'s `guard.rs` doctests.

/// The README's Rust examples, compiled and run as doctests so the README never shows code
/// that does not work.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
