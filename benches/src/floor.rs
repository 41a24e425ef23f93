//! The floor: the least a span can cost. Per span it reads the clock twice (the raw TSC
//! through `quanta`, the clock reqtrace uses) and pushes a small record into a thread-local
//! `Vec`; ending the root hands the thread's records to the consumer, which counts them.

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::{Counters, Subject};

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

/// One raw read of the shared TSC clock (the same source as reqtrace's `clock::now`).
#[inline]
pub fn now() -> u64 {
    CLOCK.get_or_init(quanta::Clock::new).raw()
}

/// The floor's span record: 48 bytes.
#[derive(Clone, Copy, Debug)]
pub struct FloorSpan {
    /// Name.
    pub name: &'static str,
    /// Id (a per-thread counter).
    pub id: u64,
    /// Parent id.
    pub parent: u64,
    /// Start, raw ticks.
    pub start: u64,
    /// End, raw ticks.
    pub end: u64,
}

/// An attribute value of the floor (borrowed string or integer).
#[derive(Clone, Copy, Debug)]
pub enum FloorValue {
    /// A static string.
    Str(&'static str),
    /// An integer.
    I64(i64),
}

/// The floor's record with two inline attributes.
#[derive(Clone, Copy, Debug)]
pub struct FloorSpanAttrs {
    /// The span.
    pub span: FloorSpan,
    /// Its two attributes.
    pub attrs: [(&'static str, FloorValue); 2],
}

#[derive(Default)]
struct State {
    next_id: u64,
    parent: u64,
    spans: Vec<FloorSpan>,
    attr_spans: Vec<FloorSpanAttrs>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// The floor subject (see the module docs).
#[derive(Debug, Default)]
pub struct Floor {
    counters: Counters,
}

/// An open floor root.
#[derive(Debug)]
pub struct FloorRoot {
    id: u64,
    start: u64,
    sampled: bool,
}

impl Floor {
    /// A new floor with zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn span(st: &mut State, name: &'static str, start: u64, end: u64) -> FloorSpan {
        st.next_id += 1;
        FloorSpan {
            name,
            id: st.next_id,
            parent: st.parent,
            start,
            end,
        }
    }
}

impl Subject for Floor {
    type Root<'a> = FloorRoot;

    fn name(&self) -> &'static str {
        "floor"
    }

    fn begin(&self) -> FloorRoot {
        let start = now();
        STATE.with_borrow_mut(|st| {
            st.next_id += 1;
            st.parent = st.next_id;
            FloorRoot {
                id: st.next_id,
                start,
                sampled: true,
            }
        })
    }

    #[inline]
    fn child(&self) {
        let start = now();
        let end = now();
        STATE.with_borrow_mut(|st| {
            let s = Self::span(st, "child", start, end);
            st.spans.push(s);
        });
    }

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let start = now();
        let end = now();
        STATE.with_borrow_mut(|st| {
            let span = Self::span(st, "child", start, end);
            st.attr_spans.push(FloorSpanAttrs {
                span,
                attrs: [
                    ("model", FloorValue::Str(model)),
                    ("tokens", FloorValue::I64(tokens)),
                ],
            });
        });
    }

    fn end(&self, root: FloorRoot) {
        let end = now();
        if !root.sampled {
            return;
        }
        let (spans, attr_spans) = STATE.with_borrow_mut(|st| {
            st.spans.push(FloorSpan {
                name: "root",
                id: root.id,
                parent: 0,
                start: root.start,
                end,
            });
            st.parent = 0;
            // Hand the records over; the next trace starts with the same capacity.
            let (cap, attr_cap) = (st.spans.capacity(), st.attr_spans.capacity());
            (
                std::mem::replace(&mut st.spans, Vec::with_capacity(cap)),
                std::mem::replace(&mut st.attr_spans, Vec::with_capacity(attr_cap)),
            )
        });
        // The consumer: count what arrived, then drop it.
        let n = spans.len() + attr_spans.len();
        crate::consume((&spans, &attr_spans));
        self.counters.add_received(n as u64);
    }

    fn begin_unsampled(&self) -> FloorRoot {
        FloorRoot {
            id: 0,
            start: 0,
            sampled: false,
        }
    }

    fn unsampled_child(&self) {}

    fn counters(&self) -> &Counters {
        &self.counters
    }
}
