//! Living beside the tool a project came from, through the standalone binary
//! on every backend: a database that holds another tool's history and none
//! of ours is named by `status`, `validate` and `up` (which refuses); and
//! `--compat sqlx|diesel` keeps that tool's table in step, so migrations
//! that use it work on a fresh install.

#[macro_use]
mod support;

use migrations_rs::Backend;
use support::sql_dir::{folder, run, run_in};
use support::{Inspect, TestDb};

on_every_backend!(
    another_tools_history_without_ours_is_named_and_up_refuses,
    compat_sqlx_keeps_its_table_in_step,
    compat_diesel_keeps_its_table_in_step_under_a_trigger,
);

/// The tools' own DDL, as in tests/adopt.rs.
async fn sqlx_table(inspect: &mut Inspect, backend: Backend) {
    let (installed_on, checksum) = match backend {
        Backend::Postgres => ("TIMESTAMPTZ NOT NULL DEFAULT now()", "BYTEA"),
        _ => ("TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP", "BLOB"),
    };
    inspect
        .execute(&format!(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on {installed_on}, success BOOLEAN NOT NULL, checksum {checksum} NOT NULL, \
             execution_time BIGINT NOT NULL)"
        ))
        .await;
}

async fn diesel_table(inspect: &mut Inspect) {
    inspect
        .execute(
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
             run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        )
        .await;
}

async fn another_tools_history_without_ours_is_named_and_up_refuses(backend: Backend) {
    let dir = folder(&[("1_create_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);")]);
    for tool in ["sqlx", "diesel"] {
        let db = TestDb::new(backend).await;
        let mut inspect = db.inspect().await;
        let table = if tool == "sqlx" {
            sqlx_table(&mut inspect, backend).await;
            inspect
                .execute(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                     VALUES (1, 'create a', TRUE, X'00', 1)"
                        .replace("X'00'", if backend == Backend::Postgres { "'\\x00'" } else { "X'00'" })
                        .as_str(),
                )
                .await;
            "_sqlx_migrations"
        } else {
            diesel_table(&mut inspect).await;
            inspect.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('1')").await;
            "__diesel_schema_migrations"
        };
        inspect.execute("CREATE TABLE a (id INTEGER PRIMARY KEY)").await;

        let (code, status) = run(dir.path(), &db, &["status"]);
        assert_eq!(code, Some(3), "{status}");
        assert!(status.contains(table) && status.contains(&format!("adopt --from {tool}")), "{status}");
        let (code, validate) = run(dir.path(), &db, &["validate"]);
        assert_eq!(code, Some(3), "{validate}");
        assert!(validate.contains(table) && validate.contains("adopt"), "{validate}");

        let (code, up) = run(dir.path(), &db, &["up"]);
        assert_eq!(code, Some(1), "{up}");
        assert!(up.contains(&format!("{tool}'s history table {table} (1 row(s))")), "{up}");
        assert!(up.contains("--ignore-foreign-history") && up.contains("adopt"), "{up}");
        assert!(!inspect.table_exists("migrations_rs_history").await, "nothing was recorded");

        // Adopted, the same database migrates.
        let (code, adopt) = run(dir.path(), &db, &["adopt", "--yes"]);
        assert_eq!(code, Some(0), "{adopt}");
        let (code, up) = run(dir.path(), &db, &["up"]);
        assert_eq!(code, Some(0), "{up}");
    }
    // Told the table is unrelated, `up` runs.
    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    diesel_table(&mut inspect).await;
    inspect.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('20200101000000')").await;
    let (code, up) = run(dir.path(), &db, &["up", "--ignore-foreign-history"]);
    assert_eq!(code, Some(0), "{up}");
    assert!(inspect.table_exists("a").await);
}

/// The up file of the first migration, whose SHA-384 sqlx stores as its checksum.
const CREATE_A: &str = "CREATE TABLE a (id INTEGER PRIMARY KEY);";
const CREATE_A_SHA384: &str =
    "73FA8769F7AC9B40CDEA3762F07E45DABDFC47026A834EAFA8861B316C8D68A107BC11082E298BF40FD63CF204968F4D";

