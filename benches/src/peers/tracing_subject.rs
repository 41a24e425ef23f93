//! tokio `tracing` 0.1 with `tracing-subscriber`'s `Registry` and a recording layer, installed
//! as the global default subscriber (once per process).
//!
//! Per child span: `info_span!` checks the callsite's interest and calls `Registry::new_span`
//! (a slot in the sharded slab, parent = the current span); the [`RecordingLayer`] reads the
//! TSC start time and records every field as an owned value (`&str` is copied into a `String`)
//! into a `Vec` stored in the span's extensions (one boxed extension). `.entered()` pushes the
//! span on the thread's current-span stack. On drop: exit, then close; the layer takes the
//! extension, reads the end time, looks up the parent id and pushes a [`ClosedSpan`] into a
//! thread-local buffer. When a root (a span without parent) closes, the buffer is handed to
//! the consumer, which counts it.
//!
//! Unsampled: `tracing` has no sampler; the nearest thing is a disabled span. The subscriber
//! has a `LevelFilter::INFO`, so `trace_span!` root and children are disabled at the callsite.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, info_span, trace_span};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::floor::now;
use crate::{Counters, Subject};

/// An owned field value.
#[derive(Clone, Debug)]
pub enum OwnedValue {
    /// A string (copied).
    Str(String),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

/// A closed span as the layer records it.
#[derive(Clone, Debug)]
pub struct ClosedSpan {
    /// Name.
    pub name: &'static str,
    /// The registry's span id.
    pub id: u64,
    /// The parent's id.
    pub parent: Option<u64>,
    /// Start, raw TSC ticks.
    pub start: u64,
    /// End, raw TSC ticks.
    pub end: u64,
    /// Owned field values.
    pub fields: Vec<(&'static str, OwnedValue)>,
}

struct OpenSpan {
    start: u64,
    fields: Vec<(&'static str, OwnedValue)>,
}

struct Visitor<'a>(&'a mut Vec<(&'static str, OwnedValue)>);

impl Visit for Visitor<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), OwnedValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), OwnedValue::U64(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), OwnedValue::F64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), OwnedValue::Bool(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .push((field.name(), OwnedValue::Str(value.to_owned())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name(), OwnedValue::Str(format!("{value:?}"))));
    }
}

thread_local! {
    static CLOSED: RefCell<Vec<ClosedSpan>> = const { RefCell::new(Vec::new()) };
}

/// The layer that records closed spans with timestamps and owned field values.
#[derive(Debug)]
pub struct RecordingLayer {
    counters: Arc<Counters>,
}

impl RecordingLayer {
    /// A layer whose consumer counts what it receives in `counters`.
    pub fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }
}

impl<S> Layer<S> for RecordingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let start = now();
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Vec::new();
        if !attrs.fields().is_empty() {
            attrs.record(&mut Visitor(&mut fields));
        }
        span.extensions_mut().insert(OpenSpan { start, fields });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(open) = span.extensions_mut().get_mut::<OpenSpan>() {
            values.record(&mut Visitor(&mut open.fields));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let end = now();
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<OpenSpan>() else {
            return;
        };
        let parent = span.parent().map(|p| p.id().into_u64());
        let closed = ClosedSpan {
            name: span.name(),
            id: id.into_u64(),
            parent,
            start: open.start,
            end,
            fields: open.fields,
        };
        let batch = CLOSED.with_borrow_mut(|buf| {
            buf.push(closed);
            if parent.is_none() {
                Some(std::mem::take(buf))
            } else {
                None
            }
        });
        if let Some(batch) = batch {
            // The consumer: count what arrived, then drop it.
            crate::consume(&batch);
            self.counters.add_received(batch.len() as u64);
        }
    }
}

static COUNTERS: OnceLock<Arc<Counters>> = OnceLock::new();

/// `tracing` with `Registry` + `LevelFilter::INFO` + [`RecordingLayer`] as global default.
#[derive(Debug)]
pub struct Tracing {
    counters: Arc<Counters>,
}

impl Tracing {
    /// Installs the global subscriber on first use.
    pub fn new() -> Self {
        let counters = COUNTERS
            .get_or_init(|| {
                let counters = Arc::new(Counters::default());
                let subscriber =
                    tracing_subscriber::registry()
                        .with(LevelFilter::INFO)
                        .with(RecordingLayer {
                            counters: counters.clone(),
                        });
                tracing::subscriber::set_global_default(subscriber)
                    .expect("no other global tracing subscriber in the bench process");
                counters
            })
            .clone();
        Self { counters }
    }
}

impl Default for Tracing {
    fn default() -> Self {
        Self::new()
    }
}

impl Subject for Tracing {
    type Root<'a> = tracing::span::EnteredSpan;

    fn name(&self) -> &'static str {
        "tracing"
    }

    fn begin(&self) -> tracing::span::EnteredSpan {
        info_span!("root").entered()
    }

    #[inline]
    fn child(&self) {
        let _s = info_span!("child").entered();
    }

    #[inline]
    fn child_attrs(&self, model: &'static str, tokens: i64) {
        let _s = info_span!("child", model = model, tokens = tokens).entered();
    }

    fn end(&self, root: tracing::span::EnteredSpan) {
        drop(root);
    }

    fn begin_unsampled(&self) -> tracing::span::EnteredSpan {
        trace_span!("root").entered()
    }

    #[inline]
    fn unsampled_child(&self) {
        let _s = trace_span!("child").entered();
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}
