//! Record signatures and whole-record sealing: verification before
//! decryption, forgery by a reader, and every signed component bound.

use std::collections::BTreeMap;

use strongroom::record::{self, SealedRecord};
use strongroom::signature::RecordHeader;
use strongroom::{envelope, AccessKey, ClientId, Error, Identity, RecordId};

fn values() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("name".to_owned(), b"Ada Lovelace".to_vec()),
        ("national_id".to_owned(), b"1815-12-10".to_vec()),
        ("notes".to_owned(), br#"[{"date":"1843"}]"#.to_vec()),
    ])
}

fn sealed(writer: &Identity, ak: &AccessKey) -> SealedRecord {
    let header = RecordHeader {
        record_id: RecordId::random(),
        version: 1,
        record_type: "patient",
        writer_id: writer.client_id(),
        key_version: 1,
    };
    let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
    record::seal_record(writer.signer(), ak, header, plain, &values()).unwrap()
}

fn assert_rejected(record: &SealedRecord, writer: &Identity, ak: &AccessKey, what: &str) {
    match record::open_record(record, &writer.public().signing_key, ak) {
        Err(Error::Decryption) => {}
        Err(other) => panic!("{what}: expected Error::Decryption, got {other:?}"),
        Ok(_) => panic!("{what}: opened instead of failing"),
    }
}

#[test]
fn round_trip_three_fields() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let record = sealed(&alice, &ak);
    assert_eq!(
        record::open_record(&record, &alice.public().signing_key, &ak).unwrap(),
        values()
    );
    let debug = format!("{record:?}");
    assert!(
        !debug.contains("srf1.") && !debug.contains("srs1."),
        "{debug}"
    );
}

#[test]
fn a_signature_by_another_key_is_rejected() {
    let (alice, mallory) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let ak = AccessKey::generate();
    // Mallory seals a record claiming to be Alice's.
    let header = RecordHeader {
        record_id: RecordId::random(),
        version: 1,
        record_type: "patient",
        writer_id: alice.client_id(),
        key_version: 1,
    };
    let forged =
        record::seal_record(mallory.signer(), &ak, header, BTreeMap::new(), &values()).unwrap();
    assert_rejected(&forged, &alice, &ak, "signed by another key");
}

#[test]
fn a_reader_holding_the_access_key_cannot_forge_a_field() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let mut record = sealed(&alice, &ak);
    // A reader with the access key seals a perfectly valid envelope for the
    // exact same context; without Alice's signing key the record must fail,
    // which also shows the signature is checked before decrypting.
    let ctx = envelope::FieldContext {
        record_type: &record.record_type,
        record_id: record.record_id,
        writer_id: record.writer_id,
        field: "name",
        key_version: record.key_version,
    };
    let forged = envelope::seal_field(&ak, &ctx, b"Mallory").unwrap();
    assert_eq!(
        envelope::open_field(&ak, &ctx, forged.as_str()).unwrap(),
        b"Mallory"
    );
    record
        .fields
        .insert("name".to_owned(), forged.into_string());
    assert_rejected(&record, &alice, &ak, "forged field");
}

