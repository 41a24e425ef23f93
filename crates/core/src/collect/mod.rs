//! Where finished spans are collected: the state a tracer's clones share, one live trace and its lock-free inbox, the handle that joins it from elsewhere, tail sampling, and assembling a finished trace.

pub(crate) mod assemble;
pub(crate) mod handle;
pub(crate) mod tail_sampler;
pub(crate) mod trace;
pub(crate) mod tracer_state;
