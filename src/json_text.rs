//! Stored JSON values as text: checked, and written compactly, each number
//! exactly as stored (a `serde_json::Value` would read an integer beyond
//! 64 bits as a float).

use zeroize::Zeroizing;

/// Whether `json` is one JSON value that serde_json reads (whitespace
/// around it allowed): what [`serde_json::Value`] accepts (nesting up to
/// 127 levels, numbers in range, `\u` escapes of paired surrogates), read
/// without keeping a copy.
pub(crate) fn is_valid(json: &str) -> bool {
    serde_json::from_str::<Checked>(json).is_ok()
}

/// A JSON value read through and kept nowhere. `IgnoredAny` would not do:
/// serde_json skips it without the checks above.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> serde::de::Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i128<E>(self, _: i128) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u128<E>(self, _: u128) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
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

    #[test]
    fn what_serde_json_value_refuses_is_not_valid_and_what_it_reads_is() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for bad in [
            "\"\\ud800\"".to_owned(),
            "\"\\udc00\\ud800\"".to_owned(),
            "1e400".to_owned(),
            "[-1e400]".to_owned(),
            nested(128),
            nested(1_000_000),
            format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)),
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(&bad).is_err());
            assert!(!is_valid(&bad), "{:.40}", bad);
        }
        for good in [
            "\"\\ud83d\\ude00\"".to_owned(),
            "340282366920938463463374607431768211455".to_owned(),
            "-170141183460469231731687303715884105728".to_owned(),
            "1e308".to_owned(),
            nested(127),
            "{\"a\":[null,true,1.5,\"x\"],\"a\":{}}".to_owned(),
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(&good).is_ok());
            assert!(is_valid(&good), "{:.40}", good);
        }
    }
}
