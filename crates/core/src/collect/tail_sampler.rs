//! Tail sampling in the process: deciding which traces to keep *after* they finish, when it is
//! known which were slow or failed — what OpenTelemetry offers only in the Collector
//! (`tailsamplingprocessor`). Layer: with the span records (it reads finished data only).
//!
//! A [`TailSampler`] is a list of [`TailPolicy`]s, asked in order when a trace is assembled
//! (before the exporter gets it and before `end_trace` / [`crate::RootSpan::finish`] return it).
//! Each policy keeps the trace, drops it, or has no opinion; the first that decides wins, and
//! a trace no policy kept is dropped. A kept trace says why: its local root spans get the
//! attribute `sampling.rule` = the policy's name. Drops are counted per policy
//! ([`crate::RequestTracer::tail_sampling_stats`]) and their spans in
//! [`crate::DroppedSpans::tail_sampled`].
//!
//! ```
//! use std::time::Duration;
//! use reqtrace_core::{RequestTracer, TailPolicy, TailSampler};
//!
//! let tracer = RequestTracer::builder("api")
//!     .tail_sampler(
//!         TailSampler::new()
//!             .policy(TailPolicy::Error)                                  // every failed trace
//!             .policy(TailPolicy::Latency(Duration::from_millis(500)))    // every slow one
//!             .policy(TailPolicy::RateLimit { per_second: 10 })           // then 10/s per route
//!             .policy(TailPolicy::Probabilistic(0.01)),                   // then 1% of the rest
//!     )
//!     .build();
//! let mut root = tracer.start_root("GET /users");
//! root.set_error("timeout");
//! let trace = root.finish();
//! assert_eq!(trace.spans.len(), 1);
//! let rule = trace.spans[0].attribute("sampling.rule").unwrap();
//! assert_eq!(rule.as_str(), Some("error"));
//! ```
//!
//! **Across services.** A trace continued from another service (it has a remote parent) is
//! kept whole by default, whatever the policies say ([`ContinuedTraces::Keep`]; rule
//! `continued`): the service where the trace entered decides, and a downstream service must
//! not drop its half of a trace the entry keeps (a fast downstream half of a slow request
//! would be lost). The entry's head sampling decision still applies downstream (an unsampled
//! trace records nothing there). The cost: downstream halves of traces the entry drops are
//! kept too. To drop whole traces across services consistently, send every span to an
//! OpenTelemetry Collector that routes by trace id (`loadbalancing` exporter) to one running
//! the `tail_sampling` processor; [`ContinuedTraces::Decide`] applies the policies here as well
//! (e.g. when the upstream service does not tail-sample and only consistent rules such as
//! [`TailPolicy::Probabilistic`] are used).
//!
//! Waiting for the decision costs memory: a tracer with a tail sampler holds every trace's
//! spans until it finishes, within the same bounds as any buffered span
//! (`max_buffered_spans`, `max_spans_per_trace`, `max_open_traces`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::model::ids::TraceId;
use crate::model::value::{KeyValue, Value};
use crate::util::clock;

/// The attribute a kept trace's local roots get: which policy kept it.
pub const SAMPLING_RULE_KEY: &str = "sampling.rule";

/// The rule name of traces kept because they were continued ([`ContinuedTraces::Keep`]).
const CONTINUED_RULE: &str = "continued";

/// One rule of a [`TailSampler`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TailPolicy {
    /// Keep a trace with a span whose status is error. Name: `error`.
    Error,
    /// Keep a trace that lasted at least this long (from its first span's start to its last
    /// span's end). Name: `latency`.
    Latency(Duration),
    /// Keep a trace slower than the given percentile (0–100, e.g. 99.0) of recent traces with
    /// the same root span name (a window of the last `window` durations per name; nothing is
    /// kept by this rule until `min_samples` were seen for the name). Name: `latency_percentile`.
    LatencyPercentile {
        /// The percentile, 0–100.
        percentile: f64,
        /// Recent durations kept per root name.
        window: usize,
        /// Durations needed before the rule keeps anything.
        min_samples: usize,
    },
    /// Keep a trace with a span that has attribute `key` equal to `value`. Name:
    /// `attribute:{key}`.
    Attribute {
        /// The attribute key.
        key: Cow<'static, str>,
        /// The value it must have.
        value: Value,
    },
    /// Keep up to `per_second` traces per second per root span name; over that, drop (this
    /// rule decides both ways). Name: `rate_limit`.
    RateLimit {
        /// Traces kept per second per root name.
        per_second: u32,
    },
    /// Keep this share (0–1) of traces, by trace id (the same trace gets the same decision in
    /// every service that uses the same ratio); drop the rest (decides both ways). Name:
    /// `probabilistic`.
    Probabilistic(f64),
}

