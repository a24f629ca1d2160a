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

fn key(name: Option<&str>, columns: &[&str]) -> Key {
    Key { name: name.map(str::to_owned), columns: columns.iter().map(|c| c.to_string()).collect() }
}

fn foreign_key(name: Option<&str>, on_delete: &str) -> ForeignKey {
    ForeignKey {
        name: name.map(str::to_owned),
        columns: vec!["user_id".to_owned()],
        referenced_table: "users".to_owned(),
        referenced_columns: vec!["id".to_owned()],
        on_delete: on_delete.to_owned(),
        on_update: "NO ACTION".to_owned(),
    }
}

fn with_table(table: Table) -> Schema {
    Schema { tables: vec![table], ..Schema::default() }.sorted()
}

#[test]
fn column_order_means_nothing() {
    let first = Table::new("t", vec![column("a", "int"), column("b", "text")]);
    let second = Table::new("t", vec![column("b", "text"), column("a", "int")]);
    assert!(
        Schema { tables: vec![first.clone()], ..Schema::default() }
            .diff(&Schema { tables: vec![second], ..Schema::default() })
            .is_empty()
    );
    assert_eq!(with_table(first.clone()), with_table(Table::new("t", vec![column("b", "text"), column("a", "int")])));
}

#[test]
fn names_the_database_made_up_mean_nothing() {
    let mut first = Table::new("orders", vec![column("user_id", "int")]);
    first.uniques.push(key(Some("orders_user_id_key"), &["user_id"]));
    first.foreign_keys.push(foreign_key(Some("orders_ibfk_1"), "CASCADE"));
    first.checks.push(Check { name: Some("CONSTRAINT_1".to_owned()), expression: "(user_id > 0)".to_owned() });
    first.indexes.push(Index {
        name: "orders_user_id_idx".to_owned(),
        columns: vec!["user_id".to_owned()],
        ..Index::default()
    });
    let mut second = first.clone();
    second.uniques[0].name = Some("orders_user_id_key1".to_owned());
    second.foreign_keys[0].name = Some("orders_ibfk_2".to_owned());
    second.checks[0] = Check { name: Some("orders_chk_1".to_owned()), expression: "user_id>0".to_owned() };
    second.indexes[0].name = "orders_user_id_idx1".to_owned();
    assert!(with_table(first.clone()).diff(&with_table(second.clone())).is_empty());

    // MariaDB names a column's check after the column.
    second.checks[0].name = Some("user_id".to_owned());
    assert!(with_table(first.clone()).diff(&with_table(second)).is_empty());

    // SQLite keeps no names: matched by definition too.
    let mut unnamed = first.clone();
    unnamed.uniques[0].name = None;
    unnamed.foreign_keys[0].name = None;
    unnamed.checks[0].name = None;
    unnamed.indexes[0].name = "sqlite_autoindex_orders_1".to_owned();
    assert!(with_table(first).diff(&with_table(unnamed)).is_empty());
}

#[test]
fn chosen_names_are_compared() {
    let mut first = Table::new("users", vec![column("email", "text")]);
    first.indexes.push(Index { name: "by_email".to_owned(), columns: vec!["email".to_owned()], ..Index::default() });
    let mut renamed = first.clone();
    renamed.indexes[0].name = "email_lookup".to_owned();
    assert_eq!(
        lines(&with_table(first.clone()).diff(&with_table(renamed))),
        ["index by_email on users (email) is missing", "index email_lookup on users (email) is new"]
    );
    let mut redefined = first.clone();
    redefined.indexes[0].columns = vec!["lower(email)".to_owned()];
    redefined.indexes[0].unique = true;
    redefined.indexes[0].predicate = Some("email IS NOT NULL".to_owned());
    assert_eq!(
        lines(&with_table(first).diff(&with_table(redefined))),
        [
            "index by_email on users (email): keys (email) → (lower(email))",
            "index by_email on users (email): not unique → unique",
            "index by_email on users (email): where none → email IS NOT NULL",
        ]
    );
}

#[test]
fn constraints_are_reported_by_what_they_are() {
    let base = Table::new("orders", vec![column("user_id", "int")]);
    let mut with_all = base.clone();
    with_all.primary_key = Some(key(Some("orders_pkey"), &["user_id"]));
    with_all.uniques.push(key(Some("orders_user_id_key"), &["user_id"]));
    with_all.checks.push(Check { name: Some("positive".to_owned()), expression: "((user_id > 0))".to_owned() });
    with_all.foreign_keys.push(foreign_key(Some("orders_user_id_fkey"), "NO ACTION"));
    assert_eq!(
        lines(&with_table(base.clone()).diff(&with_table(with_all.clone()))),
        [
            "primary key on orders (user_id) is new",
            "unique constraint on orders (user_id) is new",
            "check constraint positive on orders (user_id > 0) is new",
            "foreign key on orders (user_id) → users (id) is new",
        ]
    );
    assert_eq!(with_table(with_all.clone()).diff(&with_table(base)).len(), 4);
    let mut wider = with_all.clone();
    wider.primary_key = Some(key(Some("orders_pkey"), &["user_id", "id"]));
    assert_eq!(
        lines(&with_table(with_all.clone()).diff(&with_table(wider))),
        ["primary key on orders (user_id): columns (user_id) → (user_id, id)"]
    );
    let mut cascading = with_all.clone();
    cascading.foreign_keys[0].on_delete = "CASCADE".to_owned();
    cascading.checks[0].expression = "user_id >= 0".to_owned();
    assert_eq!(
        lines(&with_table(with_all).diff(&with_table(cascading))),
        [
            "check constraint positive on orders (user_id > 0): condition user_id > 0 → user_id >= 0",
            "foreign key on orders (user_id) → users (id): on delete NO ACTION → CASCADE",
        ]
    );
}

