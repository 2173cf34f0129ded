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
                // The query as libpq finds it: a `?` in the password is not
                // its start.
                let parts = UrlParts::split(url);
                let has_query = parts.as_ref().is_some_and(|p| p.tail.contains('?'));
                let query = parts.map_or("", |p| p.query());
                if query
                    .split('&')
                    .any(|kv| kv.starts_with("connect_timeout="))
                {
                    Some(url.clone())
                } else {
                    let sep = if has_query { '&' } else { '?' };
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
    /// password in the user information, every `password`, `sslpassword`
    /// or `oauth_client_secret` parameter (of a URL's query or a keyword
    /// string) and, for a URL libpq may read otherwise than it looks, each
    /// of its pieces; each as written and percent-decoded (libpq echoes
    /// either), longest first, none empty.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut found = Vec::new();
        match self {
            DatabaseUrl::Postgres(url) => {
                if let Some(parts) = UrlParts::split(url) {
                    found.extend(parts.password().map(str::to_owned));
                    for kv in parts.query().split('&') {
                        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
                        if is_secret_parameter(key) {
                            found.push(value.to_owned());
                        }
                    }
                    found.extend(parts.ambiguous_pieces());
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

/// A `postgres://` URL split as libpq splits it (`fe-connect.c`): the
/// user information runs from `://` to the first `@`, unless a `/` comes
/// first (a `?` does not end it, and the password runs to that `@`); the
/// host part from there to the first `/` or `?`; then the database and
/// the query.
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    /// `/database?query`, `?query` or nothing.
    tail: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let (userinfo, after) = match rest.find(['@', '/']) {
            Some(at) if rest.as_bytes()[at] == b'@' => (Some(&rest[..at]), &rest[at + 1..]),
            _ => (None, rest),
        };
        let (host, tail) = match after.find(['/', '?']) {
            Some(end) => after.split_at(end),
            None => (after, ""),
        };
        Some(UrlParts {
            scheme,
            userinfo,
            host,
            tail,
        })
    }

    /// The user information's password, as written.
    fn password(&self) -> Option<&'a str> {
        self.userinfo?.split_once(':').map(|(_, password)| password)
    }

    /// The query (after the first `?` past the user information).
    fn query(&self) -> &'a str {
        self.tail.split_once('?').map_or("", |(_, query)| query)
    }

    /// Whether libpq may read part of what was meant as a password as
    /// something else: an `@` past the user information (a password with
    /// `@`, `/` or `?` before the host, or a forgotten host), a query
    /// reaching past an `@` (`h?password=a@b`, read as user information),
    /// or a port that is not a number (`user:password/db`). Such a URL is never
    /// printed, and its pieces are scrubbed from the driver's messages.
    fn ambiguous(&self) -> bool {
        let port_is_not_a_number = self.host.split(',').any(|host| {
            let host = match host.rfind(']') {
                Some(end) => &host[end + 1..],
                None => host,
            };
            host.split_once(':')
                .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()))
        });
        // A query that reaches past an `@` in its values (`h?password=a@b`)
        // reads, to libpq, as user information up to that `@`.
        let query_in_userinfo = self
            .userinfo
            .and_then(|userinfo| userinfo.split_once('?'))
            .is_some_and(|(_, after)| after.contains('='));
        // A second `?`, or a parameter with a second `=`
        // (`app?sslmode=require?password=x`), is a query libpq refuses,
        // and the name it was meant to sit under is anyone's guess.
        let query = self.query();
        let malformed_query =
            query.contains('?') || query.split('&').any(|kv| kv.matches('=').count() > 1);
        self.host.contains('@')
            || self.tail.contains('@')
            || port_is_not_a_number
            || query_in_userinfo
            || malformed_query
    }

    /// For an ambiguous URL: everything after `://`, whole and in the
    /// pieces libpq may quote (a host name libpq reads may be the tail of
    /// a password, so nothing of such a URL is taken as safe to print).
    fn ambiguous_pieces(&self) -> Vec<String> {
        if !self.ambiguous() {
            return Vec::new();
        }
        let rest = match self.userinfo {
            Some(userinfo) => format!("{userinfo}@{}{}", self.host, self.tail),
            None => format!("{}{}", self.host, self.tail),
        };
        let mut pieces: Vec<String> = rest
            .split([':', '/', '@', '?', ',', '&', '='])
            .filter(|piece| !piece.is_empty())
            .map(str::to_owned)
            .collect();
        pieces.push(rest);
        pieces
    }
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

