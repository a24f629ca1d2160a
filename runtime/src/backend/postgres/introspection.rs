//! Reading the schema of a PostgreSQL database from its catalogue, in one
//! query for each kind of object across all tables. The catalogue columns
//! read (`attgenerated`, `prokind`, `indnkeyatts`) need PostgreSQL 12 or later.

use crate::error::Result;
use migrations_rs_core::schema::{
    Check, Column, Domain, EnumType, ForeignKey, Function, Generated, Index, Key, Schema, Sequence, Table, Trigger,
    View,
};
use sqlx::postgres::PgConnection;
use std::collections::HashMap;

/// Whether the object of `pg_class` row `c` belongs to an extension.
const NOT_EXTENSION_RELATION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass \
     AND e.objid = c.oid AND e.deptype = 'e')";

/// The schemas read, in search-path order, and how their objects are named.
struct Names {
    schemas: Vec<String>,
    exclude: Vec<String>,
}

impl Names {
    /// `name`, qualified with its schema unless that is the first on the search path.
    fn of(&self, schema: &str, name: &str) -> String {
        if self.schemas.first().is_some_and(|first| first == schema) {
            name.to_owned()
        } else {
            format!("{schema}.{name}")
        }
    }

    /// Whether the caller left out the table `schema.name`, or its schema.
    fn excluded(&self, schema: &str, name: &str) -> bool {
        let qualified = format!("{schema}.{name}");
        self.exclude.iter().any(|e| *e == qualified || *e == schema || *e == self.of(schema, name))
    }
}

/// The schema of the schemas on the search path (PostgreSQL's own and
/// those named in `exclude` left out), without the tables named in
/// `exclude` and what belongs to extensions.
pub(in crate::backend) async fn schema(c: &mut PgConnection, exclude: &[String]) -> Result<Schema> {
    let on_path: Vec<String> =
        sqlx::query_scalar("SELECT unnest(current_schemas(false))::text").fetch_all(&mut *c).await?;
    let schemas = on_path
        .into_iter()
        .filter(|s| s != "pg_catalog" && s != "information_schema" && !s.starts_with("pg_"))
        .filter(|s| !exclude.contains(s))
        .collect();
    let names = Names { schemas, exclude: exclude.to_vec() };
    let mut schema = Schema::default();
    let tables = tables(c, &names).await?;
    let position: HashMap<String, usize> = tables.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    schema.tables = tables;
    constraints(c, &names, &mut schema.tables, &position).await?;
    indexes(c, &names, &mut schema.tables, &position).await?;
    schema.views = views(c, &names).await?;
    schema.sequences = sequences(c, &names).await?;
    schema.enums = enums(c, &names).await?;
    schema.domains = domains(c, &names).await?;
    schema.triggers = triggers(c, &names).await?;
    schema.functions = functions(c, &names).await?;
    Ok(schema.sorted())
}

type ColumnRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

async fn tables(c: &mut PgConnection, names: &Names) -> Result<Vec<Table>> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text, a.attidentity::text, \
                CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
         LEFT JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_collation co ON co.oid = a.attcollation \
         WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) AND {NOT_EXTENSION_RELATION} \
         ORDER BY 1, 2, a.attnum"
    );
    let rows: Vec<ColumnRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&names.schemas).fetch_all(&mut *c).await?;
    let mut tables: Vec<Table> = Vec::new();
    for (namespace, table, column, data_type, not_null, default, generated, identity, collation) in rows {
        if names.excluded(&namespace, &table) {
            continue;
        }
        let name = names.of(&namespace, &table);
        if tables.last().is_none_or(|t| t.name != name) {
            tables.push(Table { name, ..Table::default() });
        }
        let Some(column) = column else { continue };
        let generated_kind = generated.filter(|g| !g.is_empty());
        let (default, generated) = match generated_kind.as_deref() {
            Some(kind) => (None, default.map(|expression| Generated { expression, stored: kind == "s" })),
            None => (default, None),
        };
        let identity = match identity.as_deref() {
            Some("a") => Some("ALWAYS".to_owned()),
            Some("d") => Some("BY DEFAULT".to_owned()),
            _ => None,
        };
        let table = tables.last_mut().expect("pushed above");
        table.columns.push(Column {
            name: column,
            data_type: data_type.unwrap_or_default(),
            nullable: !not_null.unwrap_or(false),
            default,
            generated,
            identity,
            collation,
        });
    }
    Ok(tables)
}

