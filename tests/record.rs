//! Whole-record sealing and batch signatures: verification before
//! decryption, forgery by a reader, every signed component bound, records
//! moved between batches, and the older single-signature records still
//! read.

use std::collections::BTreeMap;

use strongroom::hazmat::batch::{SignedBatch, VerifiedBatch};
use strongroom::hazmat::envelope::Envelope;
use strongroom::hazmat::record::{self, RecordProof, SealedRecord};
use strongroom::hazmat::signature::{RecordHeader, SignedContent};
use strongroom::hazmat::{envelope, AccessKey};
use strongroom::BatchId;
use strongroom::{ClientId, Error, Identity, RecordId};

fn values() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("name".to_owned(), b"Ada Lovelace".to_vec()),
        ("national_id".to_owned(), b"1815-12-10".to_vec()),
        ("notes".to_owned(), br#"[{"date":"1843"}]"#.to_vec()),
    ])
}

/// [`values`] as [`record::open_record`] hands them back.
fn opened() -> BTreeMap<String, strongroom::Zeroizing<Vec<u8>>> {
    values()
        .into_iter()
        .map(|(name, value)| (name, strongroom::Zeroizing::new(value)))
        .collect()
}

fn header(writer: ClientId, version: u64) -> RecordHeader<'static> {
    RecordHeader {
        record_id: RecordId::random(),
        version,
        record_type: "patient",
        writer_id: writer,
        key_version: 1,
    }
}

/// `n` records of `writer_id`, sealed under `ak` and signed as one batch by
/// `signer`.
fn batch_of(
    signer: &Identity,
    writer_id: ClientId,
    ak: &AccessKey,
    n: u32,
) -> (Vec<SealedRecord>, SignedBatch) {
    let batch_id = BatchId::random();
    let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
    let records: Vec<SealedRecord> = (0..n)
        .map(|i| {
            record::seal_record(
                ak,
                header(writer_id, 1),
                plain.clone(),
                &values(),
                batch_id,
                i,
            )
            .unwrap()
        })
        .collect();
    let batch = record::sign_batch(signer.signer(), batch_id, &records).unwrap();
    (records, batch)
}

fn record_batch_id(record: &SealedRecord) -> BatchId {
    match record.proof {
        RecordProof::Batch { batch_id, .. } => batch_id,
        _ => panic!("not in a batch"),
    }
}

fn verified(batch: &SignedBatch, writer: &Identity) -> VerifiedBatch {
    batch
        .clone()
        .verify(writer.client_id(), &writer.public().signing_key)
        .unwrap()
}

/// Fails unless the record is refused with the opaque error, whether at the
/// batch or at the record.
fn assert_rejected(
    record: &SealedRecord,
    batch: &SignedBatch,
    writer: &Identity,
    ak: &AccessKey,
    what: &str,
) {
    let Ok(batch) = batch
        .clone()
        .verify(writer.client_id(), &writer.public().signing_key)
    else {
        return;
    };
    match record::open_record(record, &batch, ak) {
        Err(Error::Decryption) => {}
        Err(other) => panic!("{what}: expected Error::Decryption, got {other:?}"),
        Ok(_) => panic!("{what}: opened instead of failing"),
    }
}

#[test]
fn round_trip_a_batch_of_records() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (records, batch) = batch_of(&alice, alice.client_id(), &ak, 3);
    assert_eq!(batch.len(), 3);
    assert!(batch
        .signature_text()
        .starts_with(strongroom::hazmat::batch::PREFIX));
    let checked = verified(&batch, &alice);
    for record in &records {
        assert_eq!(
            record::open_record(record, &checked, &ak).unwrap(),
            opened()
        );
        let debug = format!("{record:?}");
        assert!(!debug.contains("srf1."), "{debug}");
    }
    let debug = format!("{batch:?}");
    assert!(!debug.contains("srb1."), "{debug}");
}

