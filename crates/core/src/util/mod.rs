//! The small things everything uses: the clock, the span-id generator, the hand-off's atomics (loom-swappable), interned thread names. Imports nothing of the crate.

pub(crate) mod clock;
pub(crate) mod rng;
pub(crate) mod sync;
pub(crate) mod thread_name;
