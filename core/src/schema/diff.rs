//! How two schemas differ, in words: each table, column, key, constraint,
//! index, view, sequence, type, trigger and function that one has and the
//! other lacks or has otherwise.
//!
//! Differences that mean nothing are left out:
//! - the order of columns (a down migration that adds a column back puts it last);
//! - the names of constraints and indexes the database made up
//!   (`users_email_key`, `orders_ibfk_1`, `sqlite_autoindex_users_1`): when
//!   either side's name looks made up, the two are matched by what they
//!   are, not by name;
//! - spacing and letter case outside quotes, quotes around plain names, and
//!   parentheses around the whole of a view's query, a check's condition, an
//!   index's expression or a default;
//! - the spellings of a default the database rewrites: a literal's cast
//!   (`'x'::text`), the name of a column's own sequence
//!   (`nextval('users_id_seq1'::regclass)`), and an explicit `NULL` default
//!   of a nullable column.

use super::normalize::{self, generated_name, unwrapped};
use super::{
    Check, Column, Domain, EnumType, ForeignKey, Function, Index, Key, Schema, Sequence, Table, Trigger, View,
};
use std::fmt;

#[cfg(feature = "serde")]
use serde::Serialize;

/// Everything by which one schema differs from another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SchemaDiff {
    /// The differences, tables first, in the order of the expected schema.
    pub changes: Vec<Change>,
}

/// Whether the other schema has an object the expected one lacks, lacks one
/// it has, or has it otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize), serde(rename_all = "lowercase"))]
pub enum ChangeKind {
    /// Only the other schema has the object.
    Added,
    /// Only the expected schema has the object.
    Removed,
    /// Both have it, otherwise.
    Changed,
}

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Change {
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The object, in words: `column users.email`, `index on users (email)`.
    pub object: String,
    /// What changed, for a changed object: `type varchar(255) → text`.
    pub detail: Option<String>,
}

impl SchemaDiff {
    /// Whether the two schemas are the same.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The number of differences.
    pub fn len(&self) -> usize {
        self.changes.len()
    }
}

impl fmt::Display for SchemaDiff {
    /// One difference a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{change}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.detail) {
            (ChangeKind::Added, _) => write!(f, "{} is new", self.object),
            (ChangeKind::Removed, _) => write!(f, "{} is missing", self.object),
            (ChangeKind::Changed, Some(detail)) => write!(f, "{}: {detail}", self.object),
            (ChangeKind::Changed, None) => write!(f, "{} differs", self.object),
        }
    }
}

pub(super) fn diff(expected: &Schema, actual: &Schema) -> SchemaDiff {
    let mut out = Changes::default();
    let tables = by_name(&expected.tables, &actual.tables, |t| t.name.clone());
    for (expected, actual) in tables.pairs {
        table(&mut out, expected, actual);
    }
    out.missing_and_new(tables.removed, tables.added, |t| format!("table {}", t.name));

    let views = by_name(&expected.views, &actual.views, |v| v.name.clone());
    for (expected, actual) in views.pairs {
        view(&mut out, expected, actual);
    }
    out.missing_and_new(views.removed, views.added, view_object);

    let sequences = by_name(&expected.sequences, &actual.sequences, |s| s.name.clone());
    for (expected, actual) in sequences.pairs {
        sequence(&mut out, expected, actual);
    }
    out.missing_and_new(sequences.removed, sequences.added, |s| format!("sequence {}", s.name));

    let enums = by_name(&expected.enums, &actual.enums, |e| e.name.clone());
    for (expected, actual) in enums.pairs {
        enum_type(&mut out, expected, actual);
    }
    out.missing_and_new(enums.removed, enums.added, |e| format!("enum type {}", e.name));

    let domains = by_name(&expected.domains, &actual.domains, |d| d.name.clone());
    for (expected, actual) in domains.pairs {
        domain(&mut out, expected, actual);
    }
    out.missing_and_new(domains.removed, domains.added, |d| format!("domain {}", d.name));

    let triggers = by_name(&expected.triggers, &actual.triggers, |t| (t.table.clone(), t.name.clone()));
    for (expected, actual) in triggers.pairs {
        if normalize::sql(&expected.definition) != normalize::sql(&actual.definition) {
            out.changed(trigger_object(expected), "definition differs".to_owned());
        }
    }
    out.missing_and_new(triggers.removed, triggers.added, trigger_object);

    let functions = by_name(&expected.functions, &actual.functions, |f| (f.name.clone(), f.arguments.clone()));
    for (expected, actual) in functions.pairs {
        if normalize::sql(&expected.definition) != normalize::sql(&actual.definition) {
            out.changed(function_object(expected), "definition differs".to_owned());
        }
    }
    out.missing_and_new(functions.removed, functions.added, function_object);
    SchemaDiff { changes: out.0 }
}

