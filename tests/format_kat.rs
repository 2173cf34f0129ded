//! Known answers for the byte layouts FORMAT.md specifies: the field AAD,
//! the HPKE `info` of a wrapped access key, the share grant signed message,
//! the meta-index tag and the blind index construction.
//!
//! Each layout is built here by hand, component by component, from
//! FORMAT.md's text ("Canonical encoding": `label`/`str`/`bytes` are a
//! 4-byte big-endian length and the bytes, `u32` is 4 bytes big-endian,
//! `uuid` the 16 raw bytes), and pinned as a hex constant. The constants
//! were computed independently of Rust (Python's `struct`, `uuid`,
//! `hashlib.blake2b` and `cryptography`'s Ed25519). Then the library is
//! shown to use exactly those bytes through its public API: an envelope
//! sealed by hand with the AADs opens (and with one byte changed does not),
//! a key wrapped by hand with the `info` unwraps (and the library's own
//! wraps open by hand), a grant signs to the same deterministic Ed25519
//! signature, and the tag is the one stored in the `meta_index` table.

mod common;

use base64::Engine;
use ed25519_dalek::Signer;
use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
use orion::hazardous::hpke::{ModeAuth, DHKEM_X25519_SHA256_CHACHA20};
use orion::hazardous::kem::x25519_hkdf_sha256::{PrivateKey, PublicKey};
use std::collections::BTreeMap;

use strongroom::hazmat::envelope::{self, Envelope, FieldContext};
use strongroom::hazmat::signature::{self, GrantKind, RecordSigner, ShareGrant};
use strongroom::hazmat::wrap::{self, WrapContext};
use strongroom::hazmat::{AccessKey, EncryptionSecretKey, SigningSecretKey};
use strongroom::{Client, ClientId, EncryptionPublicKey, Error, Fields, Plain, Query, RecordId};

type Hpke = ModeAuth<DHKEM_X25519_SHA256_CHACHA20>;

// The inputs every vector uses.
const RECORD_TYPE: &str = "patient";
const RECORD_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const WRITER_ID: &str = "6f1c2b3a-4d5e-4f60-8172-93a4b5c6d7e8";
const FIELD: &str = "national_id";
const READER_ID: &str = "2d3e4f50-6172-4384-95a6-b7c8d9eaf00b";
const WRAPPER_ID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f1a2b3c4d";

/// `dk_aad` of FORMAT.md "Field AAD" for key version 3.
const DK_AAD_V3: &str = "000000107374726f6e67726f6f6d2f6669656c64000000010000000770617469656e74\
                         0190a1b2c3d47e5f8a9b0c1d2e3f4a5b6f1c2b3a4d5e4f60817293a4b5c6d7e8\
                         0000000b6e6174696f6e616c5f69640000000100000003";
/// The same for key version 4 (after a re-wrap).
const DK_AAD_V4: &str = "000000107374726f6e67726f6f6d2f6669656c64000000010000000770617469656e74\
                         0190a1b2c3d47e5f8a9b0c1d2e3f4a5b6f1c2b3a4d5e4f60817293a4b5c6d7e8\
                         0000000b6e6174696f6e616c5f69640000000100000004";
/// `value_aad` of FORMAT.md "Field AAD" (no key version).
const VALUE_AAD: &str = "000000107374726f6e67726f6f6d2f6669656c64000000010000000770617469656e74\
                         0190a1b2c3d47e5f8a9b0c1d2e3f4a5b6f1c2b3a4d5e4f60817293a4b5c6d7e8\
                         0000000b6e6174696f6e616c5f696400000000";
/// `info` of FORMAT.md "Wrapped access key" for key version 3.
const WRAP_INFO_V3: &str = "000000157374726f6e67726f6f6d2f6163636573732d6b657900000001\
                            6f1c2b3a4d5e4f60817293a4b5c6d7e80000000770617469656e7400000003\
                            2d3e4f506172438495a6b7c8d9eaf00b9a8b7c6d5e4f4a3b8c2d1e0f1a2b3c4d";
/// The Ed25519 public key of the grant vectors' seed (bytes 1 to 32).
const GRANT_SIGNING_KEY: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
/// FORMAT.md "Share grant": a read grant for key version 5, signed by the
/// writer, that came through an authoriser (`via`).
const GRANT_READ_VIA: &str = "000000167374726f6e67726f6f6d2f73686172652d6772616e7400000001\
                              6f1c2b3a4d5e4f60817293a4b5c6d7e80000000770617469656e74\
                              2d3e4f506172438495a6b7c8d9eaf00b\
                              00000020404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\
                              0000000000000005\
                              6f1c2b3a4d5e4f60817293a4b5c6d7e8000000019a8b7c6d5e4f4a3b8c2d1e0f1a2b3c4d";
