//! Where the benches write results for `cargo xtask bench`.
//!
//! Besides criterion's own `estimates.json` files, the benches append one tab-separated line
//! per measurement that criterion does not make (allocations, accounting) to
//! `$REQTRACE_BENCH_OUT/results.tsv`: `key<TAB>library<TAB>value`.

use std::io::Write;
use std::path::PathBuf;

/// The output folder: `$REQTRACE_BENCH_OUT`, else `<workspace>/target/reqtrace-bench`.
pub fn out_dir() -> PathBuf {
    match std::env::var_os("REQTRACE_BENCH_OUT") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("reqtrace-bench"),
    }
}

/// True when `REQTRACE_BENCH_QUICK` is set (short warm-up and measurement).
pub fn quick() -> bool {
    std::env::var_os("REQTRACE_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Appends `key<TAB>lib<TAB>value` to `results.tsv` (and echoes it to stderr).
pub fn record(key: &str, lib: &str, value: f64) {
    eprintln!("result {key} {lib} {value}");
    let dir = out_dir();
    let _ = std::fs::create_dir_all(&dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("results.tsv"));
    match file {
        Ok(mut f) => {
            let _ = writeln!(f, "{key}\t{lib}\t{value}");
        }
        Err(e) => eprintln!("cannot write {}: {e}", dir.display()),
    }
}