#[derive(Default)]
struct Changes(Vec<Change>);

impl Changes {
    fn changed(&mut self, object: String, detail: String) {
        self.0.push(Change { kind: ChangeKind::Changed, object, detail: Some(detail) });
    }

    fn missing_and_new<T>(&mut self, removed: Vec<&T>, added: Vec<&T>, object: impl Fn(&T) -> String) {
        for item in removed {
            self.0.push(Change { kind: ChangeKind::Removed, object: object(item), detail: None });
        }
        for item in added {
            self.0.push(Change { kind: ChangeKind::Added, object: object(item), detail: None });
        }
    }
}

/// The objects of two lists paired up, and those left over on each side.
struct Matched<'a, T> {
    pairs: Vec<(&'a T, &'a T)>,
    removed: Vec<&'a T>,
    added: Vec<&'a T>,
}

/// `expected` and `actual` paired by `key`.
fn by_name<'a, T, K: PartialEq>(expected: &'a [T], actual: &'a [T], key: impl Fn(&T) -> K) -> Matched<'a, T> {
    let mut taken = vec![false; actual.len()];
    let mut pairs = Vec::new();
    let mut removed = Vec::new();
    for item in expected {
        let found = actual.iter().enumerate().position(|(i, other)| !taken[i] && key(other) == key(item));
        match found {
            Some(i) => {
                taken[i] = true;
                pairs.push((item, &actual[i]));
            }
            None => removed.push(item),
        }
    }
    let added = actual.iter().zip(&taken).filter(|(_, taken)| !**taken).map(|(item, _)| item).collect();
    Matched { pairs, removed, added }
}

/// Constraints or indexes paired up: by name where both names were chosen,
/// then by definition where either name looks made up by the database (or
/// is not kept at all), then by name for the rest.
fn by_definition<'a, T>(
    expected: &'a [T],
    actual: &'a [T],
    name: impl Fn(&T) -> Option<&str>,
    generated: impl Fn(&T) -> bool,
    same: impl Fn(&T, &T) -> bool,
) -> Matched<'a, T> {
    let chosen = |item: &T| name(item).is_some() && !generated(item);
    let mut taken_expected = vec![false; expected.len()];
    let mut taken_actual = vec![false; actual.len()];
    let mut pairs = Vec::new();
    let mut pass = |pairs: &mut Vec<(&'a T, &'a T)>, matches: &dyn Fn(&T, &T) -> bool| {
        for (i, item) in expected.iter().enumerate() {
            if taken_expected[i] {
                continue;
            }
            let found = (0..actual.len()).find(|&j| !taken_actual[j] && matches(item, &actual[j]));
            if let Some(j) = found {
                taken_expected[i] = true;
                taken_actual[j] = true;
                pairs.push((item, &actual[j]));
            }
        }
    };
    pass(&mut pairs, &|a, b| chosen(a) && chosen(b) && name(a) == name(b));
    pass(&mut pairs, &|a, b| (!chosen(a) || !chosen(b)) && same(a, b));
    pass(&mut pairs, &|a, b| name(a).is_some() && name(a) == name(b));
    let removed = expected.iter().zip(&taken_expected).filter(|(_, t)| !**t).map(|(item, _)| item).collect();
    let added = actual.iter().zip(&taken_actual).filter(|(_, t)| !**t).map(|(item, _)| item).collect();
    Matched { pairs, removed, added }
}

