//! The machine and servers a run measured, written beside its figures.

use crate::tools::sql::SqlConn;
use migrations_rs::Backend;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub rustc: String,
    /// Each backend with its server's version.
    pub servers: Vec<(String, String)>,
}

impl Machine {
    pub async fn describe(backends: &[(Backend, String)]) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned()))
            })
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let mut servers = Vec::new();
        for (backend, url) in backends {
            servers.push((backend.name().to_owned(), server_version(*backend, url).await));
        }
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            os,
            rustc,
            servers,
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "- CPU: {} ({} cores available)\n- memory: {} GiB\n- OS: {}\n- compiler: {}\n",
            self.cpu, self.cores, self.memory_gib, self.os, self.rustc
        );
        for (backend, version) in &self.servers {
            out.push_str(&format!("- {backend}: {version}\n"));
        }
        out
    }
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

async fn server_version(backend: Backend, url: &str) -> String {
    let sql = match backend {
        Backend::Sqlite => "SELECT sqlite_version()",
        Backend::Postgres => "SELECT version()",
        Backend::MySql => "SELECT CONCAT('MySQL/MariaDB ', VERSION())",
    };
    let version = async {
        let mut conn = SqlConn::connect(backend, url).await?;
        let text = conn.strings(sql).await?;
        conn.close().await?;
        Ok::<_, sqlx::Error>(text.into_iter().next().unwrap_or_default())
    };
    match version.await {
        Ok(version) if backend == Backend::Sqlite => format!("SQLite {version} (a file, bundled library)"),
        Ok(version) => version,
        Err(error) => format!("unknown ({error})"),
    }
}
