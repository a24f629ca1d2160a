//! The record `#[migration]` registers for each migration: `const` data plus
//! the entry points of its `up` and `down` bodies.

use crate::analysis::{Analyzer, Origin};
use crate::backend::Backend;
use crate::db::Db;
use crate::error::Result;
use crate::version::Version;
pub use migrations_rs_core::Risk;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// The future an `up` or `down` body returns, boxed so records can hold it.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// The entry point of an `up` or `down` body.
pub type MigrationFn = for<'a, 'c> fn(&'a mut Db<'c>) -> BoxFuture<'a>;

/// One migration as registered at link time. Built by `#[migration]`.
pub struct Migration {
    /// Its version: a UTC timestamp, unique in the program.
    pub version: Version,
    /// The module's name, such as `create_users`.
    pub name: &'static str,
    /// The name of the crate that defines the migration.
    pub module: &'static str,
    /// That crate's version.
    pub module_version: &'static str,
    /// The source file that defines it.
    pub file: &'static str,
    /// The line of the module's name in that file (1 for a SQL file).
    pub line: u32,
    /// The migrations that must be applied before it.
    pub depends_on: &'static [Version],
    /// The kinds of change it declares.
    pub risk: &'static [Risk],
    /// Risk-analysis rules the migration acknowledges, by `allow` name, such as `drop_column`.
    pub allow: &'static [&'static str],
    /// It has no `down`, and is never reverted.
    pub irreversible: bool,
    /// `up` does nothing (as `create` writes it) and the migration is not
    /// marked `empty`: `up` refuses to apply it and `lint` reports it.
    pub empty_up: bool,
    /// Whether the body runs in a transaction with its history row.
    pub transaction: bool,
    /// How long each of its statements waits for a lock another session
    /// holds, instead of the run's lock wait (`lock_wait` of the attribute or
    /// the SQL header).
    pub lock_wait: Option<std::time::Duration>,
    /// The checksum of its code, recorded when it is applied.
    pub checksum: Checksum,
    /// The checksum earlier versions of migrations-rs recorded for the same code, when it
    /// differs: a history row holding it is accepted and re-recorded with
    /// [`Migration::checksum`].
    pub legacy_checksum: Option<Checksum>,
    /// What applying it runs.
    pub up: Body,
    /// What reverting it runs; `None` when it is irreversible.
    pub down: Option<Body>,
}

/// What runs when a migration is applied or reverted.
#[derive(Clone, Copy)]
pub enum Body {
    /// An `async fn` of the migration's module.
    Rust(MigrationFn),
    /// SQL text, split into statements and run one at a time.
    Sql(&'static str),
}

impl Body {
    /// Runs the body on `db`.
    pub fn run<'a, 'c>(self, db: &'a mut Db<'c>) -> BoxFuture<'a> {
        match self {
            Body::Rust(body) => body(db),
            Body::Sql(script) => Box::pin(db.exec_script(script)),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Rust(_) => f.write_str("Body::Rust"),
            Body::Sql(script) => write!(f, "Body::Sql({} bytes)", script.len()),
        }
    }
}

inventory::collect!(Migration);

impl Migration {
    /// A record with `version` and `name` and nothing else: SQL bodies that
    /// send nothing, no dependencies, no risk, in a file `src/tests.rs` of
    /// module `tests`. For tests and benchmarks that need records without a
    /// crate of migrations; set other fields with struct update syntax.
    #[doc(hidden)]
    pub const fn placeholder(version: Version, name: &'static str) -> Migration {
        Migration {
            version,
            name,
            module: "tests",
            module_version: "0.0.0",
            file: "src/tests.rs",
            line: 1,
            depends_on: &[],
            risk: &[],
            allow: &[],
            irreversible: false,
            empty_up: false,
            transaction: true,
            lock_wait: None,
            checksum: Checksum::from_bytes([0; 32]),
            legacy_checksum: None,
            up: Body::Sql(""),
            down: Some(Body::Sql("")),
        }
    }

    /// This migration as its risk findings name it.
    pub fn origin(&self) -> Origin {
        Origin {
            migration: self.label(),
            location: self.location().to_string(),
            sql_file: matches!(self.up, Body::Sql(_)),
        }
    }