async fn compat_sqlx_keeps_its_table_in_step(backend: Backend) {
    let dir = folder(&[
        ("1_create_a.up.sql", CREATE_A),
        ("1_create_a.down.sql", "DROP TABLE a;"),
        ("2_create_b.up.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);"),
        ("2_create_b.down.sql", "DROP TABLE b;"),
        // A real history's clean-up of sqlx's own table.
        ("3_forget_old_rows.up.sql", "DELETE FROM _sqlx_migrations WHERE version = 2;"),
        ("3_forget_old_rows.down.sql", "-- nothing to undo\n"),
    ]);
    let without = TestDb::new(backend).await;
    let (code, up) = run(dir.path(), &without, &["up"]);
    assert_eq!(code, Some(1), "without the table, the third migration fails: {up}");

    let db = TestDb::new(backend).await;
    let mut inspect = db.inspect().await;
    let (code, up) = run(dir.path(), &db, &["up", "--compat", "sqlx"]);
    assert_eq!(code, Some(0), "{up}");
    let rows = inspect.strings("SELECT description FROM _sqlx_migrations ORDER BY version").await;
    assert_eq!(rows, ["create a", "forget old rows"], "the migration's own DELETE took row 2 out");
    let hex = match backend {
        Backend::Postgres => "upper(encode(checksum, 'hex'))",
        _ => "upper(hex(checksum))",
    };
    let checksum = inspect.strings(&format!("SELECT {hex} FROM _sqlx_migrations WHERE version = 1")).await;
    assert_eq!(checksum, [CREATE_A_SHA384], "the checksum sqlx computes for the file");
    assert_eq!(inspect.scalar("SELECT count(*) FROM _sqlx_migrations WHERE success = TRUE").await, 2);

    let (code, down) = run(dir.path(), &db, &["down", "--compat", "sqlx"]);
    assert_eq!(code, Some(0), "{down}");
    assert_eq!(inspect.strings("SELECT description FROM _sqlx_migrations ORDER BY version").await, ["create a"]);
}

async fn compat_diesel_keeps_its_table_in_step_under_a_trigger(backend: Backend) {
    let trigger = match backend {
        Backend::Postgres => {
            "CREATE FUNCTION note_migration() RETURNS trigger AS $$ BEGIN \
             INSERT INTO migration_notes (version) VALUES (NEW.version); RETURN NEW; END $$ LANGUAGE plpgsql;\n\
             CREATE TRIGGER note_migration AFTER INSERT ON __diesel_schema_migrations \
             FOR EACH ROW EXECUTE FUNCTION note_migration();"
        }
        Backend::MySql => {
            "CREATE TRIGGER note_migration AFTER INSERT ON __diesel_schema_migrations \
             FOR EACH ROW INSERT INTO migration_notes (version) VALUES (NEW.version);"
        }
        Backend::Sqlite => {
            "CREATE TRIGGER note_migration AFTER INSERT ON __diesel_schema_migrations \
             BEGIN INSERT INTO migration_notes (version) VALUES (NEW.version); END;"
        }
    };
    let up = format!("CREATE TABLE migration_notes (version VARCHAR(50));\n{trigger}");
    let dir = folder(&[
        ("00000000000000_diesel_initial_setup/up.sql", "CREATE TABLE setup_marker (id INTEGER PRIMARY KEY);"),
        ("2024-01-01-000000_note_migrations/up.sql", &up),
        ("2024-01-02-000000-0000_create_c/up.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY);"),
        ("2024-01-02-000000-0000_create_c/down.sql", "DROP TABLE c;"),
    ]);
    let db = TestDb::new(backend).await;
    // From an environment of migrations.toml this time.
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("migrations.toml"),
        format!("[environments.dev]\ndatabase_url = \"{}\"\ncompat = \"diesel\"\n", db.url.expose()),
    )
    .unwrap();
    let (code, up) = run_in(cwd.path(), dir.path(), &["up", "--env", "dev"]);
    assert_eq!(code, Some(0), "{up}");
    let mut inspect = db.inspect().await;
    assert_eq!(
        inspect.strings("SELECT version FROM __diesel_schema_migrations ORDER BY version").await,
        ["00000000000000", "20240101000000", "202401020000000000"],
        "diesel's own version strings"
    );
    assert_eq!(
        inspect.strings("SELECT version FROM migration_notes ORDER BY version").await,
        ["20240101000000", "202401020000000000"],
        "the trigger saw the rows written after it"
    );
    let (code, down) = run_in(cwd.path(), dir.path(), &["down", "--env", "dev"]);
    assert_eq!(code, Some(0), "{down}");
    assert_eq!(inspect.scalar("SELECT count(*) FROM __diesel_schema_migrations").await, 2);
}
