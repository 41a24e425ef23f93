//! Sustained export rate: `OtlpExporter::export` of 512-span batches, back to back, into an
//! in-process loopback receiver that reads each request and answers `200 {}` (keeping the
//! connection open when the client does). Throughput is spans per second; the receiver
//! counts the connections it accepted, printed at the end (1 = one connection reused).
//!
//! Run: `cargo bench -p reqtrace-otlp --bench export`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reqtrace_core::{RequestTracer, Resource, SpanData, SpanExporter};
use reqtrace_otlp::{OtlpExporter, Protocol};

const BATCH: usize = 512;

/// A minimal HTTP/1.1 receiver: one thread per connection, every request answered 200.
fn receiver() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let c = connections.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            c.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || serve(conn));
        }
    });
    (addr, connections)
}

fn serve(conn: TcpStream) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::with_capacity(64 * 1024, conn);
    let mut body = Vec::new();
    loop {
        let mut len = 0usize;
        let mut close = false;
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        w.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )?;
        if close {
            return Ok(());
        }
    }
}

/// `BATCH` spans shaped like the demo's: a root, children with two attributes.
fn spans() -> Vec<SpanData> {
    let tracer = RequestTracer::new("bench");
    tracer.start_trace();
    {
        let _root = tracer.start_span("handle_request");
        for i in 1..BATCH {
            let mut s = tracer.start_span("inference");
            s.set_attribute("model", "gpt-4o");
            s.set_attribute("tokens", i as i64);
        }
    }
    tracer.end_trace().unwrap().spans
}

fn export_rate(c: &mut Criterion) {
    let batch = spans();
    let resource = Resource::new("bench");
    let mut group = c.benchmark_group("export");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut protocols = vec![("json", Protocol::HttpJson)];
    if cfg!(feature = "proto") {
        protocols.push(("protobuf", Protocol::HttpProtobuf));
    }
    for (name, protocol) in protocols {
        let (addr, connections) = receiver();
        let mut exporter = OtlpExporter::builder()
            .endpoint(format!("http://{addr}"))
            .protocol(protocol)
            .build()
            .unwrap();
        let stats = exporter.stats();
        group.bench_function(format!("{name}/512 spans per request"), |b| {
            b.iter(|| exporter.export(&batch, &resource).unwrap())
        });
        let s = stats.snapshot();
        println!(
            "{name}: {} requests over {} connections",
            s.requests,
            connections.load(Ordering::Relaxed)
        );
    }
    group.finish();
}

criterion_group!(benches, export_rate);
criterion_main!(benches);
