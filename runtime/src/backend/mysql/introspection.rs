//! Reading the schema of a MySQL or MariaDB database from its
//! `information_schema`, in one query for each kind of object across all
//! tables. Every value is cast to `CHAR` or `SIGNED`: the two servers (and
//! their versions) give these columns different types.

use crate::error::Result;
use migrations_rs_core::schema::{
    Check, Column, ForeignKey, Function, Generated, Index, Key, Schema, Table, Trigger, View,
};
use sqlx::mysql::MySqlConnection;
use std::collections::HashMap;

/// The schema of the current database, without the tables named in `exclude`.
pub(in crate::backend) async fn schema(c: &mut MySqlConnection, exclude: &[String]) -> Result<Schema> {
    let database: Option<String> = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)").fetch_one(&mut *c).await?;
    let database = database.unwrap_or_default();
    let excluded = |name: &str| {
        exclude.iter().any(|e| e.eq_ignore_ascii_case(name) || e.eq_ignore_ascii_case(&format!("{database}.{name}")))
    };
    let mut schema = Schema { tables: tables(c).await?, ..Schema::default() };
    schema.tables.retain(|t| !excluded(&t.name));
    let position: HashMap<String, usize> = schema.tables.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    let constraints: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(CONSTRAINT_TYPE AS CHAR) \
         FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *c)
    .await?;
    let carriers = keys(c, &constraints, &mut schema.tables, &position).await?;
    checks(c, &constraints, &mut schema.tables, &position).await?;
    indexes(c, &mut schema.tables, &position, &carriers).await?;
    schema.views = views(c, &database).await?;
    schema.views.retain(|v| !excluded(&v.name));
    schema.triggers = triggers(c).await?;
    schema.triggers.retain(|t| !excluded(&t.table));
    schema.functions = functions(c).await?;
    Ok(schema.sorted())
}

type ColumnRow = (String, String, String, String, Option<String>, String, Option<String>, Option<String>);

async fn tables(c: &mut MySqlConnection) -> Result<Vec<Table>> {
    // The server answers a join of two `information_schema` tables
    // several times slower than each alone: they are joined here.
    let kinds: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR), CAST(TABLE_COLLATION AS CHAR) \
         FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *c)
    .await?;
    let collations: HashMap<String, Option<String>> = kinds
        .into_iter()
        .filter(|(_, kind, _)| kind == "BASE TABLE")
        .map(|(name, _, collation)| (name, collation))
        .collect();
    let rows: Vec<ColumnRow> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), \
                CAST(IS_NULLABLE AS CHAR), CAST(COLUMN_DEFAULT AS CHAR), CAST(EXTRA AS CHAR), \
                CAST(GENERATION_EXPRESSION AS CHAR), CAST(COLLATION_NAME AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut tables: Vec<Table> = Vec::new();
    for (table, name, data_type, nullable, default, extra, expression, collation) in rows {
        // A view's columns are listed too.
        let Some(table_collation) = collations.get(&table) else { continue };
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(Table { name: table, ..Table::default() });
        }
        let extra = extra.to_ascii_uppercase();
        let generated = (extra.contains("GENERATED") && !extra.contains("DEFAULT_GENERATED"))
            .then(|| expression.filter(|e| !e.is_empty()))
            .flatten()
            .map(|expression| Generated {
                expression,
                stored: extra.contains("STORED") || extra.contains("PERSISTENT"),
            });
        let default = if generated.is_some() { None } else { default };
        tables.last_mut().expect("pushed above").columns.push(Column {
            name,
            data_type,
            nullable: nullable == "YES",
            default,
            generated,
            identity: extra.contains("AUTO_INCREMENT").then(|| "AUTO_INCREMENT".to_owned()),
            collation: collation.filter(|c| Some(c) != table_collation.as_ref()),
        });
    }
    Ok(tables)
}

