//! The synchronisation primitives of the hand-off, swappable for loom's under `--cfg loom`.
//!
//! In normal builds the inbox is `crossbeam_queue::SegQueue` (lock-free, linearizable). Under
//! loom it is a loom `Mutex<VecDeque>`: loom cannot look inside crossbeam, so the model checks
//! *our* protocol (the `ended` flag, fences, the drain on both sides, the `Drop` accounting)
//! over a linearizable queue, in every interleaving loom explores.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, fence};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, fence};

/// A multi-producer queue of batches.
#[cfg(not(loom))]
pub(crate) struct Inbox<T>(crossbeam_queue::SegQueue<T>);

#[cfg(not(loom))]
impl<T> Inbox<T> {
    pub fn new() -> Self {
        Inbox(crossbeam_queue::SegQueue::new())
    }
    pub fn push(&self, v: T) {
        self.0.push(v);
    }
    pub fn pop(&self) -> Option<T> {
        self.0.pop()
    }
}

/// A multi-producer queue of batches (loom model).
#[cfg(loom)]
pub(crate) struct Inbox<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

#[cfg(loom)]
impl<T> Inbox<T> {
    pub fn new() -> Self {
        Inbox(loom::sync::Mutex::new(std::collections::VecDeque::new()))
    }
    pub fn push(&self, v: T) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(v);
        }
    }
    pub fn pop(&self) -> Option<T> {
        self.0.lock().ok().and_then(|mut q| q.pop_front())
    }
}
