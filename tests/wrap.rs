//! Access-key wrapping (HPKE auth mode): round trip and tamper tests. Every
//! failure must be the opaque `Error::Decryption`.

use strongroom::hazmat::wrap::{self, WrapContext};
use strongroom::hazmat::{AccessKey, EncryptionSecretKey};
use strongroom::{ClientId, Error};

struct Party {
    id: ClientId,
    secret: EncryptionSecretKey,
}

fn party() -> Party {
    Party {
        id: ClientId::random(),
        secret: EncryptionSecretKey::generate(),
    }
}

fn ctx<'a>(writer: &Party, reader: &Party, wrapper: &Party) -> WrapContext<'a> {
    WrapContext {
        writer_id: writer.id,
        record_type: "patient",
        key_version: 3,
        reader_id: reader.id,
        wrapper_id: wrapper.id,
    }
}

fn assert_opaque(result: strongroom::Result<AccessKey>, what: &str) {
    match result {
        Err(Error::Decryption) => {}
        Err(other) => panic!("{what}: expected Error::Decryption, got {other:?}"),
        Ok(_) => panic!("{what}: unwrapped a key instead of failing"),
    }
}

#[test]
fn round_trip_by_writer_and_by_authoriser() {
    let (writer, reader, authoriser) = (party(), party(), party());
    let ak = AccessKey::generate();
    for wrapper in [&writer, &authoriser] {
        let c = ctx(&writer, &reader, wrapper);
        let wrapped = wrap::wrap_access_key(
            &ak,
            &c,
            &reader.secret.public_key().unwrap(),
            &wrapper.secret,
        )
        .unwrap();
        assert!(wrapped.as_str().starts_with(wrap::PREFIX));
        let back = wrap::unwrap_access_key(
            wrapped.as_str(),
            &c,
            &reader.secret,
            &wrapper.secret.public_key().unwrap(),
        )
        .unwrap();
        assert_eq!(back, ak);
    }
}

#[test]
fn a_key_wrapped_for_another_reader_cannot_be_unwrapped() {
    let (writer, bob, carol) = (party(), party(), party());
    let ak = AccessKey::generate();
    let for_carol = ctx(&writer, &carol, &writer);
    let wrapped = wrap::wrap_access_key(
        &ak,
        &for_carol,
        &carol.secret.public_key().unwrap(),
        &writer.secret,
    )
    .unwrap();
    let writer_pk = writer.secret.public_key().unwrap();
    // Bob with Carol's context, and Bob with the reader id swapped to his own.
    assert_opaque(
        wrap::unwrap_access_key(wrapped.as_str(), &for_carol, &bob.secret, &writer_pk),
        "other reader's secret",
    );
    assert_opaque(
        wrap::unwrap_access_key(
            wrapped.as_str(),
            &ctx(&writer, &bob, &writer),
            &bob.secret,
            &writer_pk,
        ),
        "reader id swapped",
    );
}

#[test]
fn a_key_wrapped_by_someone_other_than_the_claimed_wrapper_is_rejected() {
    let (writer, reader, mallory) = (party(), party(), party());
    let forged_ak = AccessKey::generate();
    // Mallory wraps a key of her choosing but claims the writer wrapped it.
    let claimed = ctx(&writer, &reader, &writer);
    let forged = wrap::wrap_access_key(
        &forged_ak,
        &claimed,
        &reader.secret.public_key().unwrap(),
        &mallory.secret,
    )
    .unwrap();
    assert_opaque(
        wrap::unwrap_access_key(
            forged.as_str(),
            &claimed,
            &reader.secret,
            &writer.secret.public_key().unwrap(),
        ),
        "forged wrapper",
    );
}

#[test]
fn every_context_component_is_bound() {
    let (writer, reader) = (party(), party());
    let ak = AccessKey::generate();
    let c = ctx(&writer, &reader, &writer);
    let wrapped = wrap::wrap_access_key(
        &ak,
        &c,
        &reader.secret.public_key().unwrap(),
        &writer.secret,
    )
    .unwrap();
    let writer_pk = writer.secret.public_key().unwrap();
    for (what, moved) in [
        (
            "writer",
            WrapContext {
                writer_id: ClientId::random(),
                ..c
            },
        ),
        (
            "record type",
            WrapContext {
                record_type: "invoice",
                ..c
            },
        ),
        (
            "key version",
            WrapContext {
                key_version: 4,
                ..c
            },
        ),
        (
            "reader",
            WrapContext {
                reader_id: ClientId::random(),
                ..c
            },
        ),
        (
            "wrapper",
            WrapContext {
                wrapper_id: ClientId::random(),
                ..c
            },
        ),
    ] {
        assert_opaque(
            wrap::unwrap_access_key(wrapped.as_str(), &moved, &reader.secret, &writer_pk),
            what,
        );
    }
}

#[test]
fn flipped_truncated_and_malformed_wraps_fail() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (writer, reader) = (party(), party());
    let c = ctx(&writer, &reader, &writer);
    let wrapped = wrap::wrap_access_key(
        &AccessKey::generate(),
        &c,
        &reader.secret.public_key().unwrap(),
        &writer.secret,
    )
    .unwrap()
    .into_string();
    let writer_pk = writer.secret.public_key().unwrap();
    let open = |text: &str| wrap::unwrap_access_key(text, &c, &reader.secret, &writer_pk);

    let body = b64.decode(&wrapped[wrap::PREFIX.len()..]).unwrap();
    assert_eq!(body.len(), 32 + 32 + 16);
    for i in 0..body.len() {
        let mut bad = body.clone();
        bad[i] ^= 0x01;
        assert_opaque(
            open(&format!("{}{}", wrap::PREFIX, b64.encode(&bad))),
            &format!("flip {i}"),
        );
    }
    for len in 0..wrapped.len() {
        assert_opaque(open(&wrapped[..len]), &format!("truncated to {len}"));
    }
    let body_text = &wrapped[wrap::PREFIX.len()..];
    for bad in [
        format!("srk2.{body_text}"),
        format!("srf1.{body_text}"),
        body_text.to_owned(),
        format!("{wrapped}=="),
        format!("{wrapped}AA"),
        "srk1.%%%".to_owned(),
    ] {
        assert_opaque(open(&bad), &bad);
    }
    // The all-zero (low-order) public key as enc.
    let mut zero_enc = body.clone();
    zero_enc[..32].fill(0);
    assert_opaque(
        open(&format!("{}{}", wrap::PREFIX, b64.encode(&zero_enc))),
        "zero enc",
    );
}
