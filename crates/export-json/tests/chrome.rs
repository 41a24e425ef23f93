//! Chrome Trace Event Format: the validator, and the placement rules checked in Rust.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use reqtrace_core::{SpanData, Trace};
use reqtrace_export_json::{Style, write_chrome};
use serde_json::Value as Json;

fn encode(traces: &[Trace], style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    write_chrome(&mut out, traces, style).unwrap();
    out
}

struct Decoded {
    base: u64,
    /// pid -> process name
    processes: HashMap<u64, String>,
    /// (pid, tid) -> thread name
    threads: HashMap<(u64, u64), String>,
    /// (trace id, span id) -> the X event
    slices: HashMap<(String, String), Json>,
    instants: Vec<Json>,
    /// Flow events (`s`, `f`) of links.
    flows: Vec<Json>,
}

fn decode(bytes: &[u8]) -> Decoded {
    let doc: Json = serde_json::from_slice(bytes).expect("strict JSON");
    let base: u64 = doc["otherData"]["base_unix_nanos"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut d = Decoded {
        base,
        processes: HashMap::new(),
        threads: HashMap::new(),
        slices: HashMap::new(),
        instants: Vec::new(),
        flows: Vec::new(),
    };
    for e in doc["traceEvents"].as_array().unwrap() {
        let pid = e["pid"].as_u64().expect("integer pid");
        match e["ph"].as_str().unwrap() {
            "M" if e["name"] == "process_name" => {
                let name = e["args"]["name"].as_str().unwrap().to_owned();
                assert!(
                    d.processes.insert(pid, name).is_none(),
                    "process named twice"
                );
            }
            "M" if e["name"] == "thread_name" => {
                let tid = e["tid"].as_u64().unwrap();
                let name = e["args"]["name"].as_str().unwrap().to_owned();
                assert!(
                    d.threads.insert((pid, tid), name).is_none(),
                    "thread named twice"
                );
            }
            "M" => assert_eq!(e["name"], "thread_sort_index"),
            "X" => {
                let key = (
                    e["args"]["trace_id"].as_str().unwrap().to_owned(),
                    e["args"]["span_id"].as_str().unwrap().to_owned(),
                );
                assert!(
                    d.slices.insert(key, e.clone()).is_none(),
                    "span written twice"
                );
            }
            "i" => d.instants.push(e.clone()),
            "s" | "f" => d.flows.push(e.clone()),
            other => panic!("unexpected phase {other}"),
        }
    }
    d
}

/// Nanoseconds after the base, read from a microsecond field (exact on reqtrace's grid).
fn ns(v: &Json, base: u64, abs: u64) -> f64 {
    let us = v.as_f64().unwrap();
    let want = abs.saturating_sub(base) as f64;
    assert!((us * 1000.0 - want).abs() < 1.0, "{us} µs vs {want} ns");
    us
}

fn find<'a>(traces: &'a [Trace], trace_id: &str, span_id: &str) -> (&'a Trace, &'a SpanData) {
    traces
        .iter()
        .flat_map(|t| t.spans.iter().map(move |s| (t, s)))
        .find(|(_, s)| s.trace_id.to_string() == trace_id && s.span_id.to_string() == span_id)
        .unwrap()
}

fn is_ancestor(t: &Trace, ancestor: &SpanData, s: &SpanData) -> bool {
    let mut cur = s.parent_id;
    while let Some(p) = cur {
        if p == ancestor.span_id {
            return true;
        }
        cur = t
            .spans
            .iter()
            .find(|x| x.span_id == p)
            .and_then(|x| x.parent_id);
    }
    false
}

/// (start µs, end µs, trace id, span id)
type Slice = (f64, f64, String, String);

