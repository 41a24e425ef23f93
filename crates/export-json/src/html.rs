//! A self-contained HTML trace viewer: one file that opens offline in any browser.
//!
//! The file is the page in `html/viewer.html` (styles and script inline, no framework, no
//! network: its Content-Security-Policy is `default-src 'none'`) with the traces embedded once,
//! as one JSON document in a `<script type="application/json" id="reqtrace-data">` element:
//!
//! ```text
//! {"v":1, "g":"reqtrace 0.1.0",
//!  "t":[[trace_id, service, start_unix_ms, duration_ns, root_offset_ns, [span, …], attrs, extra], …],
//!  "th":[[thread_id, name], …],
//!  "s":["string table", …]}
//! span  = [span_id, name, parent, thread, start_ns, duration_ns, status, attrs, events, extra]
//! event = [name, time_ns, attrs]
//! attrs = [key, type, value, key, type, value, …]
//! ```
//!
//! - Every name, key, string value, thread name, service name and error message is an index
//!   into the string table `s` (each distinct string is written once).
//! - `thread` indexes the thread table `th` (`name` a string index or `null`); the page draws one
//!   lane per entry.
//! - Times are integer nanoseconds from the trace's origin: the earliest of the trace's start
//!   and its spans' starts (`root_offset_ns` is the trace's own start from there), clamped to
//!   2^53 − 1 so JavaScript reads them exactly. `start_unix_ms` is for display only.
//! - `parent` is the index of the parent span in the same trace, `null` for a root, or the
//!   parent's hex id when it is not in the trace (a remote or dropped parent).
//! - `status` is 0 unset, 1 ok, 2 error. `attrs` holds each key once (the last value wins, as
//!   in every encoder of this crate); `type` is 0 string (value: string index), 1 int (a number,
//!   or a decimal string beyond ±2^53), 2 float (a number, or `"NaN"`, `"inf"`, `"-inf"`),
//!   3 bool (0 or 1), 4 array (value: a flat `[type, value, …]` list).
//! - `extra` holds what is rare, only when set: span `e` (error message), `k` (kind, when not
//!   internal), `u` (unfinished), `r` (parent is remote), `da`/`de`/`dl` (dropped attributes
//!   / events / links), `l` (links: `[[trace_id, span_id, attrs], …]`, ids in hex); trace `d` (dropped spans), `p` (remote parent id), `ts` (trace state). Trailing
//!   empty fields of a span are left out.
//!
//! **Safety.** Data is never markup. In the JSON, every `<` (which can only occur inside a
//! string) is written as `\u003c`, so no string can close the `<script>` element or open an
//! HTML comment in it; the page parses the JSON with `JSON.parse` and builds every element from
//! data with `textContent`, never `innerHTML`.

use std::collections::HashMap;
use std::io::{self, Write};

use reqtrace_core::{KeyValue, SpanId, SpanKind, StatusCode, Trace, Value};

use crate::json_writer::{JsonWriter, Style};
use crate::last_wins::last_wins;
use crate::native::kind_name;

/// The page; the data goes where [`DATA_MARKER`] is.
const PAGE: &str = include_str!("html/viewer.html");
/// The place in [`PAGE`] where the JSON document goes.
const DATA_MARKER: &str = "/*REQTRACE_DATA*/";
/// Integers above this are not exact in a JavaScript number.
const MAX_SAFE: u64 = (1 << 53) - 1;

/// Writes `traces` as one self-contained HTML page: a trace list sortable by duration and
/// filterable by error and name, and for the selected trace a waterfall with one lane per
/// thread, parent links, and each span's attributes, events and status on selection.
///
/// Open the file in a browser; it needs no network and no server. The output is buffered
/// internally; `out` sees a few large writes.
///
/// ```
/// let mut page = Vec::new();
/// reqtrace_export_json::write_html(&mut page, &[])?;
/// let page = String::from_utf8(page).unwrap();
/// assert!(page.starts_with("<!doctype html>"));
/// assert!(page.contains(r#"<script type="application/json" id="reqtrace-data">"#));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_html<W: Write>(out: W, traces: &[Trace]) -> io::Result<()> {
    let (head, tail) = PAGE
        .split_once(DATA_MARKER)
        .expect("viewer.html has a data marker");
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    out.write_all(head.as_bytes())?;
    let mut w = JsonWriter::new(ScriptSafe(&mut out), Style::Compact);
    Encoder::default().document(&mut w, traces)?;
    drop(w);
    out.write_all(tail.as_bytes())?;
    out.flush()
}