#[test]
fn every_signed_component_is_bound() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let original = sealed(&alice, &ak);
    type Edit = fn(&mut SealedRecord);
    let edits: [(&str, Edit); 11] = [
        ("version", |r| r.version += 1),
        ("record id", |r| r.record_id = RecordId::random()),
        ("record type", |r| r.record_type = "invoice".to_owned()),
        ("writer", |r| r.writer_id = ClientId::random()),
        ("key version", |r| r.key_version = 2),
        ("plain value", |r| {
            r.plain.insert("clinic".to_owned(), "south".to_owned());
        }),
        ("plain entry added", |r| {
            r.plain.insert("ward".to_owned(), "7".to_owned());
        }),
        ("field removed", |r| {
            r.fields.remove("notes");
        }),
        ("fields swapped", |r| {
            let name = r.fields["name"].clone();
            let id = r.fields["national_id"].clone();
            r.fields.insert("name".to_owned(), id);
            r.fields.insert("national_id".to_owned(), name);
        }),
        ("signature flipped", |r| {
            let mut chars: Vec<char> = r.signature.chars().collect();
            chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
            r.signature = chars.into_iter().collect();
        }),
        ("signature truncated", |r| {
            r.signature.truncate(40);
        }),
    ];
    for (what, edit) in edits {
        let mut record = original.clone();
        edit(&mut record);
        assert_rejected(&record, &alice, &ak, what);
    }
    for bad in ["", "srs2.AAAA", "srs1.!!", "srs1."] {
        let mut record = original.clone();
        record.signature = bad.to_owned();
        assert_rejected(&record, &alice, &ak, bad);
    }
}

#[test]
fn an_older_versions_envelopes_do_not_verify_under_a_newer_version() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let v1 = sealed(&alice, &ak);
    let header = RecordHeader {
        record_id: v1.record_id,
        version: 2,
        record_type: "patient",
        writer_id: alice.client_id(),
        key_version: 1,
    };
    let v2 = record::seal_record(alice.signer(), &ak, header, v1.plain.clone(), &values()).unwrap();
    assert_ne!(v1.fields, v2.fields, "an update re-encrypts every field");
    let mut mixed = v2.clone();
    mixed.fields = v1.fields.clone();
    assert_rejected(&mixed, &alice, &ak, "v1 envelopes under v2 signature");
    let mut rolled = v1.clone();
    rolled.version = 2;
    assert_rejected(&rolled, &alice, &ak, "v1 relabelled v2");
}

#[test]
fn wrong_access_key_after_a_valid_signature_is_still_opaque() {
    let alice = Identity::generate().unwrap();
    let record = sealed(&alice, &AccessKey::generate());
    assert!(record.verify(&alice.public().signing_key).is_ok());
    assert_rejected(&record, &alice, &AccessKey::generate(), "wrong access key");
}

#[test]
fn the_writer_tag_checks_own_records_and_nobody_else_can_make_it() {
    let (alice, reader) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let ak = AccessKey::generate();
    let record = sealed(&alice, &ak);
    assert!(record
        .writer_tag
        .starts_with(strongroom::signature::TAG_PREFIX));
    assert_eq!(
        record::open_own_record(&record, alice.signer(), &ak).unwrap(),
        values()
    );
    // Another client (a reader holding the access key) has another tag key.
    assert!(matches!(
        record::open_own_record(&record, reader.signer(), &ak),
        Err(Error::Decryption)
    ));
    // Any change to the signed content or the tag fails the tag check.
    let mut edited = record.clone();
    edited.plain.insert("clinic".to_owned(), "south".to_owned());
    assert!(matches!(
        record::open_own_record(&edited, alice.signer(), &ak),
        Err(Error::Decryption)
    ));
    for bad in ["", "srt1.", "srt2.AAAA", &record.writer_tag[..20]] {
        let mut edited = record.clone();
        edited.writer_tag = bad.to_owned();
        assert!(
            matches!(
                record::open_own_record(&edited, alice.signer(), &ak),
                Err(Error::Decryption)
            ),
            "{bad}"
        );
    }
    // A record forged by a reader: valid envelopes, its own signature and
    // tag, claiming Alice as writer: both checks refuse it.
    let header = RecordHeader {
        record_id: RecordId::random(),
        version: 1,
        record_type: "patient",
        writer_id: alice.client_id(),
        key_version: 1,
    };
    let forged =
        record::seal_record(reader.signer(), &ak, header, BTreeMap::new(), &values()).unwrap();
    assert!(matches!(
        record::open_own_record(&forged, alice.signer(), &ak),
        Err(Error::Decryption)
    ));
    assert_rejected(&forged, &alice, &ak, "forged by a reader");
}
