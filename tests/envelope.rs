//! Field envelope: round trips (property tests) and the tamper matrix.
//! Every failure must be the one opaque `Error::Decryption`: no panic, no
//! plaintext.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use strongroom::hazmat::envelope::{self, Envelope, FieldContext};
use strongroom::hazmat::AccessKey;
use strongroom::{ClientId, Error, RecordId};

/// Opens an envelope given in its text form (`srf1.` + base64url): the
/// tampering below works on the text, as a user handling exports would.
fn open_text(ak: &AccessKey, ctx: &FieldContext<'_>, text: &str) -> strongroom::Result<Vec<u8>> {
    envelope::open_field(ak, ctx, &Envelope::from_text(text)?).map(|value| value.to_vec())
}

fn open_json_text<T: serde::de::DeserializeOwned>(
    ak: &AccessKey,
    ctx: &FieldContext<'_>,
    text: &str,
) -> strongroom::Result<T> {
    envelope::open_json(ak, ctx, &Envelope::from_text(text)?)
}

fn rewrap_text(
    from: &AccessKey,
    ctx: &FieldContext<'_>,
    to: &AccessKey,
    to_version: u32,
    text: &str,
) -> strongroom::Result<Envelope> {
    envelope::rewrap_field(from, ctx, to, to_version, &Envelope::from_text(text)?)
}

const SECRET: &[u8] = b"national id 1985-07-13-4421";

fn ctx() -> FieldContext<'static> {
    FieldContext {
        record_type: "patient",
        record_id: RecordId::random(),
        writer_id: ClientId::random(),
        field: "national_id",
        key_version: 1,
    }
}

/// Asserts the opaque error, and that the returned error's text and
/// `Debug` carry no plaintext.
fn assert_opaque(result: strongroom::Result<Vec<u8>>, what: &str) {
    match result {
        Err(err @ Error::Decryption) => {
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(!text.contains("1985"), "{what}: error text leaks: {text}");
            }
        }
        Err(other) => panic!("{what}: expected Error::Decryption, got {other:?}"),
        Ok(value) => panic!("{what}: opened to {} bytes instead of failing", value.len()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Visit {
    date: String,
    notes: Option<String>,
    codes: Vec<u32>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bytes_round_trip(
        value in proptest::collection::vec(any::<u8>(), 0..4096),
        record_type in "[a-z_]{1,24}",
        field in "\\PC{0,24}",
        key_version in any::<u32>(),
    ) {
        let ak = AccessKey::generate();
        let ctx = FieldContext { record_type: &record_type, field: &field, key_version, ..ctx() };
        let sealed = envelope::seal_field(&ak, &ctx, &value).unwrap();
        prop_assert!(sealed.to_text().as_str().starts_with(envelope::PREFIX));
        prop_assert_eq!(open_text(&ak, &ctx, sealed.to_text().as_str()).unwrap(), value);
    }

    #[test]
    fn json_round_trip(visits in proptest::collection::vec(
        ("\\PC{0,12}", proptest::option::of("\\PC{0,40}"), proptest::collection::vec(any::<u32>(), 0..4))
            .prop_map(|(date, notes, codes)| Visit { date, notes, codes }),
        0..6,
    )) {
        let ak = AccessKey::generate();
        let ctx = ctx();
        let sealed = envelope::seal_json(&ak, &ctx, &visits).unwrap();
        let back: Vec<Visit> = open_json_text(&ak, &ctx, sealed.to_text().as_str()).unwrap();
        prop_assert_eq!(back, visits);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,200}") {
        let ak = AccessKey::generate();
        let attempt = format!("{}{}", envelope::PREFIX, text);
        prop_assert!(matches!(open_text(&ak, &ctx(), &text), Err(Error::Decryption)));
        prop_assert!(matches!(open_text(&ak, &ctx(), &attempt), Err(Error::Decryption)));
    }
}

#[test]
fn same_value_seals_differently_each_time() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let a = envelope::seal_field(&ak, &ctx, SECRET).unwrap();
    let b = envelope::seal_field(&ak, &ctx, SECRET).unwrap();
    assert_ne!(a, b, "fresh data key and nonces per seal");
}

