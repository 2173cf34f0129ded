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
            let encoded = Zeroizing::new(serde_json::to_vec(&value).ok()?);
            if let serde_json::Value::String(mut s) = value {
                zeroize::Zeroize::zeroize(&mut s);
            }
            Some(encoded)
        })
        .collect()
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
        values.remove("b");
        assert!(inputs(&spec, &values).is_none());
    }
}