const GRANT_READ_VIA_SIGNATURE: &str =
    "srs1.NCVhCgo-zdBSaLxvXaxG_a1g4Fskk8YdjIBpiESCaqMypvtg9RVI7B5WhqkjYBY47Gt66Gn2-l8QeokORVHJDg";
/// An authoriser grant for key version 2, no `via`.
const GRANT_AUTHORIZE: &str = "000000167374726f6e67726f6f6d2f73686172652d6772616e7400000001\
                               6f1c2b3a4d5e4f60817293a4b5c6d7e80000000770617469656e74\
                               2d3e4f506172438495a6b7c8d9eaf00b\
                               00000020404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\
                               0000000100000002\
                               6f1c2b3a4d5e4f60817293a4b5c6d7e800000000";
const GRANT_AUTHORIZE_SIGNATURE: &str =
    "srs1.9hbXB--78MoxUwNmaIWswGjqTmmVlDOZPAZkgq__bfj-G9UxNq-lV1-TOo3R9KO0rtWTltqVVv5esrZww3R_CA";
/// FORMAT.md "Tables", `meta_index`: the encoding hashed and the tag, for
/// an ASCII entry and one with multi-byte UTF-8 (lengths are in bytes).
const META_TAGS: [(&str, &str, &str, i64); 2] = [
    (
        "clinic",
        "north",
        "000000157374726f6e67726f6f6d2f6d6574612d696e64657800000006636c696e6963000000056e6f727468",
        -1_791_823_008_258_084_960,
    ),
    (
        "städt",
        "Zürich ✓",
        "000000157374726f6e67726f6f6d2f6d6574612d696e646578000000067374c3a4647400\
         00000b5ac3bc7269636820e29c93",
        -1_158_473_396_781_077_116,
    ),
];

// The canonical encoding, written out by hand from FORMAT.md.

fn u32be(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// `label(s)`, `str(s)` and `bytes(b)`: a 4-byte big-endian length, then
/// the bytes.
fn prefixed(bytes: impl AsRef<[u8]>) -> Vec<u8> {
    let bytes = bytes.as_ref();
    [u32be(bytes.len() as u32), bytes.to_vec()].concat()
}

fn uuid(text: &str) -> Vec<u8> {
    uuid::Uuid::parse_str(text).unwrap().as_bytes().to_vec()
}

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// Hex constants are split over lines for reading; spaces are not data.
fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.replace(' ', "")).unwrap()
}

// Field AAD.

fn field_common() -> Vec<u8> {
    [
        prefixed("strongroom/field"),
        u32be(1),
        prefixed(RECORD_TYPE),
        uuid(RECORD_ID),
        uuid(WRITER_ID),
        prefixed(FIELD),
    ]
    .concat()
}

fn dk_aad(key_version: u32) -> Vec<u8> {
    [field_common(), u32be(1), u32be(key_version)].concat()
}

fn value_aad() -> Vec<u8> {
    [field_common(), u32be(0)].concat()
}

fn field_context(key_version: u32) -> FieldContext<'static> {
    FieldContext {
        record_type: RECORD_TYPE,
        record_id: id::<RecordId>(RECORD_ID),
        writer_id: id::<ClientId>(WRITER_ID),
        field: FIELD,
        key_version,
    }
}

/// XChaCha20-Poly1305 by hand: `nonce ‖ ciphertext ‖ tag`.
fn xseal(key: &[u8; 32], nonce: [u8; 24], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; plaintext.len() + 16];
    XChaCha20Poly1305::seal(
        &SecretKey::try_from(&key[..]).unwrap(),
        &Nonce::from(nonce),
        plaintext,
        Some(aad),
        &mut out,
    )
    .unwrap();
    [nonce.to_vec(), out].concat()
}

fn xopen(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; sealed.len() - 24 - 16];
    XChaCha20Poly1305::open(
        &SecretKey::try_from(&key[..]).unwrap(),
        &Nonce::try_from(&sealed[..24]).unwrap(),
        &sealed[24..],
        Some(aad),
        &mut out,
    )
    .unwrap();
    out
}

const ACCESS_KEY: [u8; 32] = [0x11; 32];
const DATA_KEY: [u8; 32] = [0x22; 32];
const VALUE: &[u8] = b"1985-07-13-4421";

/// An `srf1.` envelope sealed by hand (FORMAT.md "Field envelope") with
/// the given AADs.
fn envelope_by_hand(dk_aad: &[u8], value_aad: &[u8]) -> String {
    let body = [
        xseal(&ACCESS_KEY, [0x33; 24], &DATA_KEY, dk_aad),
        xseal(&DATA_KEY, [0x44; 24], VALUE, value_aad),
    ]
    .concat();
    format!("srf1.{}", b64(&body))
}

