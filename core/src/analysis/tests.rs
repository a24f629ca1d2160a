//! The catalogue: SQL inputs with the findings each backend must report.

use super::{Analyzer, Rule};
use crate::dialect::Backend;

const PG: Backend = Backend::Postgres;
const MY: Backend = Backend::MySql;
const SL: Backend = Backend::Sqlite;
const ALL: &[Backend] = &[SL, PG, MY];

/// Rules found in `sql` run on `backend`. Tables exist already unless the same input creates them.
fn rules(backend: Backend, transactional: bool, sql: &str) -> Vec<Rule> {
    let mut analyzer = Analyzer::new(backend, transactional, &[]);
    analyzer.sql(sql);
    analyzer.findings().iter().map(|f| f.rule).collect()
}

struct Case {
    sql: &'static str,
    backends: &'static [Backend],
    transactional: bool,
    expected: &'static [Rule],
}

const fn case(sql: &'static str, backends: &'static [Backend], expected: &'static [Rule]) -> Case {
    Case { sql, backends, transactional: true, expected }
}

const fn no_tx(sql: &'static str, backends: &'static [Backend], expected: &'static [Rule]) -> Case {
    Case { sql, backends, transactional: false, expected }
}

use Rule::*;

const CATALOGUE: &[Case] = &[
    // Destructive.
    case("DROP TABLE users", ALL, &[DropTable]),
    case("DROP TABLE IF EXISTS a, b CASCADE", &[PG], &[DropTable]),
    case("DROP SCHEMA reporting CASCADE", &[PG], &[DropTable]),
    case("ALTER TABLE users DROP COLUMN email", ALL, &[DropColumn]),
    case("ALTER TABLE users DROP email", &[MY], &[DropColumn]),
    case("TRUNCATE TABLE orders", &[PG, MY], &[Truncate]),
    case("TRUNCATE a, b CASCADE", &[PG], &[Truncate]),
    case("UPDATE users SET active = true", ALL, &[UnboundedDml]),
    case("DELETE FROM sessions", ALL, &[UnboundedDml]),
    case("WITH old AS (SELECT id FROM t WHERE x < 1) DELETE FROM t", &[PG], &[UnboundedDml]),
    // Renames and types.
    case("ALTER TABLE users RENAME TO accounts", ALL, &[RenameTable]),
    case("RENAME TABLE users TO accounts", &[MY], &[RenameTable]),
    case("ALTER TABLE users RENAME COLUMN email TO mail", ALL, &[RenameColumn]),
    case("ALTER TABLE users ALTER COLUMN age TYPE bigint", &[PG], &[ChangeType]),
    case("ALTER TABLE users MODIFY COLUMN name VARCHAR(50) NOT NULL", &[MY], &[ChangeType]),
    case("ALTER TABLE users CHANGE name full_name VARCHAR(200)", &[MY], &[RenameColumn, ChangeType]),
    // Columns and NOT NULL.
    case("ALTER TABLE users ADD COLUMN age integer NOT NULL", ALL, &[RequiredColumn]),
    case("ALTER TABLE users ALTER COLUMN email SET NOT NULL", &[PG], &[SetNotNull]),
    case("ALTER TABLE users ALTER COLUMN email DROP NOT NULL", &[PG], &[DropNotNull]),
    // Constraints.
    case(
        "ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id)",
        &[PG, MY],
        &[ForeignKeyValidating],
    ),
    case("ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0)", &[PG, MY], &[CheckValidating]),
    case("ALTER TABLE users ADD CONSTRAINT users_email UNIQUE (email)", &[PG, MY], &[UniqueOrPrimaryKey]),
    case("ALTER TABLE users ADD COLUMN team_id bigint REFERENCES teams (id)", &[PG], &[ForeignKeyValidating]),
    // Indexes on PostgreSQL.
    case("CREATE INDEX users_email ON users (email)", &[PG], &[IndexNotConcurrent]),
    case("DROP INDEX users_email", &[PG], &[DropIndexNotConcurrent]),
    case("CREATE INDEX CONCURRENTLY users_email ON users (email)", &[PG], &[NotInTransaction]),
    case("VACUUM FULL users", &[PG], &[NotInTransaction, BlockingMaintenance]),
    case("VACUUM", &[SL], &[NotInTransaction]),
    case("REINDEX TABLE users", &[PG], &[BlockingMaintenance]),
    case("OPTIMIZE TABLE users", &[MY], &[BlockingMaintenance]),
    // Transactions, pragmas, enums, MySQL locking.
    case("BEGIN; UPDATE t SET x = 1 WHERE id = 2; COMMIT;", ALL, &[TransactionControl, TransactionControl]),
    case("START TRANSACTION; INSERT INTO t VALUES (1)", &[PG, MY], &[TransactionControl]),
    case("BEGIN TRANSACTION", &[SL, PG], &[TransactionControl]),
    case("COMMIT WORK", ALL, &[TransactionControl]),
    case("CREATE TABLE t2 (id int); ROLLBACK", ALL, &[TransactionControl]),
    case("END", &[PG, SL], &[TransactionControl]),
    case("ABORT", &[PG], &[TransactionControl]),
    case("COMMIT AND CHAIN", &[PG, MY], &[TransactionControl]),
    case("PREPARE TRANSACTION 'x'", &[PG], &[TransactionControl]),
    case("XA START 'x'", &[MY], &[TransactionControl]),
    case("SET autocommit = 1", &[MY], &[TransactionControl]),
    case("SET @@session.autocommit = 1", &[MY], &[TransactionControl]),
    case("LOCK TABLES t WRITE", &[MY], &[TransactionControl]),
    // A savepoint of the migration's own may be released or rolled back to; the runner's may not.
    case("SAVEPOINT mine; ROLLBACK TO SAVEPOINT mine; RELEASE SAVEPOINT mine", ALL, &[]),
    case("SAVEPOINT mine; ROLLBACK WORK TO mine; RELEASE mine", &[PG, SL], &[]),
    case("RELEASE SAVEPOINT sqlx_savepoint_1", ALL, &[TransactionControl]),
    case("ROLLBACK TO SAVEPOINT sqlx_savepoint_1", ALL, &[TransactionControl]),
    case("SAVEPOINT mine; ROLLBACK TO other", &[PG, SL], &[TransactionControl]),
    case("PRAGMA foreign_keys = OFF", &[SL], &[SqlitePragmaInTransaction]),
    case("ALTER TYPE mood ADD VALUE 'meh'", &[PG], &[EnumChange]),
    case("ALTER TABLE users ADD COLUMN x INT, ALGORITHM=COPY", &[MY], &[MysqlCopyLock]),
    // Unreadable or unanalysable SQL.
    case("DO $$ BEGIN PERFORM 1; END $$", &[PG], &[OpaqueSql]),
    case("SELECT 'unterminated", ALL, &[OpaqueSql]),
    case("FROBNICATE users", ALL, &[OpaqueSql]),
    // Nothing to report.
    case("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE)", ALL, &[]),
    case(
        "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint); CREATE INDEX posts_user ON posts (user_id); \
         ALTER TABLE posts ADD COLUMN title text NOT NULL; ALTER TABLE posts ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id)",
        &[PG],
        &[],
    ),
    case("ALTER TABLE users ADD COLUMN nickname text", ALL, &[]),
    case("ALTER TABLE users ADD COLUMN active boolean NOT NULL DEFAULT true", ALL, &[]),
    case("UPDATE users SET active = true WHERE id < 1000", ALL, &[]),
    case("DELETE FROM sessions WHERE expires_at < now()", ALL, &[]),
    case("INSERT INTO settings (k, v) VALUES ('a;b', 'DROP TABLE users')", ALL, &[]),
    case("ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID", &[PG], &[]),
    case("ALTER TABLE orders VALIDATE CONSTRAINT fk_user", &[PG], &[]),
    case("ALTER TABLE users ADD CONSTRAINT users_email UNIQUE USING INDEX users_email_idx", &[PG], &[]),
    case(
        "CREATE FUNCTION touch() RETURNS trigger AS $$ BEGIN NEW.updated_at = now(); DELETE FROM x; RETURN NEW; END $$ LANGUAGE plpgsql",
        &[PG],
        &[],
    ),
    case("CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; END", &[SL], &[]),
    case("CREATE INDEX users_email ON users (email)", &[SL, MY], &[]),
    case("-- DROP TABLE users;\n/* TRUNCATE users; */ SELECT 1", ALL, &[]),
    // Not what they look like.
    case(
        "CREATE TABLE new_users (id integer PRIMARY KEY, email text); \
         INSERT INTO new_users (id, email) SELECT id, email FROM users; DROP TABLE users; \
         ALTER TABLE new_users RENAME TO users",
        ALL,
        &[],
    ),
    case(
        "CREATE TABLE new_users (id integer PRIMARY KEY); INSERT INTO new_users (id) SELECT id FROM users; \
         DROP TABLE users; RENAME TABLE new_users TO users",
        &[MY],
        &[],
    ),
    case("CREATE TABLE copy (id integer); INSERT INTO copy SELECT id FROM a; DROP TABLE b", ALL, &[DropTable]),
    case("ALTER TABLE users ADD COLUMN active boolean; UPDATE users SET active = true", ALL, &[]),
    case("ALTER TABLE users ADD COLUMN a integer; UPDATE users SET a = 1, b = 2", ALL, &[UnboundedDml]),
    case("SET @s = 'SELECT 1'; PREPARE stmt FROM @s; EXECUTE stmt; DEALLOCATE PREPARE stmt", &[MY], &[]),
    case("PREPARE recent (int) AS SELECT * FROM t WHERE id > $1; EXECUTE recent (1); DEALLOCATE recent", &[PG], &[]),
    case("DEALLOCATE ALL", &[PG], &[]),
    case("PREPARE wipe AS DELETE FROM t", &[PG], &[UnboundedDml]),
    case("ALTER TABLE users ALTER COLUMN name TYPE varchar(200)", &[PG], &[]),
    case("ALTER TABLE users ALTER COLUMN name TYPE character varying(200)", &[PG], &[]),
    case("ALTER TABLE users ALTER COLUMN name SET DATA TYPE text", &[PG], &[]),
    case("ALTER TABLE users ALTER COLUMN name TYPE varchar(10) USING left(name, 10)", &[PG], &[ChangeType]),
    case("ALTER TABLE users DROP COLUMN a, DROP COLUMN b", &[PG, MY], &[DropColumn]),
    no_tx("CREATE INDEX CONCURRENTLY users_email ON users (email)", &[PG], &[]),
    no_tx("VACUUM", &[SL], &[]),
    no_tx("BEGIN; ALTER TABLE t ADD COLUMN x int; COMMIT", &[PG], &[]),
    no_tx("START TRANSACTION; SET autocommit = 1; LOCK TABLES t WRITE; RELEASE SAVEPOINT x; ROLLBACK", &[MY], &[]),
];

