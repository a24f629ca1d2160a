//! A registry with mistakes the compiler cannot see (duplicate versions,
//! dependencies by version that do not exist, cycles through versions) is
//! refused when it loads, every problem at once with its source locations.

use migrations_rs::prelude::*;
use migrations_rs::{Error, Migrator, registry::RegistryProblem};

#[migration(version = 2024_01_01_000000, risk = [schema])]
mod first {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

pub mod elsewhere {
    use migrations_rs::prelude::*;

    /// Same version as `first`, in another module.
    #[migration(version = 2024_01_01_000000)]
    mod first_again {
        use super::*;

        pub async fn up(_db: &mut Db<'_>) -> Result<()> {
            Ok(())
        }

        pub async fn down(_db: &mut Db<'_>) -> Result<()> {
            Ok(())
        }
    }
}

#[migration(version = 2024_02_01_000000, depends_on = [2024_03_01_000000])]
mod ping {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

#[migration(version = 2024_03_01_000000, depends_on = [ping])]
mod pong {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

#[migration(version = 2024_04_01_000000, depends_on = [2023_12_31_235959])]
mod orphan {
    use super::*;

    pub async fn up(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }

    pub async fn down(_db: &mut Db<'_>) -> Result<()> {
        Ok(())
    }
}

#[test]
fn every_problem_is_reported_with_its_locations() {
    let error = Migrator::from_linked().unwrap_err();
    let Error::InvalidRegistry { problems } = &error else { panic!("unexpected {error}") };
    assert_eq!(problems.len(), 3, "{problems:#?}");
    let file = "tests/registry_errors.rs";
    let text = error.to_string();

    let duplicate = problems.iter().find(|p| matches!(p, RegistryProblem::DuplicateVersion { .. })).unwrap();
    let RegistryProblem::DuplicateVersion { first, second, .. } = duplicate else { unreachable!() };
    let mut names = [first.as_str(), second.as_str()];
    names.sort();
    assert!(names[0].starts_with("20240101000000 first (") && names[0].contains(file), "{text}");
    assert!(names[1].starts_with("20240101000000 first_again (") && names[1].contains(file), "{text}");

    assert!(text.contains("20240401000000 orphan ("), "{text}");
    assert!(text.contains("depends on version 20231231235959, which no migration has"), "{text}");

    let cycle = problems.iter().find_map(|p| match p {
        RegistryProblem::Cycle { path } => Some(path),
        _ => None,
    });
    let cycle = cycle.expect("the cycle is reported");
    assert_eq!(cycle.len(), 2);
    assert!(cycle[0].starts_with("20240201000000 ping (") && cycle[0].contains(file), "{cycle:?}");
    assert!(cycle[1].starts_with("20240301000000 pong (") && cycle[1].contains(file), "{cycle:?}");
    assert!(text.contains("dependency cycle: 20240201000000 ping ("), "{text}");
}
