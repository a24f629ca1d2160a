//! The runtime's layer order, checked: no module of the runtime imports a
//! module of a layer above its own. The order is written at the top of
//! `src/lib.rs`; this test holds the code to it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The runtime's top-level modules, lowest layer first. A module may use
/// modules of its own layer and of the layers below.
const LAYERS: &[(&str, &[&str])] = &[
    ("errors", &["error", "database_error", "remedy", "step_report", "serialize"]),
    ("connections", &["url", "backend", "database", "table_rows", "db", "backfill"]),
    ("records", &["record", "registry", "sql"]),
    ("bookkeeping", &["history", "damage", "lock", "backup", "foreign", "compat", "scratch"]),
    ("engine", &["engine"]),
    ("fleet", &["fleet"]),
    ("test databases", &["testing"]),
];

/// Modules of the core crate the runtime re-exports: below every layer.
const CORE: &[&str] = &["analysis", "plan", "schema", "version"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the runtime's sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to, such as `engine` for `src/engine/step.rs`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("a file under src");
    let first = relative.components().next().expect("a path").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The `crate::<module>` names a file's code uses, before its unit tests.
fn uses(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(tests) => &text[..tests],
        None => text,
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            found.insert(name);
        }
    }
    found
}

#[test]
fn no_module_imports_one_of_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            violations.push(format!("{}: module `{module}` is in no layer of LAYERS", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for used in uses(&text) {
            if used == module || CORE.contains(&used.as_str()) {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer <= own => {}
                Some(layer) => violations.push(format!(
                    "{}: `{module}` ({}) uses `crate::{used}` ({}), a layer above",
                    file.strip_prefix(&src).unwrap_or(file).display(),
                    LAYERS[own].0,
                    LAYERS[layer].0
                )),
                None => violations.push(format!("{}: uses `crate::{used}`, which is in no layer", file.display())),
            }
        }
    }
    assert!(violations.is_empty(), "the layer order is broken:\n{}", violations.join("\n"));
}

#[test]
fn every_module_of_the_runtime_is_in_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).expect("lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod ").or_else(|| line.trim().strip_prefix("mod ")))
        .map(|rest| rest.trim_end_matches(';').trim_end_matches(" {"))
        .collect();
    assert!(!declared.is_empty(), "lib.rs declares modules");
    let missing: Vec<&&str> = declared.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(missing.is_empty(), "modules in no layer: {missing:?}");
}