#[test]
fn column_changes_are_reported_in_words() {
    let before = Table::new("users", vec![column("status", "text")]);
    let mut after = before.clone();
    after.columns[0].nullable = false;
    after.columns[0].default = Some("'new'::text".to_owned());
    after.columns[0].collation = Some("C".to_owned());
    assert_eq!(
        lines(&with_table(before).diff(&with_table(after))),
        [
            "column users.status: nullable → not null",
            "column users.status: default none → 'new'::text",
            "column users.status: collation none → C",
        ]
    );
}

#[test]
fn defaults_are_compared_without_the_spellings_a_database_rewrites() {
    let with_default = |default: Option<&str>, nullable: bool| {
        let mut table = Table::new("users", vec![Column::new("id", "integer", nullable)]);
        table.columns[0].default = default.map(str::to_owned);
        with_table(table)
    };
    let same = |a: Option<&str>, b: Option<&str>, nullable: bool| {
        with_default(a, nullable).diff(&with_default(b, nullable)).is_empty()
    };
    assert!(same(Some("'x'::text"), Some("'x'"), true));
    assert!(same(Some("'x'::character varying"), Some("('x')"), true));
    assert!(same(Some("NULL"), None, true));
    assert!(!same(Some("NULL"), None, false));
    assert!(same(Some("nextval('users_id_seq'::regclass)"), Some("nextval('users_id_seq1'::regclass)"), false));
    assert!(same(Some("CURRENT_TIMESTAMP"), Some("current_timestamp"), false));
    assert!(!same(Some("'x'"), Some("'X'"), false), "letter case inside quotes counts");
    assert!(!same(Some("0"), Some("1"), false));
}

#[test]
fn views_differ_only_by_what_they_select() {
    let view = |definition: &str| Schema {
        views: vec![View { name: "v".to_owned(), definition: definition.to_owned(), materialized: false }],
        ..Schema::default()
    };
    assert!(view("SELECT a, b FROM t WHERE x = 'A'").diff(&view("select a,\n  b\nfrom t where x='A'")).is_empty());
    assert_eq!(lines(&view("SELECT a FROM t").diff(&view("SELECT b FROM t"))), ["view v: query differs"]);
    assert_eq!(lines(&view("SELECT 'a'").diff(&view("SELECT 'A'"))), ["view v: query differs"]);
    assert_eq!(lines(&view("SELECT 1").diff(&Schema::default())), ["view v is missing"]);
}

#[test]
fn other_objects_are_compared_by_name() {
    let mut before = Schema {
        enums: vec![EnumType { name: "mood".to_owned(), values: vec!["sad".to_owned(), "ok".to_owned()] }],
        sequences: vec![Sequence { name: "s".to_owned(), increment: 1, ..Sequence::default() }],
        triggers: vec![Trigger { name: "t".to_owned(), table: "users".to_owned(), definition: "x".to_owned() }],
        functions: vec![Function { name: "f".to_owned(), arguments: "integer".to_owned(), definition: "x".to_owned() }],
        ..Schema::default()
    };
    let mut after = before.clone();
    after.enums[0].values.push("happy".to_owned());
    after.sequences[0].increment = 5;
    after.triggers[0].definition = "y".to_owned();
    after.functions[0].arguments = "bigint".to_owned();
    assert_eq!(
        lines(&before.diff(&after)),
        [
            "sequence s: increment 1 → 5",
            "enum type mood: values ('sad', 'ok') → ('sad', 'ok', 'happy')",
            "trigger t on users: definition differs",
            "function f(integer) is missing",
            "function f(bigint) is new",
        ]
    );
    before.sort();
    after.sort();
    assert_eq!(before.diff(&after).to_string().lines().count(), 5);
}

#[test]
fn tables_are_added_and_removed_with_all_they_hold() {
    let empty = Schema::default();
    let diff = empty.diff(&users());
    assert_eq!(lines(&diff), ["table users is new"]);
    assert_eq!(diff.changes[0].kind, ChangeKind::Added);
    assert_eq!(lines(&users().diff(&empty)), ["table users is missing"]);
}
