//! The actions of one `ALTER TABLE`: columns and constraints added, dropped,
//! altered or renamed, each classified on its own.

use super::classify::{Classified, Context};
use super::cursor::Cursor;
use super::rules::Rule;
use crate::dialect::Backend;
use crate::risk::Risk;

pub(super) fn alter_table_action(
    mut a: Cursor<'_, '_>,
    table: &str,
    created: bool,
    ctx: &Context<'_>,
    out: &mut Classified,
) {
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
            out.adds_columns.push((table.to_owned(), column.clone()));
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
            // To varchar or text without USING, PostgreSQL rewrites nothing when it widens a varchar.
            let widens = postgres
                && (a.peek_any(&["VARCHAR", "TEXT"]) || a.contains_seq(&["CHARACTER", "VARYING"]))
                && !a.contains_top_level(&["USING"]);
            if !widens {
                existing(out, Rule::ChangeType, format!("changes the type of `{column}`, rewriting `{table}`"));
            }
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
        if a.eat_any(&["TO", "AS"]) {
            let to = a.name().unwrap_or_default();
            if !super::classify::is_rebuild_rename(table, &to, ctx) {
                out.hit(Rule::RenameTable, format!("renames table `{table}`"));
            }
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
