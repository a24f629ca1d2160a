//! Acknowledgements written in SQL itself, beside the statements they are
//! about: `-- migrations-rs: allow <rule>[, <rule>]` on a line before a
//! statement acknowledges those rules for that statement, and every
//! statement between `-- safety-assured:start` and `-- safety-assured:end`
//! (the markers other linters use) is acknowledged whole.

use super::rules::Rule;
use crate::sql::SqlStatement;

/// What the comments before one statement acknowledge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Acknowledged {
    /// No comment acknowledges anything.
    #[default]
    Nothing,
    /// `-- migrations-rs: allow <rule>` acknowledges these rules.
    Rules(Vec<Rule>),
    /// Inside a `safety-assured` block.
    Everything,
}

impl Acknowledged {
    /// Whether `rule` is acknowledged.
    pub fn covers(&self, rule: Rule) -> bool {
        match self {
            Acknowledged::Nothing => false,
            Acknowledged::Rules(rules) => rules.contains(&rule),
            Acknowledged::Everything => true,
        }
    }
}

/// A comment naming a rule that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRule {
    /// 1-based line of the script.
    pub line: usize,
    /// The name as written.
    pub name: String,
}

/// What the comments of `script` acknowledge for each of its `statements`
/// (as `sql::split` returned them, in order).
pub fn acknowledgements(script: &str, statements: &[SqlStatement<'_>]) -> Result<Vec<Acknowledged>, UnknownRule> {
    let mut out = Vec::with_capacity(statements.len());
    let mut in_block = false;
    let mut gap_start = 0;
    // The line `gap_start` is on, counted as the gaps advance: counting from
    // the start for every statement made a long script quadratic.
    let (mut first_line, mut counted_to) = (1, 0);
    for statement in statements {
        let gap = script.get(gap_start..statement.range.start).unwrap_or("");
        let upto = gap_start.min(script.len()).max(counted_to);
        first_line += script.get(counted_to..upto).unwrap_or("").matches('\n').count();
        counted_to = upto;
        let mut rules = Vec::new();
        for (offset, line) in gap.lines().enumerate() {
            let Some(comment) = line.trim().strip_prefix("--") else { continue };
            let comment = comment.trim();
            if comment.eq_ignore_ascii_case("safety-assured:start") {
                in_block = true;
            } else if comment.eq_ignore_ascii_case("safety-assured:end") {
                in_block = false;
            } else if let Some(names) = comment.strip_prefix("migrations-rs:").map(str::trim)
                && let Some(names) = names.strip_prefix("allow ").filter(|n| !n.trim_start().starts_with('='))
            {
                for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let rule = Rule::from_name(name)
                        .ok_or_else(|| UnknownRule { line: first_line + offset, name: name.to_owned() })?;
                    rules.push(rule);
                }
            }
        }
        out.push(match (in_block, rules.is_empty()) {
            (true, _) => Acknowledged::Everything,
            (false, true) => Acknowledged::Nothing,
            (false, false) => Acknowledged::Rules(rules),
        });
        gap_start = statement.range.end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Backend;

    fn of(script: &str) -> Result<Vec<Acknowledged>, UnknownRule> {
        acknowledgements(script, &crate::sql::split(Backend::Postgres, script).unwrap())
    }

    #[test]
    fn a_comment_acknowledges_the_next_statement_only() {
        let found =
            of("SELECT 1;\n-- migrations-rs: allow drop_column, truncate\nALTER TABLE t DROP COLUMN c;\nTRUNCATE t;")
                .unwrap();
        assert_eq!(
            found,
            vec![
                Acknowledged::Nothing,
                Acknowledged::Rules(vec![Rule::DropColumn, Rule::Truncate]),
                Acknowledged::Nothing
            ]
        );
    }

    #[test]
    fn safety_assured_blocks_cover_every_statement_inside() {
        let found = of("DROP TABLE a;\n-- safety-assured:start\nDROP TABLE b;\nDROP TABLE c;\n-- safety-assured:end\nDROP TABLE d;")
            .unwrap();
        assert_eq!(
            found,
            vec![Acknowledged::Nothing, Acknowledged::Everything, Acknowledged::Everything, Acknowledged::Nothing]
        );
    }

    #[test]
    fn an_unknown_rule_is_named_with_its_line() {
        let error = of("SELECT 1;\n\n-- migrations-rs: allow drop_everything\nDROP TABLE t;").unwrap_err();
        assert_eq!(error, UnknownRule { line: 3, name: "drop_everything".to_owned() });
        let later = of(
            "SELECT 1;\nSELECT 2; SELECT 3;\n\n/* two\nlines */ SELECT 4;\n-- migrations-rs: allow nope\nDROP TABLE t;",
        )
        .unwrap_err();
        assert_eq!(later, UnknownRule { line: 6, name: "nope".to_owned() }, "lines counted across several statements");
    }
}
