//! Classifying one statement from its tokens: what kind of change it makes
//! and which rules it breaks. Statements it does not recognise are reported
//! as `opaque-sql`, never passed silently.

use super::rules::Rule;
use crate::backend::Backend;
use crate::record::Risk;
use crate::sql::Token;
use std::collections::HashSet;

/// What the analysis knows about the migration so far.
pub(crate) struct Context<'a> {
    pub backend: Backend,
    /// Whether the migration runs in a transaction.
    pub transactional: bool,
    /// Tables created earlier in the same migration (lower-case, unqualified).
    pub created: &'a HashSet<String>,
}

/// The result for one statement.
#[derive(Debug, Default)]
pub(crate) struct Classified {
    pub categories: Vec<Risk>,
    pub hits: Vec<(Rule, String)>,
    /// A table this statement creates.
    pub creates: Option<String>,
}

impl Classified {
    fn category(&mut self, risk: Risk) {
        if !self.categories.contains(&risk) {
            self.categories.push(risk);
        }
    }

    fn hit(&mut self, rule: Rule, detail: impl Into<String>) {
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
    "SELECT",
    "VALUES",
    "SHOW",
    "EXPLAIN",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "SET",
    "RESET",
    "ANALYZE",
    "NOTIFY",
    "SECURITY",
    "SAVEPOINT",
    "RELEASE",
    "USE",
    "REFRESH",
    "DESCRIBE",
    "DECLARE",
    "LOCK",
    "DISCARD",
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
            out.hit(Rule::RenameTable, "renames a table");
        }
        "TRUNCATE" => {
            out.category(Risk::Data);
            out.hit(Rule::Truncate, "deletes every row of the table");
        }
        "UPDATE" | "DELETE" => dml(&verb, tokens, &mut out),
        "WITH" => match top_level_position(tokens, &["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"]) {
            Some(at) => return classify(&tokens[at..], ctx),
            None => opaque(&mut out, "a WITH query whose main statement was not recognised"),
        },
        "INSERT" | "REPLACE" | "MERGE" | "COPY" => out.category(Risk::Data),
        "VACUUM" if ctx.backend != Backend::MySql => maintenance(&verb, rest, ctx, &mut out),
        "CLUSTER" | "REINDEX" if ctx.backend == Backend::Postgres => maintenance(&verb, rest, ctx, &mut out),
        "REINDEX" => out.category(Risk::Index),
        "OPTIMIZE" if ctx.backend == Backend::MySql => {
            out.category(Risk::Schema);
            out.hit(Rule::BlockingMaintenance, "OPTIMIZE TABLE rebuilds the table");
        }
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "END" | "ABORT" => {
            if ctx.transactional {
                out.hit(Rule::TransactionControl, format!("{verb} inside the migration's own transaction"));
            }
        }
        "PRAGMA" if ctx.backend == Backend::Sqlite => pragma(rest, ctx, &mut out),
        v if HARMLESS.contains(&v) => {}
        "DO" | "CALL" | "EXECUTE" | "EXEC" | "PREPARE" => {
            opaque(&mut out, format!("{verb} runs code the analysis cannot see into"))
        }
        _ => opaque(&mut out, format!("statements starting with {} are not recognised", first.text)),
    }
    out
}

