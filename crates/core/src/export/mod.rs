//! The export worker: a thread per tracer that drains the lock-free export queue and calls the exporter with retries, on up to `max_concurrent_exports` lanes.

pub(crate) mod drain;
pub(crate) mod lanes;
pub(crate) mod worker;