#[test]
fn the_field_aads_are_the_bytes_format_md_specifies() {
    assert_eq!(dk_aad(3), unhex(DK_AAD_V3));
    assert_eq!(dk_aad(4), unhex(DK_AAD_V4));
    assert_eq!(value_aad(), unhex(VALUE_AAD));
}

/// The envelope of [`envelope_by_hand`]'s inputs (access key 0x11…, data
/// key 0x22…, nonces 0x33… and 0x44…, `VALUE`, the key version 3 AADs),
/// computed outside Rust with libsodium's XChaCha20-Poly1305 (PyNaCl) from
/// FORMAT.md: a known answer for strongroom's envelope, not only for the
/// primitive.
const ENVELOPE_V3: &str = "srf1.MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzmIZVq1pJIRWgtgqG7M_c9KllXtxukVauyUa0WLI13WOy_UMz7ScZtsAEKBmalXMBREREREREREREREREREREREREREREREREj3ciS0XK3GN8AwIA99VtXQeOq1f6_3fQk8PiaSgvrA";

#[test]
fn the_library_opens_exactly_the_envelopes_sealed_with_those_aads() {
    let ak = AccessKey::from_bytes(ACCESS_KEY);
    let ctx = field_context(3);
    let text = envelope_by_hand(&unhex(DK_AAD_V3), &unhex(VALUE_AAD));
    assert_eq!(text, ENVELOPE_V3);
    let sealed = Envelope::from_text(&text).unwrap();
    assert_eq!(*envelope::open_field(&ak, &ctx, &sealed).unwrap(), VALUE);

    // Any other AAD, even one close to it, is refused: the library's AADs
    // are exactly the constants.
    let common = field_common();
    let variants: [(&str, Vec<u8>, Vec<u8>); 5] = [
        (
            "the value AAD carrying the key version",
            dk_aad(3),
            [value_aad(), u32be(3)].concat(),
        ),
        (
            "the data-key AAD without the key version",
            [common.clone(), u32be(1)].concat(),
            value_aad(),
        ),
        (
            "the roles swapped",
            [common.clone(), u32be(0), u32be(3)].concat(),
            [common.clone(), u32be(1)].concat(),
        ),
        ("another key version", dk_aad(4), value_aad()),
        (
            "format version 2",
            [
                prefixed("strongroom/field"),
                u32be(2),
                common[24..].to_vec(),
                u32be(1),
                u32be(3),
            ]
            .concat(),
            value_aad(),
        ),
    ];
    for (what, dk, value) in variants {
        let result = Envelope::from_text(&envelope_by_hand(&dk, &value))
            .and_then(|sealed| envelope::open_field(&ak, &ctx, &sealed));
        assert!(matches!(result, Err(Error::Decryption)), "{what}");
    }

    // A re-wrap to version 4 seals the same data key under the new access
    // key with the version-4 AAD, and keeps bytes 72.. as they were.
    let new_key = [0x55; 32];
    let moved =
        envelope::rewrap_field(&ak, &ctx, &AccessKey::from_bytes(new_key), 4, &sealed).unwrap();
    let (before, after) = (unb64(&text[5..]), moved.as_bytes().to_vec());
    assert_eq!(
        unb64(&moved.to_text()[5..]),
        after,
        "text form: base64url of the bytes"
    );
    assert_eq!(after.len(), 112 + VALUE.len());
    assert_eq!(after[72..], before[72..]);
    assert_eq!(xopen(&new_key, &after[..72], &unhex(DK_AAD_V4)), DATA_KEY);
}

// Wrapped access key.

fn wrap_info(key_version: u32) -> Vec<u8> {
    [
        prefixed("strongroom/access-key"),
        u32be(1),
        uuid(WRITER_ID),
        prefixed(RECORD_TYPE),
        u32be(key_version),
        uuid(READER_ID),
        uuid(WRAPPER_ID),
    ]
    .concat()
}

fn wrap_context(key_version: u32) -> WrapContext<'static> {
    WrapContext {
        writer_id: id(WRITER_ID),
        record_type: RECORD_TYPE,
        key_version,
        reader_id: id(READER_ID),
        wrapper_id: id(WRAPPER_ID),
    }
}

/// An X25519 secret key, clamped as RFC 7748 does.
fn x25519_secret(fill: u8) -> [u8; 32] {
    let mut key = [fill; 32];
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
    key
}

/// `srk1.` by hand (FORMAT.md "Wrapped access key"): HPKE auth mode with
/// `info`, the access key sealed once with `aad`.
fn wrap_by_hand(info: &[u8], aad: &[u8], reader: &PublicKey, wrapper: &PrivateKey) -> String {
    let mut sealed = [0u8; 48];
    let enc = Hpke::auth_seal(reader, info, wrapper, &ACCESS_KEY, aad, &mut sealed).unwrap();
    format!("srk1.{}", b64(&[enc.as_ref(), &sealed[..]].concat()))
}

