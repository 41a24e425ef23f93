//! `cargo xtask bench [--quick] [FILTER…]`: runs the `reqtrace-benches` criterion benches
//! (with the `peers` feature, so fastrace, tracing and OpenTelemetry are built only here) and
//! prints a markdown table: one row per scenario, one column per library, each cell the value
//! and its ratio to reqtrace.
//!
//! Inputs: criterion's `<out>/criterion/<group>/<library>/new/estimates.json` (the median) and
//! the benches' own `<out>/results.tsv` (allocations and span accounting), where `<out>` is
//! `$CARGO_TARGET_DIR/reqtrace-bench` (default `target/reqtrace-bench`). The table is also
//! written to `<out>/table.md`.
//!
//! `--quick` sets `REQTRACE_BENCH_QUICK=1`: 0.3 s warm-up, 0.9 s measurement, 10 samples per
//! benchmark (the whole run, once built, well under three minutes). Other arguments are passed
//! to the bench binaries (criterion filters, e.g. `a_child`).

use std::path::{Path, PathBuf};

use crate::util::{TaskResult, root, run_env};

/// Column order of the table (the bench's library names).
const LIBS: [&str; 5] = ["floor", "reqtrace", "fastrace", "tracing", "opentelemetry"];
/// Spans per whole trace in scenarios c, d and e.
const SPANS_PER_TRACE: f64 = 101.0;
/// Spans per iteration of the encoding benches (row k: 200 traces × 25 spans).
const ENCODE_SPANS: f64 = 5_000.0;
/// Features of `reqtrace-benches` the run turns on. `otlp-proto` (reqtrace's own protobuf
/// encoder in row k) needs `reqtrace_otlp::encode_protobuf_batch`, public from the
/// wire-formats branch on: add it here once that is merged.
const BENCH_FEATURES: &str = "peers,otlp-proto";

