//! What tail sampling costs per span: a whole trace (a root and 100 children, ended with
//! `end_trace`) with no tail sampler, and with one that keeps failed traces and 10% of the rest
//! (so it looks at every span of every trace). `cargo bench -p reqtrace-core --bench tail_sampling`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use reqtrace_core::{RequestTracer, TailPolicy, TailSampler};

const CHILDREN: u64 = 100;

fn whole_trace(t: &RequestTracer) {
    t.start_trace();
    {
        let _root = t.start_span("root");
        for _ in 0..CHILDREN {
            let mut s = t.start_span("child");
            s.set_attribute("tokens", black_box(1500));
        }
    }
    black_box(t.end_trace());
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tail_sampling");
    g.throughput(Throughput::Elements(CHILDREN + 1));
    let off = RequestTracer::new("bench");
    g.bench_function("off", |b| b.iter(|| whole_trace(&off)));
    let on = RequestTracer::builder("bench")
        .tail_sampler(
            TailSampler::new()
                .policy(TailPolicy::Error)
                .policy(TailPolicy::Probabilistic(0.1)),
        )
        .build();
    g.bench_function("on", |b| b.iter(|| whole_trace(&on)));
    g.finish();
}

mod group {
    #![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn`.
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
