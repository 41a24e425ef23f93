//! Who the calling thread is, for reqtrace: a process-unique number, its interned name and
//! its span-id generator's state. Read once per thread, when it first records.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::util::rng;

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

/// The calling thread's identity (zero until [`ThreadIdent::identify`]).
pub(crate) struct ThreadIdent {
    pub id: u64,
    pub name: Option<&'static str>,
    /// The span-id generator's state (see [`rng::step`]).
    pub rng: u64,
}

impl ThreadIdent {
    pub const fn new() -> Self {
        ThreadIdent {
            id: 0,
            name: None,
            rng: 0,
        }
    }

    /// Numbers the thread and reads its name, once.
    #[inline]
    pub fn ensure(&mut self) {
        if self.id == 0 {
            self.identify();
        }
    }

    #[cold]
    fn identify(&mut self) {
        self.id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        self.name = crate::util::thread_name::current();
        self.rng = rng::seed();
    }
}
