//! Database URLs: which backend a URL names, and how to show it without its password.

use crate::backend::Backend;
use crate::error::{Error, Result};
use std::fmt;

/// A database URL. `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Reads a `sqlite:`, `postgres:` (or `postgresql:`) or `mysql:` (or `mariadb:`) URL.
    pub fn parse(raw: &str) -> Result<Self> {
        let scheme = raw.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let backend = match scheme.as_deref() {
            Some("sqlite") => Backend::Sqlite,
            Some("postgres" | "postgresql") => Backend::Postgres,
            Some("mysql" | "mariadb") => Backend::MySql,
            _ => {
                return Err(Error::UnsupportedUrl {
                    url: redact(raw),
                    reason: "it should start with sqlite:, postgres:, postgresql:, mysql: or mariadb:".to_owned(),
                });
            }
        };
        Ok(DatabaseUrl { raw: raw.to_owned(), backend })
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its password, for connecting. Never print it.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL with any password replaced by `****`.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }

    /// `text` with this URL, and every password it carries (as written and
    /// percent-decoded), replaced by `****`, and any other URL in it redacted:
    /// for the output of a command that was given the URL.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.replace(&self.raw, &self.redacted());
        for secret in secrets(&self.raw) {
            text = text.replace(&secret, "****");
        }
        redact_text(&text)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// Replaces every password in a database URL by `****`: the one in the user
/// information (`scheme://user:password@host/...`, and `user:password@host/...`
/// written without a scheme), and the value of every query parameter whose
/// name, percent-decoded, holds `pass` (`password=`, `p%61ssword=`,
/// `sslpassword=`). A password may hold `/`, `?`, `#` or `@` unencoded, so
/// everything up to the last `@` counts as user information: when in doubt,
/// more is hidden, never less.
pub fn redact(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(at) => raw.split_at(at + 3),
        None => ("", raw),
    };
    let mut out = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}{user}:****@{host}"),
            None => raw.to_owned(),
        },
        None => raw.to_owned(),
    };
    if let Some((before, query)) = out.split_once('?') {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if names_a_secret(key) => format!("{key}=****"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{before}?{}", query.join("&"));
    }
    out
}

/// Redacts, in free text such as a command's output or a usage error, every
/// word that looks like a database URL with a password (see [`redact`]).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            out.push_str(&redact_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&redact_word(&word));
    out
}

fn redact_word(word: &str) -> String {
    if word.contains('@') || word.contains('?') { redact(word) } else { word.to_owned() }
}

/// Whether a query parameter's name, percent-decoded and in any case, names a password.
fn names_a_secret(key: &str) -> bool {
    percent_decode(key).to_ascii_lowercase().contains("pass")
}

