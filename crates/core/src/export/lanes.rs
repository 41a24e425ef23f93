//! Where chunks are exported: the worker's own exporter handle, plus up to
//! `max_concurrent_exports - 1` sender threads ("lanes"), each owning a handle from
//! [`SpanExporter::try_clone`]. The worker gives a chunk to an idle lane, or exports it itself
//! when every lane is busy, so at most `max_concurrent_exports` exports run at once and each
//! handle is used by one thread only.
//!
//! Each chunk is retried and counted where it is exported ([`send_chunk`]): exported or
//! dropped as failed, then taken off `in_flight`. Every exporter call is wrapped in
//! [`guarded`].

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::export::worker::Shared;
use crate::model::data::SpanData;
use crate::model::diagnostics::DiagnosticKind;
use crate::model::exporter::{ExportError, SpanExporter};
use crate::model::resource::Resource;
use crate::model::stats;

/// What the worker asks a lane to do.
enum Msg {
    Export(Vec<SpanData>),
    Flush,
    /// Flush, shut the handle down, drop it, and end the thread.
    Shutdown,
}

/// What a lane answers.
enum Event {
    /// A chunk was settled; the emptied buffer comes back for reuse.
    Exported {
        lane: usize,
        chunk: Vec<SpanData>,
        result: Result<(), ExportError>,
    },
    /// A `Flush` or `Shutdown` was done.
    Replied(Result<(), ExportError>),
}

struct Lane {
    tx: mpsc::Sender<Msg>,
    thread: JoinHandle<()>,
}

/// The worker's export handles (used from the worker thread only).
pub(super) struct Lanes {
    shared: Arc<Shared>,
    own: Box<dyn SpanExporter>,
    resource: Resource,
    lanes: Vec<Lane>,
    idle: Vec<usize>,
    busy: usize,
    events: mpsc::Receiver<Event>,
    /// Emptied chunk buffers, for the next chunks.
    spare: Vec<Vec<SpanData>>,
    /// The last export failure since the previous flush.
    last_error: Option<ExportError>,
}

impl Lanes {
    /// Starts one lane per extra handle the exporter gives, up to `max_concurrent_exports - 1`.
    pub fn new(shared: &Arc<Shared>, own: Box<dyn SpanExporter>, resource: Resource) -> Self {
        let (events_tx, events) = mpsc::channel();
        let mut lanes = Vec::new();
        let extra = shared.config.max_concurrent_exports.max(1) - 1;
        for id in 0..extra {
            let Some(handle) =
                catch_unwind(AssertUnwindSafe(|| own.try_clone())).unwrap_or_else(|p| {
                    drop_payload(p);
                    None
                })
            else {
                break;
            };
            let (tx, rx) = mpsc::channel();
            let (s, r, ev) = (Arc::clone(shared), resource.clone(), events_tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("reqtrace-export-{}", id + 1))
                .spawn(move || run_lane(id, &s, handle, &r, &rx, &ev));
            match spawned {
                Ok(thread) => lanes.push(Lane { tx, thread }),
                Err(_) => break,
            }
        }
        Lanes {
            shared: Arc::clone(shared),
            own,
            resource,
            idle: (0..lanes.len()).rev().collect(),
            lanes,
            busy: 0,
            events,
            spare: Vec::new(),
            last_error: None,
        }
    }

    /// Exports `chunk` on an idle lane, or here when every lane is busy; leaves `chunk` empty.
    pub fn export(&mut self, chunk: &mut Vec<SpanData>) {
        while let Ok(ev) = self.events.try_recv() {
            self.settle(ev);
        }
        while let Some(lane) = self.idle.pop() {
            let spare = self.spare.pop().unwrap_or_default();
            let full = std::mem::replace(chunk, spare);
            match self.lanes[lane].tx.send(Msg::Export(full)) {
                Ok(()) => {
                    self.busy += 1;
                    return;
                }
                // The lane is gone (it cannot be, short of a bug): take the chunk back.
                Err(mpsc::SendError(msg)) => {
                    if let Msg::Export(full) = msg {
                        *chunk = full;
                    }
                }
            }
        }
        let r = send_chunk(&self.shared, self.own.as_mut(), chunk, &self.resource);
        chunk.clear();
        self.note(r);
    }

    /// Waits for every lane's export, flushes every handle, and returns the last export
    /// failure since the previous flush, or the first flush failure.
    pub fn flush(&mut self) -> Result<(), ExportError> {
        self.on_every_handle(|| Msg::Flush, |h| guarded(|| h.flush()))
    }

    /// Waits for every lane's export, then flushes, shuts down and drops every handle and
    /// ends the lanes. Returns the last export failure since the previous flush, or the
    /// first flush or shutdown failure (a panic included).
    pub fn shutdown(mut self) -> Result<(), ExportError> {
        let result = self.on_every_handle(|| Msg::Shutdown, close);
        for lane in self.lanes {
            let _ = lane.thread.join();
        }
        drop_guarded(self.own);
        result
    }

