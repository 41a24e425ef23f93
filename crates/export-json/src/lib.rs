//! Writes reqtrace's finished traces as JSON, three ways, and as an offline HTML viewer, and
//! streams spans to JSON-lines files.
//!
//! ```
//! use reqtrace_core::{
//!     KeyValue, Resource, SpanData, SpanId, SpanKind, StatusCode, Trace, TraceFlags, TraceId,
//! };
//! use reqtrace_export_json::{
//!     Style, read_native, write_chrome, write_html, write_native, write_otlp,
//! };
//!
//! let trace_id = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap();
//! let span = SpanData {
//!     name: "handle".into(),
//!     trace_id,
//!     span_id: SpanId::from_u64(0x00f067aa0ba902b7).unwrap(),
//!     trace_flags: Default::default(),
//!     parent_is_remote: false,
//!     parent_id: None,
//!     kind: SpanKind::Server,
//!     start_unix_nanos: 1_700_000_000_000_000_000,
//!     end_unix_nanos: 1_700_000_000_250_000_000,
//!     attributes: vec![KeyValue::new("http.route", "/chat")],
//!     events: vec![],
//!     status: StatusCode::Ok,
//!     error: None,
//!     thread_id: 1,
//!     thread_name: Some("main".into()),
//!     dropped_attributes_count: 0,
//!     dropped_events_count: 0,
//!     links: Vec::new(),
//!     dropped_links_count: 0,
//!     unfinished: false,
//! };
//! let trace = Trace {
//!     trace_id,
//!     service_name: "api".into(),
//!     attributes: vec![],
//!     start_unix_nanos: span.start_unix_nanos,
//!     end_unix_nanos: span.end_unix_nanos,
//!     trace_flags: TraceFlags::SAMPLED,
//!     trace_state: None,
//!     remote_parent_id: None,
//!     spans: vec![span],
//!     dropped_spans_count: 0,
//! };
//! let traces = vec![trace];
//!
//! // Native JSON reads back into equal traces.
//! let mut native = Vec::new();
//! write_native(&mut native, &traces, Style::Pretty)?;
//! assert_eq!(read_native(&native[..])?, traces);
//!
//! // OTLP/JSON: an ExportTraceServiceRequest.
//! let mut otlp = Vec::new();
//! write_otlp(&mut otlp, &traces, &Resource::new("api"), Style::Compact)?;
//! let request: serde_json::Value = serde_json::from_slice(&otlp)?;
//! let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
//! assert_eq!(span["spanId"], "00f067aa0ba902b7");
//! assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
//!
//! // Chrome Trace Event Format, for Perfetto: a 250 ms complete event.
//! let mut chrome = Vec::new();
//! write_chrome(&mut chrome, &traces, Style::Compact)?;
//! let doc: serde_json::Value = serde_json::from_slice(&chrome)?;
//! let slice = doc["traceEvents"].as_array().unwrap().iter().find(|e| e["ph"] == "X").unwrap();
//! assert_eq!(slice["dur"].as_f64(), Some(250_000.0));
//!
//! // The offline viewer: one HTML page with the traces embedded, to open in a browser.
//! let mut page = Vec::new();
//! write_html(&mut page, &traces)?;
//! assert!(String::from_utf8(page)?.contains(r#""handle""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | format | writer | reader / checker |
//! | --- | --- | --- |
//! | native JSON (core's serde names plus `duration_seconds`/`duration_ms`) | [`write_native`], [`write_native_trace`] | [`read_native`], [`read_native_trace`] |
//! | OTLP/JSON `ExportTraceServiceRequest` | [`write_otlp`] | any OTLP receiver; `otlp_json_validate.py --strict` |
//! | Chrome Trace Event Format | [`write_chrome`] | Perfetto, `chrome://tracing`; `chrome_trace_validate.py` |
//! | a self-contained HTML trace viewer (list, waterfall, span details; no network) | [`write_html`] | any browser |
//! | JSON lines, one batch per line (OTLP or native) | [`JsonLinesExporter`] (a [`SpanExporter`](reqtrace_core::SpanExporter)) | [`read_native_lines`] |
//!
//! [`write_all_formats`] writes the four files of a set of traces at once.
//!
//! The OTLP mapping (which value each OTLP field holds) is defined once, in [`otlp_mapping`];
//! the OTLP/JSON writers here and `reqtrace-otlp`'s protobuf bodies are serializers of it.
//!
//! Every writer streams to an [`std::io::Write`]: no document tree is built, and
//! strings are escaped as they are written (see each module for the exact mapping).

mod chrome;
mod exporter;
mod html;
mod json_writer;
mod last_wins;
mod native;
mod otlp;
pub mod otlp_mapping;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use reqtrace_core::{Resource, Trace};

pub use chrome::write_chrome;
pub use exporter::{JsonLinesExporter, JsonLinesExporterBuilder, LineFormat};
pub use html::write_html;
pub use json_writer::Style;
pub use native::{
    NativeBatch, ReadError, read_native, read_native_lines, read_native_trace, write_native,
    write_native_batch, write_native_trace,
};
pub use otlp::{write_otlp, write_otlp_batch};
pub use otlp_mapping::SCOPE_NAME;

/// Where [`write_all_formats`] put each file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPaths {
    /// `traces.json`: a native JSON array, pretty-printed.
    pub native: PathBuf,
    /// `traces.otlp.json`: one OTLP/JSON `ExportTraceServiceRequest`.
    pub otlp: PathBuf,
    /// `traces.chrome.json`: Chrome Trace Event Format, for Perfetto.
    pub chrome: PathBuf,
    /// `traces.html`: the self-contained trace viewer ([`write_html`]); open it in a browser.
    pub html: PathBuf,
}

/// Writes `traces` to `dir` (created if missing) as `traces.json` (native, pretty),
/// `traces.otlp.json` and `traces.chrome.json` (compact) and `traces.html` (the viewer), and
/// returns the four paths.
///
/// `resource` (the tracer's [`resource`](reqtrace_core::RequestTracer::resource)) is the OTLP
/// file's resource, as in [`write_otlp`]: the file carries what an OTLP exporter would send.
///
/// Each file is written to a temporary name in `dir` and then renamed, so a reader never sees
/// a half-written file.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("reqtrace-doc-{}", std::process::id()));
/// let resource = reqtrace_core::Resource::new("api");
/// let paths = reqtrace_export_json::write_all_formats(&dir, &[], &resource)?;
/// assert_eq!(std::fs::read_to_string(&paths.native)?.trim(), "[]");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_all_formats(
    dir: impl AsRef<Path>,
    traces: &[Trace],
    resource: &Resource,
) -> io::Result<ExportPaths> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir)?;
    let paths = ExportPaths {
        native: dir.join("traces.json"),
        otlp: dir.join("traces.otlp.json"),
        chrome: dir.join("traces.chrome.json"),
        html: dir.join("traces.html"),
    };
    write_atomically(&paths.native, |w| write_native(w, traces, Style::Pretty))?;
    write_atomically(&paths.otlp, |w| {
        write_otlp(w, traces, resource, Style::Compact)
    })?;
    write_atomically(&paths.chrome, |w| write_chrome(w, traces, Style::Compact))?;
    write_atomically(&paths.html, |w| write_html(w, traces))?;
    Ok(paths)
}

/// Writes a file through a temporary sibling and a rename.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        // The writers buffer internally.
        let mut file = fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