#[test]
fn every_catalogue_input_gives_exactly_its_findings() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in CATALOGUE {
        for backend in case.backends {
            checked += 1;
            let found = rules(*backend, case.transactional, case.sql);
            if found != case.expected {
                failures.push(format!("{backend}: {}\n  expected {:?}\n  found    {found:?}", case.sql, case.expected));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
    assert!(CATALOGUE.len() >= 25);
}

#[test]
fn acknowledged_findings_are_kept_but_do_not_refuse() {
    let mut analyzer = Analyzer::new(PG, true, &["drop_column"]);
    analyzer.sql("ALTER TABLE users DROP COLUMN email; DROP TABLE t");
    let findings = analyzer.findings();
    assert_eq!(findings.len(), 2);
    assert!(findings[0].allowed && !findings[0].refuses());
    assert!(!findings[1].allowed && findings[1].refuses());
    assert_eq!(findings[1].statement, "DROP TABLE t");
}

#[test]
fn declared_risk_is_compared_with_what_the_statements_do() {
    let mut analyzer = Analyzer::new(PG, true, &[]);
    analyzer.sql("ALTER TABLE users DROP COLUMN email");
    let (findings, detected, statements) = analyzer.finish(&[crate::risk::Risk::Index]);
    assert_eq!(statements, 1);
    assert_eq!(detected, vec![crate::risk::Risk::Schema, crate::risk::Risk::Data]);
    let undeclared = findings.iter().find(|f| f.rule == UndeclaredRisk).expect("undeclared risk reported");
    assert!(undeclared.detail.contains("`risk = [schema, data, index]`"), "{}", undeclared.detail);
}

#[test]
fn a_statement_dropping_several_columns_is_one_finding_naming_them_all() {
    let mut analyzer = Analyzer::new(MY, true, &[]);
    analyzer.sql("ALTER TABLE `Users` DROP COLUMN a, DROP COLUMN b, ADD COLUMN c int");
    let findings = analyzer.findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].detail.contains("`a`") && findings[0].detail.contains("`b`"), "{}", findings[0].detail);
    assert_eq!(findings[0].tables, ["Users"], "MySQL table names keep their case for the live check");
}

