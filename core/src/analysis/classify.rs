//! Classifying one statement from its tokens: what kind of change it makes
//! and which rules it breaks. Statements it does not recognise are reported
//! as `opaque-sql`, never passed silently.

use super::alter_table::alter_table_action;
use super::cursor::{Cursor, top_level_position};
use super::rules::Rule;
use crate::dialect::Backend;
use crate::risk::Risk;
use crate::sql::{Token, TokenKind};
use std::collections::HashSet;

/// What the analysis knows about the migration so far.
pub(crate) struct Context<'a> {
    pub backend: Backend,
    /// Whether the migration runs in a transaction.
    pub transactional: bool,
    /// Tables created earlier in the same migration (lower-case, unqualified).
    pub created: &'a HashSet<String>,
    /// Tables whose rows an earlier statement copied into a table created in
    /// the same migration: dropping them is the middle of a table rebuild.
    pub copied: &'a HashSet<String>,
    /// Tables dropped earlier in the same migration.
    pub dropped: &'a HashSet<String>,
    /// Columns (table, column) added earlier in the same migration.
    pub added_columns: &'a HashSet<(String, String)>,
    /// Savepoints the migration created itself (as the database compares names).
    pub savepoints: &'a HashSet<String>,
}

/// The result for one statement.
#[derive(Debug, Default)]
pub(crate) struct Classified {
    pub categories: Vec<Risk>,
    pub hits: Vec<(Rule, String)>,
    /// A table this statement creates.
    pub creates: Option<String>,
    /// The tables whose rows the statement can destroy, named as the database
    /// resolves them, for asking the live database whether they hold any.
    pub data_tables: Vec<String>,
    /// A table whose rows the statement copies into a table created in the same migration.
    pub copies_rows_of: Option<String>,
    /// Tables the statement drops.
    pub drops: Vec<String>,
    /// Columns (table, column) the statement adds.
    pub adds_columns: Vec<(String, String)>,
    /// A savepoint this statement creates.
    pub savepoint: Option<String>,
}

impl Classified {
    pub(super) fn category(&mut self, risk: Risk) {
        if !self.categories.contains(&risk) {
            self.categories.push(risk);
        }
    }

    pub(super) fn hit(&mut self, rule: Rule, detail: impl Into<String>) {
        self.hits.push((rule, detail.into()));
    }
}

/// Objects whose CREATE, ALTER or DROP changes the schema and nothing the rules watch.
const PLAIN_OBJECTS: &[&str] = &[
    "VIEW",
    "FUNCTION",
    "PROCEDURE",
    "TRIGGER",
    "SEQUENCE",
    "TYPE",
    "SCHEMA",
    "DOMAIN",
    "MATERIALIZED",
    "RULE",
    "POLICY",
    "EVENT",
    "ROLE",
    "USER",
    "AGGREGATE",
    "OPERATOR",
    "COLLATION",
    "EXTENSION",
    "PUBLICATION",
    "SUBSCRIPTION",
    "STATISTICS",
    "CAST",
    "SERVER",
    "FOREIGN",
    "VIRTUAL",
    "INDEX",
    "DATABASE",
    "TABLESPACE",
];

/// Statements that change nothing the rules watch.
const HARMLESS: &[&str] = &[
    "SELECT", "VALUES", "SHOW", "EXPLAIN", "COMMENT", "GRANT", "REVOKE", "SET", "RESET", "ANALYZE", "NOTIFY",
    "SECURITY", "USE", "REFRESH", "DESCRIBE", "DECLARE", "LOCK", "DISCARD",
];