fn table(out: &mut Changes, expected: &Table, actual: &Table) {
    let name = &expected.name;
    let columns = by_name(&expected.columns, &actual.columns, |c| c.name.clone());
    for (expected, actual) in columns.pairs {
        column(out, name, expected, actual);
    }
    out.missing_and_new(columns.removed, columns.added, |c| format!("column {name}.{}", c.name));

    let primary_key_object = |k: &Key| format!("primary key on {name} {}", list(&k.columns));
    match (&expected.primary_key, &actual.primary_key) {
        (Some(a), Some(b)) if a.columns != b.columns => {
            out.changed(primary_key_object(a), format!("columns {} → {}", list(&a.columns), list(&b.columns)))
        }
        (Some(a), None) => out.missing_and_new(vec![a], vec![], primary_key_object),
        (None, Some(b)) => out.missing_and_new(vec![], vec![b], primary_key_object),
        _ => {}
    }

    let key_object = |k: &Key| named("unique constraint", k.name.as_deref(), name, &k.columns, &list(&k.columns));
    let uniques = by_definition(
        &expected.uniques,
        &actual.uniques,
        |k| k.name.as_deref(),
        |k| k.name.as_deref().is_none_or(|n| generated_name(n, name, &k.columns)),
        |a, b| a.columns == b.columns,
    );
    for (a, b) in uniques.pairs {
        if a.columns != b.columns {
            out.changed(key_object(a), format!("columns {} → {}", list(&a.columns), list(&b.columns)));
        }
    }
    out.missing_and_new(uniques.removed, uniques.added, key_object);

    let check_object =
        |c: &Check| named("check constraint", c.name.as_deref(), name, &[], &format!("({})", unwrapped(&c.expression)));
    let checks = by_definition(
        &expected.checks,
        &actual.checks,
        |c| c.name.as_deref(),
        // MariaDB names a column's check after the column.
        |c| c.name.as_deref().is_none_or(|n| generated_name(n, name, &[]) || expected.column(n).is_some()),
        |a, b| normalize::sql(&a.expression) == normalize::sql(&b.expression),
    );
    for (a, b) in checks.pairs {
        if normalize::sql(&a.expression) != normalize::sql(&b.expression) {
            out.changed(
                check_object(a),
                format!("condition {} → {}", unwrapped(&a.expression), unwrapped(&b.expression)),
            );
        }
    }
    out.missing_and_new(checks.removed, checks.added, check_object);

    let foreign_keys = by_definition(
        &expected.foreign_keys,
        &actual.foreign_keys,
        |k| k.name.as_deref(),
        |k| k.name.as_deref().is_none_or(|n| generated_name(n, name, &k.columns)),
        |a, b| a == b || same_foreign_key(a, b),
    );
    let foreign_key_object = |k: &ForeignKey| {
        let target = format!("{} → {} {}", list(&k.columns), k.referenced_table, list(&k.referenced_columns));
        named("foreign key", k.name.as_deref(), name, &k.columns, &target)
    };
    for (a, b) in foreign_keys.pairs {
        for detail in foreign_key_changes(a, b) {
            out.changed(foreign_key_object(a), detail);
        }
    }
    out.missing_and_new(foreign_keys.removed, foreign_keys.added, foreign_key_object);

    let index_object = |i: &Index| {
        let kind = if i.unique { "unique index" } else { "index" };
        named(kind, Some(&i.name), name, &i.columns, &list(&i.columns))
    };
    let indexes = by_definition(
        &expected.indexes,
        &actual.indexes,
        |i| Some(&i.name),
        |i| generated_name(&i.name, name, &i.columns),
        |a, b| index_changes(a, b).is_empty(),
    );
    for (a, b) in indexes.pairs {
        for detail in index_changes(a, b) {
            out.changed(index_object(a), detail);
        }
    }
    out.missing_and_new(indexes.removed, indexes.added, index_object);
}

