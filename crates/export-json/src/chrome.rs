//! Chrome Trace Event Format, for Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing`.
//!
//! ```text
//! {"traceEvents":[
//!   {"name":"process_name","ph":"M","pid":1,"args":{"name":"api"}},
//!   {"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"main"}},
//!   {"name":"handle","cat":"server","ph":"X","ts":0.0,"dur":250.0,"pid":1,"tid":1,
//!    "args":{"trace_id":"…","span_id":"…","thread_id":3,"status":"ok","attributes":{…}}},
//!   {"name":"retry","cat":"event","ph":"i","s":"t","ts":12.5,"pid":1,"tid":1,"args":{…}}],
//!  "otherData":{"base_unix_nanos":"1700000000000000000","generator":"reqtrace …"}}
//! ```
//!
//! - Each service is a process (`pid` 1, 2, … in order of first appearance, named by a
//!   `process_name` event); each thread a span ran on is a thread (`tid` 1, 2, … within the
//!   process, named by a `thread_name` event after the span's thread name, or `thread N`).
//! - Each span is a complete event (`ph: "X"`) with `ts` and `dur` in microseconds; its kind is
//!   the category, its ids, status, error and attributes are in `args` (attributes under
//!   `args.attributes`, each key once with its last value, NaN/infinities as strings). Span
//!   events are thread-scoped instant events (`ph: "i"`) on the span's track. A span's links
//!   are listed in `args.links`; a link to a span in the same file is also drawn as a flow
//!   arrow (`ph: "s"` at the linked span's start, `ph: "f"`, `bp: "e"`, at the linking
//!   span's start; category `link`).
//! - Viewers draw the slices of one thread as a stack, so slices on one track must nest. A
//!   span goes on its thread's track only if every span still open there is one of its
//!   ancestors; spans that overlap without nesting (async work interleaved on one thread,
//!   spans of concurrent traces) go on extra tracks of that thread, named
//!   `"<thread> (overlap N)"` and sorted right below it. A slice drawn inside another is
//!   therefore always its descendant.
//! - Times are relative to the earliest time in the file (`otherData.base_unix_nanos`), on a
//!   grid of 1/1024 µs (< 1 ns). Every `ts`, `dur` and `ts + dur` is then exact in binary
//!   floating point, so nesting in the file is exactly nesting in the data for any reader that
//!   adds in doubles (absolute Unix microseconds with nanosecond digits would not fit in a
//!   double's 53 bits). Spans more than ~100 days after the base are clamped to that bound.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::io::{self, Write};

use reqtrace_core::{SpanData, SpanId, Trace, TraceId};

use crate::json_writer::{JsonWriter, Style};
use crate::native::{kind_name, status_name};

/// The largest grid value written: every integer below 2^53 is exact in an `f64`.
const MAX_UNITS: u64 = (1 << 53) - 1;
/// Parent chains are followed at most this far (guards against cycles in hand-built data).
const MAX_CHAIN: usize = 4096;

/// Nanoseconds since `base` on the 1/1024 µs grid: `floor(ns * 1024 / 1000)`, clamped.
fn units(ns: u64, base: u64) -> u64 {
    let rel = u128::from(ns.saturating_sub(base));
    let u = rel * 128 / 125;
    u64::try_from(u).unwrap_or(MAX_UNITS).min(MAX_UNITS)
}

/// Grid units as microseconds (exact).
fn micros(units: u64) -> f64 {
    units as f64 / 1024.0
}

/// One span, placed.
struct Entry {
    pid: u32,
    thread_id: u64,
    start: u64,
    end: u64,
    depth: u32,
    trace: usize,
    span: usize,
    lane: u32,
}

/// Parent links of every span, by trace.
struct Parents(HashMap<(TraceId, SpanId), SpanId>);

impl Parents {
    fn depth(&self, trace: TraceId, span: SpanId) -> u32 {
        let mut cur = span;
        let mut d = 0;
        while let Some(&p) = self.0.get(&(trace, cur)) {
            d += 1;
            if d as usize >= MAX_CHAIN {
                break;
            }
            cur = p;
        }
        d
    }

