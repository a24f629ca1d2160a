//! Fuzzes the statement splitter of every dialect: it must never panic, and
//! what it returns must be exact slices of the input with nothing but
//! separators between them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use migrations_rs_runtime::Backend;
use migrations_rs_runtime::sql::{split, tokenize};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let Ok(statements) = split(backend, src) else { continue };
        let mut at = 0;
        for statement in &statements {
            assert_eq!(&src[statement.range.clone()], statement.sql);
            assert!(statement.range.start >= at && !statement.sql.is_empty());
            if !src.to_ascii_uppercase().contains("DELIMITER") {
                let gap = tokenize(backend, &src[at..statement.range.start]).expect("a gap holds whole tokens");
                assert!(gap.iter().all(|t| t.is_trivia() || t.is_punct(';')), "lost bytes before {:?}", statement.sql);
            }
            at = statement.range.end;
        }
    }
});
