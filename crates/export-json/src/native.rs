//! reqtrace's own JSON, defined here: [`write_native`] is the format. Its field names are those
//! of core's serde derives for [`Trace`] and [`SpanData`], so [`read_native`] reads it back with
//! those derives into equal `Trace`s (they ignore the derived durations); the writer adds what
//! a derive cannot: the derived `duration_seconds` (per trace) and `duration_ms` (per span), and
//! each attribute key once. The round-trip tests and the `native_json` fuzz target hold the
//! writer and the derives together.
//!
//! Why a writer of its own rather than `serde_json` over the derives: it is faster (the derives
//! write ids through `Display`; on the encode bench serde_json writes ~30% fewer spans/s), and
//! the file keeps the durations people read it for and unique keys (RFC 8259) without a
//! second, hand-written `Serialize` in core.
//!
//! ```json
//! [{"trace_id": "4bf9…", "service_name": "api", "attributes": {"route": "/chat"},
//!   "start_unix_nanos": 1700000000000000000, "end_unix_nanos": …, "duration_seconds": 0.25,
//!   "trace_flags": 1, "trace_state": null, "remote_parent_id": null,
//!   "spans": [{"name": "llm", "trace_id": "4bf9…", "trace_flags": 1, "span_id": "00f0…",
//!              "parent_id": null, "parent_is_remote": false, "kind": "internal",
//!              "start_unix_nanos": …, "end_unix_nanos": …, "duration_ms": 12.5,
//!              "attributes": {…}, "events": [{"name": …, "time_unix_nanos": …,
//!              "attributes": {…}}], "status": "error",
//!              "error": "timeout", "thread_id": 1, "thread_name": "main",
//!              "dropped_attributes_count": 0, "dropped_events_count": 0,
//!              "links": [{"context": {"trace_id": …, "span_id": …, "trace_flags": 1,
//!                         "is_remote": true}, "attributes": {…},
//!                         "dropped_attributes_count": 0}],
//!              "dropped_links_count": 0, "unfinished": false}],
//!   "dropped_spans_count": 0}]
//! ```
//!
//! What does not survive a round trip: a float that is NaN or infinite is written as the string
//! `"NaN"`, `"inf"` or `"-inf"` (JSON has no such number) and reads back as that string; an
//! attribute key set twice on one span is written once, with its last value.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use reqtrace_core::{Event, Link, Resource, SpanData, SpanKind, StatusCode, Trace};
use serde::{Deserialize, Serialize};

use crate::json_writer::{JsonWriter, Style};

/// Writes `traces` as a JSON array of native trace objects.
///
/// The output is buffered internally; `out` sees a few large writes.
pub fn write_native<W: Write>(out: W, traces: &[Trace], style: Style) -> io::Result<()> {
    let mut w = JsonWriter::new(io::BufWriter::with_capacity(64 * 1024, out), style);
    w.begin_array()?;
    for trace in traces {
        trace_object(&mut w, trace)?;
    }
    w.end_array()?;
    finish(w, style)
}

/// Writes one trace as a native JSON object.
pub fn write_native_trace<W: Write>(out: W, trace: &Trace, style: Style) -> io::Result<()> {
    let mut w = JsonWriter::new(io::BufWriter::with_capacity(64 * 1024, out), style);
    trace_object(&mut w, trace)?;
    finish(w, style)
}

/// Ends a document: a final newline in pretty mode, then flushes the buffer.
fn finish<W: Write>(mut w: JsonWriter<io::BufWriter<W>>, style: Style) -> io::Result<()> {
    if style == Style::Pretty {
        w.raw(b"\n")?;
    }
    w.into_inner().flush()
}

/// Writes one exported batch as a single line of native JSON (no trailing newline):
/// `{"resource": {"service_name": …, "attributes": {…}}, "spans": [<native spans>]}`.
/// [`read_native_lines`] reads such lines back as [`NativeBatch`]es.
pub fn write_native_batch<W: Write>(
    out: W,
    spans: &[SpanData],
    resource: &Resource,
) -> io::Result<()> {
    let mut w = JsonWriter::new(out, Style::Compact);
    native_batch(&mut w, spans, resource)
}

