//! Compile time of a crate of N migrations written with `#[migration]`,
//! against the same N modules and async functions without the attribute,
//! registered in a hand-written list of entry points instead (so both crates
//! compile the same bodies into reachable code).
//!
//! Both crates are generated under the target directory, in ten files, and
//! built in the dev profile with their dependencies already compiled: "clean"
//! is after `cargo clean -p` of the crate, "incremental" after touching one
//! of its ten files. The attribute's crate is built twice: as generated, and
//! with the setting README recommends, `[profile.dev.build-override]
//! opt-level = 3`, which compiles procedural macros (ours and syn) with
//! optimisations, as sqlx recommends for its own.

use crate::measure::Summary;
use crate::report::{Row, Scenario, ratios};
use crate::workload::version;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

const FILES: usize = 10;

/// The crates measured, in the order of a round (reversed every other round).
const VARIANTS: [Variant; 3] = [Variant::Attribute, Variant::AttributeOptimised, Variant::Plain];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Attribute,
    /// The attribute's crate with procedural macros built with optimisations.
    AttributeOptimised,
    Plain,
}

impl Variant {
    fn package(self) -> &'static str {
        match self {
            Variant::Attribute => "compile-bench-attribute",
            Variant::AttributeOptimised => "compile-bench-attribute-optimised",
            Variant::Plain => "compile-bench-plain",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Attribute => "#[migration] modules",
            Variant::AttributeOptimised => "#[migration] modules, macros optimised",
            Variant::Plain => "plain async fns + hand-written list",
        }
    }
}

/// Where the generated crates and their target directory live.
#[derive(Debug)]
pub struct Bench {
    root: PathBuf,
    workspace: PathBuf,
    count: usize,
}

impl Bench {
    pub fn new(root: PathBuf, workspace: PathBuf, count: usize) -> Self {
        Bench { root, workspace, count }
    }

    fn dir(&self, variant: Variant) -> PathBuf {
        self.root.join(variant.package())
    }

    /// Writes the crates.
    pub fn generate(&self) -> std::io::Result<()> {
        for variant in VARIANTS {
            let dir = self.dir(variant);
            std::fs::create_dir_all(dir.join("src"))?;
            let mut manifest = format!(
                "[package]\nname = \"{}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\nmigrations-rs = {{ path = {:?} }}\n\n[workspace]\n",
                variant.package(),
                self.workspace.join("migrations-rs")
            );
            if variant == Variant::AttributeOptimised {
                manifest.push_str("\n[profile.dev.build-override]\nopt-level = 3\n");
            }
            std::fs::write(dir.join("Cargo.toml"), manifest)?;
            std::fs::copy(self.workspace.join("Cargo.lock"), dir.join("Cargo.lock"))?;
            std::fs::write(dir.join("src/lib.rs"), lib_rs(variant))?;
            let per_file = self.count.div_ceil(FILES);
            for file in 0..FILES {
                let range = (file * per_file).min(self.count)..((file + 1) * per_file).min(self.count);
                std::fs::write(dir.join(format!("src/m{file}.rs")), module_file(variant, range))?;
            }
        }
        Ok(())
    }

