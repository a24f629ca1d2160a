//! A folder of SQL migrations loaded at run time, for the standalone
//! `migrations-rs` binary and `--dir`: each file becomes a registered
//! migration like the ones `#[migration]` and `sql_migrations!` build in.

use crate::analysis::Rule;
use crate::error::{Error, Result, SqlFolderError};
use crate::record::{Body, Checksum, Migration, Risk};
use crate::sql::hooks::{Hook, Hooks};
use crate::sql::layout::{self, SqlMigrationFiles};
use crate::version::Version;
use std::path::{Path, PathBuf};

/// The migrations of a folder, and what in it is not a migration.
#[derive(Debug)]
pub struct LoadedFolder {
    /// The migrations, in the order of their folders.
    pub migrations: Vec<&'static Migration>,
    /// Files that are not migrations, left alone.
    pub ignored: Vec<PathBuf>,
    /// Migrations whose down file is empty, treated as irreversible.
    pub empty_downs: Vec<PathBuf>,
    /// The folder's hook files (`beforeMigrate.sql` and the others), read.
    pub hooks: Hooks,
}

/// Reads every migration of `dir`. The migrations live as long as the
/// program: they are registered like compiled-in ones.
pub fn load(dir: &Path) -> Result<LoadedFolder> {
    let contents =
        layout::scan(dir).map_err(|e| Error::SqlFolder(SqlFolderError { path: e.path, message: e.message }))?;
    let module: &'static str = leak(
        dir.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "sql".to_owned()),
    );
    let mut hooks = Hooks::default();
    for (point, path) in contents.hooks {
        let sql = std::fs::read_to_string(&path).map_err(|e| {
            Error::SqlFolder(SqlFolderError { path: path.clone(), message: format!("cannot be read: {e}") })
        })?;
        hooks.set(point, Hook { name: point.file_name().to_owned(), sql });
    }
    let mut loaded = LoadedFolder { migrations: Vec::new(), ignored: contents.ignored, empty_downs: Vec::new(), hooks };
    for files in contents.migrations {
        let down_file = files.down.clone();
        let (migration, empty_down) = migration(files, module)?;
        if empty_down {
            loaded.empty_downs.extend(down_file);
        }
        loaded.migrations.push(Box::leak(Box::new(migration)));
    }
    Ok(loaded)
}

