//! `#[trace]` on sync and async functions: names, parents, attributes, threads.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use reqtrace_core::{RequestTracer, SpanData, StatusCode, Trace, Value};
use reqtrace_macros::trace;

/// The default tracer `#[trace]` uses: the global one, set here on first use.
fn tracer() -> &'static RequestTracer {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        reqtrace_core::global::set_tracer(RequestTracer::new("macros")).unwrap();
    });
    reqtrace_core::global::tracer()
}

static OTHER: LazyLock<RequestTracer> = LazyLock::new(|| RequestTracer::new("other"));

fn span<'a>(trace: &'a Trace, name: &str) -> &'a SpanData {
    trace.span(name).unwrap_or_else(|| {
        let names: Vec<_> = trace.spans.iter().map(|s| &s.name).collect();
        panic!("no span {name:?} in {names:?}")
    })
}

/// Runs `f` in a fresh trace of the default tracer and returns the trace.
fn traced(f: impl FnOnce()) -> Trace {
    tracer().start_trace();
    f();
    tracer().end_trace().unwrap()
}

#[trace]
fn plain() -> u32 {
    7
}

mod billing {
    use reqtrace_macros::trace;

    #[trace]
    pub fn charge(cents: u64) -> u64 {
        cents
    }
}

#[test]
fn the_default_name_is_the_function_path() {
    let trace = traced(|| {
        assert_eq!(plain(), 7);
        assert_eq!(billing::charge(5), 5);
    });
    let names: Vec<_> = trace.spans.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["trace::plain", "trace::billing::charge"]);
    assert!(trace.spans.iter().all(|s| s.attributes.is_empty()));
}

#[trace]
fn parent_fn() -> u32 {
    child_fn() + child_fn()
}

#[trace(name = "child")]
fn child_fn() -> u32 {
    1
}

#[test]
fn nested_calls_nest_spans_under_the_current_span() {
    let trace = traced(|| {
        let _root = tracer().start_span("root");
        assert_eq!(parent_fn(), 2);
    });
    assert_eq!(trace.spans.len(), 4);
    let root = span(&trace, "root");
    let parent = span(&trace, "trace::parent_fn");
    assert_eq!(parent.parent_id, Some(root.span_id));
    let children: Vec<_> = trace.children_of(parent.span_id).collect();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.name == "child"));
    assert!(
        trace
            .spans
            .iter()
            .all(|s| s.status == StatusCode::Unset && !s.unfinished)
    );
}

#[derive(Debug, Clone)]
#[allow(dead_code)] // read through Debug
struct Filter {
    field: &'static str,
    min: i32,
}

#[trace(name = "lookup", args(id, key, tags), debug_args(filter))]
fn lookup(id: u32, key: String, tags: Vec<&'static str>, filter: Filter) -> usize {
    // The arguments are still ours: recording them cloned or borrowed them.
    key.len() + tags.len() + filter.min as usize + id as usize
}

