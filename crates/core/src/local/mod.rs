//! The per-thread side: the calling thread's identity, its span stack, and the operations on it (the hot path).

pub(crate) mod edit;
pub(crate) mod frames;
pub(crate) mod scope;
pub(crate) mod span_ops;
pub(crate) mod stack;
pub(crate) mod thread;
