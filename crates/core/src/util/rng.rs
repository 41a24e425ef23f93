//! Span id generation: wyrand, one add and one multiply per id, seeded once per thread from the
//! OS-backed UUID v4 generator. No shared state; ids are never zero.
//!
//! The tracer's hot path keeps its generator state inside the thread's tracer state (one
//! thread-local access per span); [`next_nonzero`] serves everything else.

use std::cell::Cell;

use std::num::NonZeroU64;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A fresh non-zero seed.
pub(crate) fn seed() -> u64 {
    (uuid::Uuid::new_v4().as_u128() as u64) | 1
}

/// Advances `state` and returns the next id.
#[inline]
pub(crate) fn step(state: &mut u64) -> NonZeroU64 {
    loop {
        *state = state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(*state).wrapping_mul(u128::from(*state ^ 0xe703_7ed1_a0b4_28db));
        if let Some(id) = NonZeroU64::new((t as u64) ^ ((t >> 64) as u64)) {
            return id;
        }
    }
}

/// The next span id from the calling thread's generator.
pub(crate) fn next_nonzero() -> NonZeroU64 {
    STATE.with(|s| {
        let mut state = s.get();
        if state == 0 {
            state = seed();
        }
        let id = step(&mut state);
        s.set(state);
        id
    })
}
