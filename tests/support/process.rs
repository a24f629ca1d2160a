//! Starting the test programs as separate processes, waiting for them with a
//! bound, and reading what they printed.

use super::example_binary;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Starts `program` (an example of this package) with `args`, the database URL and `env`.
pub fn start(program: &str, url: &str, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(example_binary(program));
    command
        .args(args)
        .arg("--database-url")
        .arg(url)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("start the program")
}

/// Runs `program` to its end.
pub fn run(program: &str, url: &str, args: &[&str]) -> Output {
    finish(start(program, url, args, &[]))
}

/// Waits for the process, killing it and failing the test after two minutes:
/// a hang is a failure, never a stuck CI run.
pub fn finish(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("poll the process").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("a process hung for two minutes; its output: {}{}", text(&output.stdout), text(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect the output")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until `path` exists, failing after `limit`.
pub fn wait_for(path: &Path, limit: Duration) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < limit, "{} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}
