//! Writes and an insert sent in one round trip: on PostgreSQL as one
//! statement (the writes in a `WITH` of the insert), on SQLite as several
//! statements in one call with their values bound, on MySQL/MariaDB as several
//! statements in one call with their values written in as literals that no
//! `sql_mode` reads differently (a prepared statement there holds only one).

use super::Backend;
use crate::db::Statement;
use sea_query::{
    CommonTableExpression, DeleteStatement, Expr, InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder, Query,
    QueryBuilder, SqliteQueryBuilder, SubQueryStatement, UpdateStatement, Value, Values, WithClause,
};

/// The name of the column of [`Together::read_after`].
pub(crate) const READ_AFTER: &str = "read_after";

/// The first of the two: a row inserted, changed or deleted.
#[derive(Debug, Clone)]
pub(crate) enum RowWrite {
    Insert(InsertStatement),
    Update(UpdateStatement),
    Delete(DeleteStatement),
}

impl RowWrite {
    fn build(&self, builder: impl QueryBuilder) -> (String, Values) {
        match self {
            RowWrite::Insert(statement) => statement.build(builder),
            RowWrite::Update(statement) => statement.build(builder),
            RowWrite::Delete(statement) => statement.build(builder),
        }
    }

    fn into_sub_query(self) -> SubQueryStatement {
        match self {
            RowWrite::Insert(statement) => statement.into(),
            RowWrite::Update(statement) => statement.into(),
            RowWrite::Delete(statement) => statement.into(),
        }
    }
}

/// `first`, then `then`, in one round trip; all or none take effect when
/// the connection is inside a transaction.
#[derive(Debug, Clone)]
pub(crate) struct Together {
    /// Written in this order (on PostgreSQL, in one statement: in no order
    /// another write of the same statement could see).
    pub first: Vec<RowWrite>,
    pub then: InsertStatement,
    /// On MySQL/MariaDB, begin a transaction before both: a statement that
    /// committed implicitly (DDL) ended the one the connection was in, and
    /// each statement would otherwise commit on its own.
    pub begin: bool,
    /// On MySQL/MariaDB, a value selected after both, in the same round trip:
    /// the only rows the statements return.
    pub read_after: Option<Expr>,
}

impl Statement for Together {
    fn to_sql(&self, backend: Backend) -> (String, Values) {
        match backend {
            Backend::Postgres => {
                // Built in place: each `to_owned` of a builder would copy the statement it holds.
                let mut with = WithClause::new();
                for (index, write) in self.first.iter().enumerate() {
                    let mut first = CommonTableExpression::new();
                    let name = if index == 0 { "written_first".to_owned() } else { format!("written_{index}") };
                    first.query(write.clone().into_sub_query()).table_name(name);
                    with.cte(first);
                }
                self.then.clone().with_cte(with).build(PostgresQueryBuilder)
            }
            Backend::Sqlite => {
                let mut sql = String::new();
                let mut values = Values(Vec::new());
                for write in &self.first {
                    let (first, first_values) = write.build(SqliteQueryBuilder);
                    sql.push_str(&first);
                    sql.push_str("; ");
                    values.0.extend(first_values.0);
                }
                let (then, then_values) = self.then.build(SqliteQueryBuilder);
                sql.push_str(&then);
                values.0.extend(then_values.0);
                (sql, values)
            }
            Backend::MySql => {
                let mut sql = String::from(if self.begin { "BEGIN; " } else { "" });
                for write in &self.first {
                    let (first, first_values) = write.build(MysqlQueryBuilder);
                    sql.push_str(&mysql_inline(&first, &first_values));
                    sql.push_str("; ");
                }
                let (then, then_values) = self.then.build(MysqlQueryBuilder);
                sql.push_str(&mysql_inline(&then, &then_values));
                if let Some(value) = &self.read_after {
                    let (read, read_values) =
                        Query::select().expr_as(value.clone(), READ_AFTER).build(MysqlQueryBuilder);
                    sql.push_str("; ");
                    sql.push_str(&mysql_inline(&read, &read_values));
                }
                (sql, Values(Vec::new()))
            }
        }
    }
}

/// `sql` as MySQL's builder renders it (backquoted names, `?` for each
/// value, no literals of its own) with each `?` replaced by its value.
fn mysql_inline(sql: &str, values: &Values) -> String {
    let mut inlined = String::with_capacity(sql.len() + 16 * values.0.len());
    let mut values = values.0.iter();
    let mut quoted = false;
    // The text since the last `?` replaced, copied as one slice.
    let mut copied_to = 0;
    for (at, byte) in sql.bytes().enumerate() {
        match byte {
            b'`' => quoted = !quoted,
            b'?' if !quoted => {
                if let Some(value) = values.next() {
                    inlined.push_str(&sql[copied_to..at]);
                    inlined.push_str(&mysql_literal(value));
                    copied_to = at + 1;
                }
            }
            _ => {}
        }
    }
    inlined.push_str(&sql[copied_to..]);
    inlined
}