impl TailPolicy {
    /// The policy's name, as recorded in `sampling.rule` and in the statistics.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            TailPolicy::Error => "error".into(),
            TailPolicy::Latency(_) => "latency".into(),
            TailPolicy::LatencyPercentile { .. } => "latency_percentile".into(),
            TailPolicy::Attribute { key, .. } => format!("attribute:{key}").into(),
            TailPolicy::RateLimit { .. } => "rate_limit".into(),
            TailPolicy::Probabilistic(_) => "probabilistic".into(),
        }
    }
}

/// What a [`TailSampler`] does with a trace continued from another service (one with a
/// remote parent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContinuedTraces {
    /// Keep it whole: the entry service decides (the default; rule name `continued`). Never
    /// stores half of a trace the entry keeps.
    #[default]
    Keep,
    /// Apply the policies as to any trace. Safe only with rules every service decides alike
    /// (by trace id), or when the upstream does not sample by tail.
    Decide,
}

/// Keeps or drops whole traces when they finish ([`crate::RequestTracerBuilder::tail_sampler`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TailSampler {
    policies: Vec<TailPolicy>,
    continued: ContinuedTraces,
}

impl TailSampler {
    /// A sampler with no policy (it would drop everything: add policies).
    pub fn new() -> Self {
        TailSampler::default()
    }

    /// Adds a policy, asked after the ones added before it.
    pub fn policy(mut self, policy: TailPolicy) -> Self {
        self.policies.push(policy);
        self
    }

    /// The policies, in order.
    pub fn policies(&self) -> &[TailPolicy] {
        &self.policies
    }

    /// What to do with traces continued from another service (default
    /// [`ContinuedTraces::Keep`]: keep them whole, the entry service decides).
    pub fn continued_traces(mut self, continued: ContinuedTraces) -> Self {
        self.continued = continued;
        self
    }
}

/// What one policy decided so far ([`crate::RequestTracer::tail_sampling_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TailRuleStats {
    /// The policy's name (`"default"`: traces no policy decided, dropped).
    pub rule: String,
    /// Traces it kept.
    pub kept: u64,
    /// Traces it dropped.
    pub dropped: u64,
    /// Spans in the traces it dropped.
    pub dropped_spans: u64,
}

/// The decision for one trace.
pub(crate) struct Decision {
    pub keep: bool,
    /// Index of the deciding policy (`policies.len()`: none decided).
    pub rule: usize,
}

/// A [`TailSampler`] at work: its policies and the state some of them keep.
pub(crate) struct TailState {
    policies: Vec<TailPolicy>,
    names: Vec<Cow<'static, str>>,
    continued: ContinuedTraces,
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per policy (and one more for "default"): kept, dropped, dropped spans.
    counts: Vec<[u64; 3]>,
    /// Per root name: recent durations (ns), ring position.
    windows: HashMap<String, (Vec<u64>, usize)>,
    /// Per root name: the current second and how many were kept in it.
    rates: HashMap<String, (u64, u32)>,
    epoch: Option<Instant>,
}

/// How many root names the per-name state follows at most (more share one entry: hostile
/// span names must not grow memory).
const MAX_NAMES: usize = 1_024;

/// The state kept for root name `name` (names past [`MAX_NAMES`] share one entry).
fn per_name<'m, V: Default>(map: &'m mut HashMap<String, V>, name: &str) -> &'m mut V {
    let key = if map.contains_key(name) || map.len() < MAX_NAMES {
        name
    } else {
        "\u{0}other"
    };
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// What a policy sees of one span.
pub(crate) struct SpanView<'a> {
    pub name: &'a str,
    pub error: bool,
    /// Raw clock ticks.
    pub start: u64,
    pub end: u64,
    /// A local root (no parent, or a remote one).
    pub root: bool,
    pub attrs: &'a [KeyValue],
}