/// `<kind> <name> on <table> <definition>`, the name left out when the database made it up.
fn named(kind: &str, name: Option<&str>, table: &str, columns: &[String], definition: &str) -> String {
    match name {
        Some(name) if !generated_name(name, table, columns) => format!("{kind} {name} on {table} {definition}"),
        _ => format!("{kind} on {table} {definition}"),
    }
}

fn column(out: &mut Changes, table: &str, expected: &Column, actual: &Column) {
    let object = format!("column {table}.{}", expected.name);
    if !expected.data_type.eq_ignore_ascii_case(&actual.data_type) {
        out.changed(object.clone(), format!("type {} → {}", expected.data_type, actual.data_type));
    }
    if expected.nullable != actual.nullable {
        let word = |nullable: bool| if nullable { "nullable" } else { "not null" };
        out.changed(object.clone(), format!("{} → {}", word(expected.nullable), word(actual.nullable)));
    }
    let default = |c: &Column| normalize::default(c.default.as_deref(), table, &c.name, c.nullable);
    if default(expected) != default(actual) {
        out.changed(
            object.clone(),
            format!("default {} → {}", shown(expected.default.as_deref()), shown(actual.default.as_deref())),
        );
    }
    let generated = |c: &Column| c.generated.as_ref().map(|g| (normalize::sql(&g.expression), g.stored));
    if generated(expected) != generated(actual) {
        let text = |c: &Column| shown(c.generated.as_ref().map(|g| g.expression.as_str())).to_owned();
        out.changed(object.clone(), format!("generated as {} → {}", text(expected), text(actual)));
    }
    if !same_text(expected.identity.as_deref(), actual.identity.as_deref()) {
        out.changed(
            object.clone(),
            format!("identity {} → {}", shown(expected.identity.as_deref()), shown(actual.identity.as_deref())),
        );
    }
    if !same_text(expected.collation.as_deref(), actual.collation.as_deref()) {
        out.changed(
            object,
            format!("collation {} → {}", shown(expected.collation.as_deref()), shown(actual.collation.as_deref())),
        );
    }
}

fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    }
}

fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("none")
}

fn same_foreign_key(a: &ForeignKey, b: &ForeignKey) -> bool {
    foreign_key_changes(a, b).is_empty()
}

fn foreign_key_changes(a: &ForeignKey, b: &ForeignKey) -> Vec<String> {
    let mut out = Vec::new();
    if a.columns != b.columns {
        out.push(format!("columns {} → {}", list(&a.columns), list(&b.columns)));
    }
    if a.referenced_table != b.referenced_table || a.referenced_columns != b.referenced_columns {
        out.push(format!(
            "references {} {} → {} {}",
            a.referenced_table,
            list(&a.referenced_columns),
            b.referenced_table,
            list(&b.referenced_columns)
        ));
    }
    if !a.on_delete.eq_ignore_ascii_case(&b.on_delete) {
        out.push(format!("on delete {} → {}", a.on_delete, b.on_delete));
    }
    if !a.on_update.eq_ignore_ascii_case(&b.on_update) {
        out.push(format!("on update {} → {}", a.on_update, b.on_update));
    }
    out
}

