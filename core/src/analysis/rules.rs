//! The catalogue of rules: what each one catches, how bad it is, and what
//! to do instead.

use crate::dialect::Backend;
use std::fmt;

/// A kind of dangerous statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Rule {
    /// `DROP TABLE`: the table and its rows are gone.
    DropTable,
    /// `DROP COLUMN`: the column's values are gone.
    DropColumn,
    /// `TRUNCATE`: every row is gone.
    Truncate,
    /// `UPDATE` or `DELETE` without `WHERE`.
    UnboundedDml,
    /// Renaming a table breaks code that still uses the old name.
    RenameTable,
    /// Renaming a column breaks code that still uses the old name.
    RenameColumn,
    /// Changing a column's type, which may rewrite the table or lose precision.
    ChangeType,
    /// Adding a `NOT NULL` column without a default.
    RequiredColumn,
    /// `SET NOT NULL` on an existing column, which scans the table under a lock.
    SetNotNull,
    /// `DROP NOT NULL`, which older code may rely on.
    DropNotNull,
    /// A foreign key validated as it is added, which locks both tables.
    ForeignKeyValidating,
    /// A check constraint validated as it is added.
    CheckValidating,
    /// A unique constraint or primary key added to an existing table.
    UniqueOrPrimaryKey,
    /// An index built without `CONCURRENTLY`, which blocks writes.
    IndexNotConcurrent,
    /// An index dropped without `CONCURRENTLY`.
    DropIndexNotConcurrent,
    /// Dropping a foreign key.
    DropForeignKey,
    /// A statement that cannot run inside a transaction.
    NotInTransaction,
    /// `VACUUM FULL`, `CLUSTER` and the like, which lock the table.
    BlockingMaintenance,
    /// `BEGIN`, `COMMIT` or `ROLLBACK` inside a migration the runner wraps in a transaction.
    TransactionControl,
    /// Changing an enum type.
    EnumChange,
    /// A MySQL `ALTER TABLE` that copies the table.
    MysqlCopyLock,
    /// A SQLite `PRAGMA` that has no effect inside a transaction.
    SqlitePragmaInTransaction,
    /// SQL the analysis cannot read, so it cannot say it is safe.
    OpaqueSql,
    /// The statements show a risk the migration does not declare.
    UndeclaredRisk,
    /// `up` does nothing, as `create` wrote it. Not in [`Rule::ALL`]: it is
    /// answered with `empty` in the attribute, not acknowledged with `allow`.
    EmptyMigration,
}

/// How a finding can hurt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Severity {
    /// Rows or values are lost.
    DataLoss,
    /// A lock blocks reads or writes while the statement runs.
    BlockingLock,
    /// Code running against the old schema breaks.
    BackwardIncompatible,
    /// The statement fails if existing rows break the new rule.
    CanFailOnExistingData,
}

impl Severity {
    /// The severity's name in reports, such as `data-loss`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::DataLoss => "data loss",
            Severity::BlockingLock => "blocking lock",
            Severity::BackwardIncompatible => "backward incompatible",
            Severity::CanFailOnExistingData => "can fail on existing data",
        }
    }
}

/// Whether a finding fails `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Level {
    /// Fails `lint`.
    Error,
    /// Reported, but does not fail `lint`.
    Warning,
}

