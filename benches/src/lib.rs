//! Shared harness for the reqtrace benches (`cargo xtask bench`).
//!
//! The bench targets in `benches/benches/` drive every library through the same [`Subject`]
//! trait and the same workloads ([`children_timed`], [`whole_traces`], [`whole_traces_cpu`],
//! [`threaded`]) so that each library does the same work per span:
//!
//! | scenario | what is timed | one iteration |
//! | --- | --- | --- |
//! | a | a child span started and ended inside an open root (root opened/closed untimed) | 1 span |
//! | b | the same with `"model" = "gpt-4o"`, `"tokens" = 1500` | 1 span |
//! | c | root + 100 children, until the consumer has received them (wall time) | 1 trace = 101 spans |
//! | d | the same, process CPU time of every thread (background threads included) | 1 trace |
//! | e | c on 1 and on 2 threads sharing one tracer (wall; and CPU with 2 threads) | 1 trace |
//! | f | a child span inside an unsampled (or disabled) root | 1 span |
//!
//! Every span a workload makes is added to [`Counters::made`]; every span the library's
//! consumer receives is added to [`Counters::received`]. [`settle`] waits until the two agree,
//! so no library is measured while doing less work than the others. What each library does per
//! span is documented on its subject ([`floor::Floor`], [`reqtrace_subject::Reqtrace`] and, with
//! the `peers` feature, `peers::fastrace_subject`, `peers::tracing_subject`,
//! `peers::otel_subject`).
//!
//! Without the `peers` feature this crate builds only the floor, the reqtrace subject and the
//! harness, so `cargo test --workspace` never compiles fastrace, tracing or OpenTelemetry.

pub mod alloc;
pub mod async_work;
pub mod cpu;
pub mod floor;
#[cfg(feature = "peers")]
pub mod peers;
pub mod reqtrace_subject;
pub mod results;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Children per root in every scenario.
pub const CHILDREN: u64 = 100;
/// Spans per whole trace (the root and its children).
pub const SPANS_PER_TRACE: u64 = CHILDREN + 1;
/// The attribute values of scenario b.
pub const MODEL: &str = "gpt-4o";
/// The integer attribute value of scenario b.
pub const TOKENS: i64 = 1500;

/// How many spans a library was asked to make and how many its consumer received.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sampled spans the workloads made (counted outside the timed regions).
    pub made: AtomicU64,
    /// Spans the library's consumer received (counted by the consumer).
    pub received: AtomicU64,
}

