//! Ids, attribute values, finished data, configuration, the sampler, counters, the exporter trait, the resource and its detectors, and self-diagnostics: the vocabulary every layer above speaks.

pub(crate) mod config;
pub(crate) mod current_trace;
pub(crate) mod data;
pub mod diagnostics;
pub(crate) mod exporter;
pub(crate) mod ids;
pub(crate) mod resource;
pub(crate) mod sampler;
pub(crate) mod stats;
pub(crate) mod value;
