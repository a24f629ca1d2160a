//! The canonical form: equivalent spellings meet, changes of meaning do not.

use super::of_tokens;
use proc_macro2::TokenStream;

fn checksum(source: &str) -> [u8; 32] {
    of_tokens(source.parse::<TokenStream>().expect("test source tokenizes"))
}

const ORIGINAL: &str = r#"
    /// Accounts that can sign in.
    mod create_users {
        use super::*;
        use std::collections::{HashMap, BTreeMap};
        pub async fn up(db: &mut Db<'_>) -> Result<()> {
            let pair = (1,);
            let kind = match pair.0 { 1 => { "one" } _ => "other", };
            let point = Point { x: x, y: 2 };
            let count = 0xFF;
            if kind.is_empty() { return Ok(()) }
            db.exec(Table::create().table("users").col(ColumnDef::new("id").integer())).await
        }
    }
"#;

#[test]
fn equivalent_spellings_have_one_checksum() {
    let base = checksum(ORIGINAL);
    for (from, to) in [
        ("/// Accounts that can sign in.", "#[doc = \"Other words.\"]"),
        (".integer()))", ".integer()),)"),
        ("{HashMap, BTreeMap}", "{BTreeMap, HashMap,}"),
        (
            "use std::collections::{HashMap, BTreeMap};",
            "use std::collections::HashMap; use std::collections::{BTreeMap};",
        ),
        (
            "use super::*;\n        use std::collections::{HashMap, BTreeMap};",
            "use std::collections::BTreeMap; use super::*; use std::collections::HashMap;",
        ),
        ("use super::*;", "use super::{*};"),
        ("1 => { \"one\" } _ => \"other\", }", "1 => \"one\", _ => { \"other\" } }"),
        ("_ => \"other\", }", "_ => \"other\" }"),
        ("Point { x: x, y: 2 }", "Point { x, y: 2, }"),
        ("0xFF", "255"),
        ("0xFF", "0xff"),
        ("return Ok(()) }", "return Ok(()); }"),
        ("db.exec(", "(db).exec("),
    ] {
        let changed = ORIGINAL.replace(from, to);
        assert_ne!(changed, ORIGINAL, "replacement {from:?} must apply");
        if from == "db.exec(" {
            assert_ne!(checksum(&changed), base, "`(db)` is not nested parentheses");
            continue;
        }
        assert_eq!(checksum(&changed), base, "{from:?} -> {to:?} is formatting");
    }
}

#[test]
fn changes_of_meaning_change_the_checksum() {
    let base = checksum(ORIGINAL);
    for (from, to) in [
        ("\"users\"", "\"user\""),
        ("integer()", "big_integer()"),
        ("mut Db", "Db"),
        ("&mut", "& &mut"),
        ("-> Result", "-> ::std::result::Result"),
        ("let pair = (1,);", "let pair = (1);"),
        ("0xFF", "0xFE"),
        ("0xFF", "0xFFu8"),
        ("0xFF", "255.0"),
        ("\"one\"", "\"One\""),
        ("\"one\"", "'o'"),
        ("Point { x: x, y: 2 }", "Point { x: y, y: 2 }"),
        ("Point { x: x, y: 2 }", "Point { y: 2, x: x }"),
        ("ColumnDef::new(\"id\").integer()", "ColumnDef::new(\"id\").integer().not_null()"),
        ("use super::*;", "use super::Db;"),
        ("use super::*;", "pub use super::*;"),
        ("if kind.is_empty() { return Ok(()) }", "if kind.is_empty() { return Ok(()) } let _ = 1;"),
        ("table(\"users\").col(", "col(ColumnDef::new(\"x\")).table(\"users\").col("),
        ("match pair.0", "match pair.1"),
        ("1 => { \"one\" }", "2 => { \"one\" }"),
        ("1 => { \"one\" }", "1 => { \"one\"; }"),
    ] {
        let changed = ORIGINAL.replace(from, to);
        assert_ne!(changed, ORIGINAL, "replacement {from:?} must apply");
        assert_ne!(checksum(&changed), base, "changing {from:?} to {to:?} must change the checksum");
    }
}

#[test]
fn swapped_arguments_change_the_checksum() {
    let one = checksum("mod m { fn f() { g(1, 2) } }");
    assert_ne!(one, checksum("mod m { fn f() { g(2, 1) } }"));
    assert_eq!(one, checksum("mod m { fn f() { g(1, 2,) } }"));
    assert_ne!(checksum("mod m { fn f() { g(a, (b, c)) } }"), checksum("mod m { fn f() { g((a, b), c) } }"));
}

#[test]
fn a_one_element_tuple_keeps_its_comma_and_an_argument_list_does_not() {
    let tuple = checksum("mod m { fn f() -> (u8,) { (1,) } }");
    assert_ne!(tuple, checksum("mod m { fn f() -> (u8) { (1) } }"));
    assert_ne!(checksum("mod m { fn f() { let x = (a,); } }"), checksum("mod m { fn f() { let x = (a); } }"));
    assert_eq!(checksum("mod m { fn f() { g(a,); } }"), checksum("mod m { fn f() { g(a); } }"));
    assert_eq!(checksum("mod m { fn f() { g::<T>(a,); } }"), checksum("mod m { fn f() { g::<T>(a); } }"));
    assert_eq!(checksum("mod m { fn f() { m!(a,); } }"), checksum("mod m { fn f() { m!(a); } }"));
}

#[test]
fn where_clauses_generics_derives_and_patterns() {
    assert_eq!(
        checksum("mod m { fn f<T: Copy,>() where T: Clone, { } }"),
        checksum("mod m { fn f<T: Copy>() where T: Clone { } }")
    );
    assert_eq!(
        checksum("mod m { #[derive(Debug)] #[derive(Clone)] struct S; }"),
        checksum("mod m { #[derive(Debug, Clone)] struct S; }")
    );
    assert_ne!(
        checksum("mod m { #[derive(Debug)] struct S; }"),
        checksum("mod m { #[derive(Debug, Clone)] struct S; }")
    );
    assert_eq!(
        checksum("mod m { fn f() { let (a, _, _) = t; match x { | A | B => 1, _ => 2 } } }"),
        checksum("mod m { fn f() { let (a, ..) = t; match x { A | B => 1, _ => 2, } } }")
    );
    assert_eq!(checksum("mod m { fn f() { ((a + b)) * c } }"), checksum("mod m { fn f() { (a + b) * c } }"));
    assert_ne!(checksum("mod m { fn f() { (a + b) * c } }"), checksum("mod m { fn f() { a + b * c } }"));
    assert_ne!(checksum("mod m { fn f() { let [a, _] = t; } }"), checksum("mod m { fn f() { let [a, ..] = t; } }"));
    assert_eq!(
        checksum("mod m { fn f() { let f = |x| { x + 1 }; loop { break } } }"),
        checksum("mod m { fn f() { let f = |x| x + 1; loop { break; } } }")
    );
    assert_eq!(checksum("mod m { fn f() { g(\"a b\") } }"), checksum("mod m { fn f() { g(\"a \\\n     b\") } }"));
}
