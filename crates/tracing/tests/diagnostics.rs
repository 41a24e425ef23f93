//! `forward_diagnostics`: reqtrace's reports arrive as `tracing` WARN events with their fields.

use std::sync::{Arc, Mutex};

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

/// An event's level, target and fields.
type Captured = (Level, String, Vec<(String, String)>);

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Fields(Vec::new());
        event.record(&mut f);
        let m = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((*m.level(), m.target().to_owned(), f.0));
    }
}

#[test]
fn reports_become_warn_events_with_their_fields() {
    let capture = Capture::default();
    tracing_subscriber::registry().with(capture.clone()).init();
    reqtrace_tracing::forward_diagnostics();

    let env = |k: &str| (k == "OTEL_TRACES_SAMPLER").then(|| "nonsense".to_owned());
    assert_eq!(reqtrace_core::Sampler::from_env_with(env), None);

    let events = capture.0.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let (level, target, fields) = &events[0];
    assert_eq!(*level, Level::WARN);
    assert_eq!(target, "reqtrace");
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name}: {fields:?}"))
    };
    assert_eq!(field("kind"), "invalid_config");
    assert_eq!(field("subject"), "OTEL_TRACES_SAMPLER");
    assert_eq!(field("suppressed"), "0");
    assert!(field("message").starts_with("OTEL_TRACES_SAMPLER=\"nonsense\" ignored"));
}
