//! A database's schema as data: its tables with their columns, keys,
//! constraints and indexes, and its views, sequences, enum types, domains,
//! triggers and functions, as the database itself reports them. The runtime
//! reads one from a connected database; [`Schema::diff`] says in words how
//! two of them differ, leaving out the differences that mean nothing (see
//! [`diff`]).
//!
//! Every list is kept sorted by name ([`Schema::sort`]), so two snapshots of
//! the same schema are equal whatever order the catalogue listed it in.
//!
//! ```
//! use migrations_rs_core::schema::{Column, Schema, Table};
//! let column = |name: &str, data_type: &str| Column::new(name, data_type, true);
//! let mut before = Schema::default();
//! before.tables.push(Table::new("users", vec![column("email", "varchar(255)")]));
//! let mut after = before.clone();
//! after.tables[0].columns[0].data_type = "text".to_owned();
//! let diff = before.diff(&after);
//! assert_eq!(diff.to_string(), "column users.email: type varchar(255) → text");
//! ```

pub mod diff;
mod normalize;
pub mod sqlite_sql;

pub use diff::{Change, ChangeKind, SchemaDiff};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The schema of one database (PostgreSQL: the schemas on its search path;
/// MySQL/MariaDB: the current database; SQLite: `main`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Schema {
    /// The tables, by name.
    pub tables: Vec<Table>,
    /// The views, by name.
    pub views: Vec<View>,
    /// The sequences no column owns (PostgreSQL), by name; a `serial` or
    /// identity column's sequence is part of its column.
    pub sequences: Vec<Sequence>,
    /// The enum types (PostgreSQL), by name.
    pub enums: Vec<EnumType>,
    /// The domains (PostgreSQL), by name.
    pub domains: Vec<Domain>,
    /// The triggers, by table and name.
    pub triggers: Vec<Trigger>,
    /// The functions and procedures the schema's own code defines (not an
    /// extension's), by name and arguments.
    pub functions: Vec<Function>,
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Table {
    /// Its name; `schema.name` on PostgreSQL when it is not in the first
    /// schema of the search path.
    pub name: String,
    /// The columns, by name (their order in the table is no part of the schema here).
    pub columns: Vec<Column>,
    /// The primary key, if any.
    pub primary_key: Option<Key>,
    /// The unique constraints, by columns.
    pub uniques: Vec<Key>,
    /// The check constraints, by expression.
    pub checks: Vec<Check>,
    /// The foreign keys, by columns.
    pub foreign_keys: Vec<ForeignKey>,
    /// The indexes other than those that carry the primary key and the
    /// unique constraints, by name.
    pub indexes: Vec<Index>,
}

/// A column of a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type as the database writes it back (PostgreSQL's `format_type`,
    /// MySQL's `COLUMN_TYPE`, SQLite's declared type).
    pub data_type: String,
    /// Whether it takes NULL.
    pub nullable: bool,
    /// Its default, as the database writes it back.
    pub default: Option<String>,
    /// The expression of a generated column.
    pub generated: Option<Generated>,
    /// `ALWAYS` or `BY DEFAULT` for an identity column (PostgreSQL);
    /// `AUTO_INCREMENT` (MySQL/MariaDB) or `AUTOINCREMENT` (SQLite).
    pub identity: Option<String>,
    /// Its collation, where it is not the type's (or the table's) default.
    pub collation: Option<String>,
}

/// How a generated column is computed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Generated {
    /// The expression, as the database writes it back.
    pub expression: String,
    /// Whether the value is stored (rather than computed when read).
    pub stored: bool,
}

/// A primary key or unique constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Key {
    /// The constraint's name; `None` where the database keeps none (SQLite).
    pub name: Option<String>,
    /// Its columns, in key order.
    pub columns: Vec<String>,
}

/// A check constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Check {
    /// The constraint's name; `None` where the database keeps none.
    pub name: Option<String>,
    /// The condition, without the `CHECK` keyword, as the database writes it back.
    pub expression: String,
}

/// A foreign key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct ForeignKey {
    /// The constraint's name; `None` where the database keeps none (SQLite).
    pub name: Option<String>,
    /// The referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub referenced_table: String,
    /// The referenced columns, in the order of `columns`.
    pub referenced_columns: Vec<String>,
    /// `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL` or `SET DEFAULT`.
    pub on_delete: String,
    /// `NO ACTION`, `RESTRICT`, `CASCADE`, `SET NULL` or `SET DEFAULT`.
    pub on_update: String,
}

