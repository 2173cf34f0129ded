//! The normalised inputs of an index: each covered field's value,
//! normalised and re-encoded canonically as JSON.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::index::IndexSpec;

/// The inputs of `spec` from field values (JSON encodings by name), in the
/// spec's field order; `None` when a covered field is missing, is not
/// JSON, or holds an integer beyond the 64-bit range (see
/// [`integers_exact`]). A JSON string is normalised; every value is
/// re-encoded, so the same value always gives the same bytes.
pub(crate) fn inputs<V: AsRef<[u8]>>(
    spec: &IndexSpec,
    values: &BTreeMap<String, V>,
) -> Option<Vec<Zeroizing<Vec<u8>>>> {
    spec.fields()
        .iter()
        .map(|field| {
            let raw = values.get(field)?;
            if !integers_exact(raw.as_ref()) {
                return None;
            }
            let value: serde_json::Value = serde_json::from_slice(raw.as_ref()).ok()?;
            let value = match value {
                serde_json::Value::String(s) => {
                    let s = Zeroizing::new(s);
                    serde_json::Value::String(spec.normalizer().apply(&s))
                }
                other => other,
            };
            let mut encoded = Zeroizing::new(Vec::with_capacity(64));
            canonical_json(&value, &mut encoded).ok()?;
            if let serde_json::Value::String(mut s) = value {
                zeroize::Zeroize::zeroize(&mut s);
            }
            Some(encoded)
        })
        .collect()
}

/// Whether every integer in the JSON text `json` (a number written without
/// a fraction or an exponent, outside strings) fits an `i64` or a `u64`.
/// serde_json reads a larger one as the nearest `f64`, so two different
/// such integers (`2^64` and `2^64 + 1`, from a `u128`) would give the same
/// input: a value holding one is not indexed, and a search for one is
/// refused, rather than a record returned for a value it does not hold.
pub(crate) fn integers_exact(json: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut at = 0;
    while at < json.len() {
        let byte = json[at];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            at += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                at += 1;
            }
            b'-' | b'0'..=b'9' => {
                let end = json[at..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(json.len(), |n| at + n);
                let token = &json[at..end];
                let integer = !token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
                if integer {
                    let fits = std::str::from_utf8(token)
                        .is_ok_and(|t| t.parse::<i64>().is_ok() || t.parse::<u64>().is_ok());
                    if !fits {
                        return false;
                    }
                }
                at = end;
            }
            _ => at += 1,
        }
    }
    true
}

/// Writes `value` as compact JSON with every object's keys in byte order,
/// whatever order the object holds them in: a `serde_json::Map` keeps
/// insertion order when any crate in the build enables serde_json's
/// `preserve_order` feature, and must not change an index value.
fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                canonical_json(item, out)?;
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Normalize;

    /// The index input of a number is its text as FORMAT.md spells it
    /// (serde_json 1.0.147 on, whose float formatting the manifest's
    /// minimum version pins: the older one wrote `1e20`, and an index
    /// computed by one build would not find records of the other).
    #[test]
    fn numbers_are_written_as_format_md_specifies() {
        for (value, text) in [
            (serde_json::json!(1e20), "1e+20"),
            (serde_json::json!(1.5e-7), "1.5e-7"),
            (serde_json::json!(1e-5), "0.00001"),
            (serde_json::json!(1e16), "1e+16"),
            (serde_json::json!(1e15), "1000000000000000.0"),
            (serde_json::json!(1.0), "1.0"),
            (serde_json::json!(-0.0), "-0.0"),
            (serde_json::json!(0.1), "0.1"),
            (
                serde_json::json!(1.2345678901234568e20),
                "1.2345678901234568e+20",
            ),
            (serde_json::json!(u64::MAX), "18446744073709551615"),
            (serde_json::json!(-7), "-7"),
        ] {
            let mut out = Vec::new();
            canonical_json(&value, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn integers_beyond_64_bits_are_found_anywhere_outside_strings() {
        let big = (1u128 << 64).to_string();
        for exact in [
            "0".to_owned(),
            i64::MIN.to_string(),
            u64::MAX.to_string(),
            "1.5e300".to_owned(),
            "-0.0".to_owned(),
            format!("\"{big}\""),
            format!("{{\"{big}\":1}}"),
            format!("[\"a\\\"{big}\", 2]"),
            "[1,2,{\"a\":-3}]".to_owned(),
            "123456789012345678901234567890.0".to_owned(),
        ] {
            assert!(integers_exact(exact.as_bytes()), "{exact}");
        }
        for lossy in [
            big.clone(),
            format!("-{big}"),
            format!("[1, {big}]"),
            format!("{{\"a\":{{\"b\":{big}}}}}"),
            (i128::MIN).to_string(),
        ] {
            assert!(!integers_exact(lossy.as_bytes()), "{lossy}");
        }
    }

    #[test]
    fn strings_are_normalised_and_everything_is_canonical() {
        let spec = IndexSpec::new("i", ["a", "b"]).normalize(Normalize::Lowercase);
        let mut values = BTreeMap::new();
        values.insert("a".to_owned(), br#""AdA""#.to_vec());
        values.insert("b".to_owned(), b"{ \"y\": 1, \"x\": 2 }".to_vec());
        let got = inputs(&spec, &values).unwrap();
        assert_eq!(&got[0][..], br#""ada""#);
        assert_eq!(&got[1][..], br#"{"x":2,"y":1}"#);
        // Nested objects too, and arrays keep their order.
        values.insert(
            "b".to_owned(),
            br#"{"z":[3,{"q":1,"p":[2,1]}],"a":"x"}"#.to_vec(),
        );
        assert_eq!(
            &inputs(&spec, &values).unwrap()[1][..],
            br#"{"a":"x","z":[3,{"p":[2,1],"q":1}]}"#
        );
        values.remove("b");
        assert!(inputs(&spec, &values).is_none());
    }

    #[test]
    fn numbers_keep_their_form_and_nested_strings_are_not_normalised() {
        // SECURITY.md: `1` and `1.0` are different values; a string inside
        // an array or object is not normalised.
        let spec = IndexSpec::new("i", ["a"]).normalize(Normalize::Lowercase);
        let input = |json: &[u8]| {
            let mut values = BTreeMap::new();
            values.insert("a".to_owned(), json.to_vec());
            inputs(&spec, &values).unwrap()[0].to_vec()
        };
        assert_ne!(input(b"1"), input(b"1.0"));
        assert_eq!(input(br#"["AbC"]"#), br#"["AbC"]"#.to_vec());
        assert_eq!(input(br#"{"k":"AbC"}"#), br#"{"k":"AbC"}"#.to_vec());
        assert_eq!(input(br#""AbC""#), br#""abc""#.to_vec());
    }
}