/// Whether a libpq parameter holds a secret: those libpq itself hides
/// (its `"*"` options): the password, the passphrase of the client's TLS
/// key (`sslpassword`) and the OAuth client secret. A URL's parameter
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
        "password" | "sslpassword" | "oauth_client_secret"
    )
}

/// Removes the password from `scheme://user:password@host…` (as libpq
/// reads the URL) and any secret query parameter; the rest is kept. A URL
/// libpq may read otherwise than it looks ([`UrlParts::ambiguous`]) is
/// `<unprintable url>`.
pub(crate) fn redact(url: &str) -> String {
    let Some(parts) = UrlParts::split(url) else {
        return if url.contains('@') || url.contains("password") {
            "<unprintable url>".to_owned()
        } else {
            url.to_owned()
        };
    };
    if parts.ambiguous() {
        return "<unprintable url>".to_owned();
    }
    let authority = match parts.userinfo {
        Some(userinfo) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{}", parts.host)
        }
        None => parts.host.to_owned(),
    };
    let tail = match parts.tail.split_once('?') {
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
        None => parts.tail.to_owned(),
    };
    format!("{}://{authority}{tail}", parts.scheme)
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
        // libpq reads host `ss@h` here: not printed at all.
        assert_eq!(redact("postgres://b:p@ss@h/app"), "<unprintable url>");
        let url = DatabaseUrl::parse("postgres://bob:hunter2@h:1/app").unwrap();
        assert_eq!(url.secrets(), ["hunter2"]);
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    /// libpq ends the user information at the first `@` (unless a `/`
    /// comes first), not at a `?`; a URL it may read otherwise than it
    /// looks is never printed, and its pieces are scrubbed.
    #[test]
    fn passwords_are_found_where_libpq_finds_them() {
        use std::time::Duration;
        let url = DatabaseUrl::parse("postgres://bob:pa?ss@h:5432/app").unwrap();
        assert_eq!(url.redacted(), "postgres://bob@h:5432/app");
        assert_eq!(url.secrets(), ["pa?ss"]);
        assert_eq!(
            url.postgres_with_timeout(Duration::from_secs(5)).unwrap(),
            "postgres://bob:pa?ss@h:5432/app?connect_timeout=5"
        );
        let url = DatabaseUrl::parse("postgres://bob:pa?ss@h/app?sslmode=require").unwrap();
        assert_eq!(
            url.postgres_with_timeout(Duration::from_secs(5)).unwrap(),
            "postgres://bob:pa?ss@h/app?sslmode=require&connect_timeout=5"
        );
        for (written, quoted) in [
            ("postgres://h?password=s3cr@t0p", "t0p"),
            ("postgres://h:5432?password=a@b", "b"),
            ("postgres://bob:head@tail@h/app", "tail"),
            ("postgres://bob:sl/ash@h/app", "sl"),
            ("postgres://bob:a/b?c@h/app", "c"),
            ("postgres://bob:secret/app", "secret"),
            (
                "postgres://h/app?sslmode=require?password=hunter2",
                "hunter2",
            ),
            (
                "postgres://h/app?sslmode=require=password=hunter2",
                "hunter2",
            ),
            (
                "postgres://h/app?application_name=x&user=a?password=hunter2",
                "hunter2",
            ),
        ] {
            let url = DatabaseUrl::parse(written).unwrap();
            assert_eq!(url.redacted(), "<unprintable url>", "{written}");
            assert!(url.secrets().iter().any(|s| s == quoted), "{written}");
        }
        for fine in [
            "postgres://h:5432,h2:5433/app",
            "postgres://[::1]:5432/app",
            "postgres://bob@[::1]/app",
        ] {
            assert_eq!(DatabaseUrl::parse(fine).unwrap().redacted(), fine);
        }
        assert_eq!(
            redact("postgres://h/app?oauth_client_secret=s3&sslmode=require"),
            "postgres://h/app?sslmode=require"
        );
        let keywords = DatabaseUrl::parse("host=h oauth_client_secret=s3").unwrap();
        assert_eq!(keywords.redacted(), "host=h");
        assert_eq!(keywords.secrets(), ["s3"]);
    }
}
