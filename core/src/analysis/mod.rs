//! Risk analysis: every statement a migration runs is classified against the
//! catalogue of dangerous operations for the backend it runs on.
//!
//! Raw SQL is read by the dialect's lexer and split into statements.
//! sea-query statements are classified from their rendering for the backend
//! (sea-query keeps the parts of its statements private; its rendering is
//! unambiguous SQL that the lexer reads completely). A statement the
//! analysis does not recognise is an `opaque-sql` finding, never a pass.
//!
//! A finding a migration acknowledges in `#[migration(allow = [...])]` is
//! kept but marked allowed. Destructive findings that are not allowed make
//! `up` refuse the run before anything changes.

mod acknowledge;
mod alter_table;
mod classify;
mod cursor;
mod rules;
#[cfg(test)]
mod tests;
mod transcript;

pub use acknowledge::{Acknowledged, UnknownRule, acknowledgements};
pub use rules::{Level, Rule, Severity};
pub use transcript::{Replay, Transcript};

use crate::dialect::Backend;
use crate::risk::Risk;
use crate::sql::{self, Token};
use crate::version::Version;
use classify::{Context, classify};
use std::collections::HashSet;
use std::fmt;

/// One dangerous statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Finding {
    /// The rule the statement breaks.
    pub rule: Rule,
    /// Whether the finding fails `lint` or only warns.
    pub level: Level,
    /// What can go wrong when the statement runs.
    pub severities: &'static [Severity],
    /// The backend the statement was analysed for.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize_backend"))]
    pub backend: Backend,
    /// The statement as it would be sent (empty for findings about the whole migration).
    pub statement: String,
    /// What the statement does that the rule is about.
    pub detail: String,
    /// What to do instead, on this backend.
    pub safe_alternative: &'static str,
    /// Acknowledged by the migration's `allow = [...]`, or by a comment in the SQL.
    pub allowed: bool,
    /// The tables whose rows the statement can destroy, as the database
    /// resolves their names: `up` asks the live database whether they hold any.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub tables: Vec<String>,
}

impl Finding {
    /// Whether `up` refuses to run the statement.
    pub fn refuses(&self) -> bool {
        self.rule.refused_unless_allowed() && !self.allowed
    }

    /// Whether the data the statement destroys is only the rows of
    /// [`Finding::tables`], so that it loses nothing when they hold none.
    pub fn loses_only_rows(&self) -> bool {
        !self.tables.is_empty()
            && matches!(self.rule, Rule::DropTable | Rule::DropColumn | Rule::Truncate | Rule::UnboundedDml)
    }

    /// Whether `lint` fails on it.
    pub fn fails_lint(&self) -> bool {
        self.level == Level::Error && !self.allowed
    }

    /// The severities as one comma-separated text, such as `data-loss, blocking-lock`.
    pub fn severity_text(&self) -> String {
        self.severities.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(feature = "serde")]
fn serialize_backend<S: serde::Serializer>(backend: &Backend, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(backend.name())
}

/// Statements after which MySQL/MariaDB can still roll a transaction back.
const ROLLED_BACK_ON_MYSQL: &[&str] =
    &["INSERT", "UPDATE", "DELETE", "REPLACE", "SELECT", "WITH", "VALUES", "SET", "SHOW", "EXPLAIN", "SAVEPOINT", "DO"];

/// A destructive statement that a migration runs without acknowledging it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Refusal {
    /// The migration's label: its version and name.
    pub migration: String,
    /// Where the migration is defined.
    pub location: String,
    /// The finding that refused it.
    pub finding: Finding,
    /// The migration is a SQL file, acknowledged in its header comment rather than an attribute.
    pub sql_file: bool,
}

/// The migration findings belong to, as a [`Refusal`] names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The migration's label: its version and name.
    pub migration: String,
    /// Where it is defined: a source file and line, or a SQL file.
    pub location: String,
    /// The migration is a SQL file, acknowledged in its header comment rather than an attribute.
    pub sql_file: bool,
}

impl Origin {
    /// The refusal of `finding` in this migration.
    pub fn refusal(&self, finding: &Finding) -> Refusal {
        Refusal {
            migration: self.migration.clone(),
            location: self.location.clone(),
            finding: finding.clone(),
            sql_file: self.sql_file,
        }
    }
}

/// How to acknowledge `rule` in a migration: its attribute, or a SQL file's comments.
pub fn acknowledge_advice(rule: Rule, sql_file: bool) -> String {
    let name = rule.allow_name();
    if sql_file {
        format!(
            "add `allow = [{name}]` to the `-- migrations-rs:` header comment of its file, \
             or `-- migrations-rs: allow {name}` on the line before the statement"
        )
    } else {
        format!("add `allow = [{name}]` to its #[migration]")
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let finding = &self.finding;
        write!(
            f,
            "{} ({}): {}: {}\n      statement: {}\n      to run it anyway, {}; safer: {}",
            self.migration,
            self.location,
            finding.rule,
            finding.detail,
            finding.statement,
            acknowledge_advice(finding.rule, self.sql_file),
            finding.safe_alternative
        )
    }
}

