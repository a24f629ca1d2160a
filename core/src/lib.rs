//! What migrations-rs knows without a database: no I/O here, no sqlx, no
//! tokio. Both the `#[migration]` attribute (at compile time) and the runtime
//! (at run time) build on it, so a folder embedded by the macro and one
//! loaded at run time are read by the same code, and the names the macro
//! accepts are the names the runtime knows.
//!
//! - [`version`]: a migration's version and how text becomes one;
//! - [`dialect`]: the kinds of database, and facts about each SQL dialect;
//! - [`risk`]: the risk tags a migration declares;
//! - [`plan`]: the planner, from a dependency graph and a history to ordered steps;
//! - [`sql`]: the lexer and statement splitter for each dialect, and the layouts of SQL folders;
//! - [`analysis`]: the risk analysis, from SQL text to findings;
//! - [`schema`]: a database's schema as data, and how two differ in words;
//! - [`tool`]: the migration tools a project may come from, and their history tables.
//!
//! ```
//! use migrations_rs_core::{Backend, Version, analysis::Analyzer};
//! let version = Version::parse("2024_01_15_093000").unwrap();
//! assert_eq!(version.as_u64(), 20240115093000);
//! let mut analyzer = Analyzer::new(Backend::Postgres, true, &[]);
//! let findings = analyzer.sql("ALTER TABLE users DROP COLUMN email");
//! assert_eq!(findings[0].rule.id(), "drop-column");
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod dialect;
pub mod plan;
pub mod risk;
pub mod schema;
pub mod sql;
pub mod tool;
pub mod version;
pub mod wait;

pub use dialect::Backend;
pub use risk::Risk;
pub use version::{ParseVersionError, Version};
