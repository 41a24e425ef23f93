//! [`RequestTracerBuilder`]: how a [`RequestTracer`] is configured (service and resource,
//! sampler, limits, exporter, tail sampler) and built. Layer: the API.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::api::tracer::RequestTracer;
use crate::collect::tail_sampler::{TailSampler, TailState};
use crate::collect::tracer_state::{TracerInner, TracerParts};
use crate::export::worker::ExportWorker;
use crate::model::config::{BatchConfig, Limits};
use crate::model::exporter::SpanExporter;
use crate::model::resource::Resource;
use crate::model::sampler::Sampler;
use crate::model::stats::SharedCounters;
use crate::model::value::{KeyValue, Value};

/// Configuration for a [`RequestTracer`].
///
/// ```
/// use reqtrace_core::{Limits, RequestTracer, Sampler};
/// let tracer = RequestTracer::builder("api")
///     .sampler(Sampler::TraceIdRatio(0.25))
///     .limits(Limits::default().max_attributes_per_span(16))
///     .build();
/// assert_eq!(tracer.limits().max_attributes_per_span, 16);
/// ```
pub struct RequestTracerBuilder {
    resource: Resource,
    sampler: Sampler,
    limits: Limits,
    retain: Option<bool>,
    exporter: Option<Box<dyn SpanExporter>>,
    batch: BatchConfig,
    tail: Option<TailSampler>,
    detect: bool,
}

impl fmt::Debug for RequestTracerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTracerBuilder")
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("limits", &self.limits)
            .field("exporter", &self.exporter.is_some())
            .finish()
    }
}

impl RequestTracerBuilder {
    /// The defaults: every trace sampled, default limits, no exporter.
    pub(crate) fn new(service_name: impl Into<Cow<'static, str>>) -> Self {
        RequestTracerBuilder {
            resource: Resource::new(service_name),
            sampler: Sampler::AlwaysOn,
            limits: Limits::default(),
            retain: None,
            exporter: None,
            batch: BatchConfig::default(),
            tail: None,
            detect: false,
        }
    }

    /// Which traces are recorded (default: all).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Takes the sampler from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` when they are
    /// set; keeps the current one otherwise. Invalid values are reported and ignored
    /// ([`Sampler::from_env_with`], [`crate::model::diagnostics`]).
    pub fn sampler_from_env(self) -> Self {
        self.sampler_from_env_with(|k| std::env::var(k).ok())
    }

    /// [`RequestTracerBuilder::sampler_from_env`], reading the variables through `lookup`.
    pub fn sampler_from_env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(s) = Sampler::from_env_with(lookup) {
            self.sampler = s;
        }
        self
    }

    /// Memory bounds.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Adds what [`Resource::detected`] finds about the process (`service.instance.id`,
    /// `process.*`, `host.*`, `os.type`, `telemetry.sdk.*`) under the resource set in code:
    /// attributes given with [`RequestTracerBuilder::resource_attribute`] (before or after
    /// this call) win over detected ones.
    ///
    /// ```
    /// use reqtrace_core::RequestTracer;
    /// let tracer = RequestTracer::builder("api")
    ///     .resource_attribute("host.name", "web-1")
    ///     .detect_resource()
    ///     .build();
    /// let r = tracer.resource();
    /// assert_eq!(r.service_name, "api");
    /// assert!(r.attribute("process.pid").is_some());
    /// assert_eq!(r.attribute("host.name").and_then(|v| v.as_str()), Some("web-1"));
    /// ```
    pub fn detect_resource(mut self) -> Self {
        self.detect = true;
        self
    }

    /// Adds a resource attribute (e.g. `service.version`).
    pub fn resource_attribute(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Self {
        self.resource.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Streams finished spans to `exporter` from a worker thread, batched per `config`.
    /// Spans leave as they finish (a thread hands over a trace's spans when its batch fills
    /// or is older than `config.flush_interval`), so long-lived traces are exported too.
    pub fn exporter(mut self, exporter: impl SpanExporter, config: BatchConfig) -> Self {
        self.exporter = Some(Box::new(exporter));
        self.batch = config;
        self
    }

    /// Whether `end_trace` / [`crate::RootSpan::finish`] return the trace's spans. Default: yes
    /// without an exporter, no with one (spans then stream to the exporter as batches fill or
    /// age, and `end_trace` returns the trace's metadata with no spans). With both, each span
    /// is delivered to both: the exporter gets a trace's spans when the trace is finished.
    pub fn retain_traces(mut self, retain: bool) -> Self {
        self.retain = Some(retain);
        self
    }

    /// Keeps or drops whole traces when they finish, by the sampler's policies (slow ones,
    /// failed ones, matching ones, a rate per root name, a share of the rest): see
    /// [`TailSampler`]. Spans then wait in memory until their trace finishes (within the
    /// usual bounds) instead of streaming out as batches fill.
    pub fn tail_sampler(mut self, sampler: TailSampler) -> Self {
        self.tail = Some(sampler);
        self
    }

    /// Builds the tracer (and starts the export worker, if an exporter was given).
    pub fn build(mut self) -> RequestTracer {
        if self.detect {
            self.resource = Resource::detected().merge(self.resource);
        }
        let mut limits = self.limits;
        limits.batch_size = limits.batch_size.max(1);
        // A span's attribute count is stored in 16 bits; more are dropped and counted.
        limits.max_attributes_per_span = limits.max_attributes_per_span.min(usize::from(u16::MAX));
        let retain = self.retain.unwrap_or(self.exporter.is_none());
        let counters = Arc::new(SharedCounters::default());
        let flush_interval_nanos =
            u64::try_from(self.batch.flush_interval.as_nanos()).unwrap_or(u64::MAX);
        let exporter = self.exporter.map(|e| {
            ExportWorker::start(
                e,
                self.resource.clone(),
                self.batch.clone(),
                Arc::clone(&counters),
                retain,
            )
        });
        let inner = Arc::new(TracerInner::new(TracerParts {
            resource: self.resource,
            sampler: self.sampler,
            limits,
            retain,
            counters,
            exporter,
            flush_interval_nanos,
            tail: self.tail.map(TailState::new),
        }));
        RequestTracer::from_inner(inner)
    }
}
