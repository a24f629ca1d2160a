//! The registry: every migration linked into the program, checked as a whole
//! (duplicate versions, unknown dependencies, cycles) and ordered.

pub use crate::error::RegistryProblem;

use crate::error::{Error, Result};
use crate::plan::{Graph, GraphProblem, Node};
use crate::record::Migration;
use crate::version::Version;

/// All registered migrations, keyed by version, with their dependency graph.
///
/// ```no_run
/// # fn list() -> migrations_rs::Result<()> {
/// use migrations_rs::registry::Registry;
///
/// let registry = Registry::from_linked()?; // refused if versions clash or dependencies are missing
/// for migration in registry.in_order() {
///     println!("{} ({})", migration.label(), migration.location());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Registry {
    /// Sorted by version, one per version: found by binary search.
    migrations: Vec<&'static Migration>,
    graph: Graph,
}

impl Registry {
    /// Every migration linked into this program through `#[migration]`.
    pub fn from_linked() -> Result<Self> {
        Self::new(inventory::iter::<Migration>)
    }

    /// A registry of the given migrations, checked; every problem is reported at once.
    pub fn new(migrations: impl IntoIterator<Item = &'static Migration>) -> Result<Self> {
        let mut problems = Vec::new();
        // Sorting first makes the report the same whatever order the linker chose.
        let mut all: Vec<&'static Migration> = migrations.into_iter().collect();
        all.sort_unstable_by_key(|m| (m.version, m.file, m.line, m.name));
        // Sorted by version: a second one comes right after the first, which is kept.
        all.dedup_by(|second, first| {
            let repeated = second.version == first.version;
            if repeated {
                problems.push(RegistryProblem::DuplicateVersion {
                    version: second.version,
                    first: describe(first),
                    second: describe(second),
                });
            }
            repeated
        });
        let by_version = all;
        let find = |version: &Version| {
            by_version[by_version.binary_search_by_key(version, |m| m.version).expect("a version of the graph")]
        };
        let nodes = by_version.iter().map(|m| Node {
            version: m.version,
            depends_on: m.depends_on.to_vec(),
            reversible: m.down.is_some(),
        });
        let graph = match Graph::new(nodes) {
            Ok(graph) => Some(graph),
            Err(graph_problems) => {
                problems.extend(graph_problems.into_iter().filter_map(|problem| match problem {
                    GraphProblem::Duplicate { .. } => None,
                    GraphProblem::UnknownDependency { version, missing } => {
                        let migration = find(&version);
                        Some(RegistryProblem::UnknownDependency {
                            migration: migration.label(),
                            location: migration.location().to_string(),
                            missing,
                        })
                    }
                    GraphProblem::Cycle { path } => {
                        Some(RegistryProblem::Cycle { path: path.iter().map(|v| describe(find(v))).collect() })
                    }
                }));
                None
            }
        };
        match graph {
            Some(graph) if problems.is_empty() => Ok(Registry { migrations: by_version, graph }),
            _ => Err(Error::InvalidRegistry { problems }),
        }
    }

    /// The migration with this version, if there is one.
    pub fn get(&self, version: Version) -> Option<&'static Migration> {
        let found = self.migrations.binary_search_by_key(&version, |m| m.version).ok()?;
        Some(self.migrations[found])
    }

    /// How many migrations there are.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The dependency graph the planner orders them by.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Every migration in the order `up` applies them.
    pub fn in_order(&self) -> impl Iterator<Item = &'static Migration> + '_ {
        self.graph.order().map(|version| self.get(version).expect("the graph holds the registry's versions"))
    }
}

fn describe(migration: &Migration) -> String {
    format!("{} ({})", migration.label(), migration.location())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: u64, name: &'static str, line: u32, depends_on: &'static [Version]) -> &'static Migration {
        let version = Version::from_checked(version);
        Box::leak(Box::new(Migration { line, depends_on, ..Migration::placeholder(version, name) }))
    }

    const V1: Version = Version::from_checked(20240101000000);
    const V2: Version = Version::from_checked(20240102000000);
    const V3: Version = Version::from_checked(20240103000000);
    const UNKNOWN: Version = Version::from_checked(20991231000000);

    #[test]
    fn reports_every_problem_with_its_locations() {
        let error = Registry::new([
            record(20240101000000, "first", 1, &[]),
            record(20240101000000, "first_again", 9, &[]),
            record(20240102000000, "second", 20, &[V3]),
            record(20240103000000, "third", 30, &[V2]),
            record(20240104000000, "fourth", 40, &[UNKNOWN]),
        ])
        .unwrap_err();
        let Error::InvalidRegistry { problems } = &error else { panic!("unexpected {error:?}") };
        assert_eq!(problems.len(), 3, "{problems:#?}");
        let text = error.to_string();
        assert!(text.contains("version 20240101000000 is used twice, by 20240101000000 first (src/tests.rs:1) and by 20240101000000 first_again (src/tests.rs:9)"), "{text}");
        assert!(text.contains("20240104000000 fourth (src/tests.rs:40) depends on version 20991231000000"), "{text}");
        assert!(text.contains("dependency cycle: 20240102000000 second (src/tests.rs:20) -> 20240103000000 third (src/tests.rs:30) -> 20240102000000 second (src/tests.rs:20)"), "{text}");
    }

    #[test]
    fn orders_by_graph_whatever_the_registration_order() {
        let a = record(20240101000000, "a", 1, &[]);
        let b = record(20240102000000, "b", 2, &[V3]);
        let c = record(20240103000000, "c", 3, &[V1]);
        for input in [[a, b, c], [c, b, a], [b, a, c]] {
            let registry = Registry::new(input).unwrap();
            let names: Vec<&str> = registry.in_order().map(|m| m.name).collect();
            assert_eq!(names, ["a", "c", "b"]);
        }
    }
}
