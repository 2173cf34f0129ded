//! Database URLs: which backend, where, and a form safe to print.

mod keywords;

use std::fmt;

use crate::error::{Error, Result};

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DatabaseUrl {
    /// An SQLite file (created if absent).
    SqliteFile(String),
    /// A private in-memory SQLite database.
    SqliteMemory,
    /// A PostgreSQL connection string (passed to libpq unchanged).
    Postgres(String),
    /// A libpq keyword/value connection string (`host=… dbname=…`), passed
    /// to libpq unchanged.
    PostgresKeywords(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH`, `sqlite::memory:`, `postgres://…` /
    /// `postgresql://…` and libpq's keyword/value form (`host=db
    /// dbname=app user=app sslmode=verify-full`).
    pub(crate) fn parse(url: &str) -> Result<Self> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(DatabaseUrl::SqliteMemory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(Error::InvalidUrl {
                    url: redact(url),
                    reason: "sqlite:// needs a file path",
                });
            }
            return Ok(DatabaseUrl::SqliteFile(path.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if !url.contains("://") {
            if let Some(pairs) = keywords::parse(url) {
                if pairs.iter().any(|(key, _)| keywords::is_libpq_key(key)) {
                    return Ok(DatabaseUrl::PostgresKeywords(url.to_owned()));
                }
            }
        }
        Err(Error::InvalidUrl {
            url: redact(url),
            reason: "expected sqlite://PATH, sqlite::memory:, postgres://… or libpq keywords (host=… dbname=…)",
        })
    }

    /// What to pass to diesel's `establish`.
    pub(crate) fn connection_string(&self) -> &str {
        match self {
            DatabaseUrl::SqliteFile(path) => path,
            DatabaseUrl::SqliteMemory => ":memory:",
            DatabaseUrl::Postgres(url) | DatabaseUrl::PostgresKeywords(url) => url,
        }
    }

    /// Whether this is a PostgreSQL database.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(
            self,
            DatabaseUrl::Postgres(_) | DatabaseUrl::PostgresKeywords(_)
        )
    }

    /// The connection string for libpq with `connect_timeout` added when it
    /// does not set one (libpq's own default is to wait for the operating
    /// system, minutes on an unanswered host). libpq counts whole seconds,
    /// at least 2.
    pub(crate) fn postgres_with_timeout(&self, timeout: std::time::Duration) -> Option<String> {
        let seconds = timeout.as_secs_f64().ceil().max(2.0) as u64;
        match self {
            DatabaseUrl::Postgres(url) => {
                let query = url.split_once('?').map_or("", |(_, q)| q);
                if query
                    .split('&')
                    .any(|kv| kv.starts_with("connect_timeout="))
                {
                    Some(url.clone())
                } else {
                    let sep = if url.contains('?') { '&' } else { '?' };
                    Some(format!("{url}{sep}connect_timeout={seconds}"))
                }
            }
            DatabaseUrl::PostgresKeywords(text) => {
                let pairs = keywords::parse(text).unwrap_or_default();
                if pairs.iter().any(|(key, _)| key == "connect_timeout") {
                    Some(text.clone())
                } else {
                    Some(format!("{text} connect_timeout={seconds}"))
                }
            }
            _ => None,
        }
    }

    /// The URL without its password: scheme, user, host, port, database.
    pub(crate) fn redacted(&self) -> String {
        match self {
            DatabaseUrl::SqliteFile(path) => format!("sqlite://{path}"),
            DatabaseUrl::SqliteMemory => "sqlite::memory:".to_owned(),
            DatabaseUrl::Postgres(url) => redact(url),
            DatabaseUrl::PostgresKeywords(text) => keywords::redact(text),
        }
    }

    /// Every secret in the URL, to scrub from driver messages: the
    /// password in the user information and every `password` or
    /// `sslpassword` parameter (of a URL's query or a keyword string),
    /// each as written and percent-decoded (libpq echoes either), longest
    /// first, none empty.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut found = Vec::new();
        match self {
            DatabaseUrl::Postgres(url) => {
                found.extend(userinfo_password(url).map(str::to_owned));
                if let Some((_, query)) = url.split_once('?') {
                    for kv in query.split('&') {
                        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
                        if is_secret_parameter(key) {
                            found.push(value.to_owned());
                        }
                    }
                }
                let decoded: Vec<String> =
                    found.iter().filter_map(|s| percent_decoded(s)).collect();
                found.extend(decoded);
            }
            DatabaseUrl::PostgresKeywords(text) => found = keywords::secrets(text),
            _ => {}
        }
        found.retain(|s| !s.is_empty());
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        found.dedup();
        found
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The password in a URL's user information (`scheme://user:password@…`),
/// as written.
fn userinfo_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo.split_once(':').map(|(_, pw)| pw)
}

