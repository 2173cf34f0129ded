//! Stored JSON values as text: checked, and written compactly, each number
//! exactly as stored (a `serde_json::Value` would read an integer beyond
//! 64 bits as a float).

use zeroize::Zeroizing;

/// Whether `json` is one valid JSON value (whitespace around it allowed).
pub(crate) fn is_valid(json: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()
}

/// Appends valid JSON text `json` to `out` without the whitespace outside
/// its strings: the same value, on one line.
pub(crate) fn push_compact(json: &str, out: &mut Zeroizing<String>) {
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_goes_outside_strings_only() {
        let json = " {\n \"a b\" : [ 1 ,\t\"x\\\" y\\n\" ] ,\r\n \"c\":340282366920938463463374607431768211455 }   ";
        assert!(is_valid(json));
        let mut out = Zeroizing::new(String::new());
        push_compact(json, &mut out);
        assert_eq!(
            out.as_str(),
            "{\"a b\":[1,\"x\\\" y\\n\"],\"c\":340282366920938463463374607431768211455}"
        );
        let a: serde_json::Value = serde_json::from_str(json).unwrap();
        let b: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn invalid_json_is_not_valid() {
        for bad in ["{", "1 2", "", "nul", "[1,]", "\"\\q\"", "{\"a\" 1}"] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