/// An index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Index {
    /// Its name.
    pub name: String,
    /// Its keys, in order: column names, or expressions as the database writes them back.
    pub columns: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
    /// The `WHERE` condition of a partial index.
    pub predicate: Option<String>,
    /// The access method where the database has several (`btree`, `gin`, `HASH`…).
    pub method: Option<String>,
}

/// A view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct View {
    /// Its name.
    pub name: String,
    /// Its query, as the database writes it back.
    pub definition: String,
    /// Whether it is a materialized view (PostgreSQL).
    pub materialized: bool,
}

/// A sequence (PostgreSQL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Sequence {
    /// Its name.
    pub name: String,
    /// Its type, such as `bigint`.
    pub data_type: String,
    /// Its first value.
    pub start: i64,
    /// Its step.
    pub increment: i64,
    /// Its smallest value.
    pub min: i64,
    /// Its largest value.
    pub max: i64,
    /// Whether it starts over after its last value.
    pub cycle: bool,
}

/// An enum type (PostgreSQL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct EnumType {
    /// Its name.
    pub name: String,
    /// Its labels, in their order.
    pub values: Vec<String>,
}

/// A domain (PostgreSQL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Domain {
    /// Its name.
    pub name: String,
    /// The type it is based on.
    pub data_type: String,
    /// Whether it takes NULL.
    pub nullable: bool,
    /// Its default.
    pub default: Option<String>,
    /// Its check constraints.
    pub checks: Vec<Check>,
}

/// A trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Trigger {
    /// Its name.
    pub name: String,
    /// The table it fires on.
    pub table: String,
    /// Its whole definition as the database writes it back.
    pub definition: String,
}

/// A function or procedure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(default))]
pub struct Function {
    /// Its name.
    pub name: String,
    /// Its argument types, as the database writes them (`integer, text`):
    /// functions of one name with other arguments are other functions.
    pub arguments: String,
    /// Its whole definition (or body, where the database keeps only that).
    pub definition: String,
}

impl Schema {
    /// Sorts every list by name (and each table's lists by their
    /// definition), so two snapshots of one schema compare equal.
    pub fn sort(&mut self) {
        self.tables.sort_by(|a, b| a.name.cmp(&b.name));
        for table in &mut self.tables {
            table.sort();
        }
        self.views.sort_by(|a, b| a.name.cmp(&b.name));
        self.sequences.sort_by(|a, b| a.name.cmp(&b.name));
        self.enums.sort_by(|a, b| a.name.cmp(&b.name));
        self.domains.sort_by(|a, b| a.name.cmp(&b.name));
        for domain in &mut self.domains {
            domain.checks.sort_by(|a, b| a.expression.cmp(&b.expression));
        }
        self.triggers.sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
        self.functions.sort_by(|a, b| (&a.name, &a.arguments).cmp(&(&b.name, &b.arguments)));
    }

    /// This schema, sorted (see [`Schema::sort`]).
    pub fn sorted(mut self) -> Self {
        self.sort();
        self
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// How `other` differs from this schema, taken as the expected one:
    /// what `other` lacks is "missing", what only `other` has is "new".
    pub fn diff(&self, other: &Schema) -> SchemaDiff {
        diff::diff(self, other)
    }
}

impl Table {
    /// A table with `columns` and nothing else.
    pub fn new(name: &str, columns: Vec<Column>) -> Self {
        Table { name: name.to_owned(), columns, ..Table::default() }
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The index called `name`.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    fn sort(&mut self) {
        self.columns.sort_by(|a, b| a.name.cmp(&b.name));
        self.uniques.sort_by(|a, b| (&a.columns, &a.name).cmp(&(&b.columns, &b.name)));
        self.checks.sort_by(|a, b| (&a.expression, &a.name).cmp(&(&b.expression, &b.name)));
        self.foreign_keys.sort_by(|a, b| {
            (&a.columns, &a.referenced_table, &a.name).cmp(&(&b.columns, &b.referenced_table, &b.name))
        });
        self.indexes.sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
    }
}

impl Column {
    /// A column of `data_type` with no default.
    pub fn new(name: &str, data_type: &str, nullable: bool) -> Self {
        Column { name: name.to_owned(), data_type: data_type.to_owned(), nullable, ..Column::default() }
    }
}