pub(crate) fn native_batch<W: Write>(
    w: &mut JsonWriter<W>,
    spans: &[SpanData],
    resource: &Resource,
) -> io::Result<()> {
    w.begin_object()?;
    w.field("resource")?;
    w.begin_object()?;
    w.field("service_name")?;
    w.string(&resource.service_name)?;
    w.field("attributes")?;
    w.attribute_map(&resource.attributes)?;
    w.end_object()?;
    w.field("spans")?;
    w.begin_array()?;
    for span in spans {
        span_object(w, span)?;
    }
    w.end_array()?;
    w.end_object()
}

fn trace_object<W: Write>(w: &mut JsonWriter<W>, t: &Trace) -> io::Result<()> {
    w.begin_object()?;
    w.field("trace_id")?;
    w.trace_id(t.trace_id)?;
    w.field("service_name")?;
    w.string(&t.service_name)?;
    w.field("attributes")?;
    w.attribute_map(&t.attributes)?;
    w.field("start_unix_nanos")?;
    w.u64(t.start_unix_nanos)?;
    w.field("end_unix_nanos")?;
    w.u64(t.end_unix_nanos)?;
    w.field("duration_seconds")?;
    w.f64(t.duration_seconds())?;
    w.field("trace_flags")?;
    w.u64(u64::from(t.trace_flags.to_u8()))?;
    w.field("trace_state")?;
    match &t.trace_state {
        Some(s) => w.string(s)?,
        None => w.null()?,
    }
    w.field("remote_parent_id")?;
    match t.remote_parent_id {
        Some(id) => w.span_id(id)?,
        None => w.null()?,
    }
    w.field("spans")?;
    w.begin_array()?;
    for span in &t.spans {
        span_object(w, span)?;
    }
    w.end_array()?;
    w.field("dropped_spans_count")?;
    w.u64(t.dropped_spans_count)?;
    w.end_object()
}

pub(crate) fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

pub(crate) fn status_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::Unset => "unset",
        StatusCode::Ok => "ok",
        StatusCode::Error => "error",
    }
}

fn span_object<W: Write>(w: &mut JsonWriter<W>, s: &SpanData) -> io::Result<()> {
    w.begin_object()?;
    w.field("name")?;
    w.string(&s.name)?;
    w.field("trace_id")?;
    w.trace_id(s.trace_id)?;
    w.field("trace_flags")?;
    w.u64(u64::from(s.trace_flags.to_u8()))?;
    w.field("span_id")?;
    w.span_id(s.span_id)?;
    w.field("parent_id")?;
    match s.parent_id {
        Some(id) => w.span_id(id)?,
        None => w.null()?,
    }
    w.field("parent_is_remote")?;
    w.bool(s.parent_is_remote)?;
    w.field("kind")?;
    w.string(kind_name(s.kind))?;
    w.field("start_unix_nanos")?;
    w.u64(s.start_unix_nanos)?;
    w.field("end_unix_nanos")?;
    w.u64(s.end_unix_nanos)?;
    w.field("duration_ms")?;
    w.f64(s.duration_ms())?;
    w.field("attributes")?;
    w.attribute_map(&s.attributes)?;
    w.field("events")?;
    w.begin_array()?;
    for e in &s.events {
        event_object(w, e)?;
    }
    w.end_array()?;
    w.field("status")?;
    w.string(status_name(s.status))?;
    w.field("error")?;
    match &s.error {
        Some(e) => w.string(e)?,
        None => w.null()?,
    }
    w.field("thread_id")?;
    w.u64(s.thread_id)?;
    w.field("thread_name")?;
    match &s.thread_name {
        Some(n) => w.string(n)?,
        None => w.null()?,
    }
    w.field("dropped_attributes_count")?;
    w.u64(u64::from(s.dropped_attributes_count))?;
    w.field("dropped_events_count")?;
    w.u64(u64::from(s.dropped_events_count))?;
    // Only when there are some (as core's derive): spans without links read as before.
    if !s.links.is_empty() {
        w.field("links")?;
        w.begin_array()?;
        for l in &s.links {
            link_object(w, l)?;
        }
        w.end_array()?;
    }
    if s.dropped_links_count > 0 {
        w.field("dropped_links_count")?;
        w.u64(u64::from(s.dropped_links_count))?;
    }
    w.field("unfinished")?;
    w.bool(s.unfinished)?;
    w.end_object()
}

