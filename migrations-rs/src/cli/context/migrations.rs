//! The migrations a run covers: those linked into this program, and those of
//! `--sql-dir` with its hook files, reporting once what the folder holds
//! that is not a migration.

use super::Context;
use crate::cli::output::Tone;
use migrations_rs_runtime::{Error, Hooks, Registry, sql};
use std::path::{Path, PathBuf};

impl Context<'_> {
    /// The migrations linked into this program, and those of `--sql-dir`.
    pub(crate) fn registry(&self) -> Result<Registry, Error> {
        self.registry_and_hooks().map(|(registry, _)| registry)
    }

    /// [`Context::registry`], and the hook files of `--sql-dir`.
    pub(crate) fn registry_and_hooks(&self) -> Result<(Registry, Hooks), Error> {
        let linked = Registry::from_linked()?;
        let Some(folder) = &self.cli.sql_dir else { return Ok((linked, Hooks::default())) };
        if !folder.exists() {
            return Err(Error::msg(format!(
                "the SQL migrations folder {} does not exist: create a migration with `create NAME`, \
                 or point --sql-dir at the folder",
                folder.display()
            )));
        }
        if !folder.is_dir() {
            return Err(Error::msg(format!(
                "--sql-dir {} is a file, not a directory: point --sql-dir at the folder that holds the SQL migrations",
                folder.display()
            )));
        }
        let loaded = sql::folder::load(folder)?;
        // Once per run, one line each, however many files.
        if !loaded.ignored.is_empty() {
            self.say(
                Tone::Dim,
                &format!(
                    "{} not a migration, left alone: {}",
                    count(loaded.ignored.len(), "file is", "files are"),
                    names(folder, &loaded.ignored)
                ),
            );
        }
        if !loaded.empty_downs.is_empty() {
            self.say(
                Tone::Warning,
                &format!(
                    "warning: {} empty, so their migrations count as irreversible (a down file holding only \
                     comments says there is nothing to undo): {}",
                    count(loaded.empty_downs.len(), "down file is", "down files are"),
                    names(folder, &loaded.empty_downs)
                ),
            );
        }
        Ok((Registry::new(linked.in_order().chain(loaded.migrations))?, loaded.hooks))
    }
}

/// `1 file is` or `3 files are`.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// The first few paths, relative to the folder, and how many more.
fn names(folder: &Path, paths: &[PathBuf]) -> String {
    const SHOWN: usize = 3;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .map(|p| p.strip_prefix(folder).unwrap_or(p).display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}