/// A value as a MySQL/MariaDB literal: text as UTF-8 in hex with its
/// character set named, so that no escaping is needed and no `sql_mode`
/// (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`) changes what it says.
fn mysql_literal(value: &Value) -> String {
    let text = |text: &str| {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let mut hex = String::with_capacity(14 + 2 * text.len());
        hex.push_str("_utf8mb4 X'");
        for byte in text.as_bytes() {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
        }
        hex.push('\'');
        hex
    };
    match value {
        Value::String(Some(s)) => text(s),
        Value::Char(Some(c)) => text(c.encode_utf8(&mut [0; 4])),
        Value::String(None) | Value::Char(None) | Value::BigInt(None) | Value::Int(None) => "NULL".to_owned(),
        Value::BigInt(Some(n)) => n.to_string(),
        Value::Int(Some(n)) => n.to_string(),
        // Numbers, bytes in hex and the rest as sea-query writes them for MySQL.
        other => MysqlQueryBuilder.value_to_string(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{Expr, ExprTrait, Query};

    fn together() -> Together {
        let first =
            Query::update().table("history").value("state", "applied").and_where(Expr::col("version").eq(7)).to_owned();
        let then = Query::insert()
            .into_table("log")
            .columns(["version", "error"])
            .values_panic([7.into(), Option::<String>::None.into()])
            .to_owned();
        Together { first: vec![RowWrite::Update(first)], then, begin: false, read_after: None }
    }

    #[test]
    fn postgres_sends_one_statement_numbering_the_values_of_both() {
        let (sql, values) = together().to_sql(Backend::Postgres);
        assert_eq!(
            sql,
            r#"WITH "written_first" AS (UPDATE "history" SET "state" = $1 WHERE "version" = $2) INSERT INTO "log" ("version", "error") VALUES ($3, $4)"#
        );
        assert_eq!(values.0.len(), 4);
    }

    #[test]
    fn several_writes_go_in_order_before_the_insert_on_every_backend() {
        let mut two = together();
        let marker = Query::insert().into_table("history").columns(["version"]).values_panic([8.into()]).to_owned();
        two.first.push(RowWrite::Insert(marker));
        assert_eq!(
            two.to_sql(Backend::Postgres).0,
            r#"WITH "written_first" AS (UPDATE "history" SET "state" = $1 WHERE "version" = $2) , "written_1" AS (INSERT INTO "history" ("version") VALUES ($3)) INSERT INTO "log" ("version", "error") VALUES ($4, $5)"#
        );
        let (sql, values) = two.to_sql(Backend::Sqlite);
        assert_eq!(
            sql,
            r#"UPDATE "history" SET "state" = ? WHERE "version" = ?; INSERT INTO "history" ("version") VALUES (?); INSERT INTO "log" ("version", "error") VALUES (?, ?)"#
        );
        assert_eq!(values.0[2], Value::from(8));
        assert_eq!(
            two.to_sql(Backend::MySql).0,
            "UPDATE `history` SET `state` = _utf8mb4 X'6170706C696564' WHERE `version` = 7; \
             INSERT INTO `history` (`version`) VALUES (8); INSERT INTO `log` (`version`, `error`) VALUES (7, NULL)"
        );
    }

    #[test]
    fn sqlite_sends_two_statements_with_the_values_of_both_in_order() {
        let (sql, values) = together().to_sql(Backend::Sqlite);
        assert_eq!(
            sql,
            r#"UPDATE "history" SET "state" = ? WHERE "version" = ?; INSERT INTO "log" ("version", "error") VALUES (?, ?)"#
        );
        assert_eq!(values.0, [Value::from("applied"), 7.into(), 7.into(), Option::<String>::None.into()]);
    }

    #[test]
    fn mysql_writes_the_values_in_text_as_hex_that_no_escaping_or_mode_reads_differently() {
        let (sql, values) = together().to_sql(Backend::MySql);
        assert_eq!(
            sql,
            "UPDATE `history` SET `state` = _utf8mb4 X'6170706C696564' WHERE `version` = 7; \
             INSERT INTO `log` (`version`, `error`) VALUES (7, NULL)"
        );
        assert!(values.0.is_empty());
        let begun = Together { begin: true, ..together() }.to_sql(Backend::MySql).0;
        assert_eq!(begun, format!("BEGIN; {sql}"));
        let read = Together { read_after: Some(Expr::cust_with_values("IS_USED_LOCK(?) = 7", ["a"])), ..together() };
        assert_eq!(
            read.to_sql(Backend::MySql).0,
            format!("{sql}; SELECT IS_USED_LOCK(_utf8mb4 X'61') = 7 AS `read_after`")
        );
        assert_eq!(mysql_literal(&Value::from("a'\\?`")), "_utf8mb4 X'61275C3F60'");
        assert_eq!(mysql_literal(&Value::from("")), "_utf8mb4 X''");
        assert_eq!(mysql_inline("SELECT `a?b` = ?", &Values(vec![1i64.into()])), "SELECT `a?b` = 1");
    }
}