/// Reads the primary keys, unique constraints and foreign keys of
/// `constraints` (table, name, type); returns the names of the indexes
/// that carry one (a foreign key's is named after it), by table.
async fn keys(
    c: &mut MySqlConnection,
    constraints: &[(String, String, String)],
    tables: &mut [Table],
    position: &HashMap<String, usize>,
) -> Result<Vec<(String, String)>> {
    let kinds: HashMap<(&str, &str), &str> =
        constraints.iter().map(|(t, n, kind)| ((t.as_str(), n.as_str()), kind.as_str())).collect();
    type KeyColumnRow = (String, String, String, Option<String>, Option<String>);
    let columns: Vec<KeyColumnRow> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), \
                CAST(REFERENCED_TABLE_NAME AS CHAR), CAST(REFERENCED_COLUMN_NAME AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    )
    .fetch_all(&mut *c)
    .await?;
    let rules: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), CAST(DELETE_RULE AS CHAR), \
                CAST(UPDATE_RULE AS CHAR) \
         FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *c)
    .await?;
    let rules: HashMap<(&str, &str), (&str, &str)> = rules
        .iter()
        .map(|(t, n, delete, update)| ((t.as_str(), n.as_str()), (delete.as_str(), update.as_str())))
        .collect();
    let mut carriers = Vec::new();
    let mut last: Option<(&str, &str)> = None;
    for (table, name, column, ref_table, ref_column) in &columns {
        let Some(&i) = position.get(table) else { continue };
        let Some(&kind) = kinds.get(&(table.as_str(), name.as_str())) else { continue };
        let table_ = &mut tables[i];
        let continued = last == Some((table.as_str(), name.as_str()));
        match kind {
            "PRIMARY KEY" => {
                let key = table_.primary_key.get_or_insert_with(|| Key { name: Some(name.clone()), columns: vec![] });
                key.columns.push(column.clone());
            }
            "UNIQUE" => {
                if !continued {
                    table_.uniques.push(Key { name: Some(name.clone()), columns: vec![] });
                }
                table_.uniques.last_mut().expect("pushed above").columns.push(column.clone());
            }
            "FOREIGN KEY" => {
                if !continued {
                    let (on_delete, on_update) =
                        rules.get(&(table.as_str(), name.as_str())).copied().unwrap_or(("NO ACTION", "NO ACTION"));
                    table_.foreign_keys.push(ForeignKey {
                        name: Some(name.clone()),
                        referenced_table: ref_table.clone().unwrap_or_default(),
                        on_delete: on_delete.to_owned(),
                        on_update: on_update.to_owned(),
                        ..ForeignKey::default()
                    });
                }
                let key = table_.foreign_keys.last_mut().expect("pushed above");
                key.columns.push(column.clone());
                key.referenced_columns.extend(ref_column.clone());
            }
            _ => continue,
        }
        // The index MySQL makes for a foreign key is named after it, and is part of it.
        if !continued {
            carriers.push((table.clone(), name.clone()));
        }
        last = Some((table.as_str(), name.as_str()));
    }
    Ok(carriers)
}

/// Reads the check constraints, where the server keeps them (MySQL
/// 8.0.16 and later, MariaDB 10.2 and later). MariaDB names them per
/// table and says which; MySQL names them per database, and
/// `constraints` (table, name, type) says which table has each.
async fn checks(
    c: &mut MySqlConnection,
    constraints: &[(String, String, String)],
    tables: &mut [Table],
    position: &HashMap<String, usize>,
) -> Result<()> {
    let has = |column: &'static str| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'CHECK_CONSTRAINTS' AND COLUMN_NAME = ?",
        )
        .bind(column)
    };
    let per_table = match has("TABLE_NAME").fetch_one(&mut *c).await? {
        0 if has("CHECK_CLAUSE").fetch_one(&mut *c).await? == 0 => return Ok(()),
        0 => false,
        _ => true,
    };
    let table = if per_table { "CAST(TABLE_NAME AS CHAR)" } else { "NULL" };
    let sql = format!(
        "SELECT {table}, CAST(CONSTRAINT_NAME AS CHAR), CAST(CHECK_CLAUSE AS CHAR) \
         FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
    );
    let rows: Vec<(Option<String>, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
    let tables_of: HashMap<&str, &str> = constraints
        .iter()
        .filter(|(_, _, kind)| kind == "CHECK")
        .map(|(table, name, _)| (name.as_str(), table.as_str()))
        .collect();
    for (table, name, expression) in rows {
        let table = table.as_deref().or_else(|| tables_of.get(name.as_str()).copied());
        let Some(&i) = table.and_then(|t| position.get(t)) else { continue };
        tables[i].checks.push(Check { name: Some(name), expression });
    }
    Ok(())
}

