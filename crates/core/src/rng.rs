//! Span id generation: a per-thread wyrand generator seeded once from the OS-backed UUID
//! generator. One add and one multiply per id, no shared state, never zero.

use std::cell::Cell;

use crate::ids::SpanId;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// The next span id for the calling thread.
#[inline]
pub(crate) fn next_span_id() -> SpanId {
    STATE.with(|s| {
        let mut state = s.get();
        if state == 0 {
            // First use on this thread: seed from the UUID v4 generator (cryptographic quality).
            state = (uuid::Uuid::new_v4().as_u128() as u64) | 1;
        }
        loop {
            state = state.wrapping_add(0xa076_1d64_78bd_642f);
            let t = u128::from(state).wrapping_mul(u128::from(state ^ 0xe703_7ed1_a0b4_28db));
            let v = (t as u64) ^ ((t >> 64) as u64);
            if let Some(id) = SpanId::from_u64(v) {
                s.set(state);
                return id;
            }
        }
    })
}
