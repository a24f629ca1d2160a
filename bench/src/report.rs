//! The results: rows of figures, printed as Markdown tables and written as JSON.

use crate::measure::{Load, Summary};
use serde::Serialize;

/// One measured line: a tool (or variant) in one scenario, on one backend, at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: Scenario,
    pub backend: Option<String>,
    /// Number of migrations.
    pub size: usize,
    pub tool: String,
    pub runs: usize,
    /// Wall time in milliseconds.
    pub ms: Summary,
    /// CPU time of this process (user and system, every thread) in milliseconds,
    /// where the scenario measures it.
    pub cpu_ms: Option<Summary>,
    /// Time divided by the baseline's time in the same round.
    pub ratio: Option<Summary>,
    /// What `ratio` divides by.
    pub baseline: Option<String>,
    /// Statements sent, counted in one extra run.
    pub queries: Option<usize>,
    /// Most heap memory in use at once during the call, in KiB.
    pub peak_heap_kib: Option<Summary>,
    /// The load average before and after the scenario this row belongs to.
    pub load: Option<Load>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Applying every migration to an empty database.
    Apply,
    /// Applying a mixed folder like a real one to an empty database.
    ApplyMixed,
    /// A start-up with every migration applied.
    NoopStartup,
    /// `status` with every migration applied.
    Status,
    /// The planner alone, no database.
    Planner,
    /// Compiling a crate of migrations, clean.
    CompileClean,
    /// Compiling it again after touching one file.
    CompileIncremental,
    /// A migrated test database: cloned from a template, or migrated from scratch.
    TestDatabase,
    /// Reading the schema of a database of N tables.
    Introspect,
}

impl Scenario {
    fn title(self) -> &'static str {
        match self {
            Scenario::Apply => "Apply all migrations to an empty database",
            Scenario::ApplyMixed => {
                "Apply a mixed folder to an empty database: tables, columns, indexes, a quarter outside transactions, data steps"
            }
            Scenario::NoopStartup => "Start-up with nothing pending",
            Scenario::Status => "status",
            Scenario::Planner => "Planner alone (random dependency edges, no database)",
            Scenario::CompileClean => "Compile time, clean build of the crate",
            Scenario::CompileIncremental => "Compile time, incremental after touching one file",
            Scenario::TestDatabase => {
                "A migrated test database: cloned from the template against migrated from scratch"
            }
            Scenario::Introspect => {
                "Reading the schema: N tables of five columns, with an index and a foreign key each"
            }
        }
    }
}

const ALL: [Scenario; 9] = [
    Scenario::Apply,
    Scenario::ApplyMixed,
    Scenario::NoopStartup,
    Scenario::Status,
    Scenario::Planner,
    Scenario::CompileClean,
    Scenario::CompileIncremental,
    Scenario::TestDatabase,
    Scenario::Introspect,
];

/// Markdown tables of the rows, one per scenario that has any.
pub fn markdown(rows: &[Row], cores: usize) -> String {
    let mut out = String::new();
    for scenario in ALL {
        let rows: Vec<&Row> = rows.iter().filter(|r| r.scenario == scenario).collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("### {}\n\n", scenario.title()));
        out.push_str(&load_lines(&rows, cores));
        let columns: [(&str, bool); 3] = [
            (" CPU ms (median, IQR) |", rows.iter().any(|r| r.cpu_ms.is_some())),
            (" queries |", rows.iter().any(|r| r.queries.is_some())),
            (" peak heap KiB (median, IQR) |", rows.iter().any(|r| r.peak_heap_kib.is_some())),
        ];
        out.push_str("| backend | N | tool | runs | median ms | IQR ms | ratio: median (IQR) [min–max] |");
        for (title, shown) in columns {
            if shown {
                out.push_str(title);
            }
        }
        out.push_str("\n| --- | ---: | --- | ---: | ---: | ---: | ---: |");
        for (_, shown) in columns {
            if shown {
                out.push_str(" ---: |");
            }
        }
        out.push('\n');
        for row in rows {
            let ratio = match (&row.ratio, &row.baseline) {
                (Some(r), Some(base)) => {
                    format!("{:.3}× ({:.3}–{:.3}) [{:.2}–{:.2}] of {base}", r.median, r.q1, r.q3, r.min, r.max)
                }
                _ => "–".to_owned(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {}–{} | {} |",
                row.backend.as_deref().unwrap_or("–"),
                row.size,
                row.tool,
                row.runs,
                millis(row.ms.median),
                millis(row.ms.q1),
                millis(row.ms.q3),
                ratio
            ));
            let spread = |s: Option<Summary>, precise: bool| {
                s.map_or_else(
                    || "–".to_owned(),
                    |s| {
                        if precise {
                            format!("{} ({}–{})", millis(s.median), millis(s.q1), millis(s.q3))
                        } else {
                            format!("{:.0} ({:.0}–{:.0})", s.median, s.q1, s.q3)
                        }
                    },
                )
            };
            if columns[0].1 {
                out.push_str(&format!(" {} |", spread(row.cpu_ms, true)));
            }
            if columns[1].1 {
                out.push_str(&format!(" {} |", row.queries.map_or_else(|| "–".to_owned(), |q| q.to_string())));
            }
            if columns[2].1 {
                out.push_str(&format!(" {} |", spread(row.peak_heap_kib, false)));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The load average around each backend's part of a scenario, with a warning where the machine was busy.
fn load_lines(rows: &[&Row], cores: usize) -> String {
    let mut seen: Vec<(Option<&str>, usize)> = Vec::new();
    let mut out = String::new();
    for row in rows {
        let Some(load) = row.load else { continue };
        let key = (row.backend.as_deref(), row.size);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let busy = if load.busy(cores) { " **busy**: other work competed for the cores" } else { "" };
        out.push_str(&format!(
            "- load average {} N = {}: {:.2} before, {:.2} after{busy}\n",
            row.backend.as_deref().map_or_else(String::new, |b| format!("{b},")),
            row.size,
            load.before,
            load.after
        ));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Milliseconds with the precision that means something at their size.
fn millis(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

/// Ratios of each round's value to the baseline's value in the same round.
pub fn ratios(values: &[f64], baseline: &[f64]) -> Option<Summary> {
    let ratios: Vec<f64> = values.iter().zip(baseline).filter(|(_, b)| **b > 0.0).map(|(v, b)| v / b).collect();
    Summary::of(&ratios)
}