/// The names of the columns of `attnums` of the relation `relid`, as SQL.
fn column_names(attnums: &str, relid: &str) -> String {
    format!(
        "ARRAY(SELECT a.attname::text FROM unnest({attnums}) WITH ORDINALITY k(attnum, i) \
         JOIN pg_attribute a ON a.attrelid = {relid} AND a.attnum = k.attnum ORDER BY k.i)"
    )
}

type ConstraintRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Vec<String>,
    Option<String>,
    Option<String>,
    Vec<String>,
    String,
    String,
);

async fn constraints(
    c: &mut PgConnection,
    names: &Names,
    tables: &mut [Table],
    position: &HashMap<String, usize>,
) -> Result<()> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text, \
                pg_get_expr(con.conbin, con.conrelid), {}, fn.nspname::text, fc.relname::text, {}, \
                con.confdeltype::text, con.confupdtype::text \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
         WHERE con.contype IN ('p', 'u', 'c', 'f') AND c.relkind IN ('r', 'p') AND n.nspname = ANY($1) \
         ORDER BY 1, 2, 3",
        column_names("con.conkey", "con.conrelid"),
        column_names("con.confkey", "con.confrelid"),
    );
    let rows: Vec<ConstraintRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&names.schemas).fetch_all(&mut *c).await?;
    for (namespace, table, name, kind, check, columns, ref_schema, ref_table, ref_columns, on_delete, on_update) in rows
    {
        let Some(&i) = position.get(&names.of(&namespace, &table)) else { continue };
        let table = &mut tables[i];
        let name = Some(name);
        match kind.as_str() {
            "p" => table.primary_key = Some(Key { name, columns }),
            "u" => table.uniques.push(Key { name, columns }),
            "c" => table.checks.push(Check { name, expression: check.unwrap_or_default() }),
            "f" => table.foreign_keys.push(ForeignKey {
                name,
                columns,
                referenced_table: names.of(&ref_schema.unwrap_or_default(), &ref_table.unwrap_or_default()),
                referenced_columns: ref_columns,
                on_delete: action(&on_delete).to_owned(),
                on_update: action(&on_update).to_owned(),
            }),
            _ => {}
        }
    }
    Ok(())
}

/// A foreign key action, from its letter in `pg_constraint`.
fn action(letter: &str) -> &'static str {
    match letter {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

async fn indexes(
    c: &mut PgConnection,
    names: &Names,
    tables: &mut [Table],
    position: &HashMap<String, usize>,
) -> Result<()> {
    let sql = "SELECT n.nspname::text, c.relname::text, i.relname::text, x.indisunique, am.amname::text, \
                      pg_get_expr(x.indpred, x.indrelid), \
                      ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) \
                                   || CASE WHEN x.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END \
                            FROM generate_series(1, x.indnkeyatts) k ORDER BY k) \
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = i.relam \
               WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid \
                                 AND con.conrelid = x.indrelid AND con.contype IN ('p', 'u', 'x')) \
               ORDER BY 1, 2, 3";
    type IndexRow = (String, String, String, bool, String, Option<String>, Vec<String>);
    let rows: Vec<IndexRow> = sqlx::query_as(sql).bind(&names.schemas).fetch_all(&mut *c).await?;
    for (namespace, table, name, unique, method, predicate, columns) in rows {
        let Some(&i) = position.get(&names.of(&namespace, &table)) else { continue };
        tables[i].indexes.push(Index { name, columns, unique, predicate, method: Some(method) });
    }
    Ok(())
}

async fn views(c: &mut PgConnection, names: &Names) -> Result<Vec<View>> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind = 'm', pg_get_viewdef(c.oid, true) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY($1) AND {NOT_EXTENSION_RELATION}"
    );
    let rows: Vec<(String, String, bool, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&names.schemas).fetch_all(&mut *c).await?;
    Ok(rows
        .into_iter()
        .filter(|(namespace, name, _, _)| !names.excluded(namespace, name))
        .map(|(namespace, name, materialized, definition)| View {
            name: names.of(&namespace, &name),
            definition: definition.unwrap_or_default().trim().trim_end_matches(';').to_owned(),
            materialized,
        })
        .collect())
}