/// Classifies one statement, given its significant tokens (no comments or whitespace).
pub(crate) fn classify(tokens: &[Token<'_>], ctx: &Context<'_>) -> Classified {
    let mut out = Classified::default();
    let Some(first) = tokens.first() else { return out };
    let verb = first.text.to_ascii_uppercase();
    let rest = Cursor::new(&tokens[1..]);
    match verb.as_str() {
        "CREATE" => create(rest, ctx, &mut out),
        "DROP" => drop(rest, ctx, &mut out),
        "ALTER" => alter(rest, ctx, &mut out),
        "RENAME" if ctx.backend == Backend::MySql => {
            out.category(Risk::Schema);
            let mut c = rest;
            c.eat("TABLE");
            let from = c.name().unwrap_or_default();
            c.eat("TO");
            let to = c.name().unwrap_or_default();
            if !is_rebuild_rename(&from, &to, ctx) {
                out.hit(Rule::RenameTable, "renames a table");
            }
        }
        "TRUNCATE" => {
            let mut c = rest;
            c.eat("TABLE");
            c.eat("ONLY");
            out.data_tables = c.qualified_names(ctx.backend).into_iter().map(|(_, qualified)| qualified).collect();
            out.category(Risk::Data);
            out.hit(Rule::Truncate, "deletes every row of the table");
        }
        "UPDATE" | "DELETE" => dml(&verb, tokens, ctx, &mut out),
        "WITH" => match top_level_position(tokens, &["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"]) {
            Some(at) => return classify(&tokens[at..], ctx),
            None => opaque(&mut out, "a WITH query whose main statement was not recognised"),
        },
        "INSERT" => {
            out.category(Risk::Data);
            out.copies_rows_of = copied_rows(rest, ctx);
        }
        "REPLACE" | "MERGE" | "COPY" => out.category(Risk::Data),
        "VACUUM" if ctx.backend != Backend::MySql => maintenance(&verb, rest, ctx, &mut out),
        "CLUSTER" | "REINDEX" if ctx.backend == Backend::Postgres => maintenance(&verb, rest, ctx, &mut out),
        "REINDEX" => out.category(Risk::Index),
        "OPTIMIZE" if ctx.backend == Backend::MySql => {
            out.category(Risk::Schema);
            out.hit(Rule::BlockingMaintenance, "OPTIMIZE TABLE rebuilds the table");
        }
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "END" | "ABORT" | "RELEASE" | "SAVEPOINT" | "XA" => {
            transaction_control(&verb, rest, ctx, &mut out)
        }
        "PREPARE" if ctx.backend == Backend::Postgres && rest.peek_any(&["TRANSACTION"]) => {
            transaction_control(&verb, rest, ctx, &mut out)
        }
        "SET" if ctx.backend == Backend::MySql && ctx.transactional && sets_autocommit(tokens) => {
            out.hit(Rule::TransactionControl, "SET autocommit commits the migration's own transaction on MySQL/MariaDB")
        }
        "LOCK" | "UNLOCK"
            if ctx.backend == Backend::MySql && ctx.transactional && rest.peek_any(&["TABLES", "TABLE"]) =>
        {
            out.hit(
                Rule::TransactionControl,
                format!("{verb} TABLES commits the migration's own transaction on MySQL/MariaDB"),
            )
        }
        "PRAGMA" if ctx.backend == Backend::Sqlite => pragma(rest, ctx, &mut out),
        v if HARMLESS.contains(&v) => {}
        // Prepared statements: PostgreSQL's `PREPARE name AS statement` is the statement;
        // MySQL's `PREPARE name FROM ...`, `EXECUTE` and `DEALLOCATE [PREPARE]` run or free one.
        "PREPARE" if ctx.backend == Backend::Postgres => match top_level_position(tokens, &["AS"]) {
            Some(at) => return classify(&tokens[at + 1..], ctx),
            None => opaque(&mut out, "a PREPARE without AS <statement>"),
        },
        "PREPARE" | "EXECUTE" | "DEALLOCATE" => {}
        "DO" | "CALL" | "EXEC" => opaque(&mut out, format!("{verb} runs code the analysis cannot see into")),
        _ => opaque(&mut out, format!("statements starting with {} are not recognised", first.text)),
    }
    out
}

/// Statements that begin, end or cut short a transaction. Inside the
/// migration's own transaction each one would end it or nest a new one, so the
/// runner would record a migration whose changes were committed, rolled back
/// or left half-done by the migration itself. A savepoint the migration made
/// itself may be released or rolled back to; any other name is the runner's.
fn transaction_control(verb: &str, mut c: Cursor<'_, '_>, ctx: &Context<'_>, out: &mut Classified) {
    if verb == "BEGIN" && c.peek_any(&["NOT"]) {
        // MariaDB's `BEGIN NOT ATOMIC ... END` is a block of statements, not a transaction.
        return opaque(out, "BEGIN NOT ATOMIC runs a block the analysis cannot see into");
    }
    if verb == "SAVEPOINT" {
        out.savepoint = c.name();
        return;
    }
    let savepoint = match verb {
        "RELEASE" => {
            c.eat("SAVEPOINT");
            Some(c.name())
        }
        "ROLLBACK" | "ABORT" => {
            c.eat_any(&["WORK", "TRANSACTION"]);
            if c.eat("TO") {
                c.eat("SAVEPOINT");
                Some(c.name())
            } else {
                None
            }
        }
        _ => None,
    };
    if !ctx.transactional {
        return;
    }
    let detail = match savepoint {
        Some(Some(name)) if ctx.savepoints.contains(&name) => return,
        Some(Some(name)) => format!(
            "{verb} names savepoint `{name}`, which the migration did not create: it would end or undo part of the \
             transaction the runner opened for it"
        ),
        Some(None) => format!("{verb} without a savepoint the migration created"),
        None => match verb {
            "COMMIT" | "END" => format!("{verb} would commit the migration's own transaction before it is recorded"),
            "ROLLBACK" | "ABORT" => {
                format!(
                    "{verb} would roll back the migration's own transaction, and the runner would record it as applied"
                )
            }
            _ => format!("{verb} would start a transaction inside the migration's own"),
        },
    };
    out.hit(Rule::TransactionControl, detail);
}

/// `SET autocommit = ...` in any spelling (`@@autocommit`, `SESSION autocommit`), on MySQL/MariaDB.
fn sets_autocommit(tokens: &[Token<'_>]) -> bool {
    tokens.iter().any(|t| t.kind == TokenKind::Word && t.text.eq_ignore_ascii_case("autocommit"))
}

pub(super) fn opaque(out: &mut Classified, detail: impl Into<String>) {
    out.hit(Rule::OpaqueSql, detail);
}

fn create(mut c: Cursor<'_, '_>, ctx: &Context<'_>, out: &mut Classified) {
    c.eat_all(&["OR", "REPLACE"]);
    while c.eat_any(&["TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "DEFINER", "ALGORITHM"]) {}
    let unique = c.eat("UNIQUE");
    if c.eat("TABLE") {
        c.eat_all(&["IF", "NOT", "EXISTS"]);
        out.category(Risk::Schema);
        out.creates = c.name();
        if c.contains_top_level(&["SELECT"]) {
            out.category(Risk::Data);
        }
    } else if c.eat("INDEX") {
        create_index(c, unique, ctx, out);
    } else if c.peek_any(&["DATABASE", "TABLESPACE"]) && ctx.backend == Backend::Postgres {
        out.category(Risk::Schema);
        if ctx.transactional {
            out.hit(Rule::NotInTransaction, "CREATE DATABASE/TABLESPACE cannot run inside a transaction");
        }
    } else if c.peek_any(PLAIN_OBJECTS) || c.contains_top_level(&["TRIGGER", "FUNCTION", "PROCEDURE", "VIEW"]) {
        out.category(Risk::Schema);
    } else {
        opaque(out, "a CREATE of an unrecognised kind of object");
    }
}

fn create_index(mut c: Cursor<'_, '_>, unique: bool, ctx: &Context<'_>, out: &mut Classified) {
    out.category(Risk::Index);
    if unique {
        out.category(Risk::Constraint);
    }
    let concurrently = c.eat("CONCURRENTLY");
    if !c.skip_to("ON") {
        return opaque(out, "a CREATE INDEX without ON <table>");
    }
    c.eat("ONLY");
    let table = c.name().unwrap_or_default();
    if ctx.backend != Backend::Postgres {
        return;
    }
    if concurrently && ctx.transactional {
        out.hit(Rule::NotInTransaction, "CREATE INDEX CONCURRENTLY cannot run inside a transaction");
    } else if !concurrently && !ctx.created.contains(&table) {
        out.hit(Rule::IndexNotConcurrent, format!("blocks writes to `{table}` while the index is built"));
    }
}

fn drop(mut c: Cursor<'_, '_>, ctx: &Context<'_>, out: &mut Classified) {
    if c.eat("TABLE") {
        c.eat_all(&["IF", "EXISTS"]);
        let names = c.qualified_names(ctx.backend);
        out.category(Risk::Schema);
        out.drops = names.iter().map(|(name, _)| name.clone()).collect();
        // The old table of a rebuild: its rows were copied into the new one first.
        if !names.is_empty() && names.iter().all(|(name, _)| ctx.copied.contains(name)) {
            return;
        }
        out.category(Risk::Data);
        out.data_tables = names.iter().map(|(_, qualified)| qualified.clone()).collect();
        out.hit(Rule::DropTable, format!("drops table {} and its data", quoted_list(&out.drops)));
    } else if c.eat_any(&["SCHEMA", "DATABASE"]) {
        out.category(Risk::Schema);
        out.category(Risk::Data);
        out.hit(Rule::DropTable, "drops a whole schema or database and every table in it");
    } else if c.eat("INDEX") {
        out.category(Risk::Index);
        let concurrently = c.eat("CONCURRENTLY");
        if ctx.backend == Backend::Postgres {
            if concurrently && ctx.transactional {
                out.hit(Rule::NotInTransaction, "DROP INDEX CONCURRENTLY cannot run inside a transaction");
            } else if !concurrently {
                out.hit(
                    Rule::DropIndexNotConcurrent,
                    "blocks reads and writes of the table while the index is dropped",
                );
            }
        }
    } else if c.peek_any(PLAIN_OBJECTS) {
        out.category(Risk::Schema);
    } else {
        opaque(out, "a DROP of an unrecognised kind of object");
    }
}

fn alter(mut c: Cursor<'_, '_>, ctx: &Context<'_>, out: &mut Classified) {
    c.eat_any(&["ONLINE", "IGNORE"]);
    if c.eat("TABLE") {
        c.eat_all(&["IF", "EXISTS"]);
        c.eat("ONLY");
        let qualified = c.peek_qualified(ctx.backend).unwrap_or_default();
        let table = c.name().unwrap_or_default();
        let created = ctx.created.contains(&table);
        for action in c.split_top_level_commas() {
            alter_table_action(action, &table, created, ctx, out);
        }
        if out.hits.iter().any(|(rule, _)| *rule == Rule::DropColumn) {
            out.data_tables.push(qualified);
        }
    } else if c.eat("TYPE") && ctx.backend == Backend::Postgres {
        out.category(Risk::Schema);
        if c.contains_seq(&["ADD", "VALUE"]) || c.contains_seq(&["RENAME", "VALUE"]) {
            out.hit(Rule::EnumChange, "changes the values of an enum type");
        }
    } else if c.eat("SYSTEM") && ctx.backend == Backend::Postgres {
        if ctx.transactional {
            out.hit(Rule::NotInTransaction, "ALTER SYSTEM cannot run inside a transaction");
        }
    } else if c.peek_any(PLAIN_OBJECTS) || c.peek_any(&["TYPE", "SYSTEM"]) {
        out.category(Risk::Schema);
    } else {
        opaque(out, "an ALTER of an unrecognised kind of object");
    }
}

fn dml(verb: &str, tokens: &[Token<'_>], ctx: &Context<'_>, out: &mut Classified) {
    out.category(Risk::Data);
    if top_level_position(tokens, &["WHERE"]).is_some() {
        return;
    }
    let mut c = Cursor::new(&tokens[1..]);
    if verb == "DELETE" {
        c.eat("FROM");
    }
    c.eat("ONLY");
    let qualified = c.peek_qualified(ctx.backend).unwrap_or_default();
    let table = c.name().unwrap_or_default();
    if verb == "UPDATE" && backfills_new_columns(c, &table, ctx) {
        return;
    }
    out.data_tables.push(qualified);
    out.hit(Rule::UnboundedDml, format!("{verb} without WHERE touches every row"));
}

/// Whether an UPDATE sets only columns added earlier in the same migration:
/// a backfill of a new column, which changes no value anyone has written.
fn backfills_new_columns(mut c: Cursor<'_, '_>, table: &str, ctx: &Context<'_>) -> bool {
    if !c.skip_to("SET") {
        return false;
    }
    let assignments = c.split_top_level_commas();
    !assignments.is_empty()
        && assignments.into_iter().all(|mut assignment| {
            // `col = value`, with the last assignment running up to FROM or RETURNING.
            assignment.name().is_some_and(|column| ctx.added_columns.contains(&(table.to_owned(), column)))
                && assignment.peek_punct('=')
        })
}

/// The table an `INSERT INTO new SELECT … FROM old` copies, when `new` was
/// created in the same migration.
fn copied_rows(mut c: Cursor<'_, '_>, ctx: &Context<'_>) -> Option<String> {
    c.eat("INTO");
    let target = c.name()?;
    if !ctx.created.contains(&target) || !c.skip_to("SELECT") || !c.skip_to("FROM") {
        return None;
    }
    c.name()
}

/// Whether renaming `from` to `to` ends a table rebuild: the new table,
/// created in the same migration, takes the name of the old one, dropped in it.
pub(super) fn is_rebuild_rename(from: &str, to: &str, ctx: &Context<'_>) -> bool {
    ctx.created.contains(from) && ctx.dropped.contains(to)
}

fn maintenance(verb: &str, c: Cursor<'_, '_>, ctx: &Context<'_>, out: &mut Classified) {
    out.category(Risk::Schema);
    let concurrently = c.contains_top_level(&["CONCURRENTLY"]);
    let needs_no_transaction = verb == "VACUUM"
        || concurrently
        || (verb == "CLUSTER" && c.is_empty())
        || (verb == "REINDEX" && c.peek_any(&["SCHEMA", "DATABASE", "SYSTEM"]));
    if needs_no_transaction && ctx.transactional {
        out.hit(Rule::NotInTransaction, format!("{verb} cannot run inside a transaction"));
    }
    let blocking = match verb {
        "VACUUM" => c.contains_top_level(&["FULL"]),
        _ => !concurrently,
    };
    if blocking && ctx.backend == Backend::Postgres {
        out.hit(Rule::BlockingMaintenance, format!("{verb} holds an exclusive lock while it runs"));
    }
}

fn pragma(c: Cursor<'_, '_>, ctx: &Context<'_>, out: &mut Classified) {
    if !ctx.transactional {
        return;
    }
    if c.peek_any(&["FOREIGN_KEYS"]) {
        out.hit(Rule::SqlitePragmaInTransaction, "PRAGMA foreign_keys does nothing inside a transaction");
    } else if c.peek_any(&["JOURNAL_MODE", "SYNCHRONOUS"]) {
        out.hit(Rule::NotInTransaction, "this PRAGMA fails inside a transaction");
    }
}

fn quoted_list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