fn index_changes(a: &Index, b: &Index) -> Vec<String> {
    let mut out = Vec::new();
    let keys = |i: &Index| i.columns.iter().map(|c| normalize::sql(c)).collect::<Vec<_>>();
    if keys(a) != keys(b) {
        out.push(format!("keys {} → {}", list(&a.columns), list(&b.columns)));
    }
    if a.unique != b.unique {
        let word = |unique: bool| if unique { "unique" } else { "not unique" };
        out.push(format!("{} → {}", word(a.unique), word(b.unique)));
    }
    if a.predicate.as_deref().map(normalize::sql) != b.predicate.as_deref().map(normalize::sql) {
        out.push(format!("where {} → {}", shown(a.predicate.as_deref()), shown(b.predicate.as_deref())));
    }
    if !same_text(a.method.as_deref(), b.method.as_deref()) {
        out.push(format!("method {} → {}", shown(a.method.as_deref()), shown(b.method.as_deref())));
    }
    out
}

/// `(a, b)`.
fn list(items: &[String]) -> String {
    format!("({})", items.join(", "))
}

fn view_object(view: &View) -> String {
    let kind = if view.materialized { "materialized view" } else { "view" };
    format!("{kind} {}", view.name)
}

fn view(out: &mut Changes, expected: &View, actual: &View) {
    if expected.materialized != actual.materialized {
        out.changed(format!("view {}", expected.name), "materialized or not".to_owned());
    } else if normalize::sql(&expected.definition) != normalize::sql(&actual.definition) {
        out.changed(view_object(expected), "query differs".to_owned());
    }
}

fn sequence(out: &mut Changes, expected: &Sequence, actual: &Sequence) {
    let object = || format!("sequence {}", expected.name);
    if expected.data_type != actual.data_type {
        out.changed(object(), format!("type {} → {}", expected.data_type, actual.data_type));
    }
    for (what, a, b) in [
        ("start", expected.start, actual.start),
        ("increment", expected.increment, actual.increment),
        ("minimum", expected.min, actual.min),
        ("maximum", expected.max, actual.max),
    ] {
        if a != b {
            out.changed(object(), format!("{what} {a} → {b}"));
        }
    }
    if expected.cycle != actual.cycle {
        let word = |cycle: bool| if cycle { "cycle" } else { "no cycle" };
        out.changed(object(), format!("{} → {}", word(expected.cycle), word(actual.cycle)));
    }
}

fn enum_type(out: &mut Changes, expected: &EnumType, actual: &EnumType) {
    if expected.values != actual.values {
        let values = |e: &EnumType| e.values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>();
        out.changed(
            format!("enum type {}", expected.name),
            format!("values {} → {}", list(&values(expected)), list(&values(actual))),
        );
    }
}

fn domain(out: &mut Changes, expected: &Domain, actual: &Domain) {
    let object = || format!("domain {}", expected.name);
    if !expected.data_type.eq_ignore_ascii_case(&actual.data_type) {
        out.changed(object(), format!("type {} → {}", expected.data_type, actual.data_type));
    }
    if expected.nullable != actual.nullable {
        let word = |nullable: bool| if nullable { "nullable" } else { "not null" };
        out.changed(object(), format!("{} → {}", word(expected.nullable), word(actual.nullable)));
    }
    let default = |d: &Domain| normalize::default(d.default.as_deref(), &d.name, "", d.nullable);
    if default(expected) != default(actual) {
        out.changed(
            object(),
            format!("default {} → {}", shown(expected.default.as_deref()), shown(actual.default.as_deref())),
        );
    }
    let checks = |d: &Domain| {
        let mut checks = d.checks.iter().map(|c| normalize::sql(&c.expression)).collect::<Vec<_>>();
        checks.sort();
        checks
    };
    if checks(expected) != checks(actual) {
        out.changed(object(), "check constraints differ".to_owned());
    }
}

fn trigger_object(trigger: &Trigger) -> String {
    format!("trigger {} on {}", trigger.name, trigger.table)
}

fn function_object(function: &Function) -> String {
    format!("function {}({})", function.name, function.arguments)
}

#[cfg(test)]
mod tests;