    fn is_ancestor(&self, trace: TraceId, ancestor: SpanId, span: SpanId) -> bool {
        let mut cur = span;
        for _ in 0..MAX_CHAIN {
            match self.0.get(&(trace, cur)) {
                Some(&p) if p == ancestor => return true,
                Some(&p) => cur = p,
                None => return false,
            }
        }
        false
    }
}

/// Writes `traces` as a Chrome Trace Event Format document (`{"traceEvents": [...]}`).
///
/// The output is buffered internally; `out` sees a few large writes.
pub fn write_chrome<W: Write>(out: W, traces: &[Trace], style: Style) -> io::Result<()> {
    let mut services: Vec<&str> = Vec::new();
    for t in traces {
        if !services.contains(&&*t.service_name) {
            services.push(&t.service_name);
        }
    }
    let base = traces
        .iter()
        .flat_map(|t| {
            std::iter::once(t.start_unix_nanos).chain(t.spans.iter().flat_map(|s| {
                std::iter::once(s.start_unix_nanos)
                    .chain(s.events.iter().map(|e| e.time_unix_nanos))
            }))
        })
        .min()
        .unwrap_or(0);

    let span_count: usize = traces.iter().map(|t| t.spans.len()).sum();
    let mut parents = Parents(HashMap::with_capacity(span_count));
    for t in traces {
        for s in &t.spans {
            if let Some(p) = s.parent_id {
                parents.0.insert((s.trace_id, s.span_id), p);
            }
        }
    }

    let mut entries = Vec::with_capacity(span_count);
    for (ti, t) in traces.iter().enumerate() {
        let pid = services
            .iter()
            .position(|s| *s == t.service_name)
            .unwrap_or(0) as u32
            + 1;
        for (si, s) in t.spans.iter().enumerate() {
            let start = units(s.start_unix_nanos, base);
            entries.push(Entry {
                pid,
                thread_id: s.thread_id,
                start,
                end: units(s.end_unix_nanos, base).max(start),
                depth: parents.depth(s.trace_id, s.span_id),
                trace: ti,
                span: si,
                lane: 0,
            });
        }
    }
    entries.sort_unstable_by_key(|e| {
        (
            e.pid,
            e.thread_id,
            e.start,
            Reverse(e.end),
            e.depth,
            e.trace,
            e.span,
        )
    });

    // Lane assignment, one (pid, thread) group at a time; `tracks` lists (pid, thread, lanes).
    let span_of = |e: &Entry| &traces[e.trace].spans[e.span];
    let mut tracks: Vec<(u32, u64, u32, Option<&str>)> = Vec::new();
    let mut lanes: Vec<Vec<(u64, TraceId, SpanId)>> = Vec::new();
    let mut group_start = 0;
    while group_start < entries.len() {
        let (pid, thread) = (entries[group_start].pid, entries[group_start].thread_id);
        let mut group_end = group_start;
        let mut thread_name = None;
        lanes.iter_mut().for_each(Vec::clear);
        let mut used = 0usize;
        while group_end < entries.len()
            && entries[group_end].pid == pid
            && entries[group_end].thread_id == thread
        {
            let e = &entries[group_end];
            let s = span_of(e);
            if thread_name.is_none() {
                thread_name = s.thread_name.as_deref();
            }
            let mut placed = None;
            for (li, lane) in lanes.iter_mut().take(used).enumerate() {
                while lane.last().is_some_and(|top| top.0 <= e.start) {
                    lane.pop();
                }
                let fits = match lane.last() {
                    None => true,
                    Some(&(top_end, top_trace, top_span)) => {
                        top_end >= e.end
                            && top_trace == s.trace_id
                            && parents.is_ancestor(s.trace_id, top_span, s.span_id)
                    }
                };
                if fits {
                    lane.push((e.end, s.trace_id, s.span_id));
                    placed = Some(li);
                    break;
                }
            }
            let li = match placed {
                Some(li) => li,
                None => {
                    if lanes.len() == used {
                        lanes.push(Vec::new());
                    }
                    lanes[used].push((e.end, s.trace_id, s.span_id));
                    used += 1;
                    used - 1
                }
            };
            entries[group_end].lane = li as u32;
            group_end += 1;
        }
        tracks.push((pid, thread, used as u32, thread_name));
        group_start = group_end;
    }

    let mut w = JsonWriter::new(io::BufWriter::with_capacity(64 * 1024, out), style);
    w.begin_object()?;
    w.key("traceEvents")?;
    w.begin_array()?;
    for (i, service) in services.iter().enumerate() {
        metadata(&mut w, "process_name", i as u32 + 1, None, |w| {
            w.key("name")?;
            w.string(service)
        })?;
    }
    // tids: 1, 2, … per process, one per (thread, lane), in sorted order.
    let mut first_tid: Vec<u32> = Vec::with_capacity(tracks.len());
    let mut next_tid = 1u32;
    let mut last_pid = 0u32;
    for &(pid, thread, lane_count, name) in &tracks {
        if pid != last_pid {
            next_tid = 1;
            last_pid = pid;
        }
        first_tid.push(next_tid);
        for lane in 0..lane_count {
            let tid = next_tid;
            next_tid += 1;
            metadata(&mut w, "thread_name", pid, Some(tid), |w| {
                w.key("name")?;
                let base_name = match name {
                    Some(n) => n.to_owned(),
                    None => format!("thread {thread}"),
                };
                if lane == 0 {
                    w.string(&base_name)
                } else {
                    w.string(&format!("{base_name} (overlap {lane})"))
                }
            })?;
            metadata(&mut w, "thread_sort_index", pid, Some(tid), |w| {
                w.key("sort_index")?;
                w.u64(u64::from(tid))
            })?;
        }
    }

    // Where each span is drawn, for the flow arrows of links (only when there are links).
    let tid_of = |track: usize, e: &Entry| first_tid.get(track).copied().unwrap_or(1) + e.lane;
    let mut placed: HashMap<(TraceId, SpanId), (u32, u32, u64)> = HashMap::new();
    if traces
        .iter()
        .any(|t| t.spans.iter().any(|s| !s.links.is_empty()))
    {
        let mut track = 0usize;
        for (i, e) in entries.iter().enumerate() {
            if i > 0 && (entries[i - 1].pid, entries[i - 1].thread_id) != (e.pid, e.thread_id) {
                track += 1;
            }
            let s = span_of(e);
            placed.insert((s.trace_id, s.span_id), (e.pid, tid_of(track, e), e.start));
        }
    }
    let mut flow_id = 0u64;
    let mut track = 0usize;
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && (entries[i - 1].pid, entries[i - 1].thread_id) != (e.pid, e.thread_id) {
            track += 1;
        }
        let tid = tid_of(track, e);
        let t = &traces[e.trace];
        let s = span_of(e);
        complete_event(&mut w, t, s, e, tid)?;
        for ev in &s.events {
            w.begin_object()?;
            w.key("name")?;
            w.string(&ev.name)?;
            w.key("cat")?;
            w.string("event")?;
            w.key("ph")?;
            w.string("i")?;
            w.key("s")?;
            w.string("t")?;
            w.key("ts")?;
            w.f64(micros(units(ev.time_unix_nanos, base)))?;
            where_and_ids(&mut w, e.pid, tid, s)?;
            w.key("attributes")?;
            w.attribute_map(&ev.attributes)?;
            w.end_object()?;
            w.end_object()?;
        }
        for l in &s.links {
            let Some(&(lpid, ltid, lstart)) = placed.get(&(l.context.trace_id, l.context.span_id))
            else {
                continue;
            };
            flow_id += 1;
            flow_event(&mut w, "s", flow_id, lpid, ltid, lstart)?;
            flow_event(&mut w, "f", flow_id, e.pid, tid, e.start)?;
        }
    }
    w.end_array()?;
    w.key("otherData")?;
    w.begin_object()?;
    w.key("base_unix_nanos")?;
    w.u64_string(base)?;
    w.key("generator")?;
    w.string(concat!("reqtrace ", env!("CARGO_PKG_VERSION")))?;
    w.end_object()?;
    w.end_object()?;
    if style == Style::Pretty {
        w.raw(b"\n")?;
    }
    w.into_inner().flush()
}