#[test]
fn the_hpke_info_of_a_wrapped_access_key_is_the_bytes_format_md_specifies() {
    assert_eq!(wrap_info(3), unhex(WRAP_INFO_V3));

    let (reader_secret, wrapper_secret) = (x25519_secret(0x66), x25519_secret(0x77));
    let reader_orion = PrivateKey::try_from(&reader_secret[..]).unwrap();
    let wrapper_orion = PrivateKey::try_from(&wrapper_secret[..]).unwrap();
    let reader_public = PublicKey::try_from(&reader_orion).unwrap();
    let wrapper_public = PublicKey::try_from(&wrapper_orion).unwrap();
    let reader = EncryptionSecretKey::from_bytes(reader_secret);
    let wrapper = EncryptionSecretKey::from_bytes(wrapper_secret);
    assert_eq!(
        reader.public_key().unwrap().as_bytes()[..],
        reader_public.as_ref()[..]
    );
    let wrapper_key = EncryptionPublicKey::from_bytes(wrapper_public.as_ref().try_into().unwrap());
    let ctx = wrap_context(3);

    // Wrapped by hand with the constant as `info` and AAD: the library
    // unwraps it.
    let info = unhex(WRAP_INFO_V3);
    let text = wrap_by_hand(&info, &info, &reader_public, &wrapper_orion);
    let key = wrap::unwrap_access_key(&text, &ctx, &reader, &wrapper_key).unwrap();
    assert_eq!(key.unprotected_as_bytes(), &ACCESS_KEY);

    // Any other `info`, or the AAD left out, is refused.
    for (what, info, aad) in [
        ("another key version", wrap_info(4), wrap_info(4)),
        ("AAD empty", info.clone(), Vec::new()),
        ("info empty", Vec::new(), info.clone()),
    ] {
        let text = wrap_by_hand(&info, &aad, &reader_public, &wrapper_orion);
        let result = wrap::unwrap_access_key(&text, &ctx, &reader, &wrapper_key);
        assert!(matches!(result, Err(Error::Decryption)), "{what}");
    }

    // And what the library wraps opens by hand with the constant:
    // enc (32) ‖ sealed key (32) ‖ tag (16).
    let wrapped = wrap::wrap_access_key(
        &AccessKey::from_bytes(ACCESS_KEY),
        &ctx,
        &reader.public_key().unwrap(),
        &wrapper,
    )
    .unwrap();
    let body = unb64(wrapped.as_str().strip_prefix("srk1.").unwrap());
    assert_eq!(body.len(), 80);
    let enc = PublicKey::try_from(&body[..32]).unwrap();
    let mut opened = [0u8; 32];
    Hpke::auth_open(
        &enc,
        &reader_orion,
        &info,
        &wrapper_public,
        &body[32..],
        &info,
        &mut opened,
    )
    .unwrap();
    assert_eq!(opened, ACCESS_KEY);
}

// Share grant.

const GRANT_SEED: [u8; 32] = {
    let mut seed = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        seed[i] = i as u8 + 1;
        i += 1;
    }
    seed
};

fn reader_key() -> [u8; 32] {
    std::array::from_fn(|i| 0x40 + i as u8)
}

/// FORMAT.md "Share grant", by hand.
fn grant_message(kind: u32, key_version: u32, granted_by: &str, via: Option<&str>) -> Vec<u8> {
    [
        prefixed("strongroom/share-grant"),
        u32be(1),
        uuid(WRITER_ID),
        prefixed(RECORD_TYPE),
        uuid(READER_ID),
        prefixed(reader_key()),
        u32be(kind),
        u32be(key_version),
        uuid(granted_by),
        match via {
            None => u32be(0),
            Some(via) => [u32be(1), uuid(via)].concat(),
        },
    ]
    .concat()
}