/// Every span is one slice at its time, in its service's process, on a track of its thread;
/// slices on one track nest, and a slice drawn inside another is its descendant.
fn check_placement(traces: &[Trace], bytes: &[u8]) {
    let d = decode(bytes);
    let total: usize = traces.iter().map(|t| t.spans.len()).sum();
    assert_eq!(d.slices.len(), total);
    assert_eq!(
        d.base,
        traces.iter().map(|t| t.start_unix_nanos).min().unwrap_or(0)
    );

    // (pid, tid) -> thread id of every slice on that track: one thread per track.
    let mut track_thread: HashMap<(u64, u64), u64> = HashMap::new();
    let mut tracks: HashMap<(u64, u64), Vec<Slice>> = HashMap::new();
    for ((trace_id, span_id), e) in &d.slices {
        let (t, s) = find(traces, trace_id, span_id);
        let pid = e["pid"].as_u64().unwrap();
        let tid = e["tid"].as_u64().unwrap();
        assert_eq!(d.processes[&pid], &*t.service_name);
        assert_eq!(e["name"], &*s.name);
        assert_eq!(e["args"]["thread_id"], s.thread_id);
        let thread_name = &d.threads[&(pid, tid)];
        let want = s
            .thread_name
            .as_deref()
            .map(str::to_owned)
            .unwrap_or(format!("thread {}", s.thread_id));
        assert!(thread_name.starts_with(&want), "{thread_name} vs {want}");
        assert_eq!(
            *track_thread.entry((pid, tid)).or_insert(s.thread_id),
            s.thread_id
        );
        let ts = ns(&e["ts"], d.base, s.start_unix_nanos);
        let dur = e["dur"].as_f64().unwrap();
        assert!((dur * 1000.0 - (s.end_unix_nanos - s.start_unix_nanos) as f64).abs() < 1.0);
        tracks.entry((pid, tid)).or_default().push((
            ts,
            ts + dur,
            trace_id.clone(),
            span_id.clone(),
        ));
    }
    for (track, mut list) in tracks {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<&Slice> = Vec::new();
        for item in &list {
            while open.last().is_some_and(|top| top.1 <= item.0) {
                open.pop();
            }
            if let Some(top) = open.last() {
                assert!(
                    item.1 <= top.1,
                    "partial overlap on {track:?}: {item:?} / {top:?}"
                );
                let (t, s) = find(traces, &item.2, &item.3);
                let (_, outer) = find(traces, &top.2, &top.3);
                // Equal bounds nest either way round: then either may be the ancestor.
                let same_bounds = top.0 == item.0 && top.1 == item.1;
                assert!(
                    top.2 == item.2
                        && (is_ancestor(t, outer, s) || (same_bounds && is_ancestor(t, s, outer))),
                    "{} drawn inside {}, which is not its ancestor",
                    s.name,
                    outer.name
                );
            }
            open.push(item);
        }
    }

    // Span events: instant events on their span's track, at their time.
    let want_events: usize = traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.events.len())
        .sum();
    assert_eq!(d.instants.len(), want_events);
    for ev in &d.instants {
        assert_eq!(ev["s"], "t");
        let key = (
            ev["args"]["trace_id"].as_str().unwrap().to_owned(),
            ev["args"]["span_id"].as_str().unwrap().to_owned(),
        );
        let slice = &d.slices[&key];
        let (_, s) = find(traces, &key.0, &key.1);
        assert_eq!(
            (ev["pid"].clone(), ev["tid"].clone()),
            (slice["pid"].clone(), slice["tid"].clone())
        );
        let e = s.events.iter().find(|e| ev["name"] == *e.name).unwrap();
        ns(&ev["ts"], d.base, e.time_unix_nanos);
        assert_eq!(
            ev["args"]["attributes"].as_object().unwrap().len(),
            e.attributes.len()
        );
    }
}

#[test]
fn placement_rules_hold_for_the_fixture() {
    let traces = with_non_finite();
    for style in [Style::Compact, Style::Pretty] {
        check_placement(&traces, &encode(&traces, style));
    }
}

#[test]
fn placement_rules_hold_for_many_concurrent_traces() {
    let traces = many(60, 30);
    check_placement(&traces, &encode(&traces, Style::Compact));
}