type IndexRow = (String, String, i64, Option<String>, Option<i64>, Option<String>, String, Option<String>);

/// Reads the indexes that carry no key; an expression key where the
/// server says (MySQL 8.0.13 and later).
async fn indexes(
    c: &mut MySqlConnection,
    tables: &mut [Table],
    position: &HashMap<String, usize>,
    carriers: &[(String, String)],
) -> Result<()> {
    let expressions: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'STATISTICS' AND COLUMN_NAME = 'EXPRESSION'",
    )
    .fetch_one(&mut *c)
    .await?;
    let expression = if expressions > 0 { "CAST(EXPRESSION AS CHAR)" } else { "NULL" };
    let sql = format!(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED), \
                CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS SIGNED), {expression}, CAST(INDEX_TYPE AS CHAR), \
                CAST(COLLATION AS CHAR) \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
    );
    let rows: Vec<IndexRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?;
    for (table, name, non_unique, column, prefix, expression, method, order) in rows {
        let Some(&i) = position.get(&table) else { continue };
        if carriers.iter().any(|(t, n)| *t == table && *n == name) {
            continue;
        }
        let key = match (column, prefix, expression) {
            (Some(column), Some(prefix), _) => format!("{column}({prefix})"),
            (Some(column), None, _) => column,
            (None, _, Some(expression)) => expression,
            (None, _, None) => String::new(),
        };
        // `D` for a descending key (MySQL 8 and later).
        let key = if order.as_deref() == Some("D") { format!("{key} DESC") } else { key };
        let indexes = &mut tables[i].indexes;
        match indexes.last_mut() {
            Some(last) if last.name == name => last.columns.push(key),
            _ => indexes.push(Index {
                name,
                columns: vec![key],
                unique: non_unique == 0,
                predicate: None,
                method: Some(method),
            }),
        }
    }
    Ok(())
}

/// The views, their queries without the database's name before each table
/// and column (the server writes it in).
async fn views(c: &mut MySqlConnection, database: &str) -> Result<Vec<View>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(VIEW_DEFINITION AS CHAR) FROM information_schema.VIEWS \
         WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *c)
    .await?;
    let qualifier = format!("{}.", super::quote(database));
    Ok(rows
        .into_iter()
        .map(|(name, definition)| View { name, definition: definition.replace(&qualifier, ""), materialized: false })
        .collect())
}

async fn triggers(c: &mut MySqlConnection) -> Result<Vec<Trigger>> {
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(TRIGGER_NAME AS CHAR), CAST(EVENT_OBJECT_TABLE AS CHAR), CAST(ACTION_TIMING AS CHAR), \
                CAST(EVENT_MANIPULATION AS CHAR), CAST(ACTION_STATEMENT AS CHAR) \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, table, timing, event, statement)| Trigger {
            definition: format!("{timing} {event} ON {table} FOR EACH ROW {statement}"),
            name,
            table,
        })
        .collect())
}

async fn functions(c: &mut MySqlConnection) -> Result<Vec<Function>> {
    let parameters: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(SPECIFIC_NAME AS CHAR), CAST(DTD_IDENTIFIER AS CHAR) FROM information_schema.PARAMETERS \
         WHERE SPECIFIC_SCHEMA = DATABASE() AND ORDINAL_POSITION > 0 ORDER BY SPECIFIC_NAME, ORDINAL_POSITION",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut arguments: HashMap<String, Vec<String>> = HashMap::new();
    for (routine, data_type) in parameters {
        arguments.entry(routine).or_default().push(data_type);
    }
    type RoutineRow = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<RoutineRow> = sqlx::query_as(
        "SELECT CAST(ROUTINE_NAME AS CHAR), CAST(SPECIFIC_NAME AS CHAR), CAST(ROUTINE_TYPE AS CHAR), \
                CAST(DTD_IDENTIFIER AS CHAR), CAST(ROUTINE_DEFINITION AS CHAR) \
         FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, specific, kind, returns, body)| Function {
            name,
            arguments: arguments.remove(&specific).unwrap_or_default().join(", "),
            definition: match returns {
                Some(returns) if kind == "FUNCTION" => {
                    format!("FUNCTION RETURNS {returns} {}", body.unwrap_or_default())
                }
                _ => format!("{kind} {}", body.unwrap_or_default()),
            },
        })
        .collect())
}