#[test]
fn a_share_grant_signs_the_bytes_format_md_specifies() {
    let secret = SigningSecretKey::from_bytes(GRANT_SEED);
    assert_eq!(
        secret.public_key().as_bytes()[..],
        unhex(GRANT_SIGNING_KEY)[..]
    );
    let signer = RecordSigner::new(&secret).unwrap();
    let by_hand = ed25519_dalek::SigningKey::from_bytes(&GRANT_SEED);
    let grant = |kind, key_version, via| ShareGrant {
        writer_id: id(WRITER_ID),
        record_type: RECORD_TYPE,
        reader_id: id(READER_ID),
        reader_key: EncryptionPublicKey::from_bytes(reader_key()),
        kind,
        key_version,
        granted_by: id(WRITER_ID),
        via,
    };
    let cases = [
        (
            grant(GrantKind::Read, 5, Some(id(WRAPPER_ID))),
            grant_message(0, 5, WRITER_ID, Some(WRAPPER_ID)),
            GRANT_READ_VIA,
            GRANT_READ_VIA_SIGNATURE,
        ),
        (
            grant(GrantKind::Authorize, 2, None),
            grant_message(1, 2, WRITER_ID, None),
            GRANT_AUTHORIZE,
            GRANT_AUTHORIZE_SIGNATURE,
        ),
    ];
    for (grant, message, expected, expected_signature) in cases {
        assert_eq!(message, unhex(expected), "{grant:?}");
        // Ed25519 is deterministic: the library signs exactly these bytes.
        let signed_by_hand = format!("srs1.{}", b64(&by_hand.sign(&message).to_bytes()));
        assert_eq!(signed_by_hand, expected_signature, "{grant:?}");
        assert_eq!(signer.sign_grant(&grant).unwrap(), expected_signature);
        signature::verify_grant(&secret.public_key(), &grant, expected_signature).unwrap();
        // A signature over any other message is refused.
        let mut other = message.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        let wrong = format!("srs1.{}", b64(&by_hand.sign(&other).to_bytes()));
        assert!(
            matches!(
                signature::verify_grant(&secret.public_key(), &grant, &wrong),
                Err(Error::Decryption)
            ),
            "{grant:?}"
        );
        // The genuine signature verifies no grant with any part changed.
        let other_id = ClientId::random();
        let changed = [
            ShareGrant {
                kind: match grant.kind {
                    GrantKind::Read => GrantKind::Authorize,
                    _ => GrantKind::Read,
                },
                ..grant
            },
            ShareGrant {
                key_version: grant.key_version + 1,
                ..grant
            },
            ShareGrant {
                reader_key: EncryptionPublicKey::from_bytes([0x99; 32]),
                ..grant
            },
            ShareGrant {
                reader_id: other_id,
                ..grant
            },
            ShareGrant {
                writer_id: other_id,
                ..grant
            },
            ShareGrant {
                granted_by: other_id,
                ..grant
            },
            ShareGrant {
                record_type: "patients",
                ..grant
            },
            ShareGrant {
                via: match grant.via {
                    Some(_) => None,
                    None => Some(other_id),
                },
                ..grant
            },
        ];
        for forged in changed {
            assert!(
                matches!(
                    signature::verify_grant(&secret.public_key(), &forged, expected_signature),
                    Err(Error::Decryption)
                ),
                "{forged:?}"
            );
        }
    }
}

// Meta-index tag.

fn meta_encoding(name: &str, value: &str) -> Vec<u8> {
    [
        prefixed("strongroom/meta-index"),
        prefixed(name),
        prefixed(value),
    ]
    .concat()
}

/// BLAKE2b with an 8-byte output (the output length is a BLAKE2b
/// parameter, not a truncation), read as a big-endian `i64`.
fn blake2b_64(bytes: &[u8]) -> i64 {
    let mut hasher = orion::hazardous::hash::blake2::blake2b::Blake2b::new(8).unwrap();
    hasher.update(bytes).unwrap();
    i64::from_be_bytes(hasher.finalize().unwrap().as_ref().try_into().unwrap())
}

#[test]
fn the_meta_index_tag_is_the_one_format_md_specifies() {
    for (name, value, encoding, tag) in META_TAGS {
        assert_eq!(meta_encoding(name, value), unhex(encoding), "{name}");
        assert_eq!(blake2b_64(&unhex(encoding)), tag, "{name}");
    }
    common::each_backend("the_meta_index_tag_is_the_one_format_md_specifies", |db| {
        let alice = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
        let plain: Plain = META_TAGS
            .iter()
            .map(|(name, value, _, _)| (name.to_string(), value.to_string()))
            .collect();
        let fields = Fields::new().with("note", "x").unwrap();
        let meta = alice.put("note", &fields, &plain).unwrap();
        let stored = |condition: &str| {
            db.count(&format!(
                "SELECT COUNT(*) AS n FROM meta_index WHERE record_id = {}{condition}",
                db.id(meta.id)
            ))
        };
        assert_eq!(stored(""), 2, "one row per plain meta entry");
        for (name, value, _, tag) in META_TAGS {
            assert_eq!(stored(&format!(" AND tag = {tag}")), 1, "{name}");
            // The reader's filter looks up the same tag.
            let page = alice
                .query(&Query::new().record_type("note").plain_eq(name, value))
                .unwrap();
            assert_eq!(page.records.len(), 1, "{name}");
        }
    });
}

// Sealed-fields column.