/// Passes JSON through, writing each `<` as `\u003c`.
///
/// In JSON text a `<` can only be inside a string, where `\u003c` means the same character, so
/// the document is unchanged for `JSON.parse`, and the HTML parser, which leaves a script
/// element's text only at `</script` (and treats `<!--` specially), never sees a `<` in it.
struct ScriptSafe<W: Write>(W);

impl<W: Write> Write for ScriptSafe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(at) = rest.iter().position(|&b| b == b'<') {
            self.0.write_all(&rest[..at])?;
            self.0.write_all(b"\\u003c")?;
            rest = &rest[at + 1..];
        }
        self.0.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The string and thread tables, filled while the traces are written.
#[derive(Default)]
struct Encoder<'a> {
    strings: HashMap<&'a str, u32>,
    string_list: Vec<&'a str>,
    threads: HashMap<(u64, Option<&'a str>), u32>,
    thread_list: Vec<(u64, Option<u32>)>,
    /// Span id → index in the trace being written (reused between traces).
    index: HashMap<SpanId, u32>,
}

impl<'a> Encoder<'a> {
    fn string(&mut self, s: &'a str) -> u32 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.string_list.len() as u32;
        self.string_list.push(s);
        self.strings.insert(s, i);
        i
    }

    fn thread(&mut self, id: u64, name: Option<&'a str>) -> u32 {
        if let Some(&i) = self.threads.get(&(id, name)) {
            return i;
        }
        let name_index = name.map(|n| self.string(n));
        let i = self.thread_list.len() as u32;
        self.thread_list.push((id, name_index));
        self.threads.insert((id, name), i);
        i
    }

    fn document<W: Write>(&mut self, w: &mut JsonWriter<W>, traces: &'a [Trace]) -> io::Result<()> {
        w.begin_object()?;
        w.key("v")?;
        w.u64(1)?;
        w.key("g")?;
        w.string(concat!("reqtrace ", env!("CARGO_PKG_VERSION")))?;
        w.key("t")?;
        w.begin_array()?;
        for t in traces {
            self.trace(w, t)?;
        }
        w.end_array()?;
        w.key("th")?;
        w.begin_array()?;
        for &(id, name) in &self.thread_list {
            w.begin_array()?;
            w.u64(id)?;
            match name {
                Some(n) => w.u64(u64::from(n))?,
                None => w.null()?,
            }
            w.end_array()?;
        }
        w.end_array()?;
        w.key("s")?;
        w.begin_array()?;
        for s in &self.string_list {
            w.string(s)?;
        }
        w.end_array()?;
        w.end_object()
    }

