//! Misuse (issue 7, item 5): every case has a defined outcome, a test, and no panic.
//!
//! Two misuses cannot be written at all, by design, and are checked as `compile_fail`
//! doctests pinned to their error code (in `reqtrace-core`'s `guard.rs`, and for `AttachGuard`
//! in this package's `src/lib.rs`):
//! - ending a guard twice: `SpanGuard::end(self)` consumes the guard;
//! - moving a guard to another thread: `SpanGuard` and `AttachGuard` are `!Send`.
//!
//! Their runtime analogues are tested here: a detached `Span` (which is `Send`) moved and
//! ended on other threads, `AttachGuard`s dropped out of order, a stale guard outliving its
//! trace, `end_trace` twice, spans with no trace, a trace ended while another thread still has
//! spans open under it, and tracers whose handles are dropped while threads still trace.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use reqtrace_core::{BatchConfig, ExportError, RequestTracer, Resource, SpanData, SpanExporter};
use reqtrace_propagation::TracerExt;

#[test]
fn end_trace_twice_returns_none_the_second_time() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    drop(t.start_span("s"));
    assert_eq!(t.end_trace().map(|tr| tr.spans.len()), Some(1));
    assert!(t.end_trace().is_none());
    assert!(t.end_trace().is_none());
    let s = t.stats();
    assert_eq!((s.traces_started, s.traces_ended), (1, 1));
    assert_eq!(s.spans_delivered, 1);
}

#[test]
fn end_trace_on_a_thread_that_never_started_one_returns_none() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let t2 = t.clone();
    let other = thread::spawn(move || t2.end_trace().is_none())
        .join()
        .unwrap();
    assert!(other, "another thread cannot end this thread's trace");
    assert_eq!(t.end_trace().map(|tr| tr.spans.len()), Some(0));
}

#[test]
fn spans_with_no_trace_record_nothing_and_every_method_is_a_no_op() {
    let t = RequestTracer::new("svc");
    {
        let mut s = t.start_span("orphan");
        assert!(!s.is_recording());
        assert_eq!(s.span_id(), None);
        assert_eq!(s.context(), None);
        s.set_attribute("k", 1);
        s.add_event("e", []);
        s.set_error("x");
        s.set_ok();
        s.update_name("renamed");
        s.end();
    }
    assert_eq!(t.current_span_context(), None);
    assert_eq!(t.trace_id(), None);
    let mut d = t.start_detached_span("orphan-detached");
    assert!(!d.is_recording());
    d.set_attribute("k", 1);
    d.end();
    let st = t.stats();
    assert_eq!(st.spans_without_trace, 2, "{st:?}");
    assert_eq!((st.spans_started, st.spans_finished), (0, 0));
    // A context parsed from a header has no local trace: it is continued as one, ended with
    // the guard or span; with no exporter nobody can take it, so it is counted abandoned.
    let remote =
        RequestTracer::from_header("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    let a = t.attach(&remote);
    assert!(a.is_attached());
    drop(a);
    let s = t.start_span_with_parent("child-of-remote", &remote);
    assert!(s.is_recording());
    drop(s);
    let st = t.stats();
    assert_eq!(st.spans_without_trace, 2, "{st:?}");
    assert_eq!((st.spans_started, st.spans_finished), (1, 1));
    assert_eq!(
        (st.traces_started, st.traces_abandoned, st.traces_open),
        (2, 2, 0)
    );
    assert_eq!(st.dropped.abandoned, 1);
}

#[test]
fn a_handle_of_another_tracer_is_continued_as_a_context_never_joined() {
    let a = RequestTracer::new("a");
    let b = RequestTracer::new("b");
    a.start_trace();
    let root = a.start_span("root");
    let ctx = root.handle().unwrap();
    {
        // b continues the context as a trace of its own: a's live trace is never touched.
        let g = b.attach(&ctx);
        assert!(g.is_attached());
        assert_eq!(b.trace_id(), Some(ctx.trace_id()));
        drop(b.start_span("in-b"));
    }
    let x = b.start_span_with_parent("x", &ctx);
    assert_eq!(x.context().unwrap().trace_id, ctx.trace_id());
    drop(x);
    drop(root);
    let trace = a.end_trace().unwrap();
    assert_eq!(trace.spans.len(), 1);
    assert_eq!(trace.spans[0].name, "root");
    let s = b.stats();
    assert_eq!(
        (s.spans_started, s.traces_started, s.traces_open),
        (2, 2, 0)
    );
}

#[test]
fn a_stale_guard_never_ends_a_newer_span_at_the_same_place() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let stale = t.start_span("old");
    let first = t.end_trace().unwrap();
    assert!(first.spans[0].unfinished);
    t.start_trace();
    let fresh = t.start_span("new");
    assert!(!stale.is_recording());
    drop(stale); // same stack slot as `fresh`: must not end it
    assert!(fresh.is_recording());
    thread::sleep(Duration::from_millis(2));
    drop(fresh);
    let second = t.end_trace().unwrap();
    let new = second.span("new").unwrap();
    assert!(!new.unfinished);
    assert!(
        new.duration_ms() >= 2.0,
        "ended by its own guard, not the stale one"
    );
    let s = t.stats();
    assert_eq!(
        (s.spans_started, s.spans_finished, s.spans_delivered),
        (2, 2, 2)
    );
    assert_eq!(s.spans_unfinished, 1);
}

