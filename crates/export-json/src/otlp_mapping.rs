//! The OTLP mapping: what each field of an OTLP `ExportTraceServiceRequest` holds for reqtrace's
//! data. Defined once here; the OTLP/JSON writer ([`crate::write_otlp`],
//! [`crate::write_otlp_batch`]) and the protobuf encoder of `reqtrace-otlp` are two serializers
//! of it, so a file and the wire always carry the same resource, scope and span fields.
//!
//! A serializer implements [`OtlpSerializer`]; [`map_traces`] (whole traces) and [`map_batch`]
//! (a streamed batch) call it once per `ResourceSpans` and once per span, handing over views
//! ([`OtlpResource`], [`OtlpSpan`]) whose fields are the OTLP field values. The serializer only
//! decides how to write them (field names or numbers, the outer request envelope).
//!
//! ```
//! use reqtrace_core::{RequestTracer, Resource};
//! use reqtrace_export_json::otlp_mapping::{self, OtlpResource, OtlpSerializer, OtlpSpan};
//!
//! /// Collects span names per resource: the smallest serializer.
//! #[derive(Default)]
//! struct Names(Vec<(String, Vec<String>)>);
//! impl OtlpSerializer for Names {
//!     type Error = std::convert::Infallible;
//!     fn begin_resource_spans(&mut self, r: &OtlpResource<'_>) -> Result<(), Self::Error> {
//!         Ok(self.0.push((r.service_name().to_owned(), Vec::new())))
//!     }
//!     fn span(&mut self, s: &OtlpSpan<'_>) -> Result<(), Self::Error> {
//!         Ok(self.0.last_mut().unwrap().1.push(s.name.to_owned()))
//!     }
//!     fn end_resource_spans(&mut self) -> Result<(), Self::Error> {
//!         Ok(())
//!     }
//! }
//!
//! let tracer = RequestTracer::new("api");
//! tracer.start_trace();
//! drop(tracer.start_span("handle"));
//! let trace = tracer.end_trace().unwrap();
//! let mut names = Names::default();
//! otlp_mapping::map_traces(&mut names, &[trace], tracer.resource()).unwrap();
//! assert_eq!(names.0, [("api".to_owned(), vec!["handle".to_owned()])]);
//! ```
//!
//! The mapping:
//! - **resource**: `service.name`, then `telemetry.sdk.name` / `.language` / `.version` (unless
//!   the resource sets them), then the resource's attributes (each key once, the last wins);
//!   whole traces are grouped into one `ResourceSpans` per service, in order of first
//!   appearance, and the given [`Resource`]'s attributes go on the resource of its service;
//! - **scope**: [`SCOPE_NAME`], version [`SCOPE_VERSION`]; one `ScopeSpans` per resource;
//! - **span**: ids; `traceState` from the trace (none for a streamed batch); `flags` = the W3C
//!   trace flags (known bits) | [`FLAGS_HAS_IS_REMOTE`] | [`FLAGS_IS_REMOTE`] for the child of a
//!   remote parent; kind internal 1, server 2, client 3, producer 4, consumer 5; an end before
//!   the start (impossible from core) as the start; status unset 0, ok 1, error 2 with
//!   [`SpanData::error`] as the message; the dropped counts; no links;
//! - **span attributes**, in this order: `thread.id` and `thread.name` (semantic conventions;
//!   unless the span or its trace set them), the trace's attributes on its root spans (spans
//!   with no parent or a remote one; the span's own value of a key wins), the span's own
//!   attributes, and `reqtrace.unfinished: true` for a span still open when its trace ended.
//!   Each key is written once, with the value it was last set to;
//! - **event attributes**: each key once, the last wins.

use reqtrace_core::{
    Event, KeyValue, Link, Resource, SpanData, SpanId, SpanKind, StatusCode, Trace, TraceId, Value,
};

use crate::last_wins::last_wins;

/// The instrumentation scope name (and `telemetry.sdk.name`).
pub const SCOPE_NAME: &str = "reqtrace";

/// The instrumentation scope version (and `telemetry.sdk.version`): this crate's version.
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: the span says whether its parent is remote.
pub const FLAGS_HAS_IS_REMOTE: u32 = 0x100;

/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: the span's parent is remote.
pub const FLAGS_IS_REMOTE: u32 = 0x200;

