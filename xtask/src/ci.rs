//! `cargo xtask ci`, `miri`, `stress`.

use crate::util::{TaskResult, run, run_env};

/// fmt --check, clippy -D warnings, tests (nextest when installed), doc tests, docs.
pub fn ci(_args: &[String]) -> TaskResult {
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    )?;
    run("cargo", &["test", "--workspace"])?;
    run_env(
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

/// `cargo miri test` on the core crate.
pub fn miri(_args: &[String]) -> TaskResult {
    run("cargo", &["+nightly", "miri", "test", "-p", "reqtrace-core"])
}

/// The long stress tests, which the default run skips.
pub fn stress(_args: &[String]) -> TaskResult {
    run(
        "cargo",
        &["test", "--release", "--workspace", "--", "--ignored", "--nocapture"],
    )
}