fn link_object<W: Write>(w: &mut JsonWriter<W>, l: &Link) -> io::Result<()> {
    w.begin_object()?;
    w.field("context")?;
    w.begin_object()?;
    w.field("trace_id")?;
    w.trace_id(l.context.trace_id)?;
    w.field("span_id")?;
    w.span_id(l.context.span_id)?;
    w.field("trace_flags")?;
    w.u64(u64::from(l.context.trace_flags.to_u8()))?;
    w.field("is_remote")?;
    w.bool(l.context.is_remote)?;
    w.end_object()?;
    w.field("attributes")?;
    w.attribute_map(&l.attributes)?;
    w.field("dropped_attributes_count")?;
    w.u64(u64::from(l.dropped_attributes_count))?;
    w.end_object()
}

fn event_object<W: Write>(w: &mut JsonWriter<W>, e: &Event) -> io::Result<()> {
    w.begin_object()?;
    w.field("name")?;
    w.string(&e.name)?;
    w.field("time_unix_nanos")?;
    w.u64(e.time_unix_nanos)?;
    w.field("attributes")?;
    w.attribute_map(&e.attributes)?;
    w.end_object()
}

/// Why native JSON could not be read.
#[derive(Debug)]
pub struct ReadError {
    inner: ReadErrorInner,
    line: Option<usize>,
}

#[derive(Debug)]
enum ReadErrorInner {
    Io(io::Error),
    Json(serde_json::Error),
}

impl ReadError {
    fn json(e: serde_json::Error, line: Option<usize>) -> Self {
        let inner = if e.is_io() {
            ReadErrorInner::Io(io::Error::other(e.to_string()))
        } else {
            ReadErrorInner::Json(e)
        };
        ReadError { inner, line }
    }

    /// The 1-based line where reading failed: the input's line for a document, the line's number
    /// for JSON lines. `None` when not known.
    pub fn line(&self) -> Option<usize> {
        match (&self.inner, self.line) {
            (_, Some(l)) => Some(l),
            (ReadErrorInner::Json(e), None) => Some(e.line()),
            (ReadErrorInner::Io(_), None) => None,
        }
    }

    /// Whether the input could not be read at all (as opposed to holding bad JSON).
    pub fn is_io(&self) -> bool {
        matches!(self.inner, ReadErrorInner::Io(_))
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            ReadErrorInner::Io(e) => write!(f, "cannot read native JSON: {e}")?,
            ReadErrorInner::Json(e) => write!(f, "invalid native JSON: {e}")?,
        }
        if let Some(l) = self.line {
            write!(f, " (JSON line {l})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner {
            ReadErrorInner::Io(e) => Some(e),
            ReadErrorInner::Json(e) => Some(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError {
            inner: ReadErrorInner::Io(e),
            line: None,
        }
    }
}

/// Reads a JSON array of native traces, as [`write_native`] writes it. The durations are
/// ignored; everything else comes back as written.
pub fn read_native<R: Read>(input: R) -> Result<Vec<Trace>, ReadError> {
    serde_json::from_reader(BufReader::new(input)).map_err(|e| ReadError::json(e, None))
}

/// Reads one native trace object, as [`write_native_trace`] writes it.
pub fn read_native_trace<R: Read>(input: R) -> Result<Trace, ReadError> {
    serde_json::from_reader(BufReader::new(input)).map_err(|e| ReadError::json(e, None))
}

/// One batch from a native JSON-lines file (see [`write_native_batch`] and
/// [`crate::JsonLinesExporter`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NativeBatch {
    /// Who produced the spans.
    pub resource: Resource,
    /// The spans, in the order they were exported.
    pub spans: Vec<SpanData>,
}

/// Reads native JSON lines, one [`NativeBatch`] per non-blank line. A line that is not a batch
/// yields an error (with [`ReadError::line`]) and reading goes on with the next line; an I/O
/// error yields an error and ends the iteration.
pub fn read_native_lines<R: BufRead>(
    input: R,
) -> impl Iterator<Item = Result<NativeBatch, ReadError>> {
    let mut lines = input.lines().enumerate();
    let mut done = false;
    std::iter::from_fn(move || {
        while !done {
            match lines.next() {
                None => done = true,
                Some((_, Err(e))) => {
                    done = true;
                    return Some(Err(ReadError::from(e)));
                }
                Some((_, Ok(l))) if l.trim().is_empty() => {}
                Some((i, Ok(l))) => {
                    return Some(
                        serde_json::from_str(&l).map_err(|e| ReadError::json(e, Some(i + 1))),
                    );
                }
            }
        }
        None
    })
}