#[test]
fn guards_dropped_in_any_order_across_nested_traces_keep_the_counts_exact() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let a = t.start_span("a");
    let b = t.start_span("b");
    t.start_trace(); // nested trace suspends the outer one
    let c = t.start_span("c");
    drop(a); // outer-trace span ended while the inner trace is current
    let inner = t.end_trace().unwrap(); // closes c as unfinished
    drop(c); // stale
    drop(b);
    let outer = t.end_trace().unwrap();
    assert_eq!(inner.spans.len(), 1);
    assert!(inner.spans[0].unfinished);
    let names: Vec<_> = outer.spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(outer.spans.iter().all(|s| !s.unfinished));
    assert_eq!(
        outer.span("b").unwrap().parent_id,
        Some(outer.span("a").unwrap().span_id)
    );
    let s = t.stats();
    assert_eq!(
        (s.spans_started, s.spans_finished, s.spans_delivered),
        (3, 3, 3)
    );
}

#[test]
fn attach_guards_dropped_out_of_order_close_the_inner_scope_too() {
    let t = RequestTracer::new("svc");
    // Two traces on this thread, each with an open span whose context a worker attaches.
    t.start_trace();
    let ra = t.start_span("root-a");
    let ctx_a = ra.handle().unwrap();
    t.start_trace();
    let rb = t.start_span("root-b");
    let ctx_b = rb.handle().unwrap();
    let t2 = t.clone();
    let without_trace = thread::spawn(move || {
        let ga = t2.attach(&ctx_a);
        let sa = t2.start_span("in-a");
        let gb = t2.attach(&ctx_b);
        let sb = t2.start_span("in-b");
        // Outer attach guard dropped first: the inner scope (b) is detached with it, and both
        // open spans are closed as unfinished and handed over to their traces.
        drop(ga);
        assert!(!sa.is_recording() && !sb.is_recording());
        let after = t2.start_span("after"); // no scope left on this thread
        assert!(!after.is_recording());
        drop(after);
        drop(sb); // stale: no-ops
        drop(sa);
        drop(gb);
        t2.stats().spans_without_trace
    })
    .join()
    .unwrap();
    assert_eq!(without_trace, 1);
    drop(rb);
    let b = t.end_trace().unwrap();
    drop(ra);
    let a = t.end_trace().unwrap();
    let in_a = a.span("in-a").expect("handed over to trace a");
    let in_b = b.span("in-b").expect("handed over to trace b");
    assert!(in_a.unfinished && in_b.unfinished);
    assert_eq!(in_a.parent_id, Some(a.span("root-a").unwrap().span_id));
    assert_eq!(in_b.parent_id, Some(b.span("root-b").unwrap().span_id));
    let s = t.stats();
    assert_eq!(
        (s.spans_started, s.spans_finished, s.spans_delivered),
        (4, 4, 4)
    );
    assert_eq!(s.spans_unfinished, 2);
}