#[test]
fn selected_arguments_become_attributes() {
    let trace = traced(|| {
        let f = Filter {
            field: "age",
            min: 3,
        };
        assert_eq!(lookup(10, "abcd".to_owned(), vec!["a", "b"], f), 19);
    });
    let s = span(&trace, "lookup");
    assert_eq!(s.attributes.len(), 4);
    assert_eq!(s.attribute("id"), Some(&Value::I64(10)));
    assert_eq!(s.attribute("key"), Some(&Value::from("abcd")));
    assert_eq!(s.attribute("tags"), Some(&Value::from(vec!["a", "b"])));
    assert_eq!(
        s.attribute("filter"),
        Some(&Value::from(r#"Filter { field: "age", min: 3 }"#))
    );
    // In the order listed: args first, then debug_args.
    let keys: Vec<_> = s.attributes.iter().map(|a| &*a.key).collect();
    assert_eq!(keys, ["id", "key", "tags", "filter"]);
}

#[trace(args(x))]
fn parse(x: i64, text: &str) -> Result<i64, String> {
    if x < 0 {
        return Err("negative".to_owned());
    }
    let v: i64 = text
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    Ok(x + v)
}

#[test]
fn every_way_out_of_the_function_ends_its_span() {
    let trace = traced(|| {
        assert_eq!(parse(1, "2"), Ok(3));
        assert_eq!(parse(-1, "2"), Err("negative".to_owned()));
        assert!(parse(1, "x").is_err());
    });
    assert_eq!(trace.spans.len(), 3);
    let xs: Vec<_> = trace
        .spans
        .iter()
        .map(|s| {
            assert_eq!(s.name, "trace::parse");
            assert!(!s.unfinished);
            s.attribute("x").and_then(Value::as_i64).unwrap()
        })
        .collect();
    assert_eq!(xs, [1, -1, 1]);
}

#[trace]
fn boom() {
    panic!("boom");
}

#[test]
fn a_panic_ends_the_span_with_an_error() {
    let trace = traced(|| {
        let r = std::panic::catch_unwind(boom);
        assert!(r.is_err());
    });
    let s = span(&trace, "trace::boom");
    assert_eq!(s.status, StatusCode::Error);
    assert_eq!(s.error.as_deref(), Some("panicked"));
}

struct Repo {
    tracer: RequestTracer,
    name: &'static str,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repo({})", self.name)
    }
}

impl Repo {
    #[trace(tracer = &self.tracer, name = "repo.get", args(id), debug_args(self))]
    fn get(&self, id: u64) -> u64 {
        id * 2
    }

    #[trace(tracer = &self.tracer, args(id))]
    async fn get_async(&self, id: u64) -> u64 {
        YieldOnce::default().await;
        self.get(id)
    }
}

struct Counter {
    tracer: RequestTracer,
    n: u64,
}

impl Counter {
    #[trace(tracer = &self.tracer, args(by))]
    fn bump(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }

    #[trace(tracer = &self.tracer, args(by))]
    async fn bump_async(&mut self, by: u64) -> u64 {
        YieldOnce::default().await;
        self.bump(by)
    }
}

#[test]
fn methods_taking_mut_self_can_take_the_tracer_from_self() {
    let mut c = Counter {
        tracer: RequestTracer::new("counter"),
        n: 0,
    };
    c.tracer.start_trace();
    assert_eq!(c.bump(2), 2);
    assert_eq!(block_on(c.bump_async(3)), 5);
    let trace = c.tracer.end_trace().unwrap();
    let names: Vec<_> = trace.spans.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["trace::bump", "trace::bump_async", "trace::bump"]);
    assert_eq!(trace.spans[2].parent_id, Some(trace.spans[1].span_id));
    assert_eq!(trace.spans[2].attribute("by"), Some(&Value::I64(3)));
}

#[test]
fn the_tracer_can_be_any_expression() {
    let repo = Repo {
        tracer: RequestTracer::new("repo"),
        name: "users",
    };
    repo.tracer.start_trace();
    assert_eq!(repo.get(4), 8);
    assert_eq!(block_on(repo.get_async(5)), 10);
    let trace = repo.tracer.end_trace().unwrap();
    assert_eq!(trace.service_name, "repo");
    assert_eq!(trace.spans.len(), 3);
    let gets: Vec<_> = trace
        .spans
        .iter()
        .filter(|s| s.name == "repo.get")
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].attribute("self"), Some(&Value::from("Repo(users)")));
    assert_eq!(gets[0].attribute("id"), Some(&Value::I64(4)));
    let a = span(&trace, "trace::get_async");
    assert_eq!(a.attribute("id"), Some(&Value::I64(5)));
    assert_eq!(gets[1].parent_id, Some(a.span_id));

    // A static tracer: its own trace, nothing in the default tracer's.
    OTHER.start_trace();
    let trace = traced(on_other);
    assert!(trace.spans.is_empty());
    let other = OTHER.end_trace().unwrap();
    assert_eq!(other.spans.len(), 1);
    assert_eq!(other.spans[0].name, "trace::on_other");
}