    /// Once every lane is idle, sends `msg` to each and runs `here` on the worker's own
    /// handle meanwhile; then the last export failure since the previous flush, or the first
    /// failure among the answers.
    fn on_every_handle(
        &mut self,
        msg: fn() -> Msg,
        here: fn(&mut dyn SpanExporter) -> Result<(), ExportError>,
    ) -> Result<(), ExportError> {
        self.wait_idle();
        let asked = self
            .lanes
            .iter()
            .filter(|l| l.tx.send(msg()).is_ok())
            .count();
        let mut result = here(self.own.as_mut());
        for _ in 0..asked {
            match self.events.recv() {
                Ok(Event::Replied(r)) => result = result.and(r),
                Ok(ev) => self.settle(ev),
                Err(_) => break,
            }
        }
        match self.last_error.take() {
            Some(e) => Err(e),
            None => result,
        }
    }

    fn wait_idle(&mut self) {
        while self.busy > 0 {
            match self.events.recv() {
                Ok(ev) => self.settle(ev),
                Err(_) => return,
            }
        }
    }

    fn settle(&mut self, ev: Event) {
        if let Event::Exported {
            lane,
            chunk,
            result,
        } = ev
        {
            self.busy -= 1;
            self.idle.push(lane);
            self.spare.push(chunk);
            self.note(result);
        }
    }

    fn note(&mut self, r: Result<(), ExportError>) {
        if let Err(e) = r {
            self.last_error = Some(e);
        }
    }
}

fn run_lane(
    id: usize,
    s: &Shared,
    mut handle: Box<dyn SpanExporter>,
    resource: &Resource,
    rx: &mpsc::Receiver<Msg>,
    events: &mpsc::Sender<Event>,
) {
    while let Ok(msg) = rx.recv() {
        let reply = match msg {
            Msg::Export(mut chunk) => {
                let result = send_chunk(s, handle.as_mut(), &chunk, resource);
                chunk.clear();
                Event::Exported {
                    lane: id,
                    chunk,
                    result,
                }
            }
            Msg::Flush => Event::Replied(guarded(|| handle.flush())),
            Msg::Shutdown => {
                let _ = events.send(Event::Replied(close(handle.as_mut())));
                break;
            }
        };
        if events.send(reply).is_err() {
            break;
        }
    }
    drop_guarded(handle);
}

/// Flushes and shuts down a handle.
fn close(handle: &mut dyn SpanExporter) -> Result<(), ExportError> {
    let flushed = guarded(|| handle.flush());
    let shut = guarded(|| handle.shutdown());
    flushed.and(shut)
}

/// Exports one chunk, retrying transient failures with backoff (never past the shutdown
/// deadline), and counts it: exported, or dropped as failed. Then takes it off `in_flight`.
pub(super) fn send_chunk(
    s: &Shared,
    exporter: &mut dyn SpanExporter,
    spans: &[SpanData],
    resource: &Resource,
) -> Result<(), ExportError> {
    let c = &s.counters;
    let n = spans.len() as u64;
    let mut backoff = s.config.initial_backoff;
    let mut attempt = 0;
    let result = loop {
        match guarded(|| exporter.export(spans, resource)) {
            Ok(()) => break Ok(()),
            Err(e @ ExportError::Transient { .. }) if attempt < s.config.max_retries => {
                let hint = match &e {
                    ExportError::Transient {
                        retry_after_ms: Some(ms),
                        ..
                    } => std::time::Duration::from_millis(*ms),
                    _ => backoff,
                };
                let delay = hint.min(s.config.max_backoff);
                s.report(DiagnosticKind::ExportFailed, || {
                    format!(
                        "export of {n} spans failed (attempt {} of {}): {e}; retrying in {delay:?}",
                        attempt + 1,
                        s.config.max_retries + 1
                    )
                });
                if !s.sleep_before_retry(delay) {
                    break Err(e);
                }
                attempt += 1;
                stats::add(&c.export_retries, 1);
                backoff = backoff.saturating_mul(2).min(s.config.max_backoff);
            }
            Err(e) => break Err(e),
        }
    };
    match &result {
        Ok(()) => {
            stats::add(&c.exported, n);
            if !s.retain {
                stats::add(&c.delivered, n);
            }
        }
        Err(e) => {
            stats::add(&c.export_failed_batches, 1);
            s.count_failed(n);
            s.report(DiagnosticKind::SpansDropped, || {
                format!(
                    "export of {n} spans failed after {} attempts, spans dropped: {e}",
                    attempt + 1
                )
            });
        }
    }
    stats::sub(&c.export_in_flight, n);
    result
}

/// Runs an exporter call, turning a panic into a permanent error.
fn guarded(f: impl FnOnce() -> Result<(), ExportError>) -> Result<(), ExportError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        drop_payload(payload);
        Err(ExportError::permanent(format!("exporter panicked: {what}")))
    })
}

/// Drops an exporter handle, containing a panic in its `Drop`.
fn drop_guarded(handle: Box<dyn SpanExporter>) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(handle))) {
        drop_payload(p);
    }
}

/// Drops a panic payload without letting a panic in the payload's own `Drop` escape.
///
/// The payload is dropped (not leaked) so that an exporter that panics on every call costs no
/// memory; only if that drop panics is the *second* payload leaked with `mem::forget`, since
/// dropping it could panic again, and so on without end. One leak per panic of a payload's
/// `Drop`: a bug of the exporter, and bounded by how often it has it.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}