/// The encoding FORMAT.md's "Sealed fields" section gives, byte by byte:
/// version 1, then each entry in name order (u16 name length, name, u32
/// body length, body).
#[test]
fn the_sealed_fields_column_is_the_encoding_format_md_specifies() {
    let a = vec![0xAA; 112];
    let bc = vec![0xBB; 113];
    // FORMAT.md's known answer: {"a": 112 × 0xAA}.
    let one = BTreeMap::from([("a".to_owned(), Envelope::from_bytes(a.clone()).unwrap())]);
    let expected_one = [
        unhex("01000161" /* version, u16 1, "a" */),
        unhex("00000070"),
        a.clone(),
    ]
    .concat();
    assert_eq!(
        strongroom::hazmat::record::encode_fields(&one).unwrap(),
        expected_one
    );
    // Two fields, given out of order: written sorted by name.
    let two = BTreeMap::from([
        ("bc".to_owned(), Envelope::from_bytes(bc.clone()).unwrap()),
        ("a".to_owned(), Envelope::from_bytes(a.clone()).unwrap()),
    ]);
    let expected_two = [
        unhex("01"),
        unhex("0001"),
        b"a".to_vec(),
        unhex("00000070"),
        a,
        unhex("0002"),
        b"bc".to_vec(),
        unhex("00000071"),
        bc,
    ]
    .concat();
    let encoded = strongroom::hazmat::record::encode_fields(&two).unwrap();
    assert_eq!(encoded, expected_two);
    assert_eq!(
        strongroom::hazmat::record::decode_fields(&encoded).unwrap(),
        two
    );
    // No sensitive field: the version byte alone.
    assert_eq!(
        strongroom::hazmat::record::encode_fields(&BTreeMap::new()).unwrap(),
        unhex("01")
    );
    // The same entries in the wrong order are refused.
    let mut swapped = unhex("01");
    swapped.extend_from_slice(&expected_two[1 + 2 + 1 + 4 + 112..]);
    swapped.extend_from_slice(&expected_two[1..1 + 2 + 1 + 4 + 112]);
    assert!(matches!(
        strongroom::hazmat::record::decode_fields(&swapped),
        Err(Error::Decryption)
    ));
}

// Files.

/// A file body sealed through `hazmat::file` is exactly FORMAT.md's
/// "Files": the head's fields at their offsets, the data key opened by
/// plain XChaCha20-Poly1305 with the data-key AAD written out here, each
/// chunk opened by orion's streaming AEAD with the chunk AD written out
/// here, and the chunks' digest recomputed here.
#[test]
fn a_file_body_is_the_stream_and_head_format_md_specifies() {
    use orion::hazardous::aead::streaming::{self, StreamTag, StreamXChaCha20Poly1305};
    use strongroom::hazmat::file::{ChunkPosition, FileContext, FileHead, FileSealer};

    let ak = AccessKey::from_bytes([0x42; 32]);
    let ctx = FileContext {
        record_type: RECORD_TYPE,
        record_id: id(RECORD_ID),
        writer_id: id(WRITER_ID),
        key_version: 3,
        version: 2,
    };
    let mut sealer = FileSealer::new(&ak, &ctx, 8).unwrap();
    let chunks = [
        sealer
            .seal_chunk(b"abcdefgh", ChunkPosition::NotLast)
            .unwrap(),
        sealer.seal_chunk(b"ij", ChunkPosition::Last).unwrap(),
    ];
    let head = sealer.finish().unwrap().to_bytes();

    // The head, field by field.
    assert_eq!(head.len(), 149);
    assert_eq!(head[0], 1, "head version");
    assert_eq!(head[1..9], 10u64.to_be_bytes(), "length");
    assert_eq!(head[9..13], 8u32.to_be_bytes(), "chunk size");
    assert_eq!(head[13..21], 2u64.to_be_bytes(), "chunk count");
    let (digest, stream_nonce, sealed_dk) = (&head[21..53], &head[53..77], &head[77..149]);

    // The data key: nonce ‖ XChaCha20-Poly1305(AK, DK, file_dk_aad).
    let common = [
        prefixed("strongroom/file"),
        u32be(1),
        prefixed(RECORD_TYPE),
        uuid(RECORD_ID),
        uuid(WRITER_ID),
    ]
    .concat();
    let file_dk_aad = [common.clone(), u32be(1), u32be(3)].concat();
    let mut dk = [0u8; 32];
    XChaCha20Poly1305::open(
        &SecretKey::try_from(&[0x42u8; 32][..]).unwrap(),
        &Nonce::try_from(&sealed_dk[..24]).unwrap(),
        &sealed_dk[24..],
        Some(&file_dk_aad),
        &mut dk,
    )
    .unwrap();

    // The chunks: one stream under DK and the stream nonce, every chunk
    // with chunk_ad, tagged Message then Finish, 17 bytes over their
    // plaintext.
    let chunk_ad = [common, u32be(0), 2u64.to_be_bytes().to_vec()].concat();
    let mut state = StreamXChaCha20Poly1305::new(
        &streaming::SecretKey::try_from(&dk[..]).unwrap(),
        &streaming::Nonce::try_from(stream_nonce).unwrap(),
    );
    let mut opened = Vec::new();
    for (chunk, (plain, tag)) in chunks.iter().zip([
        (&b"abcdefgh"[..], StreamTag::Message),
        (b"ij", StreamTag::Finish),
    ]) {
        assert_eq!(chunk.len(), plain.len() + 17);
        let mut out = vec![0u8; plain.len()];
        assert_eq!(
            state.open_chunk(chunk, Some(&chunk_ad), &mut out).unwrap(),
            tag
        );
        opened.extend_from_slice(&out);
    }
    assert_eq!(opened, b"abcdefghij");

    // The digest of the sealed chunks.
    let mut hasher = orion::hazardous::hash::blake2::blake2b::Blake2b::new(32).unwrap();
    hasher
        .update(&[prefixed("strongroom/file-chunks"), u32be(1)].concat())
        .unwrap();
    for (seq, chunk) in chunks.iter().enumerate() {
        hasher.update(&(seq as u64).to_be_bytes()).unwrap();
        hasher.update(&prefixed(chunk)).unwrap();
    }
    assert_eq!(hasher.finalize().unwrap().as_ref(), digest);

    // The stored head parses back; one byte off anywhere in the counts is
    // malformed.
    assert!(FileHead::from_bytes(&head).is_ok());
    let mut count = head.clone();
    count[20] = 3;
    assert!(matches!(
        FileHead::from_bytes(&count),
        Err(Error::Decryption)
    ));
}