#[test]
fn a_batch_stores_and_parses_back() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (records, batch) = batch_of(&alice, alice.client_id(), &ak, 5);
    let parsed = SignedBatch::from_stored(
        batch.batch_id(),
        batch.writer_id(),
        &batch.digests_bytes(),
        batch.signature_bytes(),
    )
    .unwrap();
    assert_eq!(parsed, batch);
    let checked = verified(&parsed, &alice);
    assert_eq!(
        record::open_record(&records[4], &checked, &ak).unwrap(),
        opened()
    );
    // No digest, a part of one, more digests than a batch may hold.
    let too_many = vec![0u8; (strongroom::hazmat::batch::MAX_RECORDS + 1) * 32];
    let digests = batch.digests_bytes();
    for bad in [&[][..], &digests[..31], &digests[..40], &too_many] {
        assert!(
            matches!(
                SignedBatch::from_stored(
                    batch.batch_id(),
                    batch.writer_id(),
                    bad,
                    batch.signature_bytes()
                ),
                Err(Error::Decryption)
            ),
            "digests of {} bytes",
            bad.len()
        );
    }
}

#[test]
fn a_batch_signed_by_another_key_is_rejected() {
    let (alice, mallory) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let ak = AccessKey::generate();
    // Mallory seals and signs records claiming to be Alice's.
    let (records, forged) = batch_of(&mallory, alice.client_id(), &ak, 2);
    assert!(matches!(
        forged
            .clone()
            .verify(alice.client_id(), &alice.public().signing_key),
        Err(Error::Decryption)
    ));
    // Mallory's batch naming Mallory as writer, holding the digest of a
    // record that claims Alice: refused when the caller expects Alice (even
    // with Mallory's key), and a record claiming Alice fails against a batch
    // verified as Mallory's.
    let record = record::seal_record(
        &ak,
        header(alice.client_id(), 1),
        BTreeMap::new(),
        &values(),
        BatchId::random(),
        0,
    )
    .unwrap();
    let own_batch = mallory
        .signer()
        .sign_batch(
            record_batch_id(&record),
            mallory.client_id(),
            vec![record.digest().unwrap()],
        )
        .unwrap();
    assert!(matches!(
        own_batch
            .clone()
            .verify(alice.client_id(), &mallory.public().signing_key),
        Err(Error::Decryption)
    ));
    let as_mallory = own_batch
        .verify(mallory.client_id(), &mallory.public().signing_key)
        .unwrap();
    assert!(matches!(
        record::open_record(&record, &as_mallory, &ak),
        Err(Error::Decryption)
    ));
    // Checked against a batch Alice really signed, the records still fail.
    let (_, genuine) = batch_of(&alice, alice.client_id(), &ak, 2);
    let genuine = verified(&genuine, &alice);
    for record in &records {
        assert!(matches!(
            record::open_record(record, &genuine, &ak),
            Err(Error::Decryption)
        ));
    }
}

#[test]
fn a_reader_holding_the_access_key_cannot_forge_a_field() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (mut records, batch) = batch_of(&alice, alice.client_id(), &ak, 1);
    let record = &mut records[0];
    // A reader with the access key seals a perfectly valid envelope for the
    // exact same context; without Alice's signing key the record must fail,
    // which also shows the record is checked before decrypting.
    let ctx = envelope::FieldContext {
        record_type: &record.record_type,
        record_id: record.record_id,
        writer_id: record.writer_id,
        field: "name",
        key_version: record.key_version,
    };
    let forged = envelope::seal_field(&ak, &ctx, b"Mallory").unwrap();
    assert_eq!(
        *envelope::open_field(&ak, &ctx, &forged).unwrap(),
        b"Mallory"
    );
    record.fields.insert("name".to_owned(), forged);
    assert_rejected(record, &batch, &alice, &ak, "forged field");
}