#[trace(tracer = &OTHER)]
fn on_other() {}

/// Counts how often it is cloned and formatted.
#[derive(Default)]
struct Counted {
    clones: AtomicUsize,
    formats: AtomicUsize,
}

struct Probe<'a>(&'a Counted);

impl Clone for Probe<'_> {
    fn clone(&self) -> Self {
        self.0.clones.fetch_add(1, Ordering::Relaxed);
        Probe(self.0)
    }
}

impl From<Probe<'_>> for Value {
    fn from(_: Probe<'_>) -> Value {
        Value::from("probe")
    }
}

impl std::fmt::Debug for Probe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.formats.fetch_add(1, Ordering::Relaxed);
        f.write_str("Probe")
    }
}

#[trace(args(a), debug_args(b), root = false)]
fn probed(a: Probe<'_>, b: Probe<'_>) {
    let _moved = (a, b);
}

#[trace(args(a), debug_args(b), root = false)]
async fn probed_async(a: Probe<'_>, b: Probe<'_>) {
    let _moved = (a, b);
}

/// With `root = false` (with the default, such a call starts a trace: `tests/roots.rs`).
#[test]
fn outside_a_trace_nothing_is_recorded_and_arguments_are_left_alone() {
    let c = Counted::default();
    probed(Probe(&c), Probe(&c));
    block_on(probed_async(Probe(&c), Probe(&c)));
    assert_eq!(plain(), 7);
    assert_eq!(c.clones.load(Ordering::Relaxed), 0);
    assert_eq!(c.formats.load(Ordering::Relaxed), 0);
    assert!(tracer().end_trace().is_none());

    let trace = traced(|| {
        probed(Probe(&c), Probe(&c));
        block_on(probed_async(Probe(&c), Probe(&c)));
    });
    assert_eq!(c.clones.load(Ordering::Relaxed), 2);
    assert_eq!(c.formats.load(Ordering::Relaxed), 2);
    assert_eq!(trace.spans.len(), 2);
    for s in &trace.spans {
        assert_eq!(s.attribute("a"), Some(&Value::from("probe")));
        assert_eq!(s.attribute("b"), Some(&Value::from("Probe")));
    }
}

/// Pending once, then ready: an `.await` where the task can change threads.
#[derive(Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `fut` to completion on this thread (it must not wait on anything real).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = poll_once(fut.as_mut()) {
            return v;
        }
    }
}

#[trace]
fn step(_n: u32) -> u32 {
    let _native = tracer().start_span("native");
    1
}

#[trace]
async fn nested_async() -> u32 {
    YieldOnce::default().await;
    10
}

#[trace(name = "fetch", args(n))]
async fn fetch(n: u64) -> Result<u64, String> {
    let before = step(0);
    YieldOnce::default().await;
    let after = step(1) + nested_async().await;
    if n == 0 {
        return Err("zero".to_owned());
    }
    let parsed: u64 = "5".parse::<u64>().map_err(|e| e.to_string())?;
    Ok(n + u64::from(before + after) + parsed)
}

#[test]
fn async_functions_keep_their_span_across_awaits_and_threads() {
    tracer().start_trace();
    let root = tracer().start_span("root");
    let mut fut = Box::pin(fetch(100));
    assert!(poll_once(fut.as_mut()).is_pending());
    let out = std::thread::spawn(move || {
        // Two more polls: one for fetch's own yield, one for nested_async's.
        assert!(poll_once(fut.as_mut()).is_pending());
        match poll_once(fut.as_mut()) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("ready after two yields"),
        }
    })
    .join()
    .unwrap();
    assert_eq!(out, Ok(100 + 12 + 5));
    drop(root);
    let trace = tracer().end_trace().unwrap();

    // root, fetch, 2 × (step + native), nested_async
    assert_eq!(trace.spans.len(), 7);
    let root = span(&trace, "root");
    let fetch = span(&trace, "fetch");
    assert_eq!(fetch.parent_id, Some(root.span_id));
    assert_eq!(fetch.attribute("n"), Some(&Value::I64(100)));
    assert!(!fetch.unfinished);
    let steps: Vec<_> = trace
        .spans
        .iter()
        .filter(|s| s.name == "trace::step")
        .collect();
    assert_eq!(steps.len(), 2);
    for s in &steps {
        assert_eq!(s.parent_id, Some(fetch.span_id));
        let natives: Vec<_> = trace.children_of(s.span_id).collect();
        assert_eq!(natives.len(), 1);
        assert_eq!(natives[0].name, "native");
    }
    assert_eq!(steps[0].thread_id, root.thread_id, "before the hop");
    assert_ne!(steps[1].thread_id, root.thread_id, "after the hop");
    let nested = span(&trace, "trace::nested_async");
    assert_eq!(nested.parent_id, Some(fetch.span_id));
    assert_ne!(nested.thread_id, root.thread_id);
}