/// `text` with its `%XX` escapes decoded, if it has any and they all
/// decode to UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a libpq parameter holds a secret: the password, and the
/// passphrase of the client's TLS key (`sslpassword`). A URL's parameter
/// names count as libpq reads them, percent-decoded (`pass%77ord` is
/// `password`); a name that does not decode counts as a secret too.
pub(crate) fn is_secret_parameter(key: &str) -> bool {
    let decoded = if key.contains('%') {
        match percent_decoded(key) {
            Some(decoded) => decoded,
            None => return true,
        }
    } else {
        key.to_owned()
    };
    matches!(
        decoded.to_ascii_lowercase().as_str(),
        "password" | "sslpassword"
    )
}

/// Removes the password from `scheme://user:password@host…` and any
/// `password=` or `sslpassword=` query parameter; the rest is kept.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return if url.contains('@') || url.contains("password") {
            "<unprintable url>".to_owned()
        } else {
            url.to_owned()
        };
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !is_secret_parameter(kv.split('=').next().unwrap_or(kv)))
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:").unwrap(),
            DatabaseUrl::SqliteMemory
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/s.db").unwrap(),
            DatabaseUrl::SqliteFile("data/s.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///abs/s.db").unwrap(),
            DatabaseUrl::SqliteFile("/abs/s.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://root@h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn libpq_keywords_are_postgres_and_get_a_connect_timeout() {
        use std::time::Duration;
        let url = DatabaseUrl::parse("host=db dbname=app password='p w'").unwrap();
        assert!(url.is_postgres());
        assert_eq!(url.secrets(), ["p w"]);
        assert_eq!(url.redacted(), "host=db dbname=app");
        assert_eq!(
            url.postgres_with_timeout(Duration::from_millis(200))
                .unwrap(),
            "host=db dbname=app password='p w' connect_timeout=2"
        );
        let own = DatabaseUrl::parse("host=db connect_timeout=9").unwrap();
        assert_eq!(
            own.postgres_with_timeout(Duration::from_secs(5)).unwrap(),
            "host=db connect_timeout=9"
        );
        let url = DatabaseUrl::parse("postgres://h/app").unwrap();
        assert_eq!(
            url.postgres_with_timeout(Duration::from_secs(5)).unwrap(),
            "postgres://h/app?connect_timeout=5"
        );
        let url = DatabaseUrl::parse("postgres://h/app?sslmode=require").unwrap();
        assert_eq!(
            url.postgres_with_timeout(Duration::from_millis(4500))
                .unwrap(),
            "postgres://h/app?sslmode=require&connect_timeout=5"
        );
        let url = DatabaseUrl::parse("postgres://h/app?connect_timeout=1").unwrap();
        assert_eq!(
            url.postgres_with_timeout(Duration::from_secs(5)).unwrap(),
            "postgres://h/app?connect_timeout=1"
        );
        assert!(DatabaseUrl::parse("no equals here").is_err());
        assert!(DatabaseUrl::parse("color=blue").is_err());
    }

    #[test]
    fn redaction_drops_passwords_only() {
        assert_eq!(
            redact("postgres://bob:hunter2@db.example:5433/app"),
            "postgres://bob@db.example:5433/app"
        );
        assert_eq!(
            redact("postgres://db:5432/app?sslmode=require&password=hunter2"),
            "postgres://db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact("postgres://db/app?sslpassword=tls-secret&sslmode=verify-full&PASSWORD=x"),
            "postgres://db/app?sslmode=verify-full"
        );
        // libpq decodes parameter names: an encoded `password` is one.
        assert_eq!(
            redact("postgres://db/app?pass%77ord=hunter2&sslmode=require&SSL%70assword=x"),
            "postgres://db/app?sslmode=require"
        );
        let url = DatabaseUrl::parse("postgres://db/app?pass%77ord=hunt%65r2").unwrap();
        assert_eq!(url.secrets(), ["hunt%65r2", "hunter2"]);
        assert_eq!(redact("postgres://bob@h/app"), "postgres://bob@h/app");
        assert_eq!(redact("postgres://b:p@ss@h/app"), "postgres://b@h/app");
        let url = DatabaseUrl::parse("postgres://bob:hunter2@h:1/app").unwrap();
        assert_eq!(url.secrets(), ["hunter2"]);
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