/// The record of one migration, and whether its down file was empty.
fn migration(files: SqlMigrationFiles, module: &'static str) -> Result<(Migration, bool)> {
    let sql = layout::read(files).map_err(|e| Error::SqlFolder(SqlFolderError { path: e.path, message: e.message }))?;
    let fail = |message: String| Error::SqlFolder(SqlFolderError { path: sql.files.up.clone(), message });
    let risk = sql
        .header
        .risk
        .iter()
        .map(|tag| {
            Risk::from_name(tag)
                .ok_or_else(|| fail(format!("unknown risk tag `{tag}`: use schema, data, index or constraint")))
        })
        .collect::<Result<Vec<_>>>()?;
    let allow = sql
        .header
        .allow
        .iter()
        .map(|name| match Rule::from_name(name) {
            Some(rule) => Ok(leak(rule.allow_name())),
            None => Err(fail(format!("unknown rule `{name}` in allow; `lint` lists the rules"))),
        })
        .collect::<Result<Vec<_>>>()?;
    let migration = Migration {
        version: Version::from_checked(sql.files.version),
        name: leak(sql.files.name.clone()),
        module,
        module_version: "sql",
        file: leak(sql.files.up.display().to_string()),
        line: 1,
        depends_on: Box::leak(
            sql.header.depends_on.iter().chain(&sql.files.after).map(|v| Version::from_checked(*v)).collect(),
        ),
        risk: Box::leak(risk.into_boxed_slice()),
        allow: Box::leak(allow.into_boxed_slice()),
        irreversible: sql.irreversible(),
        empty_up: sql.empty_up(),
        transaction: sql.transaction(),
        lock_wait: sql.header.lock_wait,
        checksum: Checksum::from_bytes(sql.checksum),
        legacy_checksum: None,
        up: Body::Sql(leak(sql.up)),
        down: sql.down.map(|text| Body::Sql(leak(text))),
    };
    Ok((migration, sql.empty_down))
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::layout::scan;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn ours_and_sqlx_mixed_in_one_folder_order_by_number() {
        let dir = folder(&[
            (
                "V20240103000000__ours.sql",
                "-- migrations-rs: depends_on = [20240102000000], risk = [schema]\nSELECT 1;",
            ),
            ("V20240103000000__ours.down.sql", "SELECT 2;"),
            ("20240102000000_sqlx_reversible.up.sql", "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);"),
            ("20240102000000_sqlx_reversible.down.sql", "DROP INDEX i;"),
            ("0001_sqlx_simple.sql", "SELECT 1;"),
            ("10_sqlx_ten.sql", "--no-transaction\nSELECT 1;"),
            ("9_sqlx_nine.sql", "\n-- no-transaction\nSELECT 1;"),
            ("README.md", "not a migration"),
            ("scratch/notes.txt", "a folder without up.sql"),
        ]);
        let contents = scan(dir.path()).unwrap();
        let found: Vec<(u64, &str)> = contents.migrations.iter().map(|m| (m.version, m.name.as_str())).collect();
        assert_eq!(
            found,
            vec![
                (1, "sqlx_simple"),
                (9, "sqlx_nine"),
                (10, "sqlx_ten"),
                (20240102000000, "sqlx_reversible"),
                (20240103000000, "ours"),
            ]
        );
        assert!(contents.migrations.iter().all(|m| m.after.is_none()), "the planner's order is the numbers' order");
        assert_eq!(contents.ignored.len(), 2, "{:?}", contents.ignored);

        let loaded = load(dir.path()).unwrap();
        let by_name = |name: &str| *loaded.migrations.iter().find(|m| m.name == name).unwrap();
        assert!(!by_name("sqlx_reversible").transaction, "`-- no-transaction` starts the file");
        assert!(by_name("sqlx_ten").transaction, "sqlx reads `-- no-transaction` exactly");
        assert!(by_name("sqlx_nine").transaction, "sqlx reads it only at the very start");
        assert!(by_name("ours").transaction);
        assert_eq!(by_name("ours").depends_on, &[Version::from_checked(20240102000000)]);
        assert_eq!(by_name("ours").risk, &[Risk::Schema]);
        assert!(by_name("sqlx_simple").irreversible && by_name("sqlx_simple").down.is_none());
    }

    #[test]
    fn a_diesel_folder_is_read_by_diesels_rules() {
        let dir = folder(&[
            ("00000000000000_diesel_initial_setup/up.sql", "SELECT 0;"),
            ("00000000000000_diesel_initial_setup/down.sql", "SELECT 0;"),
            ("2024-03-12-170000_first/up.sql", "SELECT 1;"),
            ("2024-03-12-170000_first/down.sql", "  \n"),
            // diesel's version is `20240313`: it sorts after `20240312170000` as a string.
            ("2024-03-13_170000_second/up.sql", "SELECT 2;"),
            ("2024-05-27-120000_twin a/up.sql", "SELECT 3;"),
            ("2024-05-27-120000-0000_twin b/up.sql", "SELECT 4;"),
            ("2024-05-27-120000-0000_twin b/down.sql", "-- nothing to undo\n"),
            ("2024-05-27-120000-0000_twin b/metadata.toml", "run_in_transaction = false\n"),
            ("20240601000000_compact/up.sql", "SELECT 5;"),
            ("V20240701000000__ours.sql", "SELECT 6;"),
            ("seed.sql", "INSERT INTO nothing VALUES (1);"),
            ("20240101_data.sql", "INSERT INTO nothing VALUES (1);"),
            ("README.md", "notes"),
            ("scratch/notes.txt", "a folder without up.sql"),
        ]);
        let contents = scan(dir.path()).unwrap();
        let found: Vec<(u64, &str, Option<u64>)> =
            contents.migrations.iter().map(|m| (m.version, m.name.as_str(), m.after)).collect();
        assert_eq!(
            found,
            vec![
                (0, "diesel_initial_setup", None),
                (20240312170000, "first", Some(0)),
                (20240313, "170000_second", Some(20240312170000)),
                (20240527120000, "twin a", Some(20240313)),
                (202405271200000000, "twin b", Some(20240527120000)),
                (20240601000000, "compact", Some(202405271200000000)),
                (20240701000000, "ours", Some(20240601000000)),
            ]
        );
        let ignored: Vec<String> =
            contents.ignored.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(ignored, ["20240101_data.sql", "README.md", "scratch", "seed.sql"]);

        let loaded = load(dir.path()).unwrap();
        let registry = crate::registry::Registry::new(loaded.migrations.iter().copied()).unwrap();
        let order: Vec<u64> = registry.graph().order().map(Version::as_u64).collect();
        let scanned: Vec<u64> = contents.migrations.iter().map(|m| m.version).collect();
        assert_eq!(order, scanned, "a fresh install runs them in diesel's order");
        let twin = *loaded.migrations.iter().find(|m| m.name == "twin b").unwrap();
        assert!(!twin.transaction, "metadata.toml");
        assert!(!twin.irreversible, "a down file of comments only says there is nothing to undo");
        assert!(matches!(twin.down, Some(Body::Sql("-- nothing to undo\n"))));
        let first = *loaded.migrations.iter().find(|m| m.name == "first").unwrap();
        assert!(first.irreversible && first.down.is_none(), "a blank down file counts as none");
        assert_eq!(loaded.empty_downs.len(), 1);
    }

    #[test]
    fn a_version_larger_than_the_history_holds_is_an_error_naming_the_file() {
        for (file, digits) in [
            ("9999999999999999999_x.sql", "9999999999999999999"),
            ("V9223372036854775808__x.sql", "9223372036854775808"),
            ("99999999999999999999999_x/up.sql", "99999999999999999999999"),
        ] {
            let dir = folder(&[(file, "SELECT 1;")]);
            let error = load(dir.path()).unwrap_err().to_string();
            let shown = file.split('/').next().unwrap();
            assert!(error.contains(shown) && error.contains(&format!("version {digits} is larger than")), "{error}");
        }
        let dir = folder(&[("V1__a.sql", "-- migrations-rs: depends_on = [9999999999999999999]\nSELECT 1;")]);
        let error = load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("V1__a.sql") && error.contains("line 1: version 9999999999999999999"), "{error}");
        let dir = folder(&[("9223372036854775807_largest.sql", "SELECT 1;")]);
        assert_eq!(load(dir.path()).unwrap().migrations[0].version, Version::MAX);
    }

    #[test]
    fn bad_names_and_stray_down_files_are_errors_naming_the_file() {
        let dir = folder(&[("add users.sql", "SELECT 1;")]);
        let error = scan(dir.path()).unwrap_err();
        assert!(error.path.ends_with("add users.sql") && error.message.contains("name it V<version>__<name>.sql"));
        let dir = folder(&[("V1__a.down.sql", "SELECT 1;")]);
        assert!(scan(dir.path()).unwrap_err().message.contains("a down file without an up file"));
        let dir = folder(&[("V1__a.sql", ""), ("1_b.sql", "")]);
        assert!(scan(dir.path()).unwrap_err().message.contains("version 1 is also used by"));
    }

    #[test]
    fn headers_are_checked() {
        let dir = folder(&[("V1__a.sql", "-- migrations-rs: risk = [shema]\nSELECT 1;")]);
        assert!(load(dir.path()).unwrap_err().to_string().contains("unknown risk tag `shema`"));
        let dir = folder(&[("V1__a.sql", "-- migrations-rs: allow = [drop_everything]\nSELECT 1;")]);
        assert!(load(dir.path()).unwrap_err().to_string().contains("unknown rule `drop_everything`"));
        let dir = folder(&[("V1__a.sql", "-- migrations-rs: retries = 3\nSELECT 1;")]);
        assert!(load(dir.path()).unwrap_err().to_string().contains("line 1: cannot read `retries`"));
        let dir =
            folder(&[("V1__a.sql", "-- migrations-rs: irreversible\nSELECT 1;"), ("V1__a.down.sql", "SELECT 2;")]);
        assert!(load(dir.path()).unwrap_err().to_string().contains("says `irreversible` but has a down file"));
    }

    #[test]
    fn the_checksum_covers_both_files() {
        let a = folder(&[("V1__a.sql", "SELECT 1;"), ("V1__a.down.sql", "SELECT 2;")]);
        let b = folder(&[("V1__a.sql", "SELECT 1;"), ("V1__a.down.sql", "SELECT 3;")]);
        let checksum = |dir: &tempfile::TempDir| load(dir.path()).unwrap().migrations[0].checksum;
        assert_ne!(checksum(&a), checksum(&b));
        assert_eq!(checksum(&a), checksum(&folder(&[("V1__a.sql", "SELECT 1;"), ("V1__a.down.sql", "SELECT 2;")])));
    }
}
