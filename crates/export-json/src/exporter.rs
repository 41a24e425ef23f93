//! A streaming [`SpanExporter`] that writes each batch as one JSON line, OTLP/JSON or native,
//! to a file or any [`io::Write`], through a [`BufWriter`].
//!
//! An OTLP JSON-lines file holds one `ExportTraceServiceRequest` per line (the layout of the
//! OpenTelemetry Collector's file exporter); a native one holds one
//! [`NativeBatch`](crate::NativeBatch) per line, which [`read_native_lines`](crate::read_native_lines)
//! reads back.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use reqtrace_core::{ExportError, Resource, SpanData, SpanExporter};

use crate::json_writer::{JsonWriter, Style};
use crate::native::native_batch;
use crate::otlp::otlp_batch;

/// What each line of a [`JsonLinesExporter`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineFormat {
    /// One OTLP/JSON `ExportTraceServiceRequest` per batch.
    #[default]
    Otlp,
    /// One native [`NativeBatch`](crate::NativeBatch) per batch.
    Native,
}

/// Configures a [`JsonLinesExporter`].
///
/// ```
/// use reqtrace_export_json::{JsonLinesExporter, LineFormat};
/// let exporter = JsonLinesExporter::builder()
///     .format(LineFormat::Native)
///     .buffer_capacity(256 * 1024)
///     .writer(Vec::new());
/// assert_eq!(exporter.format(), LineFormat::Native);
/// ```
#[derive(Clone, Debug)]
pub struct JsonLinesExporterBuilder {
    format: LineFormat,
    capacity: usize,
    append: bool,
}

impl Default for JsonLinesExporterBuilder {
    fn default() -> Self {
        JsonLinesExporterBuilder {
            format: LineFormat::default(),
            capacity: 64 * 1024,
            append: false,
        }
    }
}

impl JsonLinesExporterBuilder {
    /// The line format (default: [`LineFormat::Otlp`]).
    pub fn format(mut self, format: LineFormat) -> Self {
        self.format = format;
        self
    }

    /// The write buffer's size in bytes (default 64 KiB; at least 1).
    pub fn buffer_capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes.max(1);
        self
    }

    /// With [`Self::file`]: append to an existing file instead of truncating it (default: false).
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// An exporter writing to `out`.
    pub fn writer<W: Write + Send + 'static>(self, out: W) -> JsonLinesExporter<W> {
        JsonLinesExporter {
            out: BufWriter::with_capacity(self.capacity, out),
            format: self.format,
            line: Vec::new(),
            broken_line: false,
            shut_down: false,
        }
    }

    /// An exporter writing to the file at `path`, created if missing.
    pub fn file(self, path: impl AsRef<Path>) -> io::Result<JsonLinesExporter<File>> {
        let mut options = OpenOptions::new();
        options.create(true);
        if self.append {
            options.append(true);
        } else {
            options.write(true).truncate(true);
        }
        let file = options.open(path)?;
        Ok(self.writer(file))
    }
}

/// A [`SpanExporter`] writing one JSON line per batch through a [`BufWriter`].
///
/// `flush` flushes the buffer and the writer; `shutdown` flushes, and later exports fail with
/// a permanent error. Each line is encoded in memory first, then written whole; if writing
/// fails part-way, the next line starts with a newline, so one bad line never swallows the
/// next.
///
/// ```
/// use reqtrace_core::{Resource, SpanExporter};
/// use reqtrace_export_json::JsonLinesExporter;
///
/// let mut exporter = JsonLinesExporter::builder().writer(Vec::new());
/// exporter.export(&[], &Resource::new("api")).unwrap();
/// exporter.flush().unwrap();
/// let bytes = exporter.into_inner().unwrap();
/// let line: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
/// assert!(line["resourceSpans"].is_array());
/// ```
#[derive(Debug)]
pub struct JsonLinesExporter<W: Write> {
    out: BufWriter<W>,
    format: LineFormat,
    /// The line being encoded (reused between batches).
    line: Vec<u8>,
    /// The last write failed part-way: a partial line may be in the output.
    broken_line: bool,
    shut_down: bool,
}

impl JsonLinesExporter<File> {
    /// An OTLP JSON-lines exporter to the file at `path` (created or truncated).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        JsonLinesExporterBuilder::default().file(path)
    }

    /// A builder with the defaults: OTLP lines, a 64 KiB buffer, files truncated.
    pub fn builder() -> JsonLinesExporterBuilder {
        JsonLinesExporterBuilder::default()
    }
}

impl<W: Write> JsonLinesExporter<W> {
    /// The line format.
    pub fn format(&self) -> LineFormat {
        self.format
    }

    /// The writer, after flushing the buffer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }

    /// Encodes `batch` as one line and writes it (buffered).
    pub fn write_batch(&mut self, batch: &[SpanData], resource: &Resource) -> io::Result<()> {
        self.line.clear();
        if self.broken_line {
            self.line.push(b'\n');
        }
        let mut w = JsonWriter::new(&mut self.line, Style::Compact);
        match self.format {
            LineFormat::Otlp => otlp_batch(&mut w, batch, resource)?,
            LineFormat::Native => native_batch(&mut w, batch, resource)?,
        }
        self.line.push(b'\n');
        match self.out.write_all(&self.line) {
            Ok(()) => {
                self.broken_line = false;
                // Keep a very large line's allocation from living on.
                if self.line.capacity() > 4 * 1024 * 1024 {
                    self.line = Vec::new();
                }
                Ok(())
            }
            Err(e) => {
                self.broken_line = true;
                Err(e)
            }
        }
    }
}

fn to_export_error(e: io::Error) -> ExportError {
    match e.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ExportError::transient(e.to_string())
        }
        _ => ExportError::permanent(e.to_string()),
    }
}

impl<W: Write + Send + 'static> SpanExporter for JsonLinesExporter<W> {
    fn export(&mut self, batch: &[SpanData], resource: &Resource) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::permanent("exporter is shut down"));
        }
        self.write_batch(batch, resource).map_err(to_export_error)
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(to_export_error)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        self.out.flush().map_err(to_export_error)
    }
}
