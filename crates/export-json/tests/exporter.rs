//! The JSON-lines exporter and the three-files convenience.

mod common;

use std::io::{self, BufReader, Write};
use std::sync::{Arc, Mutex};

use common::*;
use reqtrace_core::{ExportError, KeyValue, Resource, SpanData, SpanExporter};
use reqtrace_export_json::{
    JsonLinesExporter, LineFormat, NativeBatch, read_native, read_native_lines, write_all_formats,
};
use serde_json::Value as Json;

/// A writer whose bytes the test can watch while the exporter owns it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Shared {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn batches() -> (Vec<Vec<SpanData>>, Resource) {
    let traces = with_non_finite();
    let all: Vec<SpanData> = traces.iter().flat_map(|t| t.spans.clone()).collect();
    let (a, b) = all.split_at(5);
    let mut resource = Resource::new("exporter-test");
    resource.attributes = vec![KeyValue::new("deployment.environment", "test")];
    (vec![a.to_vec(), b.to_vec(), Vec::new()], resource)
}

#[test]
fn otlp_lines_are_buffered_until_flush_and_each_is_a_valid_request() {
    let (batches, resource) = batches();
    let sink = Shared::default();
    let mut exporter = JsonLinesExporter::builder().writer(sink.clone());
    assert_eq!(exporter.format(), LineFormat::Otlp);
    for b in &batches {
        exporter.export(b, &resource).unwrap();
    }
    assert!(
        sink.bytes().is_empty(),
        "nothing reaches the writer before a flush"
    );
    exporter.flush().unwrap();
    let bytes = sink.bytes();
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), batches.len());
    assert!(text.ends_with('\n'));
    let dir = temp_dir("lines");
    for (i, (line, batch)) in lines.iter().zip(&batches).enumerate() {
        let doc: Json = serde_json::from_str(line).unwrap();
        let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap();
        assert_eq!(spans.len(), batch.len());
        for (j, s) in spans.iter().zip(batch) {
            assert_eq!(j["spanId"], s.span_id.to_string());
        }
        let path = dir.join(format!("line{i}.json"));
        std::fs::write(&path, line).unwrap();
        assert_otlp_valid(&path);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn native_lines_read_back_as_the_batches() {
    let (batches, resource) = batches();
    // Without NaN, so equality is exact.
    let batches: Vec<Vec<SpanData>> = batches
        .into_iter()
        .map(|b| {
            b.into_iter()
                .map(|mut s| {
                    s.attributes
                        .retain(|kv| kv.value.as_f64().is_none_or(f64::is_finite));
                    s.attributes
                        .retain(|kv| !matches!(kv.key.as_ref(), "floats" | "http.route"));
                    s.events
                        .iter_mut()
                        .for_each(|e| e.attributes.retain(|kv| kv.key != "jitter"));
                    s
                })
                .collect()
        })
        .collect();
    let mut exporter = JsonLinesExporter::builder()
        .format(LineFormat::Native)
        .buffer_capacity(16)
        .writer(Vec::new());
    for b in &batches {
        exporter.export(b, &resource).unwrap();
    }
    exporter.shutdown().unwrap();
    let bytes = exporter.into_inner().unwrap();
    let read: Vec<NativeBatch> = read_native_lines(BufReader::new(&bytes[..]))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(read.len(), batches.len());
    for (r, b) in read.iter().zip(&batches) {
        assert_eq!(&r.resource, &resource);
        assert_eq!(&r.spans, b);
    }
}

#[test]
fn export_after_shutdown_is_a_permanent_error() {
    let mut exporter = JsonLinesExporter::builder().writer(Vec::new());
    exporter.shutdown().unwrap();
    let err = exporter.export(&[], &Resource::new("x")).unwrap_err();
    assert!(matches!(err, ExportError::Permanent(_)), "{err}");
}

/// Accepts `budget` bytes, then fails until `budget` is raised again.
#[derive(Clone, Default)]
struct Flaky {
    data: Arc<Mutex<Vec<u8>>>,
    budget: Arc<Mutex<usize>>,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut budget = self.budget.lock().unwrap();
        if *budget == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "slow disk"));
        }
        let n = buf.len().min(*budget);
        *budget -= n;
        self.data.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_never_corrupts_the_next_line() {
    let (batches, resource) = batches();
    let sink = Flaky::default();
    *sink.budget.lock().unwrap() = 100;
    let mut exporter = JsonLinesExporter::builder()
        .buffer_capacity(1)
        .writer(sink.clone());
    let err = exporter.export(&batches[0], &resource).unwrap_err();
    assert!(matches!(err, ExportError::Transient { .. }), "{err}");
    *sink.budget.lock().unwrap() = usize::MAX;
    exporter.export(&batches[1], &resource).unwrap();
    exporter.flush().unwrap();
    let text = String::from_utf8(sink.data.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "the broken line, then the good one on its own line"
    );
    assert!(serde_json::from_str::<Json>(lines[0]).is_err());
    let good: Json = serde_json::from_str(lines[1]).unwrap();
    let n = good["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, batches[1].len());
}

#[test]
fn file_exporter_truncates_or_appends() {
    let dir = temp_dir("file");
    let path = dir.join("spans.jsonl");
    let (batches, resource) = batches();
    let mut e = JsonLinesExporter::create(&path).unwrap();
    e.export(&batches[0], &resource).unwrap();
    e.shutdown().unwrap();
    drop(e);
    let mut e = JsonLinesExporter::builder()
        .append(true)
        .file(&path)
        .unwrap();
    e.export(&batches[1], &resource).unwrap();
    e.flush().unwrap();
    drop(e);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    let mut e = JsonLinesExporter::create(&path).unwrap();
    e.export(&batches[1], &resource).unwrap();
    drop(e); // dropping flushes the BufWriter too
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn write_all_formats_writes_four_valid_files() {
    let dir = temp_dir("all").join("nested/out");
    let traces = with_non_finite();
    let paths = write_all_formats(&dir, &traces, &Resource::new("api")).unwrap();
    assert_eq!(paths.native, dir.join("traces.json"));
    assert_eq!(paths.otlp, dir.join("traces.otlp.json"));
    assert_eq!(paths.chrome, dir.join("traces.chrome.json"));
    assert_eq!(paths.html, dir.join("traces.html"));
    let back = read_native(std::fs::File::open(&paths.native).unwrap()).unwrap();
    assert_eq!(back.len(), traces.len());
    assert_eq!(back[1..], traces[1..]);
    assert_otlp_valid(&paths.otlp);
    assert_chrome_valid(&paths.chrome);
    let mut page = Vec::new();
    reqtrace_export_json::write_html(&mut page, &traces).unwrap();
    assert_eq!(std::fs::read(&paths.html).unwrap(), page);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The CI script validates the same directory.
    let script = repo_root().join(".ci/validate-exports.sh");
    if script.exists() && tools_dir().exists() {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // And fails on a broken file.
        std::fs::write(&paths.chrome, b"{\"traceEvents\": [{\"ph\": \"X\"}]}").unwrap();
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(!out.status.success());
    } else {
        common::unavailable(".ci/validate-exports.sh or shared/tools missing");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn write_all_formats_reports_io_errors() {
    let file = temp_dir("notadir").join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(write_all_formats(file.join("sub"), &fixture(), &Resource::new("api")).is_err());
}