impl Counters {
    /// Adds `n` made spans.
    pub fn add_made(&self, n: u64) {
        self.made.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` received spans (called by consumers).
    pub fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot of both counts.
    pub fn snapshot(&self) -> Accounting {
        Accounting {
            made: self.made.load(Ordering::Acquire),
            received: self.received.load(Ordering::Acquire),
        }
    }
}

/// Made and received span counts at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accounting {
    /// Spans made.
    pub made: u64,
    /// Spans the consumer received.
    pub received: u64,
}

impl Accounting {
    /// True when every made span has reached the consumer (and nothing more).
    pub fn complete(&self) -> bool {
        self.made == self.received
    }
}

/// One tracing library driven by the benches.
///
/// `begin` opens a trace and its root span and makes the root current; `end` closes both and
/// hands the trace to the library's consumer (or to the library's pipeline towards it).
pub trait Subject: Sync {
    /// The open root (guards that end it on drop).
    type Root<'a>
    where
        Self: 'a;

    /// The column name in the table.
    fn name(&self) -> &'static str;
    /// Starts a sampled trace and its root span, and makes the root current.
    fn begin(&self) -> Self::Root<'_>;
    /// Starts and ends one child of the current span.
    fn child(&self);
    /// Starts one child of the current span, sets `"model" = model`, `"tokens" = tokens`, ends it.
    fn child_attrs(&self, model: &'static str, tokens: i64);
    /// Ends the root and the trace; the spans go to the consumer.
    fn end(&self, root: Self::Root<'_>);
    /// Starts an unsampled trace and its root (or the library's nearest equivalent).
    fn begin_unsampled(&self) -> Self::Root<'_>;
    /// Starts and ends one child of the current (unsampled) span.
    fn unsampled_child(&self);
    /// Ends an unsampled root started by [`Subject::begin_unsampled`].
    fn end_unsampled(&self, root: Self::Root<'_>) {
        self.end(root);
    }
    /// The made/received counters.
    fn counters(&self) -> &Counters;
    /// Pushes whatever the library has queued towards its consumer (no-op when delivery is
    /// synchronous). May make extra spans to do so, adding them to [`Counters::made`].
    fn flush(&self) {}
}

/// Flushes `s` until its consumer has received every made span. Gives up after 1 s without
/// progress (spans the library dropped never arrive) or 60 s in all; the caller reports the
/// shortfall.
pub fn settle<S: Subject>(s: &S) -> Accounting {
    settle_counters(s.counters(), || s.flush())
}

/// [`settle`] for any counters and flush (the async subjects use it too).
pub fn settle_counters(counters: &Counters, flush: impl Fn()) -> Accounting {
    let start = Instant::now();
    let mut last = u64::MAX;
    let mut last_progress = start;
    loop {
        let acc = counters.snapshot();
        let now = Instant::now();
        if acc.received >= acc.made
            || now.duration_since(start) > Duration::from_secs(60)
            || now.duration_since(last_progress) > Duration::from_secs(1)
        {
            return acc;
        }
        if acc.received == last {
            // No progress since the last flush: give background threads a moment.
            std::thread::sleep(Duration::from_micros(200));
        } else {
            last_progress = now;
        }
        last = acc.received;
        flush();
    }
}

/// Scenario a/b/f: times `iters` children, `CHILDREN` per root. The root is opened before and
/// closed after each timed batch of children, outside the timed region; its trace is delivered.
/// At the end (untimed) the library's pipeline is settled, so every sample starts empty.
pub fn children_timed<S: Subject>(
    s: &S,
    iters: u64,
    sampled: bool,
    child: impl Fn(&S),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut made = 0;
    while left > 0 {
        let n = left.min(CHILDREN);
        let root = if sampled {
            s.begin()
        } else {
            s.begin_unsampled()
        };
        let t0 = Instant::now();
        for _ in 0..n {
            child(s);
        }
        total += t0.elapsed();
        if sampled {
            s.end(root);
            made += n + 1;
        } else {
            s.end_unsampled(root);
        }
        left -= n;
    }
    s.counters().add_made(made);
    check(s, settle(s));
    total
}

/// Makes `n` whole traces (root + `CHILDREN` children) on this thread.
pub fn make_traces<S: Subject>(s: &S, n: u64) {
    for _ in 0..n {
        let root = s.begin();
        for _ in 0..CHILDREN {
            s.child();
        }
        s.end(root);
    }
}

/// Scenario c: wall time of `iters` whole traces until the consumer received every span.
pub fn whole_traces<S: Subject>(s: &S, iters: u64) -> Duration {
    s.counters().add_made(iters * SPANS_PER_TRACE);
    let t0 = Instant::now();
    make_traces(s, iters);
    let acc = settle(s);
    let elapsed = t0.elapsed();
    check(s, acc);
    elapsed
}

/// Scenario d: process CPU time (all threads) of `iters` whole traces until delivered.
pub fn whole_traces_cpu<S: Subject>(s: &S, iters: u64) -> Duration {
    s.counters().add_made(iters * SPANS_PER_TRACE);
    let c0 = cpu::process_cpu_time();
    make_traces(s, iters);
    let acc = settle(s);
    let used = cpu::process_cpu_time().saturating_sub(c0);
    check(s, acc);
    used
}

/// Scenario e: wall time of `iters` whole traces spread over `threads` threads sharing `s`,
/// until the consumer received every span.
///
/// Each worker settles before it exits: a library may keep spans in thread-local state until
/// the thread sends again (fastrace's per-thread overflow queue), and would lose them at exit.
/// Workers meet at a barrier (a blocking wait, no CPU) once all have made their spans, then
/// settle together; `made` is raised before any span is made.
pub fn threaded<S: Subject>(s: &S, iters: u64, threads: u64) -> Duration {
    s.counters().add_made(iters * SPANS_PER_TRACE);
    let barrier = std::sync::Barrier::new(usize::try_from(threads).unwrap_or(1));
    let barrier = &barrier;
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let share = iters / threads + u64::from(t < iters % threads);
            scope.spawn(move || {
                make_traces(s, share);
                barrier.wait();
                settle(s);
            });
        }
    });
    let acc = settle(s);
    let elapsed = t0.elapsed();
    check(s, acc);
    elapsed
}

/// Scenario e, CPU view: process CPU time (all threads) of [`threaded`]'s work. More CPU per
/// span with 2 threads than with 1 (scenario d) means the threads contend (shared cache lines,
/// locks, a saturated background thread) — visible even when the machine is too busy for wall
/// time to show scaling.
pub fn threaded_cpu<S: Subject>(s: &S, iters: u64, threads: u64) -> Duration {
    let c0 = cpu::process_cpu_time();
    threaded(s, iters, threads);
    cpu::process_cpu_time().saturating_sub(c0)
}

/// Warns (once per call) when a library's consumer did not receive every span.
pub fn check<S: Subject>(s: &S, acc: Accounting) {
    check_named(s.name(), acc);
}

/// [`check`] by library name.
pub fn check_named(name: &str, acc: Accounting) {
    if !acc.complete() {
        eprintln!(
            "WARNING: {name}: consumer received {} of {} spans",
            acc.received, acc.made
        );
    }
}

/// The criterion configuration of every bench target: `REQTRACE_BENCH_QUICK` (see
/// [`results::quick`]) shortens warm-up and measurement.
#[cfg(feature = "peers")]
pub fn criterion_config() -> criterion::Criterion {
    let c = criterion::Criterion::default();
    let c = if results::quick() {
        c.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(900))
            .sample_size(10)
    } else {
        c.warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(4))
            .sample_size(30)
    };
    c.configure_from_args()
}

/// Calls `black_box` on a value (re-exported so subjects use one spelling).
#[inline(always)]
pub fn consume<T>(v: T) -> T {
    black_box(v)
}
