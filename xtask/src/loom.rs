//! `cargo xtask loom`: model-check the lock-free hand-off with loom.

use crate::util::{TaskResult, run_env};

/// Runs the core crate's loom models (`--cfg loom`, release, separate target dir).
pub fn loom(_args: &[String]) -> TaskResult {
    run_env(
        "cargo",
        &[
            "test",
            "-p",
            "reqtrace-core",
            "--release",
            "--lib",
            "--target-dir",
            "target/loom",
            "loom",
        ],
        &[("RUSTFLAGS", "--cfg loom"), ("LOOM_MAX_PREEMPTIONS", "3")],
    )
}
