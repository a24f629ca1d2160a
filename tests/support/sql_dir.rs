//! SQL folders written for a test, and the standalone `migrations-rs` binary
//! run over them.

use super::TestDb;
use std::path::Path;
use std::process::Command;

/// Writes `files` (relative path, text) under a new temporary folder.
pub fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Runs the standalone binary in `cwd` with `args`, then `--sql-dir dir`: exit code and all output.
pub fn run_in(cwd: &Path, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_migrations-rs"))
        .args(args)
        .args(["--sql-dir", &dir.display().to_string()])
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migrations-rs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

/// [`run_in`] from the working directory, with `--database-url` of `db` after `verb`.
pub fn run(dir: &Path, db: &TestDb, verb: &[&str]) -> (Option<i32>, String) {
    let mut args = verb.to_vec();
    args.extend(["--database-url", db.url.expose()]);
    run_in(Path::new("."), dir, &args)
}
