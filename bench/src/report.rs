//! The results: rows of figures, printed as Markdown tables and written as JSON.

use crate::measure::Summary;
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
    /// Time divided by the baseline's time in the same round.
    pub ratio: Option<Summary>,
    /// What `ratio` divides by.
    pub baseline: Option<String>,
    /// Statements sent, counted in one extra run.
    pub queries: Option<usize>,
    /// Most heap memory in use at once during the call, in KiB.
    pub peak_heap_kib: Option<Summary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Applying every migration to an empty database.
    Apply,
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

const ALL: [Scenario; 8] = [
    Scenario::Apply,
    Scenario::NoopStartup,
    Scenario::Status,
    Scenario::Planner,
    Scenario::CompileClean,
    Scenario::CompileIncremental,
    Scenario::TestDatabase,
    Scenario::Introspect,
];

/// Markdown tables of the rows, one per scenario that has any.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    for scenario in ALL {
        let rows: Vec<&Row> = rows.iter().filter(|r| r.scenario == scenario).collect();
        if rows.is_empty() {
            continue;
        }
        let queries = rows.iter().any(|r| r.queries.is_some());
        let heap = rows.iter().any(|r| r.peak_heap_kib.is_some());
        out.push_str(&format!("### {}\n\n", scenario.title()));
        out.push_str("| backend | N | tool | median ms | min–max ms | ratio (median, min–max) |");
        if queries {
            out.push_str(" queries |");
        }
        if heap {
            out.push_str(" peak heap KiB (median) |");
        }
        out.push_str("\n| --- | ---: | --- | ---: | ---: | ---: |");
        if queries {
            out.push_str(" ---: |");
        }
        if heap {
            out.push_str(" ---: |");
        }
        out.push('\n');
        for row in rows {
            let ratio = match (&row.ratio, &row.baseline) {
                (Some(r), Some(base)) => format!("{:.2}× ({:.2}–{:.2}) of {base}", r.median, r.min, r.max),
                _ => "–".to_owned(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {}–{} | {} |",
                row.backend.as_deref().unwrap_or("–"),
                row.size,
                row.tool,
                millis(row.ms.median),
                millis(row.ms.min),
                millis(row.ms.max),
                ratio
            ));
            if queries {
                out.push_str(&format!(" {} |", row.queries.map_or_else(|| "–".to_owned(), |q| q.to_string())));
            }
            if heap {
                out.push_str(&format!(
                    " {} |",
                    row.peak_heap_kib.map_or_else(|| "–".to_owned(), |h| format!("{:.0}", h.median))
                ));
            }
            out.push('\n');
        }
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