#[test]
fn a_detached_span_moved_through_threads_and_ended_elsewhere() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let mut span = t.start_detached_span("travels");
    span.set_attribute("hop0", true);
    // Through two threads that never used the tracer; ended on the second.
    let (tx, rx) = mpsc::channel();
    let h1 = thread::spawn(move || {
        span.set_attribute("hop1", true);
        tx.send(span).unwrap();
    });
    let h2 = thread::spawn(move || {
        let mut span = rx.recv().unwrap();
        span.set_attribute("hop2", true);
        span.end();
    });
    h1.join().unwrap();
    h2.join().unwrap();
    let trace = t.end_trace().unwrap();
    let s = trace.span("travels").unwrap();
    assert_eq!(s.attributes.len(), 3);
    assert!(!s.unfinished);
    let st = t.stats();
    assert_eq!(
        (st.spans_started, st.spans_finished, st.spans_delivered),
        (1, 1, 1)
    );
}

#[test]
fn a_detached_span_ended_after_its_trace_is_counted_late() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let span = t.start_detached_span("slow");
    let done = t.end_trace().unwrap();
    assert!(
        done.spans.is_empty(),
        "a detached span is not closed by end_trace"
    );
    thread::spawn(move || drop(span)).join().unwrap();
    let s = t.stats();
    assert_eq!(s.dropped.late, 1);
    assert_eq!(s.spans_finished, s.spans_delivered + s.dropped.total());
}

#[test]
fn a_trace_ended_while_another_thread_has_spans_open_under_it() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let root = t.start_span("root");
    let ctx = root.handle().unwrap();
    let opened = Arc::new(Barrier::new(2));
    let ended = Arc::new(Barrier::new(2));
    let (t2, o2, e2) = (t.clone(), Arc::clone(&opened), Arc::clone(&ended));
    let worker = thread::spawn(move || {
        // Through attach: two spans finished (still in this thread's batch), one open.
        let g = t2.attach(&ctx);
        drop(t2.start_span("done-1"));
        drop(t2.start_span("done-2"));
        let open = t2.start_span("open");
        // Through start_span_with_parent: its own scope, still open.
        let own = t2.start_span_with_parent("own-scope", &ctx);
        o2.wait();
        e2.wait(); // the trace has ended now
        assert!(open.is_recording(), "still open on this thread");
        drop(own);
        drop(open);
        drop(g);
    });
    opened.wait();
    drop(root);
    let trace = t.end_trace().unwrap();
    ended.wait();
    worker.join().unwrap();
    // Nothing of the worker's reached the trace: its batch was still on its thread.
    assert_eq!(trace.spans.len(), 1);
    let s = t.stats();
    assert_eq!(s.dropped.late, 4, "{s:?}");
    assert_eq!((s.spans_started, s.spans_finished), (5, 5));
    assert_eq!(s.spans_delivered, 1);
    assert_eq!(s.spans_finished, s.spans_delivered + s.dropped.total());
}

#[test]
fn a_thread_exiting_with_spans_and_scopes_open_hands_them_over() {
    let t = RequestTracer::new("svc");
    t.start_trace();
    let root = t.start_span("root");
    let ctx = root.handle().unwrap();
    let t2 = t.clone();
    thread::spawn(move || {
        let g = t2.attach(&ctx);
        let s = t2.start_span("left-open");
        // Leak the guards: the thread exits with the scope and the span open.
        std::mem::forget(s);
        std::mem::forget(g);
    })
    .join()
    .unwrap();
    drop(root);
    let trace = t.end_trace().unwrap();
    let s = trace.span("left-open").expect("handed over at thread exit");
    assert!(s.unfinished);
    let st = t.stats();
    assert_eq!(
        (st.spans_started, st.spans_finished, st.spans_delivered),
        (2, 2, 2)
    );
}

