//! The version of a migration: a UTC timestamp `YYYYMMDDHHMMSS`.

use crate::error::Error;
use std::fmt;

/// A migration's version, a 14-digit UTC timestamp such as `20240115093000`.
///
/// Versions order migrations only where the dependency graph leaves a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Version(u64);

impl Version {
    /// A version already checked by the `#[migration]` attribute. Used by generated code.
    #[doc(hidden)]
    pub const fn from_checked(value: u64) -> Self {
        Version(value)
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Reads a version typed by a person, such as `20240115093000` or
    /// `2024_01_15_093000`. Only the shape is checked: whether the version
    /// exists is the registry's question.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let digits: String = input.trim().chars().filter(|c| *c != '_').collect();
        if digits.is_empty() || digits.len() > 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidVersion {
                input: input.to_owned(),
                reason: "a version is a 14-digit UTC timestamp such as 20240115093000".to_owned(),
            });
        }
        Ok(Version(digits.parse().expect("at most 14 ASCII digits fit in u64")))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<i64> for Version {
    type Error = Error;

    fn try_from(value: i64) -> Result<Self, Error> {
        u64::try_from(value).map(Version).map_err(|_| Error::InvalidVersion {
            input: value.to_string(),
            reason: "versions are never negative".to_owned(),
        })
    }
}

impl From<Version> for i64 {
    fn from(version: Version) -> i64 {
        // 14 digits are far below i64::MAX.
        version.0 as i64
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
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        for bad in ["", "abc", "2024-01-15", "202401150930001", "-1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
