//! The forms two schemas are compared in: SQL text without the spellings a
//! database is free to change (spacing, letter case outside quotes,
//! redundant parentheses, quotes around plain names, a literal's cast,
//! the name of a column's own sequence), and whether a constraint or index
//! name is one the database made up.

/// `text` (an expression, a default, a view's query) in the form it is
/// compared in: letters outside quotes in lower case, no spacing but a
/// single space between two words, plain names unquoted, and the
/// parentheses around the whole of it left out.
pub(crate) fn sql(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if c == '-' && chars.peek() == Some(&'-') {
            // A line comment: to the end of the line.
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            pending_space = true;
            continue;
        }
        let token = match c {
            '\'' | '"' | '`' => {
                let mut quoted = String::from(c);
                while let Some(next) = chars.next() {
                    quoted.push(next);
                    if next == c {
                        if chars.peek() == Some(&c) {
                            quoted.push(chars.next().unwrap_or(c));
                        } else {
                            break;
                        }
                    }
                }
                if c == '\'' { quoted } else { unquoted(&quoted) }
            }
            c if is_word(c) => {
                let mut word = String::from(c.to_ascii_lowercase());
                while let Some(&next) = chars.peek() {
                    if !is_word(next) {
                        break;
                    }
                    word.push(next.to_ascii_lowercase());
                    chars.next();
                }
                word
            }
            c => c.to_string(),
        };
        if pending_space && out.ends_with(is_word) && token.starts_with(is_word) {
            out.push(' ');
        }
        pending_space = false;
        out.push_str(&token);
    }
    without_outer_parentheses(&out).to_owned()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A quoted identifier without its quotes when it is a plain lower-case name
/// (which means the same unquoted), else as it is.
fn unquoted(quoted: &str) -> String {
    let inner = &quoted[1..quoted.len().saturating_sub(1).max(1)];
    let plain = inner.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && inner.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { inner.to_owned() } else { quoted.to_owned() }
}

/// `text` as written, without the spacing around it and the parentheses
/// that enclose all of it: for showing an expression.
pub(crate) fn unwrapped(mut text: &str) -> &str {
    loop {
        let inner = without_outer_parentheses(text.trim()).trim();
        if inner == text {
            return text;
        }
        text = inner;
    }
}

/// `text` without the parentheses that enclose all of it, however many.
fn without_outer_parentheses(mut text: &str) -> &str {
    while text.starts_with('(') && text.ends_with(')') && closes_at_end(text) {
        text = &text[1..text.len() - 1];
    }
    text
}

/// Whether the `(` that starts `text` is closed by its last character
/// (quotes were kept, so a parenthesis inside a string is skipped).
fn closes_at_end(text: &str) -> bool {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return i == text.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// A column's default in the form it is compared in: `None` for a NULL
/// default of a nullable column (MySQL/MariaDB write it either way), a
/// string literal without its cast (PostgreSQL adds `::text`), and the
/// column's own sequence, whatever it is called, as `nextval(<own sequence>)`.
pub(crate) fn default(default: Option<&str>, table: &str, column: &str, nullable: bool) -> Option<String> {
    let text = sql(default?);
    if text == "null" && nullable {
        return None;
    }
    if let Some(literal) = literal_without_cast(&text) {
        return Some(literal.to_owned());
    }
    if let Some(sequence) = text.strip_prefix("nextval(").and_then(|rest| rest.strip_suffix(')')) {
        let sequence = literal_without_cast(sequence).unwrap_or(sequence).trim_matches('\'');
        let sequence = sequence.rsplit('.').next().unwrap_or(sequence).trim_matches('"');
        let table = table.rsplit('.').next().unwrap_or(table);
        if sequence.starts_with(&format!("{table}_{column}_seq")) {
            return Some("nextval(<own sequence>)".to_owned());
        }
    }
    Some(text)
}

/// The string literal `text` starts with, when all that follows it is a cast
/// to a type (`'x'::text`, `'{}'::character varying[]`).
fn literal_without_cast(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('\'')?;
    let mut end = None;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, c)| *c == '\'') {
                chars.next();
            } else {
                end = Some(i + 2);
                break;
            }
        }
    }
    let end = end?;
    let cast = text[end..].strip_prefix("::")?;
    let is_type = !cast.is_empty() && cast.chars().all(|c| is_word(c) || " ()[],.\"".contains(c));
    is_type.then(|| &text[..end])
}

