//! Runnable examples live beside this file: `cargo run --release --example worker_pool`.