/// An OTLP `AnyValue`, borrowed from reqtrace's data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnyValue<'a> {
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value` (may be NaN or infinite: proto3 JSON writes those as strings).
    Double(f64),
    /// `string_value`.
    String(&'a str),
    /// `array_value`; each element maps with [`AnyValue::from`].
    Array(&'a [Value]),
}

impl<'a> From<&'a Value> for AnyValue<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Bool(b) => AnyValue::Bool(*b),
            Value::I64(i) => AnyValue::Int(*i),
            Value::F64(f) => AnyValue::Double(*f),
            Value::String(s) => AnyValue::String(s),
            Value::Array(items) => AnyValue::Array(items),
        }
    }
}

/// An OTLP attribute: key and value.
pub type Attribute<'a> = (&'a str, AnyValue<'a>);

fn attribute(kv: &KeyValue) -> Attribute<'_> {
    (&kv.key, AnyValue::from(&kv.value))
}

fn has_key(attrs: &[KeyValue], key: &str) -> bool {
    attrs.iter().any(|kv| kv.key == key)
}

/// The OTLP number of a span kind (`Span.SpanKind`).
pub fn span_kind(kind: SpanKind) -> i32 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The OTLP number of a status code (`Status.StatusCode`).
pub fn status_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    }
}

/// One `ResourceSpans`' resource.
#[derive(Clone, Copy, Debug)]
pub struct OtlpResource<'a> {
    service_name: &'a str,
    attributes: &'a [KeyValue],
}

impl<'a> OtlpResource<'a> {
    /// The value of `service.name`.
    pub fn service_name(&self) -> &'a str {
        self.service_name
    }

    /// The resource's attributes, in the order to write them (see the module docs).
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + use<'a> {
        let extra = self.attributes;
        let sdk = [
            ("telemetry.sdk.name", SCOPE_NAME),
            ("telemetry.sdk.language", "rust"),
            ("telemetry.sdk.version", SCOPE_VERSION),
        ];
        std::iter::once(("service.name", AnyValue::String(self.service_name)))
            .chain(
                sdk.into_iter()
                    .filter(move |(k, _)| !has_key(extra, k))
                    .map(|(k, v)| (k, AnyValue::String(v))),
            )
            .chain(
                last_wins(extra)
                    .filter(|kv| kv.key != "service.name")
                    .map(attribute),
            )
    }
}

/// What a span's trace adds to it (nothing, for a streamed batch).
#[derive(Clone, Copy, Default)]
struct TraceContext<'a> {
    flags: Option<u8>,
    trace_state: Option<&'a str>,
    remote_parent: Option<SpanId>,
    attributes: &'a [KeyValue],
}

/// One OTLP `Span`: each public field is the value of the field of the same name.
#[derive(Clone, Copy, Debug)]
pub struct OtlpSpan<'a> {
    /// `trace_id`.
    pub trace_id: TraceId,
    /// `span_id`.
    pub span_id: SpanId,
    /// `trace_state`, when there is one (never empty).
    pub trace_state: Option<&'a str>,
    /// `parent_span_id`; `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// `flags`: W3C trace flags and the parent-is-remote bits.
    pub flags: u32,
    /// `name`.
    pub name: &'a str,
    /// `kind`, as its OTLP number (see [`span_kind`]).
    pub kind: i32,
    /// `start_time_unix_nano`.
    pub start_time_unix_nano: u64,
    /// `end_time_unix_nano` (never before the start).
    pub end_time_unix_nano: u64,
    /// `dropped_attributes_count`.
    pub dropped_attributes_count: u32,
    /// `events`; write each with [`event_attributes`] for its attributes.
    pub events: &'a [Event],
    /// `dropped_events_count`.
    pub dropped_events_count: u32,
    /// `links`; write each with [`link_flags`] and [`link_attributes`].
    pub links: &'a [Link],
    /// `dropped_links_count`.
    pub dropped_links_count: u32,
    /// `status.code`, as its OTLP number (see [`status_code`]).
    pub status_code: i32,
    /// `status.message`, when there is one.
    pub status_message: Option<&'a str>,
    data: &'a SpanData,
    /// The trace's attributes when this is a root span of a whole trace.
    root_attributes: &'a [KeyValue],
}

impl<'a> OtlpSpan<'a> {
    fn new(s: &'a SpanData, ctx: &TraceContext<'a>) -> Self {
        let remote_child =
            s.parent_is_remote || (s.parent_id.is_some() && s.parent_id == ctx.remote_parent);
        let is_root = s.parent_id.is_none() || remote_child;
        let w3c = ctx.flags.unwrap_or_else(|| s.trace_flags.known().to_u8());
        let remote = if remote_child { FLAGS_IS_REMOTE } else { 0 };
        OtlpSpan {
            trace_id: s.trace_id,
            span_id: s.span_id,
            trace_state: ctx.trace_state,
            parent_span_id: s.parent_id,
            flags: u32::from(w3c) | FLAGS_HAS_IS_REMOTE | remote,
            name: &s.name,
            kind: span_kind(s.kind),
            start_time_unix_nano: s.start_unix_nanos,
            end_time_unix_nano: s.end_unix_nanos.max(s.start_unix_nanos),
            dropped_attributes_count: s.dropped_attributes_count,
            events: &s.events,
            dropped_events_count: s.dropped_events_count,
            links: &s.links,
            dropped_links_count: s.dropped_links_count,
            status_code: status_code(s.status),
            status_message: s.error.as_deref(),
            data: s,
            root_attributes: if is_root { ctx.attributes } else { &[] },
        }
    }

