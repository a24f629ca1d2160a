//! Runs the real `rustfmt` with several configurations over every Rust
//! migration in the repository and checks that no checksum moves.

use super::{canonical_text, of_tokens};
use quote::ToTokens;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// rustfmt settings a project may use, one `--config` value each. Between them
/// they change every choice rustfmt makes between token forms: trailing commas,
/// import granularity, grouping and order, braces and commas of match arms,
/// trailing semicolons, field init shorthand, nested parentheses, leading
/// pipes, wildcard suffixes, literal spelling, derive merging.
const CONFIGURATIONS: &[&str] = &[
    "",
    "max_width=60,trailing_comma=Never,fn_params_layout=Vertical,hard_tabs=true,tab_spaces=2,newline_style=Windows,use_small_heuristics=Off",
    "imports_granularity=Item,group_imports=StdExternalCrate,match_block_trailing_comma=true,brace_style=AlwaysNextLine,\
     trailing_comma=Always,match_arm_leading_pipes=Always,use_field_init_shorthand=true,style_edition=2015,max_width=80",
    "imports_granularity=Crate,trailing_semicolon=false,match_arm_blocks=false,condense_wildcard_suffixes=true,\
     hex_literal_case=Upper,format_strings=true,max_width=40,chain_width=20,fn_call_width=20,reorder_imports=false,\
     merge_derives=false,remove_nested_parens=false,force_multiline_blocks=true,float_literal_trailing_zero=Always",
    "imports_granularity=One,use_small_heuristics=Max,max_width=120,overflow_delimited_expr=true,fn_single_line=true,\
     where_single_line=true,combine_control_expr=false,format_macro_matchers=true,format_macro_bodies=true,\
     normalize_doc_attributes=true,wrap_comments=true,control_brace_style=AlwaysNextLine,imports_layout=Vertical,\
     float_literal_trailing_zero=Never,match_arm_leading_pipes=Never",
    "imports_granularity=Module,group_imports=One,indent_style=Visual,tab_spaces=8,reorder_modules=false,\
     use_try_shorthand=true,struct_lit_single_line=false,empty_item_single_line=false,style_edition=2024",
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the macros crate sits in the workspace").to_path_buf()
}

/// Every `.rs` file of the repository that defines a migration, except the
/// compile-fail cases of `tests/ui/fail` (never applied) and build output.
fn migration_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![repository()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("repository folder readable") {
            let path = entry.expect("folder entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                let skipped =
                    matches!(name, "target" | ".git" | "corpus" | "artifacts") || path.ends_with("tests/ui/fail");
                if !skipped {
                    folders.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).expect("source readable");
                if !migrations(&text).is_empty() {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

/// `(module path, checksum, canonical text)` of every `#[migration]` module in `source`.
fn migrations(source: &str) -> Vec<(String, [u8; 32], String)> {
    let Ok(file) = syn::parse_file(source) else { return Vec::new() };
    let mut found = Vec::new();
    collect(&file.items, "", &mut found);
    found
}

fn collect(items: &[syn::Item], prefix: &str, found: &mut Vec<(String, [u8; 32], String)>) {
    for item in items {
        let syn::Item::Mod(module) = item else { continue };
        let path = format!("{prefix}::{}", module.ident);
        let is_migration = |attr: &syn::Attribute| attr.path().segments.last().is_some_and(|s| s.ident == "migration");
        if module.attrs.iter().any(is_migration) {
            // The attribute sees the module without itself.
            let mut item = module.clone();
            item.attrs.retain(|attr| !is_migration(attr));
            let tokens = item.to_token_stream();
            found.push((path.clone(), of_tokens(tokens.clone()), canonical_text(tokens)));
        }
        if let Some((_, inner)) = &module.content {
            collect(inner, &path, found);
        }
    }
}

/// `source` as `rustfmt --edition 2024 --config <config>` writes it.
fn rustfmt(source: &str, config: &str, workdir: &Path) -> String {
    let mut command = Command::new("rustfmt");
    command.args(["--edition", "2024", "--emit", "stdout"]).current_dir(workdir);
    if !config.is_empty() {
        command.args(["--config", config]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`rustfmt` runs (install it with `rustup component add rustfmt`)");
    child.stdin.take().expect("stdin piped").write_all(source.as_bytes()).expect("rustfmt reads its input");
    let output = child.wait_with_output().expect("rustfmt finishes");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "rustfmt --config {config:?} failed or warned: {stderr}"
    );
    String::from_utf8(output.stdout).expect("rustfmt writes UTF-8")
}

#[test]
fn rustfmt_leaves_every_checksum_unchanged_under_every_configuration() {
    // A folder of its own, so no rustfmt.toml of the repository applies.
    let workdir = std::env::temp_dir().join(format!("migrations-rs-rustfmt-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let files = migration_files();
    let mut checked = 0;
    let mut changed = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let original = migrations(&source);
        let copy = workdir.join(path.file_name().unwrap());
        std::fs::write(&copy, &source).unwrap();
        for config in CONFIGURATIONS {
            let formatted = rustfmt(&source, config, &workdir);
            let after = migrations(&formatted);
            let names = |list: &[(String, [u8; 32], String)]| list.iter().map(|m| m.0.clone()).collect::<Vec<_>>();
            assert_eq!(names(&original), names(&after), "{}: rustfmt kept every migration", path.display());
            for ((name, before, before_text), (_, after, after_text)) in original.iter().zip(&after) {
                checked += 1;
                if before != after {
                    changed.push(format!(
                        "{} {name} with --config {config:?}:\n  before: {before_text}\n  after:  {after_text}",
                        path.display()
                    ));
                }
            }
        }
    }
    std::fs::remove_dir_all(&workdir).ok();
    let relative: Vec<_> = files.iter().map(|f| f.strip_prefix(repository()).unwrap().display().to_string()).collect();
    for expected in [
        "examples/migrate.rs",
        "tests/shared/items.rs",
        "tests/fixture/main.rs",
        "tests/workspace/app/src/migrations.rs",
    ] {
        assert!(relative.iter().any(|f| f == expected), "{expected} is among the files checked: {relative:?}");
    }
    assert!(checked >= 50 * CONFIGURATIONS.len(), "only {checked} checksums compared");
    eprintln!("{checked} checksums compared over {} files and {} configurations", files.len(), CONFIGURATIONS.len());
    assert!(changed.is_empty(), "{} checksums changed:\n{}", changed.len(), changed.join("\n"));
}