// Blind indexes.

/// FORMAT.md "Blind indexes", computed with Python's `hashlib.blake2b(key=…,
/// digest_size=32)` from the messages below: access key `11…11`, writer
/// [`WRITER_ID`], type `patient`, version 1; the index `ssn` over `ssn`,
/// 13 bits, no normaliser; the input `"078-05-1120"` (a JSON string).
const INDEX_DESCRIPTION: &str = "01000d046e6f6e65010373736e";
const INDEX_VALUE_FULL: &str = "2a63ed281ec490a58e77f95f8700483cd99fba4ae1bcbc67173e3b936824a0d5";
/// The first 13 bits of the full value: `2a 63` with the 3 low bits of the
/// second byte cleared.
const INDEX_VALUE_13_BITS: &str = "2a60";

fn index_messages() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let secret = [
        prefixed("strongroom/index-secret"),
        u32be(1),
        uuid(WRITER_ID),
        prefixed("patient"),
        u32be(1),
    ]
    .concat();
    let key = [
        prefixed("strongroom/index-key"),
        u32be(1),
        prefixed("ssn"),
        prefixed(unhex(INDEX_DESCRIPTION)),
    ]
    .concat();
    let value = [
        prefixed("strongroom/index-value"),
        u32be(1),
        u32be(1),
        prefixed(br#""078-05-1120""#),
    ]
    .concat();
    (secret, key, value)
}

/// Keyed BLAKE2b-256, by orion's MAC directly.
fn keyed_blake2b(key: &[u8], message: &[u8]) -> Vec<u8> {
    use orion::hazardous::mac::blake2b::{Blake2b, SecretKey};
    let key = SecretKey::try_from(key).unwrap();
    let mut mac = Blake2b::new(&key, 32).unwrap();
    mac.update(message).unwrap();
    mac.finalize().unwrap().unprotected_as_ref().to_vec()
}