/// `%XX` escapes decoded (and `+` as a space, as in a query string); anything malformed is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The secrets a URL carries, as written and percent-decoded: its user
/// information's password and the values of its password parameters. Text
/// that holds one of them, such as the output of a command given the URL,
/// is cleaned with [`DatabaseUrl::scrub`].
fn secrets(raw: &str) -> Vec<String> {
    let mut found = Vec::new();
    let rest = raw.find("://").map_or(raw, |at| &raw[at + 3..]);
    if let Some((userinfo, _)) = rest.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        found.push(password.to_owned());
    }
    if let Some((_, query)) = raw.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && names_a_secret(key)
            {
                found.push(value.split('#').next().unwrap_or_default().to_owned());
            }
        }
    }
    let decoded: Vec<String> = found.iter().map(|s| percent_decode(s)).collect();
    found.extend(decoded);
    // Longest first, so a secret is never half-replaced by a shorter one inside it.
    found.retain(|s| !s.is_empty());
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_a_password() {
        assert_eq!(redact("postgres://app:s3cr3t@db:5432/prod"), "postgres://app:****@db:5432/prod");
        assert_eq!(
            redact("mysql://root:p%40ss@127.0.0.1/x?ssl-mode=required"),
            "mysql://root:****@127.0.0.1/x?ssl-mode=required"
        );
        assert_eq!(redact("postgres://db/prod?user=app&password=s3cr3t"), "postgres://db/prod?user=app&password=****");
        assert_eq!(redact("postgres://app@db/prod"), "postgres://app@db/prod");
        assert_eq!(redact("sqlite://migrations.db?mode=rwc"), "sqlite://migrations.db?mode=rwc");
        for password in ["pa/ss", "pa#ss", "pa?ss", "pa@ss", "p:a:ss"] {
            let shown = redact(&format!("postgres://app:{password}@db:5432/prod"));
            assert!(!shown.contains(password), "{password} leaked: {shown}");
            assert!(shown.starts_with("postgres://app:****@"), "{shown}");
        }
        let url = DatabaseUrl::parse("postgresql://u:hunter2@h/d").unwrap();
        assert!(!format!("{url} {url:?}").contains("hunter2"));
    }

    #[test]
    fn hides_every_password_form_sqlx_accepts() {
        let cases = [
            // No scheme: sqlx refuses it, and the error that says so must not show it.
            ("admin:hunter2@host/db", "admin:****@host/db"),
            ("admin:hunter2@host:5432/db?sslmode=disable", "admin:****@host:5432/db?sslmode=disable"),
            // Percent-encoded parameter names, which sqlx decodes to `password`.
            ("postgres://h/d?p%61ssword=hunter2", "postgres://h/d?p%61ssword=****"),
            (
                "postgres://h/d?%70%61%73%73%77%6F%72%64=hunter2&user=u",
                "postgres://h/d?%70%61%73%73%77%6F%72%64=****&user=u",
            ),
            ("postgres://h/d?PASSWORD=hunter2", "postgres://h/d?PASSWORD=****"),
            ("mysql://u@h/d?password=hunter2&ssl-mode=required", "mysql://u@h/d?password=****&ssl-mode=required"),
            ("postgres://h/d?sslpassword=hunter2", "postgres://h/d?sslpassword=****"),
            ("postgresql://:hunter2@h/d", "postgresql://:****@h/d"),
            ("mariadb://u:hun%40ter2@h/d", "mariadb://u:****@h/d"),
            ("postgres://u:a:b:hunter2@h/d?password=hunter2#x", "postgres://u:****@h/d?password=****"),
        ];
        for (raw, shown) in cases {
            assert_eq!(redact(raw), shown, "{raw}");
        }
        let error = DatabaseUrl::parse("admin:hunter2@host/db").unwrap_err().to_string();
        assert!(!error.contains("hunter2") && error.contains("admin:****@host/db"), "{error}");
    }

    #[test]
    fn scrubs_the_output_of_a_command_given_the_url() {
        let url = DatabaseUrl::parse("postgres://app:hun%40ter2@db/prod?password=other%21secret").unwrap();
        let output = "connecting to postgres://app:hun%40ter2@db/prod?password=other%21secret\n\
                      password was hun@ter2, then other!secret, echo $PGPASSWORD: hun%40ter2\n\
                      pg_dump: error: connection to server at \"db\" failed for postgres://app:hun@ter2@db/prod";
        let shown = url.scrub(output);
        for secret in ["hun%40ter2", "hun@ter2", "other%21secret", "other!secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres://app:****@db/prod"), "{shown}");
        assert_eq!(
            redact_text("unexpected argument 'admin:hunter2@host/db' found"),
            "unexpected argument 'admin:****@host/db' found"
        );
        assert_eq!(redact_text("applied by root@host in 3 ms?"), "applied by root@host in 3 ms?");
    }

    #[test]
    fn picks_the_backend_from_the_scheme() {
        assert_eq!(DatabaseUrl::parse("sqlite::memory:").unwrap().backend(), Backend::Sqlite);
        assert_eq!(DatabaseUrl::parse("postgres://h/d").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("mariadb://h/d").unwrap().backend(), Backend::MySql);
        let error = DatabaseUrl::parse("oracle://u:pw@h/d").unwrap_err().to_string();
        assert!(error.contains("oracle://u:****@h/d") && !error.contains("pw@"), "{error}");
    }
}