/// Classifies the statements of one migration in order, remembering what
/// earlier statements created.
#[derive(Debug)]
pub struct Analyzer {
    backend: Backend,
    transactional: bool,
    allow: Vec<Rule>,
    created: HashSet<String>,
    copied: HashSet<String>,
    dropped: HashSet<String>,
    added_columns: HashSet<(String, String)>,
    /// What comments acknowledge for the statement being analysed.
    acknowledged: Acknowledged,
    savepoints: HashSet<String>,
    detected: Vec<Risk>,
    findings: Vec<Finding>,
    statements: usize,
    /// A statement analysed so far commits by itself ([`Analyzer::saw_implicit_commit`]).
    committed: bool,
    /// The calls made so far, once [`Analyzer::keep_transcript`] asked for them.
    transcript: Option<Transcript>,
}

impl Analyzer {
    /// An analyzer for SQL that runs on `backend`, inside a transaction or not,
    /// with the rules named in `allow` acknowledged.
    pub fn new(backend: Backend, transactional: bool, allow: &[&str]) -> Self {
        Analyzer {
            backend,
            transactional,
            allow: allow.iter().filter_map(|name| Rule::from_name(name)).collect(),
            created: HashSet::new(),
            copied: HashSet::new(),
            dropped: HashSet::new(),
            added_columns: HashSet::new(),
            acknowledged: Acknowledged::Nothing,
            savepoints: HashSet::new(),
            detected: Vec::new(),
            findings: Vec::new(),
            statements: 0,
            committed: false,
            transcript: None,
        }
    }

    /// Keeps every call of [`Analyzer::sql`] and [`Analyzer::sql_acknowledged`]
    /// from now on, with what it found, for [`Analyzer::take_transcript`].
    pub fn keep_transcript(&mut self) {
        self.transcript.get_or_insert_with(Transcript::default);
    }

    /// The calls kept since [`Analyzer::keep_transcript`] (none if it was not called).
    pub fn take_transcript(&mut self) -> Transcript {
        self.transcript.take().unwrap_or_default()
    }

    /// Whether any statement analysed so far commits the transaction by
    /// itself or cannot be rolled back: any DDL on MySQL/MariaDB, nothing
    /// elsewhere. SQL that cannot be read counts as committing.
    pub fn saw_implicit_commit(&self) -> bool {
        self.committed
    }

    /// Analyses SQL text, which may hold several statements, and returns the findings it added.
    pub fn sql(&mut self, text: &str) -> &[Finding] {
        self.sql_acknowledged(text, &Acknowledged::Nothing)
    }

    /// Like [`Analyzer::sql`] for one statement of a script, with what the
    /// comments before it acknowledge.
    pub fn sql_acknowledged(&mut self, text: &str, acknowledged: &Acknowledged) -> &[Finding] {
        self.acknowledged = acknowledged.clone();
        let before = self.findings.len();
        self.read(text);
        self.acknowledged = Acknowledged::Nothing;
        if let Some(transcript) = &mut self.transcript {
            transcript.push(text, acknowledged, &self.findings[before..], self.committed);
        }
        &self.findings[before..]
    }

    fn read(&mut self, text: &str) {
        // One reading of the text splits it and finds each statement's tokens.
        match sql::split_lexed(self.backend, text) {
            Ok(statements) => {
                for lexed in statements {
                    self.statement(lexed.statement.sql, &lexed.tokens);
                }
            }
            Err(error) => {
                self.committed |= self.backend == Backend::MySql;
                self.push(Rule::OpaqueSql, text, format!("the SQL cannot be read: {error}"), Vec::new())
            }
        }
    }

    /// Reports a problem with the SQL's own comments, such as an unknown rule.
    pub fn unreadable(&mut self, detail: String) {
        self.push(Rule::OpaqueSql, "", detail, Vec::new());
    }