#[test]
fn the_blind_index_value_is_the_one_format_md_specifies() {
    use strongroom::hazmat::blind;
    // The description, byte by byte: version 1, u16 bits, the normaliser's
    // name, the fields.
    let description = [
        vec![1],
        13u16.to_be_bytes().to_vec(),
        vec![4],
        b"none".to_vec(),
        vec![1, 3],
        b"ssn".to_vec(),
    ]
    .concat();
    assert_eq!(description, unhex(INDEX_DESCRIPTION));
    // By hand, from FORMAT.md's three steps.
    let (secret_message, key_message, value_message) = index_messages();
    let secret = keyed_blake2b(&ACCESS_KEY, &secret_message);
    let key = keyed_blake2b(&secret, &key_message);
    assert_eq!(keyed_blake2b(&key, &value_message), unhex(INDEX_VALUE_FULL));
    // The library, through its public construction.
    let access_key = AccessKey::from_bytes(ACCESS_KEY);
    let secret = blind::index_secret(&access_key, id(WRITER_ID), "patient", 1).unwrap();
    let key = blind::index_key(&secret, "ssn", &description).unwrap();
    let input = br#""078-05-1120""#;
    assert_eq!(
        blind::blind_value(&key, &[input], 256).unwrap(),
        unhex(INDEX_VALUE_FULL)
    );
    assert_eq!(
        blind::blind_value(&key, &[input], 13).unwrap(),
        unhex(INDEX_VALUE_13_BITS)
    );
    // Another version, name, description or input gives another value.
    let other_version = blind::index_secret(&access_key, id(WRITER_ID), "patient", 2).unwrap();
    let other = blind::index_key(&other_version, "ssn", &description).unwrap();
    assert_ne!(
        blind::blind_value(&other, &[input], 256).unwrap(),
        unhex(INDEX_VALUE_FULL)
    );
    let other = blind::index_key(&secret, "ssn2", &description).unwrap();
    assert_ne!(
        blind::blind_value(&other, &[input], 256).unwrap(),
        unhex(INDEX_VALUE_FULL)
    );
    assert_ne!(
        blind::blind_value(&key, &[br#""078-05-1121""#], 256).unwrap(),
        unhex(INDEX_VALUE_FULL)
    );
}

#[test]
fn a_written_index_stores_the_description_format_md_specifies() {
    common::each_backend(
        "a_written_index_stores_the_description_format_md_specifies",
        |db| {
            let alice = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            alice
                .declare_indexes(
                    "patient",
                    [strongroom::index::IndexSpec::on_field("ssn").bits(13)],
                )
                .unwrap();
            let fields = Fields::new().with("ssn", "078-05-1120").unwrap();
            alice.put("patient", &fields, &Plain::new()).unwrap();
            let specs = db.texts(&format!(
                "SELECT {} AS t FROM blind_index_versions",
                db.hex("spec")
            ));
            assert_eq!(specs, vec![INDEX_DESCRIPTION.to_owned()]);
            // One lookup row of ceil(13 / 8) = 2 bytes, the low 3 bits zero.
            let values = db.texts(&format!(
                "SELECT {} AS t FROM blind_index_values",
                db.hex("value")
            ));
            assert_eq!(values.len(), 1);
            let value = unhex(&values[0]);
            assert_eq!(value.len(), 2);
            assert_eq!(value[1] & 0x07, 0);
        },
    );
}

/// FORMAT.md: every value written through `Client` is its JSON encoding,
/// strings included: "Ada" is sealed as the 5 bytes `"Ada"`, so its
/// envelope body is 112 + 5 = 117 bytes, and the sealed-fields column of a
/// record holding only it is 1 + 2 + 4 ("note") + 4 + 117 = 128 bytes.
#[test]
fn a_string_value_is_sealed_as_its_json_encoding() {
    let db = common::TestDb::sqlite();
    let alice = strongroom::Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
    let fields = strongroom::Fields::new().with("note", "Ada").unwrap();
    let id = alice
        .put("note", &fields, &strongroom::Plain::new())
        .unwrap()
        .id;
    let column = unhex(
        &db.texts(&format!(
            "SELECT {} AS t FROM records WHERE record_id = {}",
            db.hex("sealed_fields"),
            db.id(id)
        ))[0],
    );
    assert_eq!(column.len(), 128);
    let envelopes = strongroom::hazmat::record::decode_fields(&column).unwrap();
    assert_eq!(envelopes["note"].len(), 117);
}

/// A wrapped access key computed outside Rust with an independent HPKE
/// implementation (pyhpke, which reproduces RFC 9180 A.2.3): auth mode,
/// the reader's and wrapper's keys and the ephemeral key material of RFC
/// 9180 A.2.3 (skRm, skSm, ikmE), `info` and AAD = [`WRAP_INFO_V3`], the
/// access key 0x11…. The library unwraps it to that key, and refuses it in
/// any other context.
#[test]
fn a_wrapped_access_key_made_by_another_hpke_implementation_unwraps() {
    const WRAPPED: &str = "srk1.92dMyM17qlhy0fM9uv_jMUI59hl9313tF0Z2C_yEfg5l2mNdIaaG-e-o4s2W-vangC53mn1-iC_7tYIvt2JgQD9zvMVdbASKDina4O3vNzI";
    // RFC 9180 A.2.3: skRm, and pkSm (the public key of skSm).
    let reader = EncryptionSecretKey::try_from_slice(&unhex(
        "3ca22a6d1cda1bb9480949ec5329d3bf0b080ca4c45879c95eddb55c70b80b82",
    ))
    .unwrap();
    let wrapper = EncryptionPublicKey::from_bytes(
        unhex("f0f4f9e96c54aeed3f323de8534fffd7e0577e4ce269896716bcb95643c8712b")
            .try_into()
            .unwrap(),
    );
    let ctx = wrap_context(3);
    let key = wrap::unwrap_access_key(WRAPPED, &ctx, &reader, &wrapper).unwrap();
    assert_eq!(key.unprotected_as_bytes(), &ACCESS_KEY);
    let other = WrapContext {
        key_version: 4,
        ..ctx
    };
    assert!(matches!(
        wrap::unwrap_access_key(WRAPPED, &other, &reader, &wrapper),
        Err(Error::Decryption)
    ));
}
