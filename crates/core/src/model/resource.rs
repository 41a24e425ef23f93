//! The [`Resource`]: who produced the spans (service, process, host, SDK), and the
//! [`ResourceDetector`]s that fill it in from the running process, with OpenTelemetry's
//! attribute names.
//!
//! Precedence, lowest first, as the OpenTelemetry resource specification orders it: what the
//! detectors find, then `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME` (for
//! `service.name`), then what the code sets (`reqtrace-otlp`'s `resource_from_env` and
//! [`crate::RequestTracerBuilder::detect_resource`] apply it). [`Resource::merge`] is that
//! rule for two resources.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::model::value::KeyValue;

/// The service name when none is configured: `unknown_service`, or (what
/// [`Resource::detected`] gives) `unknown_service:<executable name>`, as in the OpenTelemetry
/// SDKs.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The process that produced the spans: its service name and resource attributes.
///
/// ```
/// use reqtrace_core::{KeyValue, Resource};
///
/// let detected = Resource::detected();
/// assert!(detected.service_name.starts_with("unknown_service"));
/// assert!(detected.attribute("process.pid").is_some());
///
/// // What the code says wins over what was detected.
/// let mine = Resource::new("checkout").with_attribute(KeyValue::new("host.name", "web-1"));
/// let r = detected.merge(mine);
/// assert_eq!(r.service_name, "checkout");
/// assert_eq!(r.attribute("host.name").and_then(|v| v.as_str()), Some("web-1"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// `service.name`.
    pub service_name: Cow<'static, str>,
    /// Further resource attributes (e.g. `service.version`).
    #[serde(with = "crate::model::value::attribute_map", default)]
    pub attributes: Vec<KeyValue>,
}

impl Resource {
    /// A resource with only a service name.
    pub fn new(service_name: impl Into<Cow<'static, str>>) -> Self {
        Resource {
            service_name: service_name.into(),
            attributes: Vec::new(),
        }
    }

    /// The resource with one more attribute (replacing one of the same key).
    #[must_use]
    pub fn with_attribute(mut self, kv: KeyValue) -> Self {
        self.attributes.retain(|a| a.key != kv.key);
        self.attributes.push(kv);
        self
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&crate::Value> {
        crate::model::value::last_value(&self.attributes, key)
    }

    /// `self` updated by `other`, which wins: its attributes replace those of the same key,
    /// and its service name replaces `self`'s unless it is an `unknown_service` placeholder.
    #[must_use]
    pub fn merge(mut self, other: Resource) -> Resource {
        let placeholder = other.service_name == UNKNOWN_SERVICE
            || other
                .service_name
                .strip_prefix(UNKNOWN_SERVICE)
                .is_some_and(|rest| rest.starts_with(':'));
        if !placeholder || self.service_name.is_empty() {
            self.service_name = other.service_name;
        }
        for kv in other.attributes {
            self = self.with_attribute(kv);
        }
        self
    }

    /// What the built-in detectors find about this process ([`ServiceDetector`],
    /// [`ProcessDetector`], [`HostDetector`], [`SdkDetector`]), with the service name
    /// `unknown_service:<executable name>`. Detected once per process (cheap to call again).
    pub fn detected() -> Resource {
        static DETECTED: OnceLock<Resource> = OnceLock::new();
        DETECTED
            .get_or_init(|| {
                let detectors: [&dyn ResourceDetector; 4] = [
                    &ServiceDetector,
                    &ProcessDetector,
                    &HostDetector,
                    &SdkDetector,
                ];
                Resource::from_detectors(&detectors)
            })
            .clone()
    }

    /// The resource `detectors` describe, later ones winning on a shared key.
    pub fn from_detectors(detectors: &[&dyn ResourceDetector]) -> Resource {
        let service: Cow<'static, str> = match executable_name() {
            Some(exe) => format!("{UNKNOWN_SERVICE}:{exe}").into(),
            None => UNKNOWN_SERVICE.into(),
        };
        detectors
            .iter()
            .fold(Resource::new(service), |r, d| r.merge(d.detect()))
    }
}

/// Finds resource attributes (and possibly the service name) about the running process, host
/// or platform. Implement it for your own (a cloud or Kubernetes detector) and combine with
/// [`Resource::from_detectors`].
pub trait ResourceDetector {
    /// What this detector finds; a service name of [`UNKNOWN_SERVICE`] leaves it unset.
    fn detect(&self) -> Resource;
}

/// `service.instance.id`: a random UUID for this process (unique per run, as the semantic
/// conventions ask).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServiceDetector;

