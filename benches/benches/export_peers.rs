//! Row j (issue 14): the export path. 1 and 4 producer threads make whole traces at full speed
//! for a fixed time (1 s with `REQTRACE_BENCH_QUICK`, else 3 s); each library's background
//! pipeline at its default settings feeds a null consumer that counts. Not criterion: one
//! timed run per library and thread count, written to `results.tsv`:
//! `export_<n>t_made_mps`, `export_<n>t_received_mps`, `export_<n>t_dropped_pct` (and for
//! reqtrace `export_<n>t_dropped_counted`, the tracer's own drop counter).
//! What each library does: `reqtrace_benches::peers::export_path`.

use std::time::Duration;

use reqtrace_benches::Subject;
use reqtrace_benches::peers::export_path::{ExportRun, OtelExport, ReqtraceExport, export_run};
use reqtrace_benches::peers::fastrace_subject::Fastrace;
use reqtrace_benches::results;

fn record(s: &impl Subject, threads: usize, r: ExportRun) {
    let lib = s.name();
    let key = |k: &str| format!("export_{threads}t_{k}");
    results::record(&key("made_mps"), lib, r.made_mps());
    results::record(&key("received_mps"), lib, r.received_mps());
    results::record(&key("dropped_pct"), lib, r.dropped_pct());
    results::record(&key("made"), lib, r.made as f64);
    results::record(&key("received"), lib, r.received as f64);
}

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter): run only when the filter, if any,
    // names this bench.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filter.is_empty() && !filter.iter().any(|f| "j_export".contains(f.as_str())) {
        return;
    }
    let time = if results::quick() {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(3)
    };
    let fastrace = Fastrace::new();
    for threads in [1, 4] {
        {
            let s = ReqtraceExport::new();
            let r = export_run(&s, threads, time);
            results::record(
                &format!("export_{threads}t_dropped_counted"),
                s.name(),
                s.dropped_counted() as f64,
            );
            record(&s, threads, r);
        }
        {
            let s = OtelExport::new();
            let r = export_run(&s, threads, time);
            record(&s, threads, r);
        }
        let r = export_run(&fastrace, threads, time);
        record(&fastrace, threads, r);
    }
}
