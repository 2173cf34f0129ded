//! The normalised inputs of an index: each covered field's value,
//! normalised and re-encoded canonically as JSON.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::index::IndexSpec;

/// The inputs of `spec` from field values (JSON encodings by name), in the
/// spec's field order; `None` when a covered field is missing or is not
/// JSON. A JSON string is normalised; every value is re-encoded, so the
/// same value always gives the same bytes.
pub(crate) fn inputs<V: AsRef<[u8]>>(
    spec: &IndexSpec,
    values: &BTreeMap<String, V>,
) -> Option<Vec<Zeroizing<Vec<u8>>>> {
    spec.fields()
        .iter()
        .map(|field| {
            let raw = values.get(field)?;
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
