//! The one place where limits are applied to what a span records — attribute keys and values,
//! arrays, names, events, links, error messages — for spans on a thread's stack and detached spans
//! alike. Everything cut or dropped is counted here, so each limit has exactly one counter.
//!
//! What is kept costs what it holds: a cut owned string gives its spare capacity back
//! ([`Value::limit`]), so a 1 MB value kept as 4 KB holds 4 KB.

use std::borrow::Cow;

use crate::model::config::Limits;
use crate::model::data::{Event, Link};
use crate::model::stats::{self, SharedCounters};
pub(crate) use crate::model::value::cut_str;
use crate::model::value::{KeyValue, Value};

/// Whether `v` may exceed the limits (a cheap pre-check before [`Value::limit`]).
#[inline]
pub(crate) fn value_may_exceed(v: &Value, max_len: usize) -> bool {
    match v {
        Value::String(s) => s.len() > max_len,
        Value::Array(_) => true,
        _ => false,
    }
}

/// Applies the limits of one tracer and counts what they cut.
#[derive(Clone, Copy)]
pub(crate) struct Recorder<'a> {
    pub limits: &'a Limits,
    pub counters: &'a SharedCounters,
}

impl Recorder<'_> {
    /// Limits a value (string length, array length); counts a cut.
    #[inline]
    pub fn value(&self, v: &mut Value) {
        if value_may_exceed(v, self.limits.max_attribute_value_len)
            && v.limit(
                self.limits.max_attribute_value_len,
                self.limits.max_array_len,
            )
        {
            stats::add(&self.counters.values_truncated, 1);
        }
    }

    /// Limits a key; counts a cut.
    #[inline]
    pub fn key(&self, k: &mut Cow<'static, str>) {
        if k.len() > self.limits.max_attribute_key_len
            && cut_str(k, self.limits.max_attribute_key_len)
        {
            stats::add(&self.counters.keys_truncated, 1);
        }
    }

    /// Limits one attribute (key and value).
    #[inline]
    pub fn attribute(&self, kv: &mut KeyValue) {
        self.key(&mut kv.key);
        self.value(&mut kv.value);
    }

    /// Limits a span or event name; counts a cut.
    pub fn name(&self, n: &mut Cow<'static, str>) {
        if cut_str(n, self.limits.max_name_len) {
            stats::add(&self.counters.names_truncated, 1);
        }
    }

    /// Limits an error message (to `max_attribute_value_len`); counts a cut.
    pub fn message(&self, m: String) -> String {
        let mut c = Cow::Owned(m);
        if cut_str(&mut c, self.limits.max_attribute_value_len) {
            stats::add(&self.counters.names_truncated, 1);
        }
        c.into_owned()
    }

    /// Limits a list of attributes: at most `max_attributes_per_span`, each limited. Returns
    /// how many were dropped (already counted).
    pub fn attributes(&self, attrs: &mut Vec<KeyValue>) -> u32 {
        self.attributes_up_to(attrs, self.limits.max_attributes_per_span)
    }

    /// A link for a span that has `held` links already: `None` (counted dropped) over
    /// `max_links_per_span`; its attributes cut to `max_attributes_per_link`, each limited.
    pub fn link(&self, held: usize, mut link: Link) -> Option<Link> {
        if held >= self.limits.max_links_per_span {
            stats::add(&self.counters.links_dropped, 1);
            return None;
        }
        let dropped =
            self.attributes_up_to(&mut link.attributes, self.limits.max_attributes_per_link);
        link.dropped_attributes_count = link.dropped_attributes_count.saturating_add(dropped);
        Some(link)
    }

    fn attributes_up_to(&self, attrs: &mut Vec<KeyValue>, max: usize) -> u32 {
        let mut dropped = 0;
        if attrs.len() > max {
            dropped = attrs.len() - max;
            attrs.truncate(max);
            attrs.shrink_to_fit();
            stats::add(&self.counters.attributes_dropped, dropped as u64);
        }
        for kv in attrs.iter_mut() {
            self.attribute(kv);
        }
        u32::try_from(dropped).unwrap_or(u32::MAX)
    }

    /// An event for a span that has `held` events already: `None` (counted dropped) over
    /// `max_events_per_span`.
    pub fn event(
        &self,
        held: usize,
        mut name: Cow<'static, str>,
        mut attributes: Vec<KeyValue>,
        time_unix_nanos: u64,
    ) -> Option<Event> {
        if held >= self.limits.max_events_per_span {
            stats::add(&self.counters.events_dropped, 1);
            return None;
        }
        self.name(&mut name);
        self.attributes(&mut attributes);
        Some(Event {
            name,
            time_unix_nanos,
            attributes,
        })
    }

    /// A received `tracestate`, kept only if it fits `max_trace_state_len` (a cut tracestate
    /// would be corrupt, so a long one is dropped whole and counted).
    pub fn trace_state(&self, ts: Option<String>) -> Option<String> {
        match ts {
            Some(t) if t.len() > self.limits.max_trace_state_len => {
                stats::add(&self.counters.names_truncated, 1);
                None
            }
            other => other,
        }
    }
}
