//! The risk tags a migration declares: what kind of change it makes, which
//! drives the safety checks.

use std::fmt;

/// What kind of change a migration makes; drives the safety checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Risk {
    /// Tables, columns, views: the shape of the schema.
    Schema,
    /// Rows: reads and writes of the data itself.
    Data,
    /// Indexes.
    Index,
    /// Constraints: keys, checks, uniqueness.
    Constraint,
}

impl Risk {
    /// Every tag, in the order they are listed.
    pub const ALL: &'static [Risk] = &[Risk::Schema, Risk::Data, Risk::Index, Risk::Constraint];

    /// The tag `name` stands for, such as `schema`.
    ///
    /// ```
    /// use migrations_rs_core::Risk;
    /// assert_eq!(Risk::from_name("index"), Some(Risk::Index));
    /// assert_eq!(Risk::from_name("indexes"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Risk> {
        Risk::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// The tag as written in `risk = [...]`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Risk::Schema => "schema",
            Risk::Data => "data",
            Risk::Index => "index",
            Risk::Constraint => "constraint",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