impl ResourceDetector for ServiceDetector {
    fn detect(&self) -> Resource {
        static INSTANCE: OnceLock<String> = OnceLock::new();
        let id = INSTANCE.get_or_init(|| uuid::Uuid::new_v4().to_string());
        Resource::new(UNKNOWN_SERVICE)
            .with_attribute(KeyValue::new("service.instance.id", id.clone()))
    }
}

/// `process.pid`, `process.executable.name`, `process.executable.path`, and the Rust
/// runtime: `process.runtime.name` (`rustc`), `process.runtime.version` and
/// `process.runtime.description` (of the compiler that built reqtrace). Command-line
/// arguments are left out: they often hold secrets.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessDetector;

impl ResourceDetector for ProcessDetector {
    fn detect(&self) -> Resource {
        let mut r = Resource::new(UNKNOWN_SERVICE)
            .with_attribute(KeyValue::new("process.pid", i64::from(std::process::id())));
        if let Ok(path) = std::env::current_exe() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                r = r.with_attribute(KeyValue::new("process.executable.name", name.to_owned()));
            }
            if let Some(p) = path.to_str() {
                r = r.with_attribute(KeyValue::new("process.executable.path", p.to_owned()));
            }
        }
        r = r.with_attribute(KeyValue::new("process.runtime.name", "rustc"));
        let description = env!("REQTRACE_RUSTC_VERSION");
        // "rustc 1.95.0 (59807616e 2026-04-14)" → "1.95.0".
        if let Some(version) = description.split_whitespace().nth(1) {
            r = r.with_attribute(KeyValue::new("process.runtime.version", version));
        }
        r.with_attribute(KeyValue::new("process.runtime.description", description))
    }
}

/// `host.name`, `host.arch` and `os.type` (semantic-convention values: `amd64`, `arm64`, …;
/// `linux`, `darwin`, `windows`, …). The host name comes from `/proc/sys/kernel/hostname` on
/// Linux, else the `HOSTNAME` or `COMPUTERNAME` variable; it is left out when none has it.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostDetector;

impl ResourceDetector for HostDetector {
    fn detect(&self) -> Resource {
        let mut r = Resource::new(UNKNOWN_SERVICE);
        if let Some(name) = host_name() {
            r = r.with_attribute(KeyValue::new("host.name", name));
        }
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "arm32",
            "powerpc" => "ppc32",
            "powerpc64" => "ppc64",
            other => other,
        };
        let os = match std::env::consts::OS {
            "macos" | "ios" => "darwin",
            "dragonfly" => "dragonflybsd",
            other => other,
        };
        r.with_attribute(KeyValue::new("host.arch", arch))
            .with_attribute(KeyValue::new("os.type", os))
    }
}

/// `telemetry.sdk.name` (`reqtrace`), `telemetry.sdk.language` (`rust`),
/// `telemetry.sdk.version`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SdkDetector;

impl ResourceDetector for SdkDetector {
    fn detect(&self) -> Resource {
        Resource::new(UNKNOWN_SERVICE)
            .with_attribute(KeyValue::new("telemetry.sdk.name", "reqtrace"))
            .with_attribute(KeyValue::new("telemetry.sdk.language", "rust"))
            .with_attribute(KeyValue::new(
                "telemetry.sdk.version",
                env!("CARGO_PKG_VERSION"),
            ))
    }
}

fn executable_name() -> Option<String> {
    let path = std::env::current_exe().ok()?;
    Some(path.file_name()?.to_str()?.to_owned())
}

/// The host's name, without a system call library: bounded reads, trimmed, at most 255
/// bytes (a DNS name's limit); `None` when empty.
fn host_name() -> Option<String> {
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let name = from_proc
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())?;
    let name = name.trim();
    (!name.is_empty() && name.len() <= 255).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_wins_and_placeholders_do_not_replace_a_name() {
        let a = Resource::new("svc")
            .with_attribute(KeyValue::new("k", 1))
            .with_attribute(KeyValue::new("only.a", true));
        let b = Resource::new(UNKNOWN_SERVICE).with_attribute(KeyValue::new("k", 2));
        let m = a.clone().merge(b);
        assert_eq!(m.service_name, "svc");
        assert_eq!(m.attribute("k"), Some(&crate::Value::I64(2)));
        assert_eq!(m.attribute("only.a"), Some(&crate::Value::Bool(true)));
        assert_eq!(m.attributes.iter().filter(|kv| kv.key == "k").count(), 1);
        assert_eq!(a.merge(Resource::new("other")).service_name, "other");
    }
}
