//! The export path (issue 14, export-path row): spans per second through the export worker
//! with a null exporter, and whether the worker keeps up with one producer at full speed.
//!
//! - `export/worker_drain_cpu`: 50,000 spans (traces of 10 spans with 2 attributes) wait in
//!   the export queue behind a closed gate; the process CPU time from opening it until every
//!   span is exported (conversion to `SpanData`, the null `export`, freeing the chunk), per
//!   span. CPU time, not wall time, so that other load on the machine does not count: the
//!   only thread running meanwhile is the worker (the caller waits in `force_flush`).
//! - `export/producer`: one thread records 200,000 such spans as fast as it can with the
//!   default `BatchConfig` and a null exporter, then `force_flush`; per span. The spans the
//!   worker could not keep up with (`export_queue_full`) are printed after the run.
//!
//! ```text
//! cargo bench -p reqtrace-benches --features peers --bench export
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reqtrace_benches::cpu::process_cpu_time;
use reqtrace_core::{
    BatchConfig, ExportError, RequestTracer, Resource, SpanData, SpanExporter, Stats,
};

const SPANS_PER_TRACE: u64 = 10;

/// Counts spans; blocks while its gate is closed.
#[derive(Clone, Default)]
struct Null {
    spans: Arc<AtomicU64>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Null {
    fn open() -> Self {
        let n = Null::default();
        *n.gate.0.lock().unwrap() = true;
        n
    }

    fn set(&self, open: bool) {
        *self.gate.0.lock().unwrap() = open;
        self.gate.1.notify_all();
    }
}

impl SpanExporter for Null {
    fn export(&mut self, batch: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        let (m, cv) = &*self.gate;
        let mut open = m.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        self.spans.fetch_add(batch.len() as u64, Relaxed);
        Ok(())
    }
}

fn record(t: &RequestTracer, spans: u64) {
    for _ in 0..spans / SPANS_PER_TRACE {
        t.start_trace();
        for i in 0..SPANS_PER_TRACE {
            let mut s = t.start_span("op");
            s.set_attribute("model", "gpt-4o");
            s.set_attribute("tokens", i as i64);
        }
        t.end_trace();
    }
}

fn tracer(exporter: Null) -> RequestTracer {
    RequestTracer::builder("bench")
        .exporter(exporter, BatchConfig::default())
        .build()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("export");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));

    const DRAIN: u64 = 50_000;
    g.throughput(Throughput::Elements(DRAIN));
    g.bench_function("worker_drain_cpu", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let null = Null::default();
                let t = tracer(null.clone());
                record(&t, DRAIN);
                let cpu = process_cpu_time();
                null.set(true);
                t.force_flush(Duration::from_secs(60)).unwrap();
                total += process_cpu_time() - cpu;
                assert_eq!(null.spans.load(Relaxed), DRAIN, "{:?}", t.stats());
                t.shutdown().unwrap();
            }
            total
        })
    });

    const PRODUCED: u64 = 200_000;
    let refused = Arc::new(AtomicU64::new(0));
    let runs = Arc::new(AtomicU64::new(0));
    g.throughput(Throughput::Elements(PRODUCED));
    g.bench_function("producer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = tracer(Null::open());
                let start = Instant::now();
                record(&t, PRODUCED);
                t.force_flush(Duration::from_secs(60)).unwrap();
                total += start.elapsed();
                let s: Stats = t.stats();
                refused.fetch_add(s.export.dropped_queue_full, Relaxed);
                runs.fetch_add(1, Relaxed);
                t.shutdown().unwrap();
            }
            total
        })
    });
    g.finish();
    eprintln!(
        "export/producer: {} spans refused (export_queue_full) in {} runs of {PRODUCED}",
        refused.load(Relaxed),
        runs.load(Relaxed)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
