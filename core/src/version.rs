//! The version of a migration: a UTC timestamp `YYYYMMDDHHMMSS` for a Rust
//! migration, any number up to `i64::MAX` for a SQL migration (diesel's
//! 18-digit `-0000` versions, sqlx's `0001`).

use std::fmt;

/// A migration's version: a 14-digit UTC timestamp such as `20240115093000`
/// for a Rust migration; a SQL migration's may be any number up to
/// [`Version::MAX`], the largest the history table's integer column holds.
///
/// Versions order migrations only where the dependency graph leaves a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct Version(u64);

impl Version {
    /// The largest version: the history table keeps a signed 64-bit integer.
    pub const MAX: Version = Version(i64::MAX as u64);

    /// A version already checked by the `#[migration]` attribute. Used by generated code.
    #[doc(hidden)]
    pub const fn from_checked(value: u64) -> Self {
        Version(value)
    }

    /// The version as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Reads a version typed by a person, such as `20240115093000`,
    /// `2024_01_15_093000` or diesel's 18-digit `202401150930000000`. Only
    /// the shape is checked: whether the version exists is the registry's question.
    pub fn parse(input: &str) -> Result<Self, ParseVersionError> {
        let digits: String = input.trim().chars().filter(|c| *c != '_').collect();
        let invalid = |reason: String| ParseVersionError { input: input.to_owned(), reason };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("a version is a number such as 20240115093000 (a UTC timestamp)".to_owned()));
        }
        match digits.parse::<u64>() {
            Ok(value) if value <= Self::MAX.0 => Ok(Version(value)),
            _ => Err(invalid(format!("a version is at most {}", Self::MAX))),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<i64> for Version {
    type Error = ParseVersionError;

    fn try_from(value: i64) -> Result<Self, ParseVersionError> {
        u64::try_from(value).map(Version).map_err(|_| ParseVersionError {
            input: value.to_string(),
            reason: "versions are never negative".to_owned(),
        })
    }
}

impl From<Version> for i64 {
    fn from(version: Version) -> i64 {
        // Every version is at most `Version::MAX`: `parse` and the folder
        // reader refuse larger ones, `#[migration]` takes 14 digits.
        i64::try_from(version.0).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn parses_with_and_without_underscores() {
        assert_eq!(Version::parse("20240115093000").unwrap(), Version::from_checked(20240115093000));
        assert_eq!(Version::parse("2024_01_15_093000").unwrap(), Version::from_checked(20240115093000));
        assert_eq!(Version::from_checked(20240115093000).to_string(), "20240115093000");
        assert_eq!(Version::parse("202401150930000000").unwrap().as_u64(), 202401150930000000);
        assert_eq!(Version::parse("0001").unwrap().as_u64(), 1);
        assert_eq!(Version::parse("9223372036854775807").unwrap(), Version::MAX);
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in ["", "abc", "2024-01-15", "-1", "9223372036854775808", "99999999999999999999999"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

/// Text or a number that is not a migration version, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseVersionError {
    /// What was given, as given.
    pub input: String,
    /// What a version must be instead.
    pub reason: String,
}

impl fmt::Display for ParseVersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a migration version: {}", self.input, self.reason)
    }
}

impl std::error::Error for ParseVersionError {}