    fn trace<W: Write>(&mut self, w: &mut JsonWriter<W>, t: &'a Trace) -> io::Result<()> {
        let origin = t
            .spans
            .iter()
            .map(|s| s.start_unix_nanos)
            .fold(t.start_unix_nanos, u64::min);
        let rel = |ns: u64| ns.saturating_sub(origin).min(MAX_SAFE);
        self.index.clear();
        for (i, s) in t.spans.iter().enumerate() {
            self.index.entry(s.span_id).or_insert(i as u32);
        }

        w.begin_array()?;
        w.trace_id(t.trace_id)?;
        let service = self.string(&t.service_name);
        w.u64(u64::from(service))?;
        w.u64(t.start_unix_nanos / 1_000_000)?;
        w.u64(
            t.end_unix_nanos
                .saturating_sub(t.start_unix_nanos)
                .min(MAX_SAFE),
        )?;
        w.u64(rel(t.start_unix_nanos))?;
        w.begin_array()?;
        for (i, s) in t.spans.iter().enumerate() {
            w.begin_array()?;
            w.span_id(s.span_id)?;
            let name = self.string(&s.name);
            w.u64(u64::from(name))?;
            match s.parent_id {
                None => w.null()?,
                Some(p) => match self.index.get(&p) {
                    Some(&pi) if pi as usize != i && Some(p) != t.remote_parent_id => {
                        w.u64(u64::from(pi))?
                    }
                    _ => w.span_id(p)?,
                },
            }
            let thread = self.thread(s.thread_id, s.thread_name.as_deref());
            w.u64(u64::from(thread))?;
            let start = rel(s.start_unix_nanos);
            w.u64(start)?;
            w.u64(rel(s.end_unix_nanos).saturating_sub(start))?;
            w.u64(match s.status {
                StatusCode::Unset => 0,
                StatusCode::Ok => 1,
                StatusCode::Error => 2,
            })?;

            let has_extra = s.error.is_some()
                || s.kind != SpanKind::Internal
                || s.unfinished
                || s.parent_is_remote
                || s.dropped_attributes_count > 0
                || s.dropped_events_count > 0
                || !s.links.is_empty()
                || s.dropped_links_count > 0;
            let has_events = !s.events.is_empty();
            if !s.attributes.is_empty() || has_events || has_extra {
                self.attributes(w, &s.attributes)?;
            }
            if has_events || has_extra {
                w.begin_array()?;
                for e in &s.events {
                    w.begin_array()?;
                    let name = self.string(&e.name);
                    w.u64(u64::from(name))?;
                    w.u64(rel(e.time_unix_nanos))?;
                    if !e.attributes.is_empty() {
                        self.attributes(w, &e.attributes)?;
                    }
                    w.end_array()?;
                }
                w.end_array()?;
            }
            if has_extra {
                w.begin_object()?;
                if let Some(e) = &s.error {
                    w.key("e")?;
                    let e = self.string(e);
                    w.u64(u64::from(e))?;
                }
                if s.kind != SpanKind::Internal {
                    w.key("k")?;
                    w.string(kind_name(s.kind))?;
                }
                if s.unfinished {
                    w.key("u")?;
                    w.u64(1)?;
                }
                if s.parent_is_remote {
                    w.key("r")?;
                    w.u64(1)?;
                }
                if s.dropped_attributes_count > 0 {
                    w.key("da")?;
                    w.u64(u64::from(s.dropped_attributes_count))?;
                }
                if s.dropped_events_count > 0 {
                    w.key("de")?;
                    w.u64(u64::from(s.dropped_events_count))?;
                }
                if s.dropped_links_count > 0 {
                    w.key("dl")?;
                    w.u64(u64::from(s.dropped_links_count))?;
                }
                if !s.links.is_empty() {
                    w.key("l")?;
                    w.begin_array()?;
                    for l in &s.links {
                        w.begin_array()?;
                        w.trace_id(l.context.trace_id)?;
                        w.span_id(l.context.span_id)?;
                        self.attributes(w, &l.attributes)?;
                        w.end_array()?;
                    }
                    w.end_array()?;
                }
                w.end_object()?;
            }
            w.end_array()?;
        }
        w.end_array()?;
        self.attributes(w, &t.attributes)?;
        w.begin_object()?;
        if t.dropped_spans_count > 0 {
            w.key("d")?;
            w.u64(t.dropped_spans_count)?;
        }
        if let Some(p) = t.remote_parent_id {
            w.key("p")?;
            w.span_id(p)?;
        }
        if let Some(ts) = &t.trace_state {
            w.key("ts")?;
            let ts = self.string(ts);
            w.u64(u64::from(ts))?;
        }
        w.end_object()?;
        w.end_array()
    }

    /// `[key, type, value, …]`, each key once with its last value.
    fn attributes<W: Write>(
        &mut self,
        w: &mut JsonWriter<W>,
        attrs: &'a [KeyValue],
    ) -> io::Result<()> {
        w.begin_array()?;
        for kv in last_wins(attrs) {
            let key = self.string(&kv.key);
            w.u64(u64::from(key))?;
            self.value(w, &kv.value)?;
        }
        w.end_array()
    }

    /// `type, value` (two array elements).
    fn value<W: Write>(&mut self, w: &mut JsonWriter<W>, v: &'a Value) -> io::Result<()> {
        match v {
            Value::String(s) => {
                w.u64(0)?;
                let s = self.string(s);
                w.u64(u64::from(s))
            }
            Value::I64(i) => {
                w.u64(1)?;
                if i.unsigned_abs() <= MAX_SAFE {
                    w.i64(*i)
                } else {
                    w.i64_string(*i)
                }
            }
            Value::F64(f) if f.is_finite() => {
                w.u64(2)?;
                w.f64(*f)
            }
            Value::F64(f) => {
                w.u64(2)?;
                w.string(Value::non_finite_name(*f))
            }
            Value::Bool(b) => {
                w.u64(3)?;
                w.u64(u64::from(*b))
            }
            Value::Array(items) => {
                w.u64(4)?;
                w.begin_array()?;
                for item in items {
                    self.value(w, item)?;
                }
                w.end_array()
            }
        }
    }
}
