//! The crate's layout is its architecture: these tests read `src/` and
//! check the rules the crate docs' map states.
//!
//! - The top-level modules form a stack, in the order `lib.rs` declares
//!   them: each uses only modules declared before it. So there is no
//!   cycle, and the engine (and the OS layer below it) names no feature.
//! - Code imports items from their defining module
//!   (`crate::engine::ring::Ring`), never through the crate root's
//!   re-exports, so a file's text shows what it depends on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules in the order `lib.rs` declares them.
fn layers() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|l| l.strip_prefix("mod ").and_then(|m| m.strip_suffix(';')))
        .map(str::to_string)
        .collect()
}

/// Every source file under `src/`, with the top-level module it belongs to.
fn files() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src()).expect("under src");
                let first = rel.components().next().expect("a component");
                let module = first
                    .as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string();
                out.push((module, path));
            }
        }
    }
    out.sort();
    out
}

/// The file's code: comments and string literals removed.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("UTF-8 source");
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        // Drop string literals (doc strings built in macros mention paths).
        let mut in_str = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_str {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_str = false;
                }
                continue;
            }
            if c == '"' {
                in_str = true;
                continue;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// The `crate::name` paths in `code`: the first segment after `crate::`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if after.starts_with('{') {
            found.push("{".to_string());
        } else {
            found.push(name);
        }
        rest = after;
    }
    found
}

#[test]
fn top_level_modules_form_a_stack_in_the_order_lib_rs_declares() {
    let layers = layers();
    assert!(
        ["sys", "engine", "session", "wait", "screen", "record", "api"]
            .iter()
            .all(|m| layers.iter().any(|l| l == m)),
        "lib.rs declares {layers:?}"
    );
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut violations: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (module, path) in files() {
        if module == "lib" {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| panic!("{module} is not declared in lib.rs"));
        for used in crate_paths(&code(&path)) {
            match rank(&used) {
                Some(r) if r <= own => {}
                _ => violations
                    .entry(path.display().to_string())
                    .or_default()
                    .push(format!("{module} uses crate::{used}")),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "modules that use a module declared after them (or the crate root): {violations:#?}"
    );
}

#[test]
fn the_engine_and_the_os_layer_name_no_feature() {
    let features = ["session", "wait", "screen", "record", "api", "asyncs"];
    for (module, path) in files() {
        if module != "engine" && module != "sys" {
            continue;
        }
        for used in crate_paths(&code(&path)) {
            assert!(
                !features.contains(&used.as_str()),
                "{} names the feature module crate::{used}",
                path.display()
            );
        }
    }
}

#[test]
fn the_checks_see_real_imports() {
    // Guard against a scanner that finds nothing and so passes anything.
    let wait_for = code(&src().join("wait/wait_for.rs"));
    let paths = crate_paths(&wait_for);
    assert!(
        paths.iter().any(|p| p == "engine") && paths.iter().any(|p| p == "session"),
        "{paths:?}"
    );
    assert_eq!(crate_paths("use crate::{A, B};"), ["{"]);
    assert!(code(&src().join("api/by_id.rs")).contains("macro_rules!"));
}
