//! The diff's rules: what it reports, in which words, and what it leaves out.

use super::super::*;

fn column(name: &str, data_type: &str) -> Column {
    Column::new(name, data_type, true)
}

fn users() -> Schema {
    let mut table = Table::new("users", vec![column("id", "integer"), column("email", "varchar(255)")]);
    table.columns[0].nullable = false;
    table.primary_key = Some(Key { name: Some("users_pkey".to_owned()), columns: vec!["id".to_owned()] });
    table.indexes.push(Index {
        name: "users_email_idx".to_owned(),
        columns: vec!["email".to_owned()],
        ..Index::default()
    });
    Schema { tables: vec![table], ..Schema::default() }.sorted()
}

fn lines(diff: &SchemaDiff) -> Vec<String> {
    diff.changes.iter().map(ToString::to_string).collect()
}

#[test]
fn a_schema_does_not_differ_from_itself() {
    assert!(users().diff(&users()).is_empty());
}

#[test]
fn a_changed_type_is_reported_in_words() {
    let mut actual = users();
    actual.tables[0].columns[0].data_type = "text".to_owned();
    assert_eq!(lines(&users().diff(&actual)), ["column users.email: type varchar(255) → text"]);
}

#[test]
fn a_missing_index_is_named_by_its_definition() {
    let mut actual = users();
    actual.tables[0].indexes.clear();
    let diff = users().diff(&actual);
    assert_eq!(lines(&diff), ["index on users (email) is missing"]);
    assert_eq!(diff.changes[0].kind, ChangeKind::Removed);
}