#[test]
fn async_errors_and_early_returns_come_back_and_end_the_span() {
    let trace = traced(|| {
        assert_eq!(block_on(fetch(0)), Err("zero".to_owned()));
    });
    let fetch = span(&trace, "fetch");
    assert!(!fetch.unfinished);
    assert_eq!(fetch.attribute("n"), Some(&Value::I64(0)));
}

#[test]
fn a_dropped_async_call_still_ends_its_span() {
    let trace = traced(|| {
        let mut fut = Box::pin(nested_async());
        assert!(poll_once(fut.as_mut()).is_pending());
        drop(fut);
    });
    assert_eq!(trace.spans.len(), 1);
    assert_eq!(trace.spans[0].name, "trace::nested_async");
    assert!(!trace.spans[0].unfinished);
}

#[test]
fn traced_async_functions_are_send_when_their_body_is() {
    fn assert_send<T: Send>(_: &T) {}
    let f = fetch(1);
    assert_send(&f);
    let repo = Repo {
        tracer: RequestTracer::new("repo"),
        name: "r",
    };
    assert_send(&repo.get_async(1));
}

#[trace]
fn with_inner_attribute() -> u32 {
    #![allow(clippy::let_and_return)]
    let x = 3;
    x
}

#[trace]
async fn returns_nothing(flag: bool) {
    if flag {
        return;
    }
    YieldOnce::default().await;
}

#[trace]
async fn returns_impl_trait() -> impl std::fmt::Display {
    3
}

#[test]
fn unusual_signatures_still_work() {
    let trace = traced(|| {
        assert_eq!(with_inner_attribute(), 3);
        block_on(returns_nothing(true));
        block_on(returns_nothing(false));
        assert_eq!(block_on(returns_impl_trait()).to_string(), "3");
    });
    let names: Vec<_> = trace.spans.iter().map(|s| &*s.name).collect();
    assert_eq!(
        names,
        [
            "trace::with_inner_attribute",
            "trace::returns_nothing",
            "trace::returns_nothing",
            "trace::returns_impl_trait",
        ]
    );
}

#[trace]
fn sets_on_its_own_span(n: u64) -> u64 {
    tracer()
        .current_span()
        .set_attribute("n.doubled", (n * 2) as i64);
    n
}

#[trace]
async fn sets_on_its_own_async_span() {
    tracer().current_span().set_attribute("async.before", 1);
    YieldOnce(false).await;
    tracer().current_span().set_attribute("async.after", 2);
}

#[test]
fn a_traced_function_reaches_its_own_span_through_current_span() {
    let trace = traced(|| {
        sets_on_its_own_span(21);
        block_on(sets_on_its_own_async_span());
    });
    let sync = span(&trace, concat!(module_path!(), "::sets_on_its_own_span"));
    assert_eq!(sync.attribute("n.doubled"), Some(&Value::I64(42)));
    let a = span(
        &trace,
        concat!(module_path!(), "::sets_on_its_own_async_span"),
    );
    assert_eq!(a.attribute("async.before"), Some(&Value::I64(1)));
    assert_eq!(a.attribute("async.after"), Some(&Value::I64(2)));
}