#[test]
fn envelope_debug_and_text_hold_no_plaintext() {
    let ak = AccessKey::generate();
    let sealed = envelope::seal_field(&ak, &ctx(), SECRET).unwrap();
    assert!(!format!("{sealed:?}").contains(&sealed.to_text().as_str()[5..20]));
    assert!(!sealed.to_text().as_str().contains("1985"));
}

#[test]
fn every_single_byte_flip_of_the_decoded_envelope_fails() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let sealed = envelope::seal_field(&ak, &ctx, SECRET).unwrap();
    let body = b64_decode(&sealed.to_text().as_str()[envelope::PREFIX.len()..]);
    let mut tried = 0;
    for i in 0..body.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = body.clone();
            bad[i] ^= mask;
            let text = format!("{}{}", envelope::PREFIX, b64_encode(&bad));
            assert_opaque(
                open_text(&ak, &ctx, &text),
                &format!("byte {i} ^ {mask:#x}"),
            );
            tried += 1;
        }
    }
    assert_eq!(tried, body.len() * 3);
    assert_eq!(
        body.len(),
        72 + 40 + SECRET.len(),
        "sealed DK + sealed value"
    );
}

#[test]
fn every_single_character_change_of_the_text_fails() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let text = envelope::seal_field(&ak, &ctx, SECRET).unwrap().to_text();
    for i in 0..text.len() {
        for replacement in ['A', '_', '=', ' ', 'é'] {
            let mut bad: Vec<char> = text.chars().collect();
            if bad[i] == replacement {
                continue;
            }
            bad[i] = replacement;
            let bad: String = bad.into_iter().collect();
            assert_opaque(
                open_text(&ak, &ctx, &bad),
                &format!("char {i} -> {replacement}"),
            );
        }
    }
}

#[test]
fn moved_envelopes_fail() {
    let ak = AccessKey::generate();
    let home = ctx();
    let sealed = envelope::seal_field(&ak, &home, SECRET).unwrap();
    let moves = [
        (
            "another field",
            FieldContext {
                field: "name",
                ..home
            },
        ),
        (
            "another record",
            FieldContext {
                record_id: RecordId::random(),
                ..home
            },
        ),
        (
            "another record type",
            FieldContext {
                record_type: "invoice",
                ..home
            },
        ),
        (
            "another writer",
            FieldContext {
                writer_id: ClientId::random(),
                ..home
            },
        ),
        (
            "another key version",
            FieldContext {
                key_version: 2,
                ..home
            },
        ),
    ];
    for (what, moved) in moves {
        assert_opaque(open_text(&ak, &moved, sealed.to_text().as_str()), what);
    }
    assert_eq!(
        open_text(&ak, &home, sealed.to_text().as_str()).unwrap(),
        SECRET
    );
}

#[test]
fn wrong_access_key_fails() {
    let sealed = envelope::seal_field(&AccessKey::generate(), &ctx(), SECRET).unwrap();
    assert_opaque(
        open_text(&AccessKey::generate(), &ctx(), sealed.to_text().as_str()),
        "wrong access key",
    );
}

#[test]
fn truncated_strings_fail() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let text = envelope::seal_field(&ak, &ctx, SECRET).unwrap().to_text();
    for len in 0..text.len() {
        assert_opaque(
            open_text(&ak, &ctx, &text[..len]),
            &format!("truncated to {len}"),
        );
    }
    let mut longer = text.clone();
    longer.push('A');
    assert_opaque(open_text(&ak, &ctx, &longer), "one char appended");
}

#[test]
fn bad_base64_fails() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let text = envelope::seal_field(&ak, &ctx, SECRET).unwrap().to_text();
    let body = &text[envelope::PREFIX.len()..];
    let standard_alphabet = body.replace('-', "+").replace('_', "/");
    for (what, bad) in [
        ("padding added", format!("{text}==")),
        (
            "standard alphabet",
            format!("{}{}", envelope::PREFIX, standard_alphabet),
        ),
        (
            "whitespace inside",
            format!("{}{} {}", envelope::PREFIX, &body[..10], &body[10..]),
        ),
        ("not base64", format!("{}!!!!", envelope::PREFIX)),
        ("empty body", envelope::PREFIX.to_owned()),
    ] {
        if bad == text {
            continue;
        }
        assert_opaque(open_text(&ak, &ctx, &bad), what);
    }
}