#[test]
fn destructive_findings_name_the_tables_whose_rows_they_destroy() {
    let tables = |backend: Backend, sql: &str| {
        let mut analyzer = Analyzer::new(backend, true, &[]);
        analyzer.sql(sql);
        analyzer.findings().iter().map(|f| f.tables.clone()).collect::<Vec<_>>()
    };
    assert_eq!(tables(PG, "DROP TABLE IF EXISTS app.Users, \"Orders\""), [vec!["app.users", "Orders"]]);
    assert_eq!(tables(PG, "TRUNCATE TABLE ONLY logs"), [vec!["logs"]]);
    assert_eq!(tables(SL, "DELETE FROM sessions"), [vec!["sessions"]]);
    assert_eq!(tables(PG, "UPDATE ONLY users SET x = 1"), [vec!["users"]]);
    assert_eq!(tables(PG, "DROP SCHEMA s CASCADE"), [Vec::<String>::new()], "a schema is not a table to look into");
}

#[test]
fn comments_acknowledge_the_statements_they_precede() {
    use super::{Acknowledged, acknowledgements};
    let script = "-- migrations-rs: allow drop_table\nDROP TABLE a;\nDROP TABLE b;\n\
                  -- safety-assured:start\nTRUNCATE c;\n-- safety-assured:end\n";
    let statements = crate::sql::split(PG, script).unwrap();
    let acknowledged = acknowledgements(script, &statements).unwrap();
    let mut analyzer = Analyzer::new(PG, true, &[]);
    for (statement, acknowledged) in statements.iter().zip(&acknowledged) {
        analyzer.sql_acknowledged(statement.sql, acknowledged);
    }
    let refused: Vec<&str> = analyzer.findings().iter().filter(|f| f.refuses()).map(|f| f.statement.as_str()).collect();
    assert_eq!(refused, ["DROP TABLE b"]);
    assert_eq!(acknowledged[2], Acknowledged::Everything);
}

#[test]
fn ddl_commits_implicitly_on_mysql_only() {
    let commits = |backend: Backend, sql: &str| {
        let mut analyzer = Analyzer::new(backend, true, &[]);
        analyzer.sql(sql);
        analyzer.saw_implicit_commit()
    };
    assert!(commits(MY, "INSERT INTO t VALUES (1); CREATE INDEX i ON t (x)"));
    assert!(commits(MY, "/* first */ ALTER TABLE t ADD COLUMN y INT"));
    assert!(commits(MY, "INSERT INTO t VALUES ('never closed)"), "SQL that cannot be read counts as committing");
    assert!(!commits(MY, "INSERT INTO t VALUES (1); UPDATE t SET x = 2; -- CREATE TABLE in a comment"));
    assert!(!commits(MY, "with d as (select 1) select * from d; set @a = 1; savepoint s"));
    assert!(!commits(PG, "CREATE TABLE t (x INT)"));
    assert!(!commits(SL, "DROP TABLE t"));
}