#[test]
fn dropping_a_handle_while_workers_trace_loses_nothing() {
    // The main handle goes away while workers, holding their own clones, are mid-trace.
    const WORKERS: usize = 4;
    let t = RequestTracer::new("svc");
    let go = Arc::new(Barrier::new(WORKERS + 1));
    let all_done = Arc::new(Barrier::new(WORKERS));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let t = t.clone();
            let (go, all_done) = (Arc::clone(&go), Arc::clone(&all_done));
            thread::spawn(move || {
                t.start_trace();
                let root = t.start_span("root");
                go.wait();
                go.wait(); // the main handle is gone now
                for _ in 0..99 {
                    drop(t.start_span("s"));
                }
                drop(root);
                let n = t.end_trace().unwrap().spans.len();
                all_done.wait();
                (n, t.stats())
            })
        })
        .collect();
    go.wait();
    drop(t);
    go.wait();
    for w in workers {
        let (n, s) = w.join().unwrap();
        assert_eq!(n, 100);
        let total = (WORKERS * 100) as u64;
        assert_eq!(
            (s.spans_started, s.spans_finished, s.spans_delivered),
            (total, total, total)
        );
    }
}

/// Counts exported spans; `alive` tells whether the exporter still exists.
struct Counting {
    spans: Arc<AtomicU64>,
    #[allow(dead_code)]
    alive: Arc<()>,
}

impl SpanExporter for Counting {
    fn export(&mut self, batch: &[SpanData], _: &Resource) -> Result<(), ExportError> {
        self.spans.fetch_add(batch.len() as u64, Relaxed);
        Ok(())
    }
}

#[test]
fn the_last_handle_dropped_while_workers_still_have_spans_open() {
    // Workers hold only guards, detached spans and contexts — no RequestTracer — when the last
    // handle is dropped. Their spans still end normally and nothing panics; dropping the last
    // handle shut the exporter down (delivering what was queued), so spans ending afterwards
    // are refused and counted; the tracer's state is freed when the last thread using it exits.
    const WORKERS: u64 = 4;
    let exported = Arc::new(AtomicU64::new(0));
    let token = Arc::new(());
    let alive = Arc::downgrade(&token);
    let sink = Counting {
        spans: Arc::clone(&exported),
        alive: token, // the exporter holds the only strong reference
    };
    let tracer = RequestTracer::builder("svc")
        .exporter(
            sink,
            BatchConfig::default().flush_interval(Duration::from_secs(3600)),
        )
        .retain_traces(false)
        .build();
    let opened = Arc::new(Barrier::new(WORKERS as usize + 1));
    let dropped = Arc::new(Barrier::new(WORKERS as usize + 1));
    let (ctx_tx, ctx_rx) = mpsc::channel::<reqtrace_core::SpanHandle>();
    let owner = {
        let t = tracer.clone();
        thread::spawn(move || {
            t.start_trace();
            let root = t.start_span("root");
            for _ in 0..WORKERS {
                ctx_tx.send(root.handle().unwrap()).unwrap();
            }
            drop(root);
            drop(t.end_trace()); // exported: spans leave as they finish
        })
    };
    let ctx_rx = Arc::new(Mutex::new(ctx_rx));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let t = tracer.clone();
            let rx = Arc::clone(&ctx_rx);
            let (opened, dropped) = (Arc::clone(&opened), Arc::clone(&dropped));
            thread::spawn(move || {
                let ctx = rx.lock().unwrap().recv().unwrap();
                t.start_trace();
                let own = t.start_span("own");
                let joined = t.start_span_with_parent("joined", &ctx);
                let detached = t.start_detached_span("detached");
                drop(t); // this worker's handle
                opened.wait();
                dropped.wait(); // no RequestTracer exists any more
                drop(joined);
                drop(own);
                drop(detached);
                // The worker cannot end its trace (no handle): it exits with it active, and
                // its spans are handed over at exit.
            })
        })
        .collect();
    owner.join().unwrap();
    opened.wait();
    drop(tracer);
    dropped.wait();
    for w in workers {
        w.join().unwrap();
    }
    // Every thread that used the tracer has exited: its state and export worker are gone.
    // Dropping the last handle only starts the shutdown (it never waits on a traced thread):
    // wait for the worker to finish and let go of the exporter.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while alive.upgrade().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter was never shut down and dropped"
        );
        thread::sleep(Duration::from_millis(1));
    }
    // Dropping the last handle shut the exporter down after delivering what was queued (the
    // owner's root). The workers' spans ended afterwards: they were refused and counted as
    // dropped (`export_queue_full`), never delivered to a closed exporter.
    assert_eq!(exported.load(Relaxed), 1);
}