#[test]
fn overlapping_spans_get_their_own_tracks_and_nested_ones_share() {
    let traces = fixture();
    let d = decode(&encode(&traces, Style::Compact));
    let slice = |name: &str| {
        d.slices
            .values()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let track = |name: &str| {
        (
            slice(name)["pid"].as_u64().unwrap(),
            slice(name)["tid"].as_u64().unwrap(),
        )
    };
    // Nested on one thread: one track.
    assert_eq!(track("handle /chat"), track("db.query"));
    assert_eq!(track("db.query"), track("db.send"));
    assert_eq!(track("trap"), track("trap child"));
    // Overlapping without nesting: different tracks; each child follows its own parent.
    assert_ne!(track("poll a"), track("poll b"));
    assert_eq!(track("poll b"), track("poll b.step"));
    // A concurrent trace's span inside this trace's root is not drawn under it.
    assert_ne!(track("other request"), track("handle /chat"));
    assert_eq!(track("other request"), track("other child"));
    // Another thread: another track, same process; another service: another process.
    assert_ne!(track("llm.call"), track("handle /chat"));
    assert_eq!(track("llm.call").0, track("handle /chat").0);
    assert_ne!(track("job").0, track("handle /chat").0);
    // Extra tracks of a thread are named after it.
    let names: HashSet<&str> = d.threads.values().map(String::as_str).collect();
    assert!(names.contains("main"));
    assert!(
        names.iter().any(|n| n.starts_with("main (overlap")),
        "{names:?}"
    );
    assert!(names.contains("thread 2"));
}

#[test]
fn passes_the_chrome_validator() {
    let dir = temp_dir("chrome");
    for (name, traces) in [
        ("fixture", with_non_finite()),
        ("many", many(60, 30)),
        ("empty", vec![]),
    ] {
        for style in [Style::Compact, Style::Pretty] {
            let path = dir.join(format!("{name}-{style:?}.chrome.json"));
            std::fs::write(&path, encode(&traces, style)).unwrap();
            assert_chrome_valid(&path);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn args_hold_ids_status_and_attributes_as_valid_json() {
    let traces = with_non_finite();
    let d = decode(&encode(&traces, Style::Compact));
    let root = d
        .slices
        .values()
        .find(|e| e["name"] == "handle /chat")
        .unwrap();
    assert_eq!(root["cat"], "server");
    assert_eq!(root["args"]["status"], "ok");
    assert_eq!(root["args"]["attributes"]["nan"], "NaN");
    assert_eq!(root["args"]["attributes"]["big"], i64::MAX);
    assert_eq!(root["args"]["attributes"][NASTY], NASTY);
    assert_eq!(root["args"]["trace_attributes"]["request.id"], "r-1");
    let db = d.slices.values().find(|e| e["name"] == "db.query").unwrap();
    assert_eq!(db["args"]["error"], format!("timeout: {NASTY}"));
    assert_eq!(db["args"]["parent_id"], root["args"]["span_id"]);
    assert!(db["args"].get("trace_attributes").is_none());
}

/// A link to a span in the file is a flow arrow from the linked span's slice to the linking
/// span's; every link is listed in the linking span's args, in the file or not.
#[test]
fn links_are_listed_and_drawn_as_flows_between_the_slices() {
    let traces = fixture();
    let d = decode(&encode(&traces, Style::Compact));
    let (_, job) = traces
        .iter()
        .flat_map(|t| t.spans.iter().map(move |s| (t, s)))
        .find(|(_, s)| s.name == "job")
        .unwrap();
    let job_slice = &d.slices[&(job.trace_id.to_string(), job.span_id.to_string())];
    let listed = job_slice["args"]["links"].as_array().unwrap();
    assert_eq!(listed.len(), job.links.len());
    assert_eq!(
        listed[0]["span_id"],
        job.links[0].context.span_id.to_string()
    );
    assert_eq!(
        listed[1]["trace_id"],
        job.links[1].context.trace_id.to_string()
    );
    // One arrow: only the first link's target is in the file.
    assert_eq!(d.flows.len(), 2, "{:?}", d.flows);
    let (start, finish) = (&d.flows[0], &d.flows[1]);
    assert_eq!(
        (start["ph"].as_str(), finish["ph"].as_str()),
        (Some("s"), Some("f"))
    );
    assert_eq!(start["id"], finish["id"]);
    assert_eq!(finish["bp"], "e");
    let target = &d.slices[&(
        job.links[0].context.trace_id.to_string(),
        job.links[0].context.span_id.to_string(),
    )];
    for (flow, slice) in [(start, target), (finish, job_slice)] {
        assert_eq!(flow["pid"], slice["pid"]);
        assert_eq!(flow["tid"], slice["tid"]);
        assert_eq!(flow["ts"], slice["ts"], "bound to the slice's start");
    }
}