    /// Reads one statement, `text`, from its significant `tokens`.
    fn statement(&mut self, text: &str, tokens: &[Token<'_>]) {
        self.statements += 1;
        if self.backend == Backend::MySql {
            self.committed |= tokens.first().is_none_or(|first| !ROLLED_BACK_ON_MYSQL.iter().any(|k| first.is(k)));
        }
        let ctx = Context {
            backend: self.backend,
            transactional: self.transactional,
            created: &self.created,
            copied: &self.copied,
            dropped: &self.dropped,
            added_columns: &self.added_columns,
            savepoints: &self.savepoints,
        };
        let classified = classify(tokens, &ctx);
        for risk in classified.categories {
            if !self.detected.contains(&risk) {
                self.detected.push(risk);
            }
        }
        // One finding per rule and statement: `DROP COLUMN a, DROP COLUMN b` is one drop-column.
        let mut merged: Vec<(Rule, String)> = Vec::new();
        for (rule, detail) in classified.hits {
            match merged.iter_mut().find(|(seen, _)| *seen == rule) {
                Some((_, details)) => {
                    details.push_str("; ");
                    details.push_str(&detail);
                }
                None => merged.push((rule, detail)),
            }
        }
        for (rule, detail) in merged {
            let tables = if rule.severities().contains(&Severity::DataLoss) {
                classified.data_tables.clone()
            } else {
                Vec::new()
            };
            self.push(rule, text, detail, tables);
        }
        if let Some(table) = classified.creates {
            self.created.insert(table);
        }
        if let Some(table) = classified.copies_rows_of {
            self.copied.insert(table);
        }
        self.dropped.extend(classified.drops);
        self.added_columns.extend(classified.adds_columns);
        if let Some(savepoint) = classified.savepoint {
            self.savepoints.insert(savepoint);
        }
    }

    fn push(&mut self, rule: Rule, statement: &str, detail: String, tables: Vec<String>) {
        self.findings.push(Finding {
            rule,
            level: rule.level(),
            severities: rule.severities(),
            backend: self.backend,
            statement: statement.trim().to_owned(),
            detail,
            safe_alternative: rule.safe_alternative(self.backend),
            allowed: self.allow.contains(&rule) || self.acknowledged.covers(rule),
            tables,
        });
    }

    /// Reports that the migration's `up` does nothing and is not marked `empty`.
    pub fn empty_migration(&mut self) {
        let detail = "empty migration: its `up` does nothing, as `create` wrote it, and `up` refuses to apply it \
                      (it would be recorded as done without changing anything)"
            .to_owned();
        self.push(Rule::EmptyMigration, "", detail, Vec::new());
    }

    /// The findings so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The kinds of change detected so far, in the order first seen.
    pub fn detected(&self) -> &[Risk] {
        &self.detected
    }

    /// Ends the analysis; `declared` are the migration's risk tags, compared with what was detected.
    pub fn finish(mut self, declared: &[Risk]) -> (Vec<Finding>, Vec<Risk>, usize) {
        let mut undeclared: Vec<Risk> = self.detected.iter().copied().filter(|r| !declared.contains(r)).collect();
        undeclared.sort();
        if !undeclared.is_empty() {
            let names = |risks: &[Risk]| risks.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
            let mut all: Vec<Risk> = declared.iter().chain(&undeclared).copied().collect();
            all.sort();
            let detail = format!(
                "the statements make {} changes, which the attribute does not declare: write `risk = [{}]`",
                names(&undeclared),
                names(&all)
            );
            self.push(Rule::UndeclaredRisk, "", detail, Vec::new());
            if declared.is_empty() {
                // Nothing declared at all: tags were never written, not written wrong.
                self.findings.last_mut().expect("just pushed").level = Level::Warning;
            }
        }
        self.detected.sort();
        (self.findings, self.detected, self.statements)
    }
}

/// The analysis of one migration's `up`.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MigrationAnalysis {
    /// The migration's version.
    pub version: Version,
    /// The migration's name.
    pub name: &'static str,
    /// The module (crate or folder) the migration belongs to.
    pub module: &'static str,
    /// Where the migration is defined.
    pub location: String,
    /// The backend the statements were analysed for.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize_backend"))]
    pub backend: Backend,
    /// The risk tags the migration declares.
    pub declared: &'static [Risk],
    /// The risk tags its statements show.
    pub detected: Vec<Risk>,
    /// The rules the migration acknowledges, by `allow` name.
    pub allow: &'static [&'static str],
    /// How many statements were analysed.
    pub statements: usize,
    /// Every finding, acknowledged ones included.
    pub findings: Vec<Finding>,
    /// Set when the body reads from the database, so the statements after
    /// the first read could not be seen offline. `up` still checks them as they run.
    pub incomplete: Option<String>,
    /// The migration is a SQL file (acknowledged in its header comment, not an attribute).
    pub sql_file: bool,
}

impl MigrationAnalysis {
    /// The migration's version and name, as reports show them.
    pub fn label(&self) -> String {
        format!("{} {}", self.version, self.name)
    }

    /// Findings that make `up` refuse the migration.
    pub fn refusals(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.refuses())
    }

    /// How many findings fail `lint`.
    pub fn lint_errors(&self) -> usize {
        self.findings.iter().filter(|f| f.fails_lint()).count()
    }

    /// How many findings are warnings that are not acknowledged.
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| !f.allowed && f.level == Level::Warning).count()
    }

    /// Whether the migration can lose data: tagged `data`, or with a data-loss finding.
    pub fn is_risky(&self) -> bool {
        self.declared.contains(&Risk::Data) || self.findings.iter().any(|f| f.severities.contains(&Severity::DataLoss))
    }
}
