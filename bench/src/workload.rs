//! The migrations every tool runs: N generated migrations, each creating a
//! table with a few columns and an index (every tenth also inserts rows), or
//! a mixed folder that looks like a real one: tables, added columns, indexes,
//! a quarter of the steps outside a transaction, and a few data steps.
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
    /// Whether it runs in a transaction (`transaction = false` runs it outside one).
    pub transaction: bool,
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

    /// `count` migrations in groups of four, as a real folder grows: a table
    /// is created (every other one with 100 rows), a column is added to it
    /// (in every tenth group, a data step updates half of its rows instead),
    /// an index is made in a transaction, and another outside one.
    pub fn mixed(count: usize) -> Self {
        Workload { migrations: (0..count).map(mixed_spec).collect() }
    }

    /// How many of the migrations run outside a transaction.
    pub fn outside_transactions(&self) -> usize {
        self.migrations.iter().filter(|m| !m.transaction).count()
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

/// The checksum the tools that take one from us record for the migration of
/// `version`: distinct per migration, the same in every run.
pub fn checksum(version: u64) -> [u8; 32] {
    let mut bytes = [0x5a; 32];
    bytes[..8].copy_from_slice(&version.to_be_bytes());
    bytes
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
    Spec {
        version: version(index),
        name: format!("create_{table}").into(),
        table,
        script: script.into(),
        transaction: true,
    }
}

fn mixed_spec(index: usize) -> Spec {
    let group = index / 4;
    let table = format!("mixed_{group:05}");
    let with_rows = group.is_multiple_of(2);
    let (name, script, transaction) = match index % 4 {
        0 => {
            let mut script = format!(
                "CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, \
                 qty INTEGER NOT NULL, created_at VARCHAR(32))"
            );
            if with_rows {
                let rows: Vec<String> = (1..=ROWS_PER_INSERT)
                    .map(|row| format!("({row}, 'item {row}', {}, '2024-01-01T00:00:00Z')", row * 3))
                    .collect();
                script.push_str(&format!(
                    ";\nINSERT INTO {table} (id, name, qty, created_at) VALUES {}",
                    rows.join(", ")
                ));
            }
            (format!("create_{table}"), script, true)
        }
        1 if group % 10 == 2 => (
            format!("update_{table}"),
            format!(
                "UPDATE {table} SET qty = qty + 1, name = 'renamed' WHERE id <= {};\n\
                 UPDATE {table} SET created_at = '2024-06-01T00:00:00Z' WHERE qty > 100",
                ROWS_PER_INSERT / 2
            ),
            true,
        ),
        1 => (format!("add_note_to_{table}"), format!("ALTER TABLE {table} ADD COLUMN note VARCHAR(255)"), true),
        2 => (format!("index_{table}_name"), format!("CREATE INDEX {table}_name ON {table} (name)"), true),
        _ => (format!("index_{table}_qty"), format!("CREATE INDEX {table}_qty ON {table} (qty)"), false),
    };
    Spec { version: version(index), name: name.into(), table, script: script.into(), transaction }
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

    #[test]
    fn a_mixed_folder_has_a_quarter_outside_transactions_and_a_few_data_steps() {
        let workload = Workload::mixed(300);
        assert_eq!(workload.outside_transactions(), 75);
        let updates = workload.migrations.iter().filter(|m| m.script.starts_with("UPDATE")).count();
        assert_eq!(updates, 8);
        assert!(workload.migrations.iter().any(|m| m.script.starts_with("ALTER TABLE")));
    }
}
