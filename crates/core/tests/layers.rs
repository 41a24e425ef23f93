//! The core's folders are layers, and a module imports only from its own folder or from a
//! folder below it (ARCHITECTURE.md, "Layers"). This reads the sources and fails on any
//! `crate::<folder>` path that points upward, so the rule holds without anyone checking by
//! hand. It also keeps every source file under the size a reader takes in at once.

use std::path::{Path, PathBuf};

/// Lines a source file may have.
const MAX_LINES: usize = 450;
/// Bottom to top.
const LAYERS: [&str; 7] = [
    "util", "model", "record", "export", "collect", "local", "api",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name)
}

/// `(line number, folder named)` for every `crate::<folder>` in `text`.
fn crate_paths(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            found.push((n + 1, &after[..end]));
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn no_module_imports_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut checked = 0;
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(folder) = rel.components().next().and_then(|c| c.as_os_str().to_str()) else {
            continue;
        };
        if rel.components().count() == 1 {
            assert_eq!(
                folder, "lib.rs",
                "a module outside the layer folders: {rel:?}"
            );
            continue;
        }
        let own = layer_of(folder).unwrap_or_else(|| panic!("{rel:?}: {folder} is not a layer"));
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (line, named) in crate_paths(&text) {
            if let Some(theirs) = layer_of(named)
                && theirs > own
            {
                upward.push(format!(
                    "{}:{line}: {folder} uses crate::{named}",
                    rel.display()
                ));
            }
        }
    }
    assert!(checked > 20, "only {checked} modules found under {src:?}");
    assert!(
        upward.is_empty(),
        "imports of a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_path() {
    // The test above can fail: a path to a higher folder is found, in code and in docs.
    let text = "use crate::model::ids::TraceId;\n/// see [`crate::api::tracer`]\n";
    assert_eq!(crate_paths(text), [(1, "model"), (2, "api")]);
    assert!(layer_of("api") > layer_of("model"));
}
#[test]
fn no_source_file_is_over_the_size_limit() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these (at most {MAX_LINES} lines):\n{}",
        long.join("\n")
    );
}