#[test]
fn unknown_versions_fail() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let text = envelope::seal_field(&ak, &ctx, SECRET).unwrap().to_text();
    let body = &text[envelope::PREFIX.len()..];
    for prefix in ["srf2.", "srf0.", "srf1:", "SRF1.", "", "srk1.", "srs1."] {
        assert_opaque(open_text(&ak, &ctx, &format!("{prefix}{body}")), prefix);
    }
}

#[test]
fn json_of_the_wrong_type_names_the_field_not_the_value() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let sealed = envelope::seal_json(&ak, &ctx, "secret-string-value").unwrap();
    let err = open_json_text::<u64>(&ak, &ctx, sealed.to_text().as_str()).unwrap_err();
    assert!(matches!(err, Error::ValueType { ref field } if field == "national_id"));
    assert!(!err.to_string().contains("secret-string-value"));
}

fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn rewrapping_moves_the_data_key_and_leaves_the_value_ciphertext_untouched() {
    let (old, new) = (AccessKey::generate(), AccessKey::generate());
    let ctx = ctx();
    let sealed = envelope::seal_field(&old, &ctx, SECRET).unwrap();
    let moved = rewrap_text(&old, &ctx, &new, 2, sealed.to_text().as_str()).unwrap();
    let (before, after) = (
        b64_decode(&sealed.to_text().as_str()[5..]),
        b64_decode(&moved.to_text().as_str()[5..]),
    );
    assert_eq!(
        before[72..],
        after[72..],
        "value nonce and ciphertext unchanged"
    );
    assert_ne!(before[..72], after[..72], "data key sealed anew");
    let v2 = FieldContext {
        key_version: 2,
        ..ctx
    };
    assert_eq!(
        open_text(&new, &v2, moved.to_text().as_str()).unwrap(),
        SECRET
    );
    // Neither the old key nor the old version opens it any more.
    assert_opaque(open_text(&old, &v2, moved.to_text().as_str()), "old key");
    assert_opaque(
        open_text(&new, &ctx, moved.to_text().as_str()),
        "old version",
    );
    assert_opaque(
        open_text(&old, &ctx, moved.to_text().as_str()),
        "old key and version",
    );
    // A wrong source key, a moved or a tampered envelope is refused.
    for (what, result) in [
        (
            "wrong key",
            rewrap_text(&new, &ctx, &new, 2, sealed.to_text().as_str()),
        ),
        (
            "moved",
            rewrap_text(
                &old,
                &FieldContext { field: "x", ..ctx },
                &new,
                2,
                sealed.to_text().as_str(),
            ),
        ),
        (
            "truncated",
            rewrap_text(&old, &ctx, &new, 2, &sealed.to_text().as_str()[..60]),
        ),
    ] {
        assert!(matches!(result, Err(Error::Decryption)), "{what}");
    }
    let mut body = before.clone();
    let last = body.len() - 1;
    body[last] ^= 1;
    let tampered = format!("{}{}", envelope::PREFIX, b64_encode(&body));
    assert!(matches!(
        rewrap_text(&old, &ctx, &new, 2, &tampered),
        Err(Error::Decryption)
    ));
}

#[test]
fn a_value_spliced_into_another_envelope_fails() {
    let ak = AccessKey::generate();
    let ctx = ctx();
    let a = b64_decode(
        &envelope::seal_field(&ak, &ctx, b"value a")
            .unwrap()
            .to_text()
            .as_str()[5..],
    );
    let b = b64_decode(
        &envelope::seal_field(&ak, &ctx, b"value b")
            .unwrap()
            .to_text()
            .as_str()[5..],
    );
    let mut spliced = a[..72].to_vec();
    spliced.extend_from_slice(&b[72..]);
    let text = format!("{}{}", envelope::PREFIX, b64_encode(&spliced));
    assert_opaque(
        open_text(&ak, &ctx, &text),
        "value of b under the data key of a",
    );
}