fn opaque(out: &mut Classified, detail: impl Into<String>) {
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
        let names = c.names();
        out.category(Risk::Schema);
        out.category(Risk::Data);
        out.hit(Rule::DropTable, format!("drops table {} and its data", quoted_list(&names)));
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
        let table = c.name().unwrap_or_default();
        let created = ctx.created.contains(&table);
        for action in c.split_top_level_commas() {
            alter_table_action(action, &table, created, ctx, out);
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

fn alter_table_action(mut a: Cursor<'_, '_>, table: &str, created: bool, ctx: &Context<'_>, out: &mut Classified) {
    let postgres = ctx.backend == Backend::Postgres;
    let mysql = ctx.backend == Backend::MySql;
    // Rules about existing rows do not apply to a table created in the same migration.
    let existing = |out: &mut Classified, rule: Rule, detail: String| {
        if !created {
            out.hit(rule, detail);
        }
    };
    if a.eat("ADD") {
        if a.eat("CONSTRAINT") {
            a.name();
        }
        if a.eat("FOREIGN") {
            out.category(Risk::Constraint);
            if !(postgres && a.contains_seq(&["NOT", "VALID"])) {
                existing(out, Rule::ForeignKeyValidating, format!("checks every row of `{table}` under a lock"));
            }
        } else if a.eat("CHECK") {
            out.category(Risk::Constraint);
            if !(postgres && a.contains_seq(&["NOT", "VALID"])) {
                existing(out, Rule::CheckValidating, format!("checks every row of `{table}` under a lock"));
            }
        } else if a.peek_any(&["UNIQUE", "PRIMARY"]) {
            out.category(Risk::Constraint);
            out.category(Risk::Index);
            if !(postgres && a.contains_seq(&["USING", "INDEX"])) {
                existing(out, Rule::UniqueOrPrimaryKey, format!("builds a unique index on `{table}` under a lock"));
            }
        } else if a.peek_any(&["INDEX", "KEY", "FULLTEXT", "SPATIAL"]) {
            out.category(Risk::Index);
        } else if a.peek_any(&["PARTITION"]) {
            out.category(Risk::Schema);
        } else {
            a.eat("COLUMN");
            a.eat_all(&["IF", "NOT", "EXISTS"]);
            let column = a.name().unwrap_or_default();
            out.category(Risk::Schema);
            let not_null = a.contains_seq(&["NOT", "NULL"]);
            let default = a.contains_top_level(&["DEFAULT"])
                || a.contains_top_level(&["GENERATED"])
                || a.contains_top_level(&["AUTO_INCREMENT"]);
            if not_null && !default && (!created || ctx.backend == Backend::Sqlite) {
                out.hit(Rule::RequiredColumn, format!("adds NOT NULL column `{column}` without a DEFAULT"));
            }
            if a.contains_top_level(&["REFERENCES"]) {
                out.category(Risk::Constraint);
                existing(out, Rule::ForeignKeyValidating, format!("column `{column}` references another table"));
            }
            if a.contains_top_level(&["UNIQUE"]) || a.contains_seq(&["PRIMARY", "KEY"]) {
                out.category(Risk::Constraint);
                existing(out, Rule::UniqueOrPrimaryKey, format!("column `{column}` is UNIQUE or a PRIMARY KEY"));
            }
        }
    } else if a.eat("DROP") {
        if a.eat("CONSTRAINT") || a.peek_any(&["CHECK", "PRIMARY"]) {
            out.category(Risk::Constraint);
        } else if a.eat("FOREIGN") {
            out.category(Risk::Constraint);
            out.hit(Rule::DropForeignKey, format!("drops a foreign key of `{table}`"));
        } else if a.peek_any(&["INDEX", "KEY"]) {
            out.category(Risk::Index);
        } else if a.peek_any(&["DEFAULT", "PARTITION"]) {
            out.category(Risk::Schema);
        } else {
            a.eat("COLUMN");
            a.eat_all(&["IF", "EXISTS"]);
            let column = a.name().unwrap_or_default();
            out.category(Risk::Schema);
            out.category(Risk::Data);
            out.hit(Rule::DropColumn, format!("drops column `{table}`.`{column}` and its data"));
        }
    } else if a.eat("ALTER") {
        a.eat("COLUMN");
        let column = a.name().unwrap_or_default();
        out.category(Risk::Schema);
        if a.eat("TYPE") || a.eat_all(&["SET", "DATA", "TYPE"]) {
            existing(out, Rule::ChangeType, format!("changes the type of `{column}`, rewriting `{table}`"));
        } else if a.eat_all(&["SET", "NOT", "NULL"]) {
            out.category(Risk::Constraint);
            existing(out, Rule::SetNotNull, format!("makes `{column}` NOT NULL, scanning `{table}` under a lock"));
        } else if a.eat_all(&["DROP", "NOT", "NULL"]) {
            out.category(Risk::Constraint);
            out.hit(Rule::DropNotNull, format!("`{column}` may now hold NULL, which readers may not expect"));
        }
    } else if mysql && (a.peek_any(&["MODIFY", "CHANGE"])) {
        let change = a.eat("CHANGE");
        a.eat("MODIFY");
        a.eat("COLUMN");
        let column = a.name().unwrap_or_default();
        out.category(Risk::Schema);
        if change {
            let new_name = a.name().unwrap_or_default();
            if new_name != column {
                out.hit(Rule::RenameColumn, format!("renames `{column}` to `{new_name}`"));
            }
        }
        existing(out, Rule::ChangeType, format!("redefines `{column}`, rebuilding `{table}`"));
    } else if a.eat("RENAME") {
        out.category(Risk::Schema);
        if a.peek_any(&["TO", "AS"]) {
            out.hit(Rule::RenameTable, format!("renames table `{table}`"));
        } else if a.peek_any(&["INDEX", "KEY", "CONSTRAINT"]) {
            out.category(Risk::Index);
        } else {
            a.eat("COLUMN");
            let column = a.name().unwrap_or_default();
            out.hit(Rule::RenameColumn, format!("renames column `{table}`.`{column}`"));
        }
    } else if mysql && a.peek_any(&["ALGORITHM", "LOCK"]) {
        let copy = a.contains_top_level(&["COPY"])
            || a.contains_top_level(&["SHARED"])
            || a.contains_top_level(&["EXCLUSIVE"]);
        if copy {
            out.hit(Rule::MysqlCopyLock, "asks for a table copy or a blocking lock");
        }
    } else if a.eat("VALIDATE") {
        out.category(Risk::Constraint);
    } else if a.eat_all(&["DETACH", "PARTITION"]) {
        out.category(Risk::Schema);
        if a.contains_top_level(&["CONCURRENTLY"]) {
            if ctx.transactional {
                out.hit(Rule::NotInTransaction, "DETACH PARTITION CONCURRENTLY cannot run inside a transaction");
            }
        } else if postgres {
            out.hit(Rule::BlockingMaintenance, "DETACH PARTITION locks the parent table");
        }
    } else {
        out.category(Risk::Schema);
    }
}

fn dml(verb: &str, tokens: &[Token<'_>], out: &mut Classified) {
    out.category(Risk::Data);
    if top_level_position(tokens, &["WHERE"]).is_none() {
        out.hit(Rule::UnboundedDml, format!("{verb} without WHERE touches every row"));
    }
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

/// Index of the first of `keywords` outside parentheses.
fn top_level_position(tokens: &[Token<'_>], keywords: &[&str]) -> Option<usize> {
    let mut depth = 0i32;
    for (i, token) in tokens.iter().enumerate() {
        if token.is_punct('(') {
            depth += 1;
        } else if token.is_punct(')') {
            depth -= 1;
        } else if depth == 0 && keywords.iter().any(|k| token.is(k)) {
            return Some(i);
        }
    }
    None
}

/// Reads significant tokens left to right.
#[derive(Clone, Copy)]
struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
}

impl<'t, 'a> Cursor<'t, 'a> {
    fn new(tokens: &'t [Token<'a>]) -> Self {
        Cursor { tokens }
    }

    fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn peek_any(&self, keywords: &[&str]) -> bool {
        self.tokens.first().is_some_and(|t| keywords.iter().any(|k| t.is(k)))
    }

    fn eat(&mut self, keyword: &str) -> bool {
        self.eat_any(&[keyword])
    }

    fn eat_any(&mut self, keywords: &[&str]) -> bool {
        let found = self.peek_any(keywords);
        if found {
            self.tokens = &self.tokens[1..];
        }
        found
    }

    /// Consumes `keywords` if they come next in this order, else nothing.
    fn eat_all(&mut self, keywords: &[&str]) -> bool {
        let found = keywords.len() <= self.tokens.len() && keywords.iter().zip(self.tokens).all(|(k, t)| t.is(k));
        if found {
            self.tokens = &self.tokens[keywords.len()..];
        }
        found
    }

    /// Moves past the first `keyword` outside parentheses.
    fn skip_to(&mut self, keyword: &str) -> bool {
        match top_level_position(self.tokens, &[keyword]) {
            Some(at) => {
                self.tokens = &self.tokens[at + 1..];
                true
            }
            None => false,
        }
    }

    /// A possibly qualified name; the last part, as the database compares it.
    fn name(&mut self) -> Option<String> {
        let mut last = None;
        loop {
            let token = self.tokens.first()?;
            if !matches!(token.kind, crate::sql::TokenKind::Word | crate::sql::TokenKind::QuotedIdent) {
                return last;
            }
            last = Some(token.name());
            self.tokens = &self.tokens[1..];
            if !self.tokens.first().is_some_and(|t| t.is_punct('.')) {
                return last;
            }
            self.tokens = &self.tokens[1..];
        }
    }

    /// A comma-separated list of names.
    fn names(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        while let Some(name) = self.name() {
            names.push(name);
            if !self.tokens.first().is_some_and(|t| t.is_punct(',')) {
                break;
            }
            self.tokens = &self.tokens[1..];
        }
        names
    }

    fn contains_top_level(&self, keywords: &[&str]) -> bool {
        top_level_position(self.tokens, keywords).is_some()
    }

    /// Whether `keywords` appear next to each other anywhere.
    fn contains_seq(&self, keywords: &[&str]) -> bool {
        self.tokens.windows(keywords.len()).any(|w| w.iter().zip(keywords).all(|(t, k)| t.is(k)))
    }

    fn split_top_level_commas(self) -> Vec<Cursor<'t, 'a>> {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, token) in self.tokens.iter().enumerate() {
            if token.is_punct('(') {
                depth += 1;
            } else if token.is_punct(')') {
                depth -= 1;
            } else if depth == 0 && token.is_punct(',') {
                parts.push(Cursor::new(&self.tokens[start..i]));
                start = i + 1;
            }
        }
        parts.push(Cursor::new(&self.tokens[start..]));
        parts.retain(|p| !p.is_empty());
        parts
    }
}
