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

/// Replaces the password of `scheme://user:password@host/...` by `****`,
/// and of a `password=` query parameter too. A password may hold `/`, `?`,
/// `#` or `@` unencoded, so everything up to the last `@` counts as user
/// information: when in doubt, more is hidden, never less.
pub fn redact(raw: &str) -> String {
    let mut out = match raw.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:****@{host}"),
                None => raw.to_owned(),
            },
            None => raw.to_owned(),
        },
        None => raw.to_owned(),
    };
    if let Some((before, query)) = out.split_once('?') {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("pass%77ord") => {
                    format!("{key}=****")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{before}?{}", query.join("&"));
    }
    out
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
    fn picks_the_backend_from_the_scheme() {
        assert_eq!(DatabaseUrl::parse("sqlite::memory:").unwrap().backend(), Backend::Sqlite);
        assert_eq!(DatabaseUrl::parse("postgres://h/d").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("mariadb://h/d").unwrap().backend(), Backend::MySql);
        let error = DatabaseUrl::parse("oracle://u:pw@h/d").unwrap_err().to_string();
        assert!(error.contains("oracle://u:****@h/d") && !error.contains("pw@"), "{error}");
    }
}
