//! The migrations every tool runs: N generated migrations, each creating a
//! table with a few columns and an index; every tenth also inserts rows.
//!
//! The SQL is the same text on SQLite, PostgreSQL and MySQL/MariaDB, and
//! every tool receives a migration as that one script.

use std::sync::Arc;

/// Rows the data migrations (every tenth) insert.
pub const ROWS_PER_INSERT: usize = 100;

/// One generated migration.
#[derive(Debug, Clone)]
pub struct Spec {
    /// A valid 14-digit UTC timestamp, increasing with the index.
    pub version: u64,
    /// `create_bench_00042`.
    pub name: Arc<str>,
    /// The table it creates.
    pub table: String,
    /// Its statements, separated by `;`.
    pub script: Arc<str>,
}

/// N generated migrations, in version order.
#[derive(Debug, Clone)]
pub struct Workload {
    pub migrations: Vec<Spec>,
}

impl Workload {
    pub fn new(count: usize) -> Self {
        Workload { migrations: (0..count).map(spec).collect() }
    }

    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The tables all migrations create together.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.migrations.iter().map(|m| m.table.as_str())
    }
}

/// The version of the `index`-th migration: one second after the previous,
/// from 2020-01-01 00:00:00 (valid for well over a million migrations).
pub fn version(index: usize) -> u64 {
    let seconds = index as u64;
    let (day, rest) = (seconds / 86_400, seconds % 86_400);
    assert!(day < 28, "generated versions stay within February 2020");
    let (hour, minute, second) = (rest / 3600, rest / 60 % 60, rest % 60);
    let (month, day_of_month) = if day < 27 { (1, day + 1) } else { (2, day - 26) };
    2020 * 10_000_000_000 + month * 100_000_000 + day_of_month * 1_000_000 + hour * 10_000 + minute * 100 + second
}

fn spec(index: usize) -> Spec {
    let table = format!("bench_{index:06}");
    let mut script = format!(
        "CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, \
         qty INTEGER NOT NULL, note VARCHAR(255));\n\
         CREATE INDEX {table}_name ON {table} (name)"
    );
    if index % 10 == 9 {
        let rows: Vec<String> =
            (1..=ROWS_PER_INSERT).map(|row| format!("({row}, 'item {row}', {}, NULL)", row * 3)).collect();
        script.push_str(&format!(";\nINSERT INTO {table} (id, name, qty, note) VALUES {}", rows.join(", ")));
    }
    Spec { version: version(index), name: format!("create_{table}").into(), table, script: script.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_valid_increasing_timestamps() {
        let versions: Vec<u64> = (0..200_000).step_by(997).map(version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(version(0), 20200101000000);
        assert_eq!(version(86_400 + 3661), 20200102010101);
        assert_eq!(version(27 * 86_400), 20200201000000);
    }

    #[test]
    fn every_tenth_migration_inserts_rows() {
        let workload = Workload::new(20);
        let inserting: Vec<usize> =
            (0..20).filter(|&i| workload.migrations[i].script.contains("INSERT INTO")).collect();
        assert_eq!(inserting, [9, 19]);
    }
}