#[test]
fn every_signed_component_of_a_record_is_bound() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (records, batch) = batch_of(&alice, alice.client_id(), &ak, 3);
    let original = records[1].clone();
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
        ("moved to another place in its batch", |r| {
            if let RecordProof::Batch { index, .. } = &mut r.proof {
                *index = 2;
            }
        }),
        ("place past the end of its batch", |r| {
            if let RecordProof::Batch { index, .. } = &mut r.proof {
                *index = 3;
            }
        }),
    ];
    for (what, edit) in edits {
        let mut record = original.clone();
        edit(&mut record);
        assert_rejected(&record, &batch, &alice, &ak, what);
    }
    assert_eq!(
        record::open_record(&original, &verified(&batch, &alice), &ak).unwrap(),
        opened(),
        "the unedited record still opens"
    );
}

#[test]
fn every_part_of_a_batch_is_bound() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (_, batch) = batch_of(&alice, alice.client_id(), &ak, 3);
    let digests = batch.digests_bytes();
    let sig = batch.signature_bytes().to_vec();
    let flip = |bytes: &[u8], at: usize| {
        let mut bytes = bytes.to_vec();
        bytes[at] ^= 0x01;
        bytes
    };
    // Digests re-ordered: the second record's digest first.
    let mut swapped = digests[32..64].to_vec();
    swapped.extend_from_slice(&digests[..32]);
    swapped.extend_from_slice(&digests[64..]);
    let mut longer = sig.clone();
    longer.push(0);
    /// What is stored: batch id, writer, digests, signature.
    type Case<'a> = (&'a str, BatchId, ClientId, Vec<u8>, Vec<u8>);
    let cases: Vec<Case<'_>> = vec![
        (
            "batch id",
            BatchId::random(),
            batch.writer_id(),
            digests.clone(),
            sig.clone(),
        ),
        (
            "writer",
            batch.batch_id(),
            ClientId::random(),
            digests.clone(),
            sig.clone(),
        ),
        (
            "digest flipped",
            batch.batch_id(),
            batch.writer_id(),
            flip(&digests, 5),
            sig.clone(),
        ),
        (
            "digest dropped",
            batch.batch_id(),
            batch.writer_id(),
            digests[..64].to_vec(),
            sig.clone(),
        ),
        (
            "digests re-ordered",
            batch.batch_id(),
            batch.writer_id(),
            swapped,
            sig.clone(),
        ),
        (
            "signature flipped",
            batch.batch_id(),
            batch.writer_id(),
            digests.clone(),
            flip(&sig, 10),
        ),
        (
            "signature truncated",
            batch.batch_id(),
            batch.writer_id(),
            digests.clone(),
            sig[..40].to_vec(),
        ),
        (
            "signature with a byte more",
            batch.batch_id(),
            batch.writer_id(),
            digests.clone(),
            longer,
        ),
        (
            "empty signature",
            batch.batch_id(),
            batch.writer_id(),
            digests.clone(),
            Vec::new(),
        ),
    ];
    for (what, id, writer, digests, sig) in cases {
        let result = SignedBatch::from_stored(id, writer, &digests, &sig)
            .and_then(|b| b.verify(alice.client_id(), &alice.public().signing_key));
        assert!(matches!(result, Err(Error::Decryption)), "{what}");
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn a_record_checked_against_another_batch_of_its_writer_fails() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (a_records, _) = batch_of(&alice, alice.client_id(), &ak, 2);
    let (_, b_batch) = batch_of(&alice, alice.client_id(), &ak, 2);
    let b = verified(&b_batch, &alice);
    // The record names batch A; B does not vouch for it, even at the same
    // index and with the database rewriting the record's batch reference.
    assert!(matches!(
        record::open_record(&a_records[0], &b, &ak),
        Err(Error::Decryption)
    ));
    let mut moved = a_records[0].clone();
    moved.proof = RecordProof::Batch {
        batch_id: b.batch_id(),
        index: 0,
    };
    assert!(matches!(
        record::open_record(&moved, &b, &ak),
        Err(Error::Decryption)
    ));
}

