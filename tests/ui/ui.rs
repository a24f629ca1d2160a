//! Pins every compile-time diagnostic of `#[migration]` and `#[testing::test]`,
//! and the shapes `#[migration]` accepts.
//!
//! The cases are this crate's programs (see `Cargo.toml`). The test builds
//! them with one `cargo build --workspace --tests --bins --profile test
//! --keep-going` and the `cases` feature, in the suite's own target folder:
//! building tests turns on the dev-dependencies as `cargo test --workspace`
//! does and the profile is the one it uses, so the features resolve as in the
//! suite's build, every dependency and test program is the one already built,
//! and only the cases are compiled. Each case under `fail/` must fail with exactly the messages of
//! its `.stderr` file; each case under `pass/` must compile. Run with
//! `MIGRATIONS_RS_UI_BLESS=1` to record the messages the compiler prints now.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that records the messages instead of comparing them.
const BLESS: &str = "MIGRATIONS_RS_UI_BLESS";

/// One program under `fail/` or `pass/`.
#[derive(Debug)]
struct Case {
    kind: &'static str,
    stem: String,
}

impl Case {
    fn bin(&self) -> String {
        format!("{}_{}", self.kind, self.stem)
    }
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for kind in ["fail", "pass"] {
        let mut stems: Vec<String> = std::fs::read_dir(dir.join(kind))
            .unwrap_or_else(|e| panic!("reading {kind}/: {e}"))
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
            .collect();
        stems.sort();
        cases.extend(stems.into_iter().map(|stem| Case { kind, stem }));
    }
    cases
}

/// What the compiler said of each program of this crate, and which ones it built.
#[derive(Default)]
struct Build {
    messages: BTreeMap<String, Vec<String>>,
    errors: BTreeMap<String, usize>,
    built: Vec<String>,
}

fn build(workspace: &Path, crate_dir: &Path) -> (Build, String) {
    // <target>/<profile>/deps/<this test>
    let exe = std::env::current_exe().expect("the test's own path");
    let target = exe.ancestors().nth(3).expect("the target folder");
    let output = Command::new(env!("CARGO"))
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--workspace", "--tests", "--bins", "--profile", "test", "--keep-going"])
        .arg("--message-format=json")
        .args(["--features", "migrations-rs-ui/cases"])
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let manifest = crate_dir.join("Cargo.toml");
    let root = format!("{}/", workspace.display());
    let mut build = Build::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else { continue };
        let ours = message["manifest_path"].as_str().is_some_and(|path| Path::new(path) == manifest);
        let is_bin = message["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if !ours || !is_bin {
            continue;
        }
        let name = message["target"]["name"].as_str().unwrap_or_default().to_owned();
        match message["reason"].as_str() {
            Some("compiler-artifact") => build.built.push(name),
            Some("compiler-message") => {
                let diagnostic = &message["message"];
                let level = diagnostic["level"].as_str().unwrap_or_default();
                let text = diagnostic["message"].as_str().unwrap_or_default();
                // The summary lines, not diagnostics of the case.
                if level == "failure-note" || text.starts_with("aborting due to") {
                    continue;
                }
                if level == "error" {
                    *build.errors.entry(name.clone()).or_default() += 1;
                }
                let rendered = diagnostic["rendered"].as_str().unwrap_or_default().replace(&root, "$WORKSPACE/");
                build.messages.entry(name).or_default().push(rendered);
            }
            _ => {}
        }
    }
    (build, stderr)
}

/// The messages as a `.stderr` file holds them: no trailing spaces, one final newline.
fn normalized(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    format!("{}\n", lines.join("\n").trim_end())
}

#[test]
fn ui() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir.ancestors().nth(2).expect("the workspace");
    let cases = cases(crate_dir);
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("read Cargo.toml");
    let unlisted: Vec<String> = cases
        .iter()
        .filter(|case| {
            !manifest.contains(&format!("name = \"{}\"\npath = \"{}/{}.rs\"", case.bin(), case.kind, case.stem))
        })
        .map(|case| format!("{}/{}.rs", case.kind, case.stem))
        .collect();
    assert!(unlisted.is_empty(), "add a [[bin]] entry to tests/ui/Cargo.toml for each of {unlisted:?}");

    let (build, cargo_stderr) = build(workspace, crate_dir);
    let bless = std::env::var_os(BLESS).is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let bin = case.bin();
        let said = build.messages.get(&bin).map(|m| m.concat()).unwrap_or_default();
        let errors = build.errors.get(&bin).copied().unwrap_or(0);
        match case.kind {
            "pass" if errors > 0 || !build.built.contains(&bin) => {
                failures.push(format!("pass/{}.rs should compile:\n{said}", case.stem));
            }
            "pass" => {}
            _ if errors == 0 => failures.push(format!("fail/{}.rs compiled: it must not", case.stem)),
            _ => {
                let file: PathBuf = crate_dir.join("fail").join(format!("{}.stderr", case.stem));
                let actual = normalized(&said);
                if bless {
                    std::fs::write(&file, &actual).expect("write the .stderr file");
                    continue;
                }
                let expected = std::fs::read_to_string(&file).map(|text| normalized(&text)).unwrap_or_default();
                if actual != expected {
                    failures.push(format!(
                        "fail/{}.rs: the compiler said\n{actual}\n-- but {} holds\n{expected}",
                        case.stem,
                        file.display()
                    ));
                }
            }
        }
    }
    if build.built.is_empty() && build.messages.is_empty() {
        failures.push(format!("cargo built none of the cases:\n{cargo_stderr}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ (run with {BLESS}=1 to record what the compiler says now):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