/// Runs the benches and prints the table.
pub fn bench(args: &[String]) -> TaskResult {
    let quick = args.iter().any(|a| a == "--quick");
    let table_only = args.iter().any(|a| a == "--table-only");
    let passthrough: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--quick" && *a != "--table-only")
        .collect();
    let out = out_dir();
    if !table_only {
        // Fresh results: stale estimates from an earlier run must not fill the table.
        let _ = std::fs::remove_file(out.join("results.tsv"));
        let _ = std::fs::remove_dir_all(out.join("criterion"));
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let out_s = out.to_string_lossy().into_owned();
        let crit_s = out.join("criterion").to_string_lossy().into_owned();
        let mut cargo_args = vec![
            "bench",
            "-p",
            "reqtrace-benches",
            "--features",
            BENCH_FEATURES,
        ];
        if !passthrough.is_empty() {
            cargo_args.push("--");
            cargo_args.extend(passthrough.iter().copied());
        }
        let mut env = vec![
            ("REQTRACE_BENCH_OUT", out_s.as_str()),
            ("CRITERION_HOME", crit_s.as_str()),
        ];
        if quick {
            env.push(("REQTRACE_BENCH_QUICK", "1"));
        }
        let load_before = load_average();
        run_env("cargo", &cargo_args, &env)?;
        let table = table(&out, quick, &load_before, &load_average());
        println!("{table}");
        let _ = std::fs::write(out.join("table.md"), &table);
    } else {
        println!("{}", table(&out, quick, "?", &load_average()));
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR/reqtrace-bench`, or `<workspace>/target/reqtrace-bench`.
fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"));
    target.join("reqtrace-bench")
}

/// The 1/5/15-minute load averages, to judge how noisy the run was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The median (ns per criterion iteration) from `estimates.json`, without a JSON dependency.
fn median(out: &Path, group: &str, lib: &str) -> Option<f64> {
    let path = out
        .join("criterion")
        .join(group)
        .join(lib)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let after = &text[text.find("\"median\"")?..];
    let after = &after[after.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = after.find([',', '}'])?;
    after[..end].trim().parse().ok()
}

/// `results.tsv` values: `key<TAB>lib<TAB>value` (the last line for a key and library wins).
fn tsv(out: &Path) -> Vec<(String, String, f64)> {
    let text = std::fs::read_to_string(out.join("results.tsv")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let (k, lib, v) = (it.next()?, it.next()?, it.next()?);
            Some((k.to_string(), lib.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn lookup(rows: &[(String, String, f64)], key: &str, lib: &str) -> Option<f64> {
    rows.iter()
        .rev()
        .find(|(k, l, _)| k == key && l == lib)
        .map(|r| r.2)
}

/// How a row's numbers are printed.
#[derive(Clone, Copy)]
enum Unit {
    /// Nanoseconds (lower is better).
    Ns,
    /// Millions of spans per second (higher is better).
    Mps,
    /// A ratio or count shown without a ratio to reqtrace.
    Plain,
    /// Allocations per span (three decimals, no ratio: counts near zero make ratios noise).
    Allocs,
}

fn fmt_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ns | Unit::Mps if v < 1.0 => format!("{v:.3}"),
        Unit::Ns | Unit::Mps if v < 10.0 => format!("{v:.2}"),
        Unit::Ns | Unit::Mps if v < 100.0 => format!("{v:.1}"),
        Unit::Ns | Unit::Mps => format!("{v:.0}"),
        Unit::Plain => format!("{v:.2}"),
        Unit::Allocs => format!("{v:.3}"),
    }
}

/// Builds the markdown table from the files in `out`.
fn table(out: &Path, quick: bool, load_before: &str, load_after: &str) -> String {
    let tsv = tsv(out);
    let est = |group: &str, lib: &str| median(out, group, lib);
    type Getter<'a> = Box<dyn Fn(&str) -> Option<f64> + 'a>;
    let mut rows: Vec<(&str, Unit, Getter<'_>)> = vec![
        (
            "a. child span in an open root (ns/span)",
            Unit::Ns,
            Box::new(|l| est("a_child", l)),
        ),
        (
            "b. child + 2 attributes (ns/span)",
            Unit::Ns,
            Box::new(|l| est("b_child_attrs", l)),
        ),
        (
            "c. whole trace until delivered (ns/span)",
            Unit::Ns,
            Box::new(|l| est("c_trace", l).map(|v| v / SPANS_PER_TRACE)),
        ),
        (
            "d. CPU, all threads, whole trace (ns/span)",
            Unit::Ns,
            Box::new(|l| est("d_trace_cpu", l).map(|v| v / SPANS_PER_TRACE)),
        ),
        (
            "e. throughput, 1 thread (M spans/s)",
            Unit::Mps,
            Box::new(|l| est("e_1_thread", l).map(|v| SPANS_PER_TRACE * 1e3 / v)),
        ),
        (
            "e. throughput, 2 threads (M spans/s)",
            Unit::Mps,
            Box::new(|l| est("e_2_threads", l).map(|v| SPANS_PER_TRACE * 1e3 / v)),
        ),
        (
            "e. 2 threads / 1 thread",
            Unit::Plain,
            Box::new(|l| Some(est("e_1_thread", l)? / est("e_2_threads", l)?)),
        ),
        (
            "e. CPU, all threads, 2 threads (ns/span; compare d)",
            Unit::Ns,
            Box::new(|l| est("e_2_threads_cpu", l).map(|v| v / SPANS_PER_TRACE)),
        ),
        (
            "f. unsampled child span (ns/span)",
            Unit::Ns,
            Box::new(|l| est("f_unsampled", l)),
        ),
        (
            "allocations/span, a (calling thread)",
            Unit::Allocs,
            Box::new(|l| lookup(&tsv, "allocs_a", l)),
        ),
        (
            "allocations/span, b (calling thread)",
            Unit::Allocs,
            Box::new(|l| lookup(&tsv, "allocs_b", l)),
        ),
        (
            "allocations/span, c (all threads, to consumer)",
            Unit::Allocs,
            Box::new(|l| lookup(&tsv, "allocs_c", l)),
        ),
        (
            "bytes allocated/span, c (all threads)",
            Unit::Ns,
            Box::new(|l| lookup(&tsv, "bytes_c", l)),
        ),
    ];
    rows.extend(async_rows(out));
    rows.extend(bridge_rows(out));
    rows.extend(export_rows(&tsv));

    let mut s = String::new();
    s.push_str(&format!(
        "\n### reqtrace span cost ({} run; cell = value (library ÷ reqtrace))\n\n",
        if quick { "quick" } else { "full" }
    ));
    s.push_str("| scenario |");
    for lib in LIBS {
        s.push_str(&format!(" {lib} |"));
    }
    s.push_str("\n| --- |");
    for _ in LIBS {
        s.push_str(" ---: |");
    }
    s.push('\n');
    for (label, unit, get) in &rows {
        s.push_str(&format!("| {label} |"));
        let base = get("reqtrace");
        for lib in LIBS {
            let cell = match get(lib) {
                None => "—".to_string(),
                Some(v) => match base {
                    Some(b)
                        if lib != "reqtrace"
                            && b > 0.0
                            && !matches!(unit, Unit::Plain | Unit::Allocs) =>
                    {
                        format!("{} ({:.2}×)", fmt_value(v, *unit), v / b)
                    }
                    _ => fmt_value(v, *unit),
                },
            };
            s.push_str(&format!(" {cell} |"));
        }
        s.push('\n');
    }
    // Accounting: what each consumer received of what was made.
    s.push_str("| spans received / made (timing run) |");
    for lib in LIBS {
        let cell = match (
            lookup(&tsv, "spans_received", lib),
            lookup(&tsv, "spans_made", lib),
        ) {
            (Some(r), Some(m)) if r == m => format!("all {m:.0}"),
            (Some(r), Some(m)) => format!("**{r:.0} of {m:.0}**"),
            _ => "—".to_string(),
        };
        s.push_str(&format!(" {cell} |"));
    }
    s.push('\n');
    s.push_str(&async_accounting(&tsv));
    s.push_str(&format!(
        "\nratio: for ns and allocations > 1 means more than reqtrace; for throughput > 1 means \
         faster. c, d, e: one trace = root + 100 children = 101 spans. i: the reqtrace column is \
         `tracing` recorded through `reqtrace-tracing`, the tracing column `tracing` with a \
         recording layer. j: null consumer, default settings, dropped = made − received. Load \
         average before / after the run: {load_before} / {load_after} (2 cores; above ~1 the \
         numbers are noisy).\n"
    ));
    s.push_str(&encode_table(out));
    s
}

/// Spans per request in row h (`benches/src/async_work.rs`: a root and 10 steps).
const SPANS_PER_ASYNC_REQUEST: f64 = 11.0;

/// Rows g and h (issue 10, `benches/benches/async.rs`): reqtrace beside fastrace's
/// `FutureExt::in_span`; the floor is the same work uninstrumented.
#[allow(clippy::type_complexity)]
fn async_rows(out: &Path) -> Vec<(&'static str, Unit, Box<dyn Fn(&str) -> Option<f64> + '_>)> {
    vec![
        (
            "g. instrumented future, one poll across an await (ns/poll)",
            Unit::Ns,
            Box::new(move |l| median(out, "g_future_poll", l)),
        ),
        (
            "h. async request, root + 10 spans across awaits (ns/span)",
            Unit::Ns,
            Box::new(move |l| {
                median(out, "h_async_request", l).map(|v| v / SPANS_PER_ASYNC_REQUEST)
            }),
        ),
    ]
}

/// The async bench's accounting row: what each consumer received of what was made.
fn async_accounting(tsv: &[(String, String, f64)]) -> String {
    let mut s = String::from("| g, h: spans received / made |");
    for lib in LIBS {
        let cell = match (
            lookup(tsv, "async_spans_received", lib),
            lookup(tsv, "async_spans_made", lib),
        ) {
            (Some(r), Some(m)) if r == m => format!("all {m:.0}"),
            (Some(r), Some(m)) => format!("**{r:.0} of {m:.0}**"),
            _ => "—".to_string(),
        };
        s.push_str(&format!(" {cell} |"));
    }
    s.push('\n');
    s
}

/// A table row: label, unit, and the value for a library column.
type Row<'a> = (&'a str, Unit, Box<dyn Fn(&str) -> Option<f64> + 'a>);

/// Row i: one `tracing` span through the bridge (column reqtrace) and through `tracing` with
/// a recording layer (column tracing), criterion groups `i_bridge_child[_attrs]`.
fn bridge_rows(out: &Path) -> Vec<Row<'_>> {
    vec![
        (
            "i. `tracing` span, bridge vs recording layer (ns/span)",
            Unit::Ns,
            Box::new(move |l| median(out, "i_bridge_child", l)),
        ),
        (
            "i. the same + 2 fields (ns/span)",
            Unit::Ns,
            Box::new(move |l| median(out, "i_bridge_child_attrs", l)),
        ),
    ]
}

/// Row j: the export path with 1 and 4 producer threads (`results.tsv`, `export_*`).
fn export_rows(tsv: &[(String, String, f64)]) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = Vec::new();
    for (threads, made, received, dropped) in [
        (
            1,
            "j. export, 1 producer: made (M spans/s)",
            "j. export, 1 producer: through the consumer (M spans/s)",
            "j. export, 1 producer: dropped (% of made)",
        ),
        (
            4,
            "j. export, 4 producers: made (M spans/s)",
            "j. export, 4 producers: through the consumer (M spans/s)",
            "j. export, 4 producers: dropped (% of made)",
        ),
    ] {
        for (label, key, unit) in [
            (made, "made_mps", Unit::Mps),
            (received, "received_mps", Unit::Mps),
            (dropped, "dropped_pct", Unit::Plain),
        ] {
            let key = format!("export_{threads}t_{key}");
            rows.push((label, unit, Box::new(move |l| lookup(tsv, &key, l))));
        }
    }
    rows
}

/// Row k: encoding throughput (criterion group `k_encode`), reqtrace's formats beside the
/// `opentelemetry-proto` peer of the same kind (JSON: `serde_json`; protobuf: `prost`).
fn encode_table(out: &Path) -> String {
    let mps = |f: &str| median(out, "k_encode", f).map(|ns| ENCODE_SPANS * 1e3 / ns);
    let cell = |v: Option<f64>| v.map_or("—".to_string(), |v| fmt_value(v, Unit::Mps));
    let mut s = String::from(
        "\n### k. encoding, M spans/s (5,000 spans, 6 attributes each; ratio = reqtrace ÷ peer \
         with the conversion)\n\n| format | reqtrace | peer: `opentelemetry-proto` + writer \
         (with conversion) | peer, writer alone | reqtrace ÷ peer |\n| --- | ---: | ---: | ---: \
         | ---: |\n",
    );
    for (label, ours, peer) in [
        (
            "native JSON vs serde_json",
            "reqtrace_native",
            "otel_serde_json",
        ),
        (
            "Chrome JSON vs serde_json",
            "reqtrace_chrome",
            "otel_serde_json",
        ),
        (
            "OTLP/JSON vs serde_json",
            "reqtrace_otlp_json",
            "otel_serde_json",
        ),
        (
            "OTLP protobuf vs prost",
            "reqtrace_otlp_proto",
            "otel_prost",
        ),
    ] {
        let (a, b) = (mps(ours), mps(peer));
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "—".to_string(),
        };
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {ratio} |\n",
            cell(a),
            cell(b),
            cell(mps(&format!("{peer}_prebuilt"))),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_read_from_criterion_estimates() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        let p = dir
            .join("criterion")
            .join("a_child")
            .join("floor")
            .join("new");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("estimates.json"),
            r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":19.0,"upper_bound":21.0},"point_estimate":19.5,"standard_error":0.2}}"#,
        )
        .unwrap();
        assert_eq!(median(&dir, "a_child", "floor"), Some(19.5));
        assert_eq!(median(&dir, "a_child", "reqtrace"), None);
        let t = table(&dir, true, "0", "0");
        assert!(
            t.contains("| a. child span in an open root (ns/span) | 19.5 |"),
            "{t}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Writes a criterion `estimates.json` with `median` ns for `group/lib`.
    fn estimate(dir: &Path, group: &str, lib: &str, median: f64) {
        let p = dir.join("criterion").join(group).join(lib).join("new");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("estimates.json"),
            format!(r#"{{"median":{{"point_estimate":{median},"standard_error":0.1}}}}"#),
        )
        .unwrap();
    }

    #[test]
    fn new_rows_come_from_their_groups_and_results() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-new-{}", std::process::id()));
        estimate(&dir, "i_bridge_child", "reqtrace", 500.0);
        estimate(&dir, "i_bridge_child", "tracing", 250.0);
        // 5,000 spans in 2.5 ms = 2 M spans/s; the peer 5,000 in 10 ms = 0.5 M spans/s.
        estimate(&dir, "k_encode", "reqtrace_native", 2.5e6);
        estimate(&dir, "k_encode", "otel_serde_json", 1.0e7);
        std::fs::write(
            dir.join("results.tsv"),
            "export_4t_dropped_pct\treqtrace\t12.5\nexport_1t_received_mps\tfastrace\t3\n",
        )
        .unwrap();
        let t = table(&dir, true, "0", "0");
        assert!(
            t.contains("| i. `tracing` span, bridge vs recording layer (ns/span) | — | 500 | — | 250 (0.50×) | — |"),
            "{t}"
        );
        assert!(
            t.contains("| j. export, 4 producers: dropped (% of made) | — | 12.50 | — | — | — |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| j. export, 1 producer: through the consumer (M spans/s) | — | — | 3.00 | — | — |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| native JSON vs serde_json | 2.00 | 0.500 | — | 4.00× |"),
            "{t}"
        );
        assert!(
            t.contains("| OTLP protobuf vs prost | — | — | — | — |"),
            "{t}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
