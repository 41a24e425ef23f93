//! `cargo xtask <command>`: the project's automation (the cargo-xtask pattern).
//!
//! | command | what it does | file |
//! | --- | --- | --- |
//! | `ci` | fmt --check, clippy -D warnings, tests, doc tests, docs | `ci.rs` |
//! | `bench [--quick]` | criterion benches, then a markdown table of ns/span and ratios | `bench.rs` |
//! | `fuzz [--seconds N]` | every cargo-fuzz target for N seconds each | `fuzz.rs` |
//! | `loom` | the loom models of the lock-free hand-off (`--cfg loom`) | `loom.rs` |
//! | `miri` | `cargo miri test` on the core crate (needs a nightly toolchain with miri) | `ci.rs` |
//! | `stress` | the long stress tests (ignored in the default test run) | `ci.rs` |

mod bench;
mod ci;
mod fuzz;
mod loom;
mod util;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "ci" => ci::ci(rest),
        "bench" => bench::bench(rest),
        "fuzz" => fuzz::fuzz(rest),
        "miri" => ci::miri(rest),
        "loom" => loom::loom(rest),
        "stress" => ci::stress(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|bench [--quick]|fuzz [--seconds N]|loom|miri|stress>"
            );
            Err("unknown command".into())
        }
    };
    if let Err(e) = result {
        eprintln!("xtask {cmd}: {e}");
        std::process::exit(1);
    }
}