    fn cargo(&self, variant: Variant, args: &[&str]) -> std::io::Result<()> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args(args)
            .arg("--offline")
            .arg("--manifest-path")
            .arg(self.dir(variant).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", self.root.join("target"))
            .output()?;
        if !output.status.success() {
            return Err(std::io::Error::other(format!(
                "cargo {} of {} failed:\n{}",
                args.join(" "),
                variant.package(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    }

    fn timed_build(&self, variant: Variant) -> std::io::Result<f64> {
        let started = Instant::now();
        self.cargo(variant, &["build"])?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }

    /// Clean and incremental build times of every variant, `runs` rounds.
    pub fn measure(&self, runs: usize) -> std::io::Result<Vec<Row>> {
        self.generate()?;
        // Dependencies once, untimed.
        for variant in VARIANTS {
            self.cargo(variant, &["build"])?;
        }
        let variants = VARIANTS;
        let plain = variants.iter().position(|&v| v == Variant::Plain).expect("plain is measured");
        let mut clean = [Vec::new(), Vec::new(), Vec::new()];
        let mut incremental = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..runs {
            let order = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
            for slot in order {
                let variant = variants[slot];
                self.cargo(variant, &["clean", "-p", variant.package()])?;
                clean[slot].push(self.timed_build(variant)?);
                touch(&self.dir(variant).join("src/m0.rs"))?;
                incremental[slot].push(self.timed_build(variant)?);
            }
            eprintln!("  compile round {}/{runs} done", round + 1);
        }
        let mut rows = Vec::new();
        for (scenario, times) in [(Scenario::CompileClean, &clean), (Scenario::CompileIncremental, &incremental)] {
            for (slot, variant) in variants.iter().enumerate() {
                rows.push(Row {
                    scenario,
                    backend: None,
                    size: self.count,
                    tool: variant.label().to_owned(),
                    runs,
                    ms: Summary::of(&times[slot]).expect("at least one run"),
                    ratio: ratios(&times[slot], &times[plain]),
                    baseline: Some(Variant::Plain.label().to_owned()),
                    queries: None,
                    peak_heap_kib: None,
                    cpu_ms: None,
                    load: None,
                });
            }
        }
        Ok(rows)
    }
}

fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::options().write(true).open(path)?.set_modified(SystemTime::now())
}

fn lib_rs(variant: Variant) -> String {
    let mut out = String::from("//! Generated by migrations-rs-bench.\n#![allow(dead_code)]\n\n");
    out.push_str("use migrations_rs::prelude::*;\n");
    if variant == Variant::Plain {
        out.push_str(
            "use std::future::Future;\nuse std::pin::Pin;\n\n\
             pub type Entry = for<'a, 'c> fn(&'a mut Db<'c>) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;\n\n\
             pub fn migrations() -> Vec<(u64, Entry, Entry)> {\n    let mut all = Vec::new();\n",
        );
        for file in 0..FILES {
            let _ = writeln!(out, "    all.extend(m{file}::entries());");
        }
        out.push_str("    all\n}\n");
    }
    out.push('\n');
    for file in 0..FILES {
        let _ = writeln!(out, "pub mod m{file};");
    }
    out
}

fn module_file(variant: Variant, range: std::ops::Range<usize>) -> String {
    let mut out = String::from("use super::*;\n\n");
    for index in range.clone() {
        let table = format!("t{index:04}");
        if variant != Variant::Plain {
            let _ = writeln!(out, "#[migration(version = {}, risk = [schema, index])]", version(index));
        }
        let _ = write!(
            out,
            "pub mod create_{table} {{
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {{
        db.exec(
            Table::create()
                .table(\"{table}\")
                .col(ColumnDef::new(\"id\").big_integer().not_null().primary_key())
                .col(ColumnDef::new(\"name\").string_len(100).not_null())
                .col(ColumnDef::new(\"qty\").integer().not_null()),
        )
        .await?;
        db.exec(Index::create().name(\"{table}_name\").table(\"{table}\").col(\"name\")).await
    }}

    pub async fn down(db: &mut Db<'_>) -> Result<()> {{
        db.exec(Table::drop().table(\"{table}\")).await
    }}
"
        );
        if variant == Variant::Plain {
            out.push_str(
                "
    pub fn up_entry<'a>(db: &'a mut Db<'_>) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(up(db))
    }

    pub fn down_entry<'a>(db: &'a mut Db<'_>) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(down(db))
    }
",
            );
        }
        out.push_str("}\n\n");
    }
    if variant == Variant::Plain {
        out.push_str("pub fn entries() -> Vec<(u64, Entry, Entry)> {\n    vec![\n");
        for index in range {
            let table = format!("t{index:04}");
            let _ = writeln!(
                out,
                "        ({}, create_{table}::up_entry as Entry, create_{table}::down_entry as Entry),",
                version(index)
            );
        }
        out.push_str("    ]\n}\n");
    }
    out
}