#[test]
fn sign_batch_refuses_records_out_of_place() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (mut records, batch) = batch_of(&alice, alice.client_id(), &ak, 2);
    records.swap(0, 1);
    assert!(matches!(
        record::sign_batch(alice.signer(), batch.batch_id(), &records),
        Err(Error::InvalidInput(_))
    ));
    records.swap(0, 1);
    assert!(matches!(
        record::sign_batch(alice.signer(), BatchId::random(), &records),
        Err(Error::InvalidInput(_))
    ));
    records[1].writer_id = ClientId::random();
    assert!(matches!(
        record::sign_batch(alice.signer(), batch.batch_id(), &records),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        record::sign_batch(alice.signer(), batch.batch_id(), &[]),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn an_older_versions_envelopes_do_not_verify_under_a_newer_version() {
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (v1s, v1_batch) = batch_of(&alice, alice.client_id(), &ak, 1);
    let v1 = &v1s[0];
    let batch_id = BatchId::random();
    let h = RecordHeader {
        record_id: v1.record_id,
        version: 2,
        record_type: "patient",
        writer_id: alice.client_id(),
        key_version: 1,
    };
    let v2 = record::seal_record(&ak, h, v1.plain.clone(), &values(), batch_id, 0).unwrap();
    let v2_batch = record::sign_batch(alice.signer(), batch_id, std::slice::from_ref(&v2)).unwrap();
    assert_ne!(v1.fields, v2.fields, "an update re-encrypts every field");
    let mut mixed = v2.clone();
    mixed.fields = v1.fields.clone();
    assert_rejected(
        &mixed,
        &v2_batch,
        &alice,
        &ak,
        "v1 envelopes under v2's batch",
    );
    let mut rolled = v1.clone();
    rolled.version = 2;
    assert_rejected(&rolled, &v1_batch, &alice, &ak, "v1 relabelled v2");
}

#[test]
fn wrong_access_key_after_a_valid_check_is_still_opaque() {
    let alice = Identity::generate().unwrap();
    let (records, batch) = batch_of(&alice, alice.client_id(), &AccessKey::generate(), 1);
    let checked = verified(&batch, &alice);
    assert!(records[0].verify_in(&checked).is_ok());
    assert!(matches!(
        record::open_record(&records[0], &checked, &AccessKey::generate()),
        Err(Error::Decryption)
    ));
}

#[test]
fn the_record_digest_is_the_one_format_md_specifies() {
    fn lp(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let record_id: RecordId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
    let writer_id: ClientId = "6f1d3c4e-8b2a-4c1d-9e7f-0a1b2c3d4e5f".parse().unwrap();
    let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
    let fields = BTreeMap::from([
        (
            "b".to_owned(),
            Envelope::from_bytes(vec![0xBB; 112]).unwrap(),
        ),
        (
            "a".to_owned(),
            Envelope::from_bytes(vec![0xAA; 112]).unwrap(),
        ),
    ]);
    let content = SignedContent {
        header: RecordHeader {
            record_id,
            version: 3,
            record_type: "patient",
            writer_id,
            key_version: 2,
        },
        plain: &plain,
        fields: &fields,
        file: None,
        indexes: None,
    };
    let mut message = Vec::new();
    lp(&mut message, b"strongroom/record");
    message.extend_from_slice(&1u32.to_be_bytes());
    message.extend_from_slice(record_id.as_uuid().as_bytes());
    message.extend_from_slice(&3u64.to_be_bytes());
    lp(&mut message, b"patient");
    message.extend_from_slice(writer_id.as_uuid().as_bytes());
    message.extend_from_slice(&2u32.to_be_bytes());
    message.extend_from_slice(&1u32.to_be_bytes());
    lp(&mut message, b"clinic");
    lp(&mut message, b"north");
    message.extend_from_slice(&2u32.to_be_bytes());
    // Each envelope as its bytes (not its `srf1.` text).
    for (name, fill) in [("a", 0xAAu8), ("b", 0xBB)] {
        lp(&mut message, name.as_bytes());
        lp(&mut message, &[fill; 112]);
    }
    let digest_of = |message: &[u8]| {
        let mut input = Vec::new();
        lp(&mut input, b"strongroom/record-digest");
        input.extend_from_slice(message);
        let mut hasher = orion::hazardous::hash::blake2::blake2b::Blake2b::new(32).unwrap();
        hasher.update(&input).unwrap();
        hasher.finalize().unwrap()
    };
    // A record that is not a file ends with u32(0).
    let mut plain_record = message.clone();
    plain_record.extend_from_slice(&0u32.to_be_bytes());
    let expected = digest_of(&plain_record);
    // Twice: the second digest reuses the thread's message buffer.
    for _ in 0..2 {
        assert_eq!(&content.digest().unwrap().as_bytes()[..], expected.as_ref());
    }
    // A file record ends with u32(1) and its head, length-prefixed.
    let head = [0x11u8; 149];
    let file = SignedContent {
        file: Some(&head),
        indexes: None,
        ..content
    };
    let mut file_record = message;
    file_record.extend_from_slice(&1u32.to_be_bytes());
    lp(&mut file_record, &head);
    assert_eq!(
        &file.digest().unwrap().as_bytes()[..],
        digest_of(&file_record).as_ref()
    );
    // Known answers, computed outside Rust (Python's hashlib BLAKE2b) from
    // FORMAT.md: the record, the file record, and the record with a
    // 0-entry blind index list (`01 ‖ u32 1 ‖ 0000`).
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(content.digest().unwrap().as_bytes()),
        "eff4be1081fb29f0a41ee98e1ba238692e20d9b55b3beea67413e504822a1553"
    );
    assert_eq!(
        hex(file.digest().unwrap().as_bytes()),
        "d97203310cdac8067c3a9a04473a4eddc4f653e37d419f3862b1d5b072925a9a"
    );
    let entries = [0x01, 0, 0, 0, 1, 0, 0];
    let indexed = SignedContent {
        indexes: Some(&entries),
        ..content
    };
    assert_eq!(
        hex(indexed.digest().unwrap().as_bytes()),
        "5b529c6051fdf621d5b74c3ba247f080869717b4d0fd045df8154bd257534774"
    );
    // And the batch signature over the record's digest alone, by the
    // Ed25519 key of seed 1, 2, …, 32 (computed outside Rust with Python's
    // `cryptography`): Ed25519 is deterministic.
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
    let signer = strongroom::hazmat::signature::RecordSigner::new(
        &strongroom::hazmat::SigningSecretKey::from_bytes(seed),
    )
    .unwrap();
    let batch_id = BatchId::from_uuid("0190a1b2-c3d4-7e5f-8a9b-000000000001".parse().unwrap());
    let batch = signer
        .sign_batch(batch_id, writer_id, vec![content.digest().unwrap()])
        .unwrap();
    assert_eq!(
        hex(batch.signature_bytes()),
        "7faed798b21016c38d4d38dad65bbb469745b778a2873145ca4c3dada6ab884163060a599fe32519815d7988c55ead4056577e2acc005a12f537fec4fe857c0f"
    );
}

/// The batch signature is Ed25519 over exactly the message FORMAT.md
/// specifies, built here byte by byte.
#[test]
fn the_batch_signature_covers_the_message_format_md_specifies() {
    use ed25519_dalek::Verifier;
    let alice = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let (records, batch) = batch_of(&alice, alice.client_id(), &ak, 3);
    let mut message = Vec::new();
    message.extend_from_slice(&(b"strongroom/record-batch".len() as u32).to_be_bytes());
    message.extend_from_slice(b"strongroom/record-batch");
    message.extend_from_slice(&1u32.to_be_bytes());
    message.extend_from_slice(batch.batch_id().as_uuid().as_bytes());
    message.extend_from_slice(alice.client_id().as_uuid().as_bytes());
    message.extend_from_slice(&(3u32 * 32).to_be_bytes());
    for record in &records {
        message.extend_from_slice(record.digest().unwrap().as_bytes());
    }
    let signature: [u8; 64] = *batch.signature_bytes();
    assert_eq!(
        base64_decode(&batch.signature_text()["srb1.".len()..]),
        signature,
        "the text form is base64url of the same bytes"
    );
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(alice.public().signing_key.as_bytes()).unwrap();
    key.verify(&message, &ed25519_dalek::Signature::from_bytes(&signature))
        .unwrap();
}
