//! The registry's errors: what can be wrong with the registered migrations
//! as a whole, each with where it is.

use crate::version::Version;
use std::fmt;

/// One thing wrong with the registered migrations, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryProblem {
    /// Two migrations have the same version.
    DuplicateVersion {
        /// The version they share.
        version: Version,
        /// The first, as `name (file:line)`.
        first: String,
        /// The second, the same way.
        second: String,
    },
    /// A migration depends on a version no migration has.
    UnknownDependency {
        /// The migration, as `version name`.
        migration: String,
        /// Where it is defined.
        location: String,
        /// The version it names.
        missing: Version,
    },
    /// Each entry is `version name (file:line)`; the first depends on the second, and so on round.
    Cycle {
        /// The migrations of the cycle.
        path: Vec<String>,
    },
}

impl fmt::Display for RegistryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryProblem::DuplicateVersion { version, first, second } => {
                write!(f, "version {version} is used twice, by {first} and by {second}; give one of them a new version")
            }
            RegistryProblem::UnknownDependency { migration, location, missing } => write!(
                f,
                "{migration} ({location}) depends on version {missing}, which no migration has; \
                 fix the version, or link the crate that defines it (a crate the program never names is \
                 dropped by the linker: keep it with `use that_crate as _;`)"
            ),
            RegistryProblem::Cycle { path } => {
                write!(f, "dependency cycle: {}", path.join(" -> "))?;
                write!(f, " -> {}; remove one of these dependencies", path[0])
            }
        }
    }
}
