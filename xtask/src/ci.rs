//! `cargo xtask ci`, `miri`, `stress`.

use crate::util::{TaskResult, run, run_env};

/// fmt --check, clippy -D warnings, tests (nextest when installed), doc tests, docs.
pub fn ci(_args: &[String]) -> TaskResult {
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["test", "--workspace"])?;
    run_env(
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

/// `cargo miri test` on the core crate: its unit tests and the tracer behaviour tests
/// (threads, hand-off, thread exit), under the nightly toolchain's miri (installed with rustup
/// when missing). Isolation is off because the clock and the id generator read the OS.
pub fn miri(_args: &[String]) -> TaskResult {
    let have = std::process::Command::new("cargo")
        .args(["+nightly", "miri", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        run(
            "rustup",
            &[
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "-c",
                "miri,rust-src",
            ],
        )?;
    }
    run_env(
        "cargo",
        &[
            "+nightly",
            "miri",
            "test",
            "-p",
            "reqtrace-core",
            "--lib",
            "--test",
            "tracer",
        ],
        &[("MIRIFLAGS", "-Zmiri-disable-isolation")],
    )
}

/// The long stress tests, which the default run skips: the `long_*` tests of the
/// cross-crate test package (`tests/tests/`), in release, one at a time (they each use every
/// core), printing their figures (spans stressed, delivered, dropped by reason, unaccounted).
/// Only the `long_` tests run here.
pub fn stress(_args: &[String]) -> TaskResult {
    run(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "reqtrace-tests",
            "--",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "long_",
        ],
    )
}