impl Rule {
    /// Every rule a migration can acknowledge, in catalogue order.
    pub const ALL: &'static [Rule] = &[
        Rule::DropTable,
        Rule::DropColumn,
        Rule::Truncate,
        Rule::UnboundedDml,
        Rule::RenameTable,
        Rule::RenameColumn,
        Rule::ChangeType,
        Rule::RequiredColumn,
        Rule::SetNotNull,
        Rule::DropNotNull,
        Rule::ForeignKeyValidating,
        Rule::CheckValidating,
        Rule::UniqueOrPrimaryKey,
        Rule::IndexNotConcurrent,
        Rule::DropIndexNotConcurrent,
        Rule::DropForeignKey,
        Rule::NotInTransaction,
        Rule::BlockingMaintenance,
        Rule::TransactionControl,
        Rule::EnumChange,
        Rule::MysqlCopyLock,
        Rule::SqlitePragmaInTransaction,
        Rule::OpaqueSql,
        Rule::UndeclaredRisk,
    ];

    /// The rule's id in reports, such as `drop-column`.
    pub const fn id(self) -> &'static str {
        match self {
            Rule::DropTable => "drop-table",
            Rule::DropColumn => "drop-column",
            Rule::Truncate => "truncate",
            Rule::UnboundedDml => "unbounded-dml",
            Rule::RenameTable => "rename-table",
            Rule::RenameColumn => "rename-column",
            Rule::ChangeType => "change-type",
            Rule::RequiredColumn => "required-column",
            Rule::SetNotNull => "set-not-null",
            Rule::DropNotNull => "drop-not-null",
            Rule::ForeignKeyValidating => "fk-validating",
            Rule::CheckValidating => "check-validating",
            Rule::UniqueOrPrimaryKey => "unique-or-pk",
            Rule::IndexNotConcurrent => "index-not-concurrent",
            Rule::DropIndexNotConcurrent => "drop-index-not-concurrent",
            Rule::DropForeignKey => "drop-fk",
            Rule::NotInTransaction => "not-in-transaction",
            Rule::BlockingMaintenance => "blocking-maintenance",
            Rule::TransactionControl => "tx-control",
            Rule::EnumChange => "enum-change",
            Rule::MysqlCopyLock => "mysql-copy-lock",
            Rule::SqlitePragmaInTransaction => "sqlite-pragma-in-tx",
            Rule::OpaqueSql => "opaque-sql",
            Rule::UndeclaredRisk => "undeclared-risk",
            Rule::EmptyMigration => "empty-migration",
        }
    }

    /// The name that acknowledges the rule in `#[migration(allow = [...])]`, such as `drop_column`.
    pub fn allow_name(self) -> String {
        self.id().replace('-', "_")
    }

    /// The rule an `allow` name or a rule id stands for.
    pub fn from_name(name: &str) -> Option<Rule> {
        let id = name.replace('_', "-");
        Rule::ALL.iter().copied().find(|rule| rule.id() == id)
    }

    /// What can go wrong when a statement breaking the rule runs.
    pub const fn severities(self) -> &'static [Severity] {
        use Severity::*;
        match self {
            Rule::DropTable | Rule::DropColumn => &[DataLoss, BackwardIncompatible],
            Rule::Truncate | Rule::UnboundedDml => &[DataLoss, BlockingLock],
            Rule::RenameTable | Rule::RenameColumn | Rule::DropNotNull => &[BackwardIncompatible],
            Rule::ChangeType => &[BlockingLock, BackwardIncompatible, CanFailOnExistingData],
            Rule::RequiredColumn => &[CanFailOnExistingData, BackwardIncompatible],
            Rule::SetNotNull | Rule::ForeignKeyValidating | Rule::CheckValidating | Rule::UniqueOrPrimaryKey => {
                &[BlockingLock, CanFailOnExistingData]
            }
            Rule::IndexNotConcurrent
            | Rule::DropIndexNotConcurrent
            | Rule::BlockingMaintenance
            | Rule::MysqlCopyLock => &[BlockingLock],
            Rule::DropForeignKey => &[BackwardIncompatible],
            Rule::NotInTransaction | Rule::TransactionControl | Rule::SqlitePragmaInTransaction => {
                &[CanFailOnExistingData]
            }
            Rule::EnumChange => &[BackwardIncompatible, BlockingLock],
            Rule::OpaqueSql => &[DataLoss, BlockingLock, BackwardIncompatible, CanFailOnExistingData],
            Rule::UndeclaredRisk | Rule::EmptyMigration => &[],
        }
    }

    /// Rules whose statements can destroy data: `up` refuses them unless the
    /// migration acknowledges them in `allow = [...]` or the run is forced.
    pub const fn refused_unless_allowed(self) -> bool {
        matches!(self, Rule::DropTable | Rule::DropColumn | Rule::Truncate | Rule::UnboundedDml | Rule::OpaqueSql)
    }

    /// Whether a finding of this rule fails `lint`.
    pub const fn level(self) -> Level {
        match self {
            _ if self.refused_unless_allowed() => Level::Error,
            Rule::NotInTransaction | Rule::TransactionControl | Rule::UndeclaredRisk | Rule::EmptyMigration => {
                Level::Error
            }
            _ => Level::Warning,
        }
    }

    /// What to do instead.
    pub fn safe_alternative(self, backend: Backend) -> &'static str {
        let postgres = backend == Backend::Postgres;
        match self {
            Rule::DropTable => {
                "stop using the table in the application first, back it up or check it is empty, and drop it in a later release"
            }
            Rule::DropColumn => {
                "stop reading and writing the column in the application first, then drop it in a later release"
            }
            Rule::Truncate => "delete from an explicit list of tables, in batches, after a backup",
            Rule::UnboundedDml => "add a WHERE clause, or backfill in batches in a `transaction = false` migration",
            Rule::RenameTable => "keep the old name readable: create a view under it until every reader has moved",
            Rule::RenameColumn => "add the new column, write both, backfill, switch readers, then drop the old one",
            Rule::ChangeType => {
                "add a new column of the new type, backfill it in batches, switch readers, then drop the old column"
            }
            Rule::RequiredColumn => {
                "add the column as nullable or with a constant DEFAULT, backfill, then add NOT NULL"
            }
            Rule::SetNotNull if postgres => {
                "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL and drop the check"
            }
            Rule::SetNotNull => "backfill NULLs first, and run it when the table is quiet: the table is rebuilt",
            Rule::DropNotNull => {
                "keep the constraint and write a sentinel value instead, or make every reader accept NULL first"
            }
            Rule::ForeignKeyValidating if postgres => {
                "add the foreign key with NOT VALID, then VALIDATE CONSTRAINT in a later migration"
            }
            Rule::ForeignKeyValidating => "add the foreign key while the table is small or quiet; check orphans first",
            Rule::CheckValidating if postgres => {
                "add the check with NOT VALID, then VALIDATE CONSTRAINT in a later migration"
            }
            Rule::CheckValidating => "check existing rows first; the whole table is read under a lock",
            Rule::UniqueOrPrimaryKey if postgres => {
                "CREATE UNIQUE INDEX CONCURRENTLY in a `transaction = false` migration, then ADD CONSTRAINT … USING INDEX"
            }
            Rule::UniqueOrPrimaryKey => "check for duplicates first; the table is rebuilt while the key is added",
            Rule::IndexNotConcurrent => {
                "CREATE INDEX CONCURRENTLY, alone in a `transaction = false` migration (tables created in the same migration are exempt)"
            }
            Rule::DropIndexNotConcurrent => {
                "DROP INDEX CONCURRENTLY IF EXISTS, alone in a `transaction = false` migration"
            }
            Rule::DropForeignKey => "make sure nothing relies on the constraint; it is not restored by itself",
            Rule::NotInTransaction => "move the statement into a migration of its own with `transaction = false`",
            Rule::BlockingMaintenance => "use the CONCURRENTLY form, or pg_repack/gh-ost, outside the migration",
            Rule::TransactionControl => "leave transactions to the runner, or mark the migration `transaction = false`",
            Rule::EnumChange => "only append values, and make the application accept both old and new values first",
            Rule::MysqlCopyLock => {
                "state ALGORITHM=INPLACE or INSTANT with LOCK=NONE, so the server refuses instead of copying"
            }
            Rule::SqlitePragmaInTransaction => {
                "set the pragma in a `transaction = false` migration; inside a transaction it does nothing"
            }
            Rule::OpaqueSql => "check the statement by hand, then acknowledge it with `allow = [opaque_sql]`",
            Rule::UndeclaredRisk => "declare every kind of change the migration makes in its `risk = [...]`",
            Rule::EmptyMigration => {
                "write the change in `up`; if the migration is meant to change nothing, say `empty` in its attribute \
                 (`-- migrations-rs: empty` in a SQL file)"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_names_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::from_name(&rule.allow_name()), Some(*rule));
            assert_eq!(Rule::from_name(rule.id()), Some(*rule));
        }
        assert_eq!(Rule::from_name("drop_everything"), None);
    }
}