/// One end of a link's flow arrow: `ph` `"s"` (start) or `"f"` (finish, bound to the
/// enclosing slice).
fn flow_event<W: Write>(
    w: &mut JsonWriter<W>,
    ph: &str,
    id: u64,
    pid: u32,
    tid: u32,
    ts: u64,
) -> io::Result<()> {
    w.begin_object()?;
    w.key("name")?;
    w.string("link")?;
    w.key("cat")?;
    w.string("link")?;
    w.key("ph")?;
    w.string(ph)?;
    if ph == "f" {
        w.key("bp")?;
        w.string("e")?;
    }
    w.key("id")?;
    w.u64(id)?;
    w.key("ts")?;
    w.f64(micros(ts))?;
    w.key("pid")?;
    w.u64(u64::from(pid))?;
    w.key("tid")?;
    w.u64(u64::from(tid))?;
    w.end_object()
}

fn metadata<W: Write>(
    w: &mut JsonWriter<W>,
    name: &str,
    pid: u32,
    tid: Option<u32>,
    args: impl FnOnce(&mut JsonWriter<W>) -> io::Result<()>,
) -> io::Result<()> {
    w.begin_object()?;
    w.key("name")?;
    w.string(name)?;
    w.key("ph")?;
    w.string("M")?;
    w.key("pid")?;
    w.u64(u64::from(pid))?;
    if let Some(tid) = tid {
        w.key("tid")?;
        w.u64(u64::from(tid))?;
    }
    w.key("args")?;
    w.begin_object()?;
    args(w)?;
    w.end_object()?;
    w.end_object()
}

