//! Runs the standalone `migrations-rs` binary over a folder of SQL files
//! written for one test, the way a project keeps them.
#![allow(dead_code)]

use crate::support::TestDb;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A folder of migrations under a temporary directory of its own.
pub struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    /// Writes `files` (paths relative to the migrations folder) into a new folder.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let folder = Folder { dir: tempfile::tempdir().expect("temporary directory") };
        std::fs::create_dir_all(folder.path()).unwrap();
        for (path, text) in files {
            folder.write(path, text);
        }
        folder
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.path().join(path)).unwrap();
    }

    /// The migrations folder.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// The working directory the binary runs in (the folder's parent).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the binary with `args`, the folder and `db`'s URL.
    pub fn run(&self, db: &TestDb, args: &[&str]) -> Ran {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--sql-dir".to_owned(), self.path().display().to_string()]);
        all.extend(["--database-url".to_owned(), db.url.expose().to_owned()]);
        run_in(self.root(), &all)
    }
}

/// What a run printed, and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Both streams, for messages.
    pub fn all(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }

    /// Asserts success and returns both streams.
    pub fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "{}", self.all());
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Standard error as one JSON object.
    pub fn json_error(&self) -> serde_json::Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("standard error is not one JSON object ({e}):\n{}", self.all()))
    }
}

/// Runs the binary in `dir` with `args`, without a terminal or colours.
pub fn run_in(dir: &Path, args: &[String]) -> Ran {
    let output = Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrations-rs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