    /// Calls `f` with each of the span's attributes, in the order to write them (see the
    /// module docs), stopping at the first `Err`.
    pub fn try_for_each_attribute<E>(
        &self,
        mut f: impl FnMut(&'a str, AnyValue<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        let s = self.data;
        let own = &s.attributes[..];
        let root = self.root_attributes;
        let set_by_data = |k: &str| has_key(own, k) || has_key(root, k);
        if !set_by_data("thread.id") {
            f(
                "thread.id",
                AnyValue::Int(i64::try_from(s.thread_id).unwrap_or(i64::MAX)),
            )?;
        }
        if let Some(name) = s.thread_name.as_deref()
            && !set_by_data("thread.name")
        {
            f("thread.name", AnyValue::String(name))?;
        }
        if !root.is_empty() {
            for kv in last_wins(root).filter(|kv| !has_key(own, &kv.key)) {
                f(&kv.key, AnyValue::from(&kv.value))?;
            }
        }
        for kv in last_wins(own) {
            f(&kv.key, AnyValue::from(&kv.value))?;
        }
        if s.unfinished && !set_by_data("reqtrace.unfinished") {
            f("reqtrace.unfinished", AnyValue::Bool(true))?;
        }
        Ok(())
    }
}

/// An event's attributes, in the order to write them: each key once, the last wins.
pub fn event_attributes(e: &Event) -> impl Iterator<Item = Attribute<'_>> {
    last_wins(&e.attributes).map(attribute)
}

/// A link's `flags`: the linked span's W3C trace flags (known bits) | [`FLAGS_HAS_IS_REMOTE`]
/// | [`FLAGS_IS_REMOTE`] when the linked context came from another process.
pub fn link_flags(l: &Link) -> u32 {
    let remote = if l.context.is_remote {
        FLAGS_IS_REMOTE
    } else {
        0
    };
    u32::from(l.context.trace_flags.known().to_u8()) | FLAGS_HAS_IS_REMOTE | remote
}

/// A link's attributes, in the order to write them: each key once, the last wins.
pub fn link_attributes(l: &Link) -> impl Iterator<Item = Attribute<'_>> {
    last_wins(&l.attributes).map(attribute)
}

/// A serializer of the mapping: called by [`map_traces`] and [`map_batch`] with each
/// `ResourceSpans` (opened, its spans, closed) in document order.
pub trait OtlpSerializer {
    /// What writing can fail with.
    type Error;

    /// Opens a `ResourceSpans`: writes its resource and the scope ([`SCOPE_NAME`],
    /// [`SCOPE_VERSION`]) of its one `ScopeSpans`, whose spans follow.
    fn begin_resource_spans(&mut self, resource: &OtlpResource<'_>) -> Result<(), Self::Error>;

    /// Writes one span of the open `ScopeSpans`.
    fn span(&mut self, span: &OtlpSpan<'_>) -> Result<(), Self::Error>;

    /// Closes the `ScopeSpans` and the `ResourceSpans`.
    fn end_resource_spans(&mut self) -> Result<(), Self::Error>;
}

/// Maps whole traces: one `ResourceSpans` per service in order of first appearance; the
/// resource of `resource.service_name`'s traces carries `resource`'s attributes, other
/// services only their name. Spans carry their trace's trace state and flags; root spans carry
/// the trace's attributes.
pub fn map_traces<S: OtlpSerializer>(
    s: &mut S,
    traces: &[Trace],
    resource: &Resource,
) -> Result<(), S::Error> {
    let mut services: Vec<&str> = Vec::new();
    for t in traces {
        if !services.contains(&&*t.service_name) {
            services.push(&t.service_name);
        }
    }
    for service in services {
        let attributes: &[KeyValue] = if service == resource.service_name {
            &resource.attributes
        } else {
            &[]
        };
        s.begin_resource_spans(&OtlpResource {
            service_name: service,
            attributes,
        })?;
        for t in traces.iter().filter(|t| t.service_name == service) {
            let ctx = TraceContext {
                flags: Some(t.trace_flags.known().to_u8()),
                trace_state: t.trace_state.as_deref().filter(|s| !s.is_empty()),
                remote_parent: t.remote_parent_id,
                attributes: &t.attributes,
            };
            for span in &t.spans {
                s.span(&OtlpSpan::new(span, &ctx))?;
            }
        }
        s.end_resource_spans()?;
    }
    Ok(())
}

/// Maps one streamed batch: one `ResourceSpans` for `resource`; each span's flags and
/// parent-is-remote come from the span itself (a batch carries no trace state).
pub fn map_batch<S: OtlpSerializer>(
    s: &mut S,
    spans: &[SpanData],
    resource: &Resource,
) -> Result<(), S::Error> {
    s.begin_resource_spans(&OtlpResource {
        service_name: &resource.service_name,
        attributes: &resource.attributes,
    })?;
    let ctx = TraceContext::default();
    for span in spans {
        s.span(&OtlpSpan::new(span, &ctx))?;
    }
    s.end_resource_spans()
}
