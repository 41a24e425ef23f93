//! `cargo xtask fuzz [--seconds N] [--target NAME]`: runs every cargo-fuzz target of
//! `crates/propagation/fuzz` (traceparent, tracestate, baggage, extract) and
//! `crates/export-json/fuzz` (the native JSON readers) for N seconds (default 60) each and
//! prints the executions per target.
//!
//! A fuzz crate may keep committed seed inputs in `seeds/<target>/` (also where crash inputs
//! go once fixed, beside their regression tests) and a libFuzzer dictionary in
//! `<target>.dict`; both are used when present.
//!
//! cargo-fuzz wants nightly; on the stable toolchain it runs with `RUSTC_BOOTSTRAP=1`. No
//! sanitizer is used (the crates forbid `unsafe`, so panics, overflow checks and the targets'
//! own assertions are what find bugs; debug assertions are on). cargo-fuzz is installed with
//! `cargo install` when missing. Crash inputs land in `<fuzz crate>/artifacts/<target>/`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::{TaskResult, root, run};

/// The cargo-fuzz crates, each outside the workspace.
const FUZZ_DIRS: &[&str] = &["crates/propagation/fuzz", "crates/export-json/fuzz"];

/// Runs every fuzz target for a while.
pub fn fuzz(args: &[String]) -> TaskResult {
    let mut seconds: u64 = 60;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a number")?;
            }
            "--target" => only = Some(it.next().ok_or("--target needs a name")?.clone()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }

    let have_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_fuzz {
        run("cargo", &["install", "cargo-fuzz", "--locked"])?;
    }

    let mut targets = Vec::new();
    for dir in FUZZ_DIRS {
        for t in self::targets(dir)? {
            targets.push((*dir, t));
        }
    }
    let targets: Vec<(&str, String)> = match &only {
        Some(t) if targets.iter().any(|(_, n)| n == t) => {
            targets.into_iter().filter(|(_, n)| n == t).collect()
        }
        Some(t) => {
            let names: Vec<&String> = targets.iter().map(|(_, n)| n).collect();
            return Err(format!("no fuzz target {t:?} (have {names:?})"));
        }
        None => targets,
    };

    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (dir, t) in &targets {
        let (runs, ok) = run_target(dir, t, seconds)?;
        rows.push((t.clone(), runs, ok));
        if !ok {
            failed.push(t.clone());
        }
    }

    println!("\n| target | executions | seconds | result |");
    println!("| --- | ---: | ---: | --- |");
    for (t, runs, ok) in &rows {
        let runs = runs.map_or("?".to_string(), |r| r.to_string());
        let result = if *ok {
            "no findings"
        } else {
            "FAILED (see artifacts)"
        };
        println!("| {t} | {runs} | {seconds} | {result} |");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {failed:?} (crash inputs go to <fuzz crate>/artifacts/)"
        ))
    }
}

/// The `[[bin]]` names in the manifest of the fuzz crate in `dir`.
fn targets(dir: &str) -> Result<Vec<String>, String> {
    let path = root().join(dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(v) = line.strip_prefix("name") {
            let name = v
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            out.push(name.to_string());
        }
    }
    if out.is_empty() {
        return Err(format!("no [[bin]] targets in {}", path.display()));
    }
    Ok(out)
}

/// Runs one target; returns libFuzzer's executed-runs count and whether it finished cleanly.
fn run_target(dir: &str, target: &str, seconds: u64) -> Result<(Option<u64>, bool), String> {
    let max_time = format!("-max_total_time={seconds}");
    let base = root().join(dir);
    // The working corpus first (new inputs are written there), then committed seeds.
    let corpus = base.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
    let corpus = corpus.display().to_string();
    let seeds = base.join("seeds").join(target);
    let seeds = seeds.is_dir().then(|| seeds.display().to_string());
    let dict = base.join(format!("{target}.dict"));
    let dict = dict.is_file().then(|| format!("-dict={}", dict.display()));
    let mut args = vec![
        "fuzz",
        "run",
        "--fuzz-dir",
        dir,
        "--sanitizer",
        "none",
        "--debug-assertions",
        target,
        corpus.as_str(),
    ];
    args.extend(seeds.as_deref());
    args.extend([
        "--",
        max_time.as_str(),
        "-max_len=4096",
        "-print_final_stats=1",
    ]);
    args.extend(dict.as_deref());
    eprintln!("$ RUSTC_BOOTSTRAP=1 cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(args)
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    let mut runs = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // libFuzzer's last words: "Done 123456 runs in 60 second(s)"
            if let Some(rest) = line.strip_prefix("Done ") {
                runs = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            }
            // keep the console readable: skip per-input progress and dictionary lines
            if !line.starts_with('#') && !line.starts_with('"') {
                eprintln!("{line}");
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo fuzz did not finish: {e}"))?;
    Ok((runs, status.success()))
}
