//! Resource detection: what the detectors find about this process, and who wins when the
//! detectors, the environment and the code disagree.

use reqtrace_core::{
    HostDetector, KeyValue, ProcessDetector, RequestTracer, Resource, ResourceDetector,
    SdkDetector, ServiceDetector, Value,
};

fn text<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
    r.attribute(key).and_then(Value::as_str)
}

#[test]
fn the_detectors_describe_this_process() {
    let r = Resource::detected();
    let exe = std::env::current_exe().unwrap();
    let exe_name = exe.file_name().unwrap().to_str().unwrap();
    assert_eq!(r.service_name, format!("unknown_service:{exe_name}"));
    assert_eq!(
        r.attribute("process.pid"),
        Some(&Value::I64(i64::from(std::process::id())))
    );
    assert_eq!(text(&r, "process.executable.name"), Some(exe_name));
    assert_eq!(text(&r, "process.executable.path"), exe.to_str());
    assert_eq!(text(&r, "process.runtime.name"), Some("rustc"));
    let version = text(&r, "process.runtime.version").unwrap();
    assert!(
        version.split('.').count() >= 3 && version.chars().next().unwrap().is_ascii_digit(),
        "{version}"
    );
    assert!(
        text(&r, "process.runtime.description")
            .unwrap()
            .starts_with("rustc ")
    );
    assert_eq!(text(&r, "telemetry.sdk.name"), Some("reqtrace"));
    assert_eq!(text(&r, "telemetry.sdk.language"), Some("rust"));
    assert_eq!(
        text(&r, "telemetry.sdk.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let id = text(&r, "service.instance.id").unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        text(&Resource::detected(), "service.instance.id"),
        Some(id),
        "one instance id per process"
    );
    #[cfg(target_os = "linux")]
    {
        assert_eq!(text(&r, "os.type"), Some("linux"));
        let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(text(&r, "host.name"), Some(proc.trim()));
    }
    #[cfg(target_arch = "x86_64")]
    assert_eq!(text(&r, "host.arch"), Some("amd64"));
    // Each key once.
    let mut keys: Vec<&str> = r.attributes.iter().map(|kv| &*kv.key).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n);
}

struct Fixed(&'static str, &'static str);

impl ResourceDetector for Fixed {
    fn detect(&self) -> Resource {
        Resource::new("unknown_service").with_attribute(KeyValue::new(self.0, self.1))
    }
}

#[test]
fn own_detectors_combine_and_later_ones_win() {
    let r = Resource::from_detectors(&[
        &ServiceDetector,
        &ProcessDetector,
        &HostDetector,
        &SdkDetector,
        &Fixed("k8s.pod.name", "api-7f9"),
        &Fixed("host.name", "node-3"),
    ]);
    assert_eq!(text(&r, "k8s.pod.name"), Some("api-7f9"));
    assert_eq!(text(&r, "host.name"), Some("node-3"));
    assert!(r.service_name.starts_with("unknown_service"));
}

#[test]
fn the_code_wins_over_detection_in_either_order() {
    let before = RequestTracer::builder("api")
        .resource_attribute("host.name", "set-in-code")
        .detect_resource()
        .build();
    let after = RequestTracer::builder("api")
        .detect_resource()
        .resource_attribute("host.name", "set-in-code")
        .build();
    for t in [&before, &after] {
        let r = t.resource();
        assert_eq!(r.service_name, "api");
        assert_eq!(text(r, "host.name"), Some("set-in-code"));
        assert!(r.attribute("process.pid").is_some());
        assert_eq!(
            r.attributes
                .iter()
                .filter(|kv| kv.key == "host.name")
                .count(),
            1
        );
    }
    // Without detect_resource nothing is added.
    let plain = RequestTracer::builder("api").build();
    assert!(plain.resource().attributes.is_empty());
}