impl TailState {
    pub fn new(s: TailSampler) -> Self {
        let names = s.policies.iter().map(TailPolicy::name).collect();
        let n = s.policies.len();
        TailState {
            policies: s.policies,
            names,
            continued: s.continued,
            inner: Mutex::new(State {
                // The policies, then "default", then "continued".
                counts: vec![[0; 3]; n + 2],
                ..State::default()
            }),
        }
    }

    /// The name of rule `i` (`"default"` just past the policies, then `"continued"`).
    pub fn rule_name(&self, i: usize) -> Cow<'static, str> {
        match self.names.get(i) {
            Some(n) => n.clone(),
            None if i == self.names.len() => Cow::Borrowed("default"),
            None => Cow::Borrowed(CONTINUED_RULE),
        }
    }

    /// Decides for a finished trace whose spans are `spans` (`continued`: it has a remote
    /// parent), and counts the decision.
    pub fn decide(&self, trace_id: TraceId, spans: &[SpanView<'_>], continued: bool) -> Decision {
        if continued && self.continued == ContinuedTraces::Keep {
            let rule = self.policies.len() + 1;
            self.inner.lock().counts[rule][0] += 1;
            return Decision { keep: true, rule };
        }
        let root_name = spans.iter().find(|s| s.root).map_or("", |s| s.name);
        let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end).max().unwrap_or(0);
        let duration = clock::delta_nanos(start, end);
        let mut st = self.inner.lock();
        let now = Instant::now();
        let epoch = *st.epoch.get_or_insert(now);
        let second = now.duration_since(epoch).as_secs();
        let mut decision = None;
        for (i, p) in self.policies.iter().enumerate() {
            let d = match p {
                TailPolicy::Error => spans.iter().any(|s| s.error).then_some(true),
                TailPolicy::Latency(min) => {
                    (u128::from(duration) >= min.as_nanos()).then_some(true)
                }
                TailPolicy::LatencyPercentile {
                    percentile,
                    window,
                    min_samples,
                } => {
                    let (buf, pos) = per_name(&mut st.windows, root_name);
                    let slow = if buf.len() >= (*min_samples).max(1) {
                        let mut sorted = buf.clone();
                        sorted.sort_unstable();
                        let last = sorted.len() - 1;
                        let q = (percentile.clamp(0.0, 100.0) / 100.0 * last as f64).round();
                        duration > sorted[(q as usize).min(last)]
                    } else {
                        false
                    };
                    let w = (*window).max(1);
                    if buf.len() < w {
                        buf.push(duration);
                    } else {
                        buf[*pos % w] = duration;
                        *pos = (*pos + 1) % w;
                    }
                    slow.then_some(true)
                }
                TailPolicy::Attribute { key, value } => spans
                    .iter()
                    .any(|s| {
                        s.attrs
                            .iter()
                            .any(|kv| kv.key == *key && kv.value == *value)
                    })
                    .then_some(true),
                TailPolicy::RateLimit { per_second } => {
                    let (sec, n) = per_name(&mut st.rates, root_name);
                    if *sec != second {
                        *sec = second;
                        *n = 0;
                    }
                    if *n < *per_second {
                        *n += 1;
                        Some(true)
                    } else {
                        Some(false)
                    }
                }
                TailPolicy::Probabilistic(ratio) => {
                    // W3C Level 2: the rightmost 7 bytes of a random trace id are random.
                    let r = (trace_id.to_u128() as u64) & ((1u64 << 56) - 1);
                    let threshold = (ratio.clamp(0.0, 1.0) * (1u64 << 56) as f64) as u64;
                    Some(r < threshold || *ratio >= 1.0)
                }
            };
            if let Some(keep) = d {
                decision = Some(Decision { keep, rule: i });
                break;
            }
        }
        let d = decision.unwrap_or(Decision {
            keep: false,
            rule: self.policies.len(),
        });
        let c = &mut st.counts[d.rule];
        if d.keep {
            c[0] += 1;
        } else {
            c[1] += 1;
            c[2] += spans.len() as u64;
        }
        d
    }

    /// The counts per rule.
    pub fn stats(&self) -> Vec<TailRuleStats> {
        let st = self.inner.lock();
        st.counts
            .iter()
            .enumerate()
            .map(|(i, c)| TailRuleStats {
                rule: self.rule_name(i).into_owned(),
                kept: c[0],
                dropped: c[1],
                dropped_spans: c[2],
            })
            .collect()
    }
}
