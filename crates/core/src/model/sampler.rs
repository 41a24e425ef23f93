//! Head sampling: [`Sampler`] decides, when a trace starts, whether it is recorded.
//!
//! An unsampled trace keeps its trace id (it still propagates, with the `sampled` flag clear)
//! but records nothing: starting a span in it costs a thread-local lookup and a branch.

use serde::{Deserialize, Serialize};

use crate::model::ids::{SpanContext, TraceId};

/// Whether a new trace is recorded, in OpenTelemetry's terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Sampler {
    /// Record every trace (the default).
    #[default]
    AlwaysOn,
    /// Record none.
    AlwaysOff,
    /// Record this fraction of traces, decided from the trace id's random low 56 bits, so every
    /// service with the same ratio makes the same decision for the same trace.
    TraceIdRatio(f64),
    /// Follow the remote parent's `sampled` flag when there is one; use the inner sampler for
    /// new root traces.
    ParentBased(Box<Sampler>),
}

impl Sampler {
    /// The decision for a trace with id `trace_id` continuing `parent` (if any).
    pub fn should_sample(&self, trace_id: TraceId, parent: Option<&SpanContext>) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => ratio_decision(*ratio, trace_id),
            Sampler::ParentBased(root) => match parent {
                Some(p) => p.is_sampled(),
                None => root.should_sample(trace_id, None),
            },
        }
    }

    /// A sampler from the OpenTelemetry environment variables' values
    /// (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`): `always_on`, `always_off`,
    /// `traceidratio`, `parentbased_always_on`, `parentbased_always_off`,
    /// `parentbased_traceidratio`. `None` for an unknown name or a bad ratio.
    pub fn from_otel(name: &str, arg: Option<&str>) -> Option<Sampler> {
        let ratio = || -> Option<f64> {
            match arg {
                None => Some(1.0),
                Some(a) => a
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r)),
            }
        };
        Some(match name.trim() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(ratio()?)))
            }
            _ => return None,
        })
    }

    /// The sampler named by `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` in the
    /// process environment (see [`Sampler::from_env_with`]).
    pub fn from_env() -> Option<Sampler> {
        Sampler::from_env_with(|k| std::env::var(k).ok())
    }

    /// The sampler named by `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, read through
    /// `lookup`; `None` when the variable is unset or empty. Invalid values follow the
    /// crates' one rule for the environment ([`crate::model::diagnostics`]): reported and ignored.
    /// An unknown sampler name gives `None` (the configured sampler stays); a ratio that is
    /// not a number from 0 to 1 is replaced by the default ratio, 1.0.
    ///
    /// ```
    /// use reqtrace_core::Sampler;
    /// let env = |k: &str| match k {
    ///     "OTEL_TRACES_SAMPLER" => Some("parentbased_traceidratio".to_owned()),
    ///     "OTEL_TRACES_SAMPLER_ARG" => Some("0.25".to_owned()),
    ///     _ => None,
    /// };
    /// assert_eq!(
    ///     Sampler::from_env_with(env),
    ///     Some(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.25))))
    /// );
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Option<Sampler> {
        const NAME: &str = "OTEL_TRACES_SAMPLER";
        const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let name = get(NAME)?;
        let arg = get(ARG);
        if let Some(s) = Sampler::from_otel(&name, arg.as_deref()) {
            return Some(s);
        }
        // Either the name is unknown, or it takes a ratio and the ratio is bad.
        match Sampler::from_otel(&name, None) {
            None => {
                crate::model::diagnostics::invalid_env(
                    NAME,
                    &name,
                    &"unknown sampler (expected always_on, always_off, traceidratio, \
                      parentbased_always_on, parentbased_always_off or parentbased_traceidratio)",
                    "the configured sampler",
                );
                None
            }
            Some(default_ratio) => {
                crate::model::diagnostics::invalid_env(
                    ARG,
                    arg.as_deref().unwrap_or_default(),
                    &"the ratio must be a number from 0 to 1",
                    "1.0",
                );
                Some(default_ratio)
            }
        }
    }
}

fn ratio_decision(ratio: f64, trace_id: TraceId) -> bool {
    const BITS: u32 = 56;
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    if ratio >= 1.0 {
        return true;
    }
    let low = (trace_id.to_u128() as u64) & ((1u64 << BITS) - 1);
    let threshold = (ratio * (1u64 << BITS) as f64) as u64;
    low < threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::{SpanId, TraceFlags};

    #[test]
    fn ratio_is_within_statistical_bounds() {
        // n Bernoulli(p) trials: sd = sqrt(n p (1-p)); allow 5 sd. (Fewer under miri.)
        for &p in &[0.01, 0.1, 0.5, 0.9] {
            let n: u32 = if cfg!(miri) { 1_000 } else { 20_000 };
            let s = Sampler::TraceIdRatio(p);
            let hits = (0..n)
                .filter(|_| s.should_sample(TraceId::random(), None))
                .count() as f64;
            let mean = f64::from(n) * p;
            let sd = (f64::from(n) * p * (1.0 - p)).sqrt();
            assert!(
                (hits - mean).abs() < 5.0 * sd,
                "p={p}: {hits} hits, expected {mean} ± {}",
                5.0 * sd
            );
        }
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(TraceId::random(), None));
        assert!(!Sampler::TraceIdRatio(f64::NAN).should_sample(TraceId::random(), None));
        assert!(Sampler::TraceIdRatio(1.0).should_sample(TraceId::random(), None));
    }

    #[test]
    fn ratio_decision_is_consistent_for_a_trace_id() {
        let s = Sampler::TraceIdRatio(0.5);
        for _ in 0..if cfg!(miri) { 10 } else { 100 } {
            let id = TraceId::random();
            assert_eq!(s.should_sample(id, None), s.should_sample(id, None));
        }
    }

    #[test]
    fn parent_based_follows_the_parent() {
        let s = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        let id = TraceId::random();
        let span = SpanId::from_u64(7).unwrap();
        let sampled = SpanContext::new(id, span, TraceFlags::SAMPLED, true);
        let unsampled = SpanContext::new(id, span, TraceFlags::NONE, true);
        assert!(s.should_sample(id, Some(&sampled)));
        assert!(!s.should_sample(id, Some(&unsampled)));
        assert!(!s.should_sample(id, None));
        let on = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert!(on.should_sample(id, None));
        assert!(!on.should_sample(id, Some(&unsampled)));
    }

    #[test]
    fn otel_names() {
        assert_eq!(
            Sampler::from_otel("always_off", None),
            Some(Sampler::AlwaysOff)
        );
        assert_eq!(
            Sampler::from_otel("parentbased_traceidratio", Some("0.25")),
            Some(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.25))))
        );
        assert_eq!(Sampler::from_otel("traceidratio", Some("2")), None);
        assert_eq!(Sampler::from_otel("traceidratio", Some("x")), None);
        assert_eq!(Sampler::from_otel("jaeger_remote", None), None);
    }
}
