//! Property tests: for folder names generated in each layout, the order a
//! fresh install runs a folder in (the planner's canonical order of the
//! loaded migrations) is the order the folder's own tool would run it in,
//! each tool's rule written here the simplest way.

use crate::registry::Registry;
use crate::sql::folder::load;
use proptest::prelude::*;
use std::collections::HashSet;

/// The names of the migrations in the order a fresh install runs them.
fn install_order(dir: &std::path::Path) -> Vec<String> {
    let loaded = load(dir).unwrap();
    let registry = Registry::new(loaded.migrations.iter().copied()).unwrap();
    registry.graph().order().map(|version| registry.get(version).unwrap().name.to_owned()).collect()
}

/// A diesel folder name's timestamp in one of the styles real projects mix.
fn diesel_stamp() -> impl Strategy<Value = String> {
    (2023u32..2025, 1u32..3, 1u32..4, 0u32..3, 0u32..2, 0u32..2, 0usize..6).prop_map(|(y, mo, d, h, mi, s, style)| {
        match style {
            0 => format!("{y}-{mo:02}-{d:02}-{h:02}{mi:02}{s:02}"),
            1 => format!("{y}-{mo:02}-{d:02}-{h:02}{mi:02}{s:02}-0000"),
            2 => format!("{y}{mo:02}{d:02}{h:02}{mi:02}{s:02}"),
            // diesel's version stops at the first `_`: `20240313`.
            3 => format!("{y}-{mo:02}-{d:02}_{h:02}{mi:02}{s:02}"),
            4 => format!("{y}{mo:02}{d:02}"),
            _ => "00000000000000".to_owned(),
        }
    })
}

/// diesel's rule: the version is the name before the first `_` without `-`, compared as a string.
fn diesel_version(folder: &str) -> String {
    folder.split('_').next().unwrap().replace('-', "")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_diesel_folder_installs_in_diesels_order(stamps in proptest::collection::vec(diesel_stamp(), 1..14)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut strings, mut numbers, mut folders) = (HashSet::new(), HashSet::new(), Vec::new());
        for (i, stamp) in stamps.iter().enumerate() {
            let folder = format!("{stamp}_m{i}");
            let version = diesel_version(&folder);
            // Distinct in diesel's table and in ours (`01` and `1` would be one number).
            if strings.insert(version.clone()) && numbers.insert(version.parse::<u64>().unwrap()) {
                std::fs::create_dir(dir.path().join(&folder)).unwrap();
                std::fs::write(dir.path().join(&folder).join("up.sql"), "SELECT 1;").unwrap();
                folders.push(folder);
            }
        }
        std::fs::write(dir.path().join("loose_script.sql"), "SELECT 1;").unwrap();
        folders.sort_by_key(|folder| diesel_version(folder));
        let expected: Vec<String> = folders.iter().map(|f| f.split_once('_').unwrap().1.to_owned()).collect();
        prop_assert_eq!(install_order(dir.path()), expected);
    }

    #[test]
    fn a_sqlx_folder_installs_in_numeric_order(
        versions in proptest::collection::vec((0i64..=i64::MAX, 0usize..3, any::<bool>()), 1..14),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = HashSet::new();
        let mut expected = Vec::new();
        for (i, (version, padding, reversible)) in versions.into_iter().enumerate() {
            let version = version % [i64::MAX, 1_000, 100_000_000_000_000][i % 3] ;
            if !seen.insert(version) {
                continue;
            }
            let written = format!("{}{version}", "0".repeat(padding));
            let name = format!("m{i}");
            if reversible {
                std::fs::write(dir.path().join(format!("{written}_{name}.up.sql")), "SELECT 1;").unwrap();
                std::fs::write(dir.path().join(format!("{written}_{name}.down.sql")), "SELECT 2;").unwrap();
            } else {
                std::fs::write(dir.path().join(format!("{written}_{name}.sql")), "SELECT 1;").unwrap();
            }
            expected.push((version, name));
        }
        // sqlx's rule: the numbers, in numeric order.
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, name)| name).collect();
        prop_assert_eq!(install_order(dir.path()), expected);
    }

    #[test]
    fn a_folder_of_ours_installs_in_numeric_order(versions in proptest::collection::hash_set(0u64..=i64::MAX as u64, 1..14)) {
        let dir = tempfile::tempdir().unwrap();
        for version in &versions {
            std::fs::write(dir.path().join(format!("V{version}__m{version}.sql")), "SELECT 1;").unwrap();
        }
        let mut expected: Vec<u64> = versions.into_iter().collect();
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|v| format!("m{v}")).collect();
        prop_assert_eq!(install_order(dir.path()), expected);
    }
}
