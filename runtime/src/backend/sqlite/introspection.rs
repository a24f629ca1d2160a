//! Reading the schema of a SQLite database.

use crate::error::Result;
use migrations_rs_core::schema::{Column, ForeignKey, Generated, Index, Key, Schema, Table, Trigger, View, sqlite_sql};
use sqlx::sqlite::SqliteConnection;
use std::collections::HashMap;

/// The schema of `main`: its tables (columns from `pragma_table_xinfo`,
/// keys and indexes from `pragma_index_list`/`pragma_index_info`, foreign
/// keys from `pragma_foreign_key_list`, checks, collations and generation
/// expressions from the `CREATE TABLE` text), views and triggers, read in
/// one query each for all tables; SQLite's own tables and those named in
/// `exclude` (matched without regard to case) left out.
pub(in crate::backend) async fn schema(c: &mut SqliteConnection, exclude: &[String]) -> Result<Schema> {
    let excluded = |name: &str| exclude.iter().any(|e| e.eq_ignore_ascii_case(name));
    let objects: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
         WHERE type IN ('table', 'view', 'index', 'trigger') AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut schema = Schema::default();
    let mut texts = HashMap::new();
    let mut index_sql = HashMap::new();
    for (kind, name, table, sql) in objects {
        let sql = sql.unwrap_or_default();
        match kind.as_str() {
            "table" if !excluded(&name) => {
                texts.insert(name.clone(), sqlite_sql::create_table(&sql));
                schema.tables.push(Table { name, ..Table::default() });
            }
            "view" if !excluded(&name) => {
                schema.views.push(View { name, definition: sqlite_sql::view_query(&sql), materialized: false })
            }
            "trigger" if !excluded(&table) => schema.triggers.push(Trigger { name, table, definition: sql }),
            "index" => {
                index_sql.insert(name, sql);
            }
            _ => {}
        }
    }
    let position: HashMap<String, usize> = schema.tables.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();

    type ColumnRow = (String, String, String, bool, Option<String>, i64, i64);
    let columns: Vec<ColumnRow> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk, p.hidden \
         FROM main.sqlite_schema m, pragma_table_xinfo(m.name, 'main') p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut primary_keys: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for (table, name, data_type, not_null, default, pk, hidden) in columns {
        let Some(&i) = position.get(&table) else { continue };
        let text = texts.get(&table).and_then(|t| t.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&name)));
        let generated = match (hidden, text.and_then(|t| t.generated.clone())) {
            (2 | 3, Some((expression, _))) => Some(Generated { expression, stored: hidden == 3 }),
            _ => None,
        };
        if pk > 0 {
            primary_keys.entry(table.clone()).or_default().push((pk, name.clone()));
        }
        schema.tables[i].columns.push(Column {
            name,
            data_type,
            nullable: !not_null,
            default,
            generated,
            identity: text.filter(|t| t.autoincrement).map(|_| "AUTOINCREMENT".to_owned()),
            collation: text.and_then(|t| t.collation.clone()),
        });
    }
    for (table, mut key) in primary_keys {
        key.sort();
        let columns = key.into_iter().map(|(_, name)| name).collect();
        schema.tables[position[&table]].primary_key = Some(Key { name: None, columns });
    }
    for (table, text) in texts {
        schema.tables[position[&table]].checks = text.checks;
    }

    let keys: Vec<(String, String, bool, String, Option<String>)> = sqlx::query_as(
        "SELECT m.name, l.name, l.\"unique\", l.origin, i.name \
         FROM main.sqlite_schema m, pragma_index_list(m.name, 'main') l, pragma_index_info(l.name, 'main') i \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, l.name, i.seqno",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut indexes: Vec<(String, String, bool, String, Vec<String>)> = Vec::new();
    for (table, index, unique, origin, column) in keys {
        match indexes.last_mut() {
            Some(last) if last.0 == table && last.1 == index => last.4.extend(column),
            _ => indexes.push((table, index, unique, origin, column.into_iter().collect())),
        }
    }
    for (table, name, unique, origin, columns) in indexes {
        let Some(&i) = position.get(&table) else { continue };
        match origin.as_str() {
            "u" => schema.tables[i].uniques.push(Key { name: None, columns }),
            "c" => {
                let text = sqlite_sql::create_index(index_sql.get(&name).map_or("", String::as_str));
                schema.tables[i].indexes.push(Index {
                    name,
                    columns: text.columns,
                    unique,
                    predicate: text.predicate,
                    method: None,
                });
            }
            _ => {}
        }
    }

    type ForeignKeyRow = (String, i64, String, String, Option<String>, String, String);
    let foreign_keys: Vec<ForeignKeyRow> = sqlx::query_as(
        "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", f.on_update, f.on_delete \
         FROM main.sqlite_schema m, pragma_foreign_key_list(m.name, 'main') f \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, f.id, f.seq",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut last: Option<(String, i64)> = None;
    for (table, id, referenced_table, from, to, on_update, on_delete) in foreign_keys {
        let Some(&i) = position.get(&table) else { continue };
        let same = last.as_ref().is_some_and(|(t, n)| *t == table && *n == id);
        if !same {
            schema.tables[i].foreign_keys.push(ForeignKey {
                name: None,
                referenced_table,
                on_delete,
                on_update,
                ..ForeignKey::default()
            });
            last = Some((table, id));
        }
        let key = schema.tables[i].foreign_keys.last_mut().expect("pushed above");
        key.columns.push(from);
        key.referenced_columns.extend(to);
    }
    // A foreign key with no referenced columns references the primary key.
    let primary_keys: HashMap<String, Vec<String>> = schema
        .tables
        .iter()
        .filter_map(|t| Some((t.name.to_lowercase(), t.primary_key.as_ref()?.columns.clone())))
        .collect();
    for key in schema.tables.iter_mut().flat_map(|t| &mut t.foreign_keys) {
        if key.referenced_columns.is_empty() {
            key.referenced_columns =
                primary_keys.get(&key.referenced_table.to_lowercase()).cloned().unwrap_or_default();
        }
    }
    Ok(schema.sorted())
}
