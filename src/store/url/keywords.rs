//! libpq's keyword/value connection strings (`host=db dbname=app
//! password='a b'`): split into pairs, and printed without the password
//! and the TLS key's passphrase (`sslpassword`).
//!
//! The grammar is libpq's: pairs separated by whitespace, spaces allowed
//! around `=`, a value either single-quoted (with `\'` and `\\`) or running
//! to the next whitespace (with `\` escaping the next character).

use std::ops::Range;

/// The keywords libpq knows (a string naming none is not taken for one).
const LIBPQ_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "sslpassword",
    "passfile",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "target_session_attrs",
    "service",
];

pub(crate) fn is_libpq_key(key: &str) -> bool {
    LIBPQ_KEYS.contains(&key)
}

/// One pair: the key, the value (unescaped), and where the value's text
/// sits in the input (inside its quotes, if quoted).
struct Pair {
    key: String,
    value: String,
    raw: Range<usize>,
}

fn pairs(text: &str) -> Option<Vec<Pair>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i == bytes.len() {
            return Some(out);
        }
        let key_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i == key_start {
            return None;
        }
        let key = text[key_start..i].to_owned();
        i = skip_space(i);
        if bytes.get(i) != Some(&b'=') {
            return None;
        }
        i = skip_space(i + 1);
        let mut value = String::new();
        let raw;
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            let start = i;
            loop {
                match bytes.get(i)? {
                    b'\'' => break,
                    b'\\' => {
                        let next = text[i + 1..].chars().next()?;
                        value.push(next);
                        i += 1 + next.len_utf8();
                    }
                    _ => {
                        let c = text[i..].chars().next()?;
                        value.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            raw = start..i;
            i += 1;
        } else {
            let start = i;
            while let Some(c) = text[i..].chars().next() {
                if c.is_ascii_whitespace() {
                    break;
                }
                if c == '\\' {
                    let next = text[i + 1..].chars().next()?;
                    value.push(next);
                    i += 1 + next.len_utf8();
                } else {
                    value.push(c);
                    i += c.len_utf8();
                }
            }
            raw = start..i;
        }
        out.push(Pair { key, value, raw });
    }
}

/// The (key, value) pairs, or `None` if `text` is not keyword/value form.
pub(crate) fn parse(text: &str) -> Option<Vec<(String, String)>> {
    Some(
        pairs(text)?
            .into_iter()
            .map(|pair| (pair.key, pair.value))
            .collect(),
    )
}

/// Every secret value in `text` (the password, the TLS key's passphrase),
/// as written and as libpq reads it (quotes and escapes removed).
pub(crate) fn secrets(text: &str) -> Vec<String> {
    let Some(pairs) = pairs(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for pair in pairs
        .into_iter()
        .filter(|p| super::is_secret_parameter(&p.key))
    {
        found.push(text[pair.raw].to_owned());
        found.push(pair.value);
    }
    found
}

/// `text` without its password pair, the rest printed as `key=value`.
pub(crate) fn redact(text: &str) -> String {
    let Some(pairs) = pairs(text) else {
        return "<unprintable connection string>".to_owned();
    };
    pairs
        .iter()
        .filter(|pair| !super::is_secret_parameter(&pair.key))
        .map(|pair| {
            if pair.value.is_empty() || pair.value.contains([' ', '\'', '\\']) {
                let escaped = pair.value.replace('\\', "\\\\").replace('\'', "\\'");
                format!("{}='{escaped}'", pair.key)
            } else {
                format!("{}={}", pair.key, pair.value)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pairs_with_quotes_escapes_and_spaces_around_equals() {
        let pairs = parse("host=db  port = 5433 password='a \\'b\\' c' dbname=app\\ x").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("host".into(), "db".into()),
                ("port".into(), "5433".into()),
                ("password".into(), "a 'b' c".into()),
                ("dbname".into(), "app x".into()),
            ]
        );
        assert!(parse("host=db dbname='unterminated").is_none());
        assert!(parse("just words").is_none());
        assert!(parse("=x").is_none());
    }

    #[test]
    fn redaction_drops_the_password_pair_only() {
        let text = "host=db user=bob password='hunter 2' sslmode=verify-full";
        assert_eq!(redact(text), "host=db user=bob sslmode=verify-full");
        assert_eq!(secrets(text), ["hunter 2", "hunter 2"]);
        assert!(secrets("host=db").is_empty());
    }

    #[test]
    fn redaction_drops_the_tls_keys_passphrase_too() {
        let text = "host=db sslpassword='tls secret' sslkey=/k.pem password=pw dbname=app";
        assert_eq!(redact(text), "host=db sslkey=/k.pem dbname=app");
    }
}