fn complete_event<W: Write>(
    w: &mut JsonWriter<W>,
    t: &Trace,
    s: &SpanData,
    e: &Entry,
    tid: u32,
) -> io::Result<()> {
    w.begin_object()?;
    w.key("name")?;
    w.string(&s.name)?;
    w.key("cat")?;
    w.string(kind_name(s.kind))?;
    w.key("ph")?;
    w.string("X")?;
    w.key("ts")?;
    w.f64(micros(e.start))?;
    w.key("dur")?;
    w.f64(micros(e.end - e.start))?;
    where_and_ids(w, e.pid, tid, s)?;
    if let Some(p) = s.parent_id {
        w.key("parent_id")?;
        w.span_id(p)?;
    }
    w.key("thread_id")?;
    w.u64(s.thread_id)?;
    w.key("status")?;
    w.string(status_name(s.status))?;
    if let Some(err) = &s.error {
        w.key("error")?;
        w.string(err)?;
    }
    if s.unfinished {
        w.key("unfinished")?;
        w.bool(true)?;
    }
    w.key("attributes")?;
    w.attribute_map(&s.attributes)?;
    if !s.links.is_empty() {
        w.key("links")?;
        w.begin_array()?;
        for l in &s.links {
            w.begin_object()?;
            w.key("trace_id")?;
            w.trace_id(l.context.trace_id)?;
            w.key("span_id")?;
            w.span_id(l.context.span_id)?;
            w.key("attributes")?;
            w.attribute_map(&l.attributes)?;
            w.end_object()?;
        }
        w.end_array()?;
    }
    let is_root = s.parent_id.is_none() || s.parent_id == t.remote_parent_id;
    if is_root && !t.attributes.is_empty() {
        w.key("trace_attributes")?;
        w.attribute_map(&t.attributes)?;
    }
    w.end_object()?;
    w.end_object()
}

/// Writes an event's `pid`, `tid`, then opens `args` with the span's trace and span ids.
fn where_and_ids<W: Write>(
    w: &mut JsonWriter<W>,
    pid: u32,
    tid: u32,
    s: &SpanData,
) -> io::Result<()> {
    w.key("pid")?;
    w.u64(u64::from(pid))?;
    w.key("tid")?;
    w.u64(u64::from(tid))?;
    w.key("args")?;
    w.begin_object()?;
    w.key("trace_id")?;
    w.trace_id(s.trace_id)?;
    w.key("span_id")?;
    w.span_id(s.span_id)?;
    Ok(())
}