    /// An analyzer of this migration's statements on `backend`, knowing what it acknowledges.
    pub fn analyzer(&self, backend: Backend) -> Analyzer {
        Analyzer::new(backend, self.transaction, self.allow)
    }

    /// `file:line` of the definition.
    pub fn location(&self) -> Location {
        Location { file: self.file, line: self.line }
    }

    /// Whether `hex`, a checksum recorded in the history table, is this
    /// migration's checksum or the legacy form of it.
    pub fn matches_recorded(&self, hex: &str) -> bool {
        self.checksum.matches_hex(hex) || self.is_legacy_record(hex)
    }

    /// Whether `hex` is the legacy form of this migration's checksum (and not the current one).
    pub fn is_legacy_record(&self, hex: &str) -> bool {
        !self.checksum.matches_hex(hex) && self.legacy_checksum.is_some_and(|legacy| legacy.matches_hex(hex))
    }

    /// `20240115093000 create_users`, the way people refer to it.
    pub fn label(&self) -> String {
        format!("{} {}", self.version, self.name)
    }
}

/// Where a migration is defined, shown (and serialised) as `file:line`: two
/// fields the record already holds, written out only when shown.
///
/// ```
/// use migrations_rs_runtime::record::Location;
///
/// let location = Location { file: "src/migrations/m2024_01_15_093000_create_users.rs", line: 3 };
/// assert_eq!(location.to_string(), "src/migrations/m2024_01_15_093000_create_users.rs:3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The source file, as the compiler named it (relative to its crate's root).
    pub file: &'static str,
    /// The line of the `#[migration]` attribute, from 1.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("module", &self.module)
            .field("location", &self.location())
            .field("depends_on", &self.depends_on)
            .field("risk", &self.risk)
            .field("allow", &self.allow)
            .field("irreversible", &self.irreversible)
            .field("empty_up", &self.empty_up)
            .field("transaction", &self.transaction)
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of what a migration is, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// The checksum with these 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Checksum(bytes)
    }

    /// The checksum as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.hex_digits().iter().map(|&digit| char::from(digit)).collect()
    }

    /// Whether `hex` (as the history table stores it) is this checksum, without building a string.
    pub fn matches_hex(&self, hex: &str) -> bool {
        self.matches_hex_bytes(hex.as_bytes())
    }

    /// [`Checksum::matches_hex`] of text read as bytes.
    pub(crate) fn matches_hex_bytes(&self, hex: &[u8]) -> bool {
        hex == self.hex_digits()
    }

    /// The 64 lowercase hex digits, on the stack: arithmetic without
    /// branches or table lookups, which the compiler turns into a few vector
    /// instructions (twice as fast as looking each digit up).
    fn hex_digits(&self) -> [u8; 64] {
        // `n` and `b'0'`, plus the distance from `b'9' + 1` to `b'a'` when `n` is over 9.
        let digit = |n: u8| n + b'0' + (9u8.wrapping_sub(n) >> 7) * (b'a' - b'9' - 1);
        let mut digits = [0; 64];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(self.0) {
            pair[0] = digit(byte >> 4);
            pair[1] = digit(byte & 0xf);
        }
        digits
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::Checksum;

    #[test]
    fn hex_is_lowercase_and_matches_only_itself() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x0f;
        let checksum = Checksum::from_bytes(bytes);
        let hex = checksum.to_hex();
        assert_eq!(hex, format!("ab{}0f", "00".repeat(30)));
        assert!(checksum.matches_hex(&hex));
        assert!(!checksum.matches_hex(&hex.to_uppercase()));
        assert!(!checksum.matches_hex(&hex[..62]));
        assert!(!checksum.matches_hex(&format!("ab{}0e", "00".repeat(30))));
    }

    #[test]
    fn every_byte_is_written_as_the_formatter_writes_it() {
        for byte in 0..=u8::MAX {
            let checksum = Checksum::from_bytes([byte; 32]);
            assert_eq!(checksum.to_hex(), format!("{byte:02x}").repeat(32), "{byte}");
        }
    }
}
