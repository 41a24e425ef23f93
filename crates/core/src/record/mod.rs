//! Span records on the hot path: the 64-byte record and its batch, the one place limits are applied to what a span records, and edits waiting for a span held elsewhere.

pub(crate) mod batch;
pub(crate) mod pending_edits;
pub(crate) mod recorder;