async fn sequences(c: &mut PgConnection, names: &Names) -> Result<Vec<Sequence>> {
    // A sequence a column owns (serial, identity) is part of the column.
    let sql = "SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, \
                      s.seqincrement, s.seqmin, s.seqmax, s.seqcycle \
               FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))";
    type SequenceRow = (String, String, String, i64, i64, i64, i64, bool);
    let rows: Vec<SequenceRow> = sqlx::query_as(sql).bind(&names.schemas).fetch_all(&mut *c).await?;
    Ok(rows
        .into_iter()
        .filter(|row| !names.excluded(&row.0, &row.1))
        .map(|(namespace, name, data_type, start, increment, min, max, cycle)| Sequence {
            name: names.of(&namespace, &name),
            data_type,
            start,
            increment,
            min,
            max,
            cycle,
        })
        .collect())
}

/// Whether the type `t` belongs to an extension, as SQL.
const NOT_EXTENSION_TYPE: &str = "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass \
     AND e.objid = t.oid AND e.deptype = 'e')";

async fn enums(c: &mut PgConnection, names: &Names) -> Result<Vec<EnumType>> {
    let sql = format!(
        "SELECT n.nspname::text, t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) \
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = ANY($1) AND {NOT_EXTENSION_TYPE} GROUP BY 1, 2"
    );
    let rows: Vec<(String, String, Vec<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&names.schemas).fetch_all(&mut *c).await?;
    Ok(rows
        .into_iter()
        .map(|(namespace, name, values)| EnumType { name: names.of(&namespace, &name), values })
        .collect())
}

async fn domains(c: &mut PgConnection, names: &Names) -> Result<Vec<Domain>> {
    let sql = format!(
        "SELECT n.nspname::text, t.typname::text, format_type(t.typbasetype, t.typtypmod), t.typnotnull, \
                t.typdefault, \
                ARRAY(SELECT k.conname::text FROM pg_constraint k \
                      WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname), \
                ARRAY(SELECT pg_get_constraintdef(k.oid, true) FROM pg_constraint k \
                      WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) \
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'd' AND n.nspname = ANY($1) AND {NOT_EXTENSION_TYPE}"
    );
    type DomainRow = (String, String, String, bool, Option<String>, Vec<String>, Vec<String>);
    let rows: Vec<DomainRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&names.schemas).fetch_all(&mut *c).await?;
    Ok(rows
        .into_iter()
        .map(|(namespace, name, data_type, not_null, default, check_names, checks)| Domain {
            name: names.of(&namespace, &name),
            data_type,
            nullable: !not_null,
            default,
            checks: check_names
                .into_iter()
                .zip(checks)
                .map(|(name, definition)| Check {
                    name: Some(name),
                    expression: definition.strip_prefix("CHECK ").unwrap_or(&definition).to_owned(),
                })
                .collect(),
        })
        .collect())
}

async fn triggers(c: &mut PgConnection, names: &Names) -> Result<Vec<Trigger>> {
    let sql = "SELECT n.nspname::text, c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid, true) \
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE NOT t.tgisinternal AND n.nspname = ANY($1)";
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as(sql).bind(&names.schemas).fetch_all(&mut *c).await?;
    Ok(rows
        .into_iter()
        .filter(|row| !names.excluded(&row.0, &row.1))
        .map(|(namespace, table, name, definition)| Trigger { name, table: names.of(&namespace, &table), definition })
        .collect())
}

async fn functions(c: &mut PgConnection, names: &Names) -> Result<Vec<Function>> {
    let sql = "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid), \
                      pg_get_functiondef(p.oid) \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p') \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass \
                                 AND e.objid = p.oid AND e.deptype = 'e')";
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as(sql).bind(&names.schemas).fetch_all(&mut *c).await?;
    Ok(rows
        .into_iter()
        .map(|(namespace, name, arguments, definition)| Function {
            name: names.of(&namespace, &name),
            arguments,
            definition,
        })
        .collect())
}