/// Whether `name` (of a constraint or index on `table` over `columns`) is
/// one the database made up rather than one a migration chose:
/// PostgreSQL's `<table>_<columns>_key`/`_fkey`/`_pkey`/`_check`/`_idx`/`_excl`
/// (with a number when taken), MySQL's `<table>_ibfk_N` and `<table>_chk_N`,
/// `PRIMARY`, and an index named after its first column; MariaDB's
/// `CONSTRAINT_N`; SQLite's `sqlite_autoindex_*`.
pub(crate) fn generated_name(name: &str, table: &str, columns: &[String]) -> bool {
    let table = table.rsplit('.').next().unwrap_or(table);
    let without_number = |text: &str| text.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned();
    let numbered = |text: &str, prefix: &str| {
        text.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    if name.starts_with("sqlite_autoindex_") || name == "PRIMARY" || numbered(name, "CONSTRAINT_") {
        return true;
    }
    if let Some(rest) = name.strip_prefix(&format!("{table}_")) {
        const SUFFIXES: [&str; 7] = ["_key", "_fkey", "_pkey", "_check", "_idx", "_excl", "_not_null"];
        let bare = without_number(rest);
        if SUFFIXES.iter().any(|suffix| bare.ends_with(suffix)) || bare == "pkey" {
            return true;
        }
        if numbered(rest, "ibfk_") || numbered(rest, "chk_") {
            return true;
        }
    }
    columns.first().is_some_and(|first| name == first || numbered(name, &format!("{first}_")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_case_and_outer_parentheses_mean_nothing() {
        assert_eq!(sql("((price  >  0))"), "price>0");
        assert_eq!(sql("SELECT a,\n  b FROM t WHERE x = 'A b'"), "select a,b from t where x='A b'");
        assert_eq!(sql("(a) + (b)"), "(a)+(b)");
        assert_eq!(sql("\"email\" = \"Email\""), "email=\"Email\"");
        assert_eq!(sql("select 1 -- note\n"), "select 1");
    }

    #[test]
    fn defaults_lose_the_spellings_a_database_adds() {
        assert_eq!(default(Some("'x'::text"), "t", "c", false), Some("'x'".to_owned()));
        assert_eq!(default(Some("'{}'::character varying[]"), "t", "c", false), Some("'{}'".to_owned()));
        assert_eq!(default(Some("NULL"), "t", "c", true), None);
        assert_eq!(default(Some("NULL"), "t", "c", false), Some("null".to_owned()));
        assert_eq!(
            default(Some("nextval('users_id_seq1'::regclass)"), "users", "id", false),
            Some("nextval(<own sequence>)".to_owned())
        );
        assert_eq!(
            default(Some("nextval('other_seq'::regclass)"), "users", "id", false),
            Some("nextval('other_seq'::regclass)".to_owned())
        );
    }

    #[test]
    fn generated_names_are_recognised() {
        let email = ["email".to_owned()];
        for name in ["users_email_key", "users_email_key1", "users_pkey", "users_org_id_fkey", "users_email_idx"] {
            assert!(generated_name(name, "users", &email), "{name}");
        }
        for name in ["users_ibfk_1", "users_chk_2", "PRIMARY", "CONSTRAINT_1", "sqlite_autoindex_users_1", "email"] {
            assert!(generated_name(name, "users", &email), "{name}");
        }
        assert!(generated_name("email_2", "users", &email));
        assert!(generated_name("users_email_key", "public.users", &email));
        for name in ["unique_email", "by_email", "users_by_email", "fk_users_org"] {
            assert!(!generated_name(name, "users", &email), "{name}");
        }
    }
}
