//! Hostile rows: one malformed row in the database — text that is not
//! UTF-8, an id of the wrong length or text where an id's bytes belong,
//! bytes that are not what their column holds, NULL where the schema
//! (relaxed by its operator) lets it be, a number out of range, junk — is
//! that row's problem. It is reported
//! (`SkipReason::Invalid` in a query, `Error::Decryption` for a single
//! read), passed over by a re-wrap, ignored where it is only a hint or a
//! grant, and never fails a whole query, a write, a share or a revocation.
//! On SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::notes::{client, note, notes, read};
use common::{each_backend, TestDb};
use strongroom::hazmat::envelope::Envelope;
use strongroom::hazmat::record::{decode_fields, encode_fields};
use strongroom::{
    Backend, Client, ClientId, Error, ImportRow, NewRecord, Order, Plain, Query, RecordId,
    SkipReason, Skipped,
};

/// What the tests compare of a skipped record: its id, writer and reason.
type Skip = (Option<RecordId>, Option<ClientId>, SkipReason);

fn skips(skipped: &[Skipped]) -> Vec<Skip> {
    skipped
        .iter()
        .map(|s| (s.record_id, s.writer_id, s.reason))
        .collect()
}

fn invalid(id: RecordId, writer: &Client) -> Skip {
    (Some(id), Some(writer.id()), SkipReason::Invalid)
}

fn sorted(mut skipped: Vec<Skip>) -> Vec<Skip> {
    skipped.sort_by_key(|s| s.0);
    skipped
}

/// Lets the columns of `table` hold NULL, as an operator relaxing the
/// schema would: on SQLite the table is rebuilt from its own definition
/// without its NOT NULL constraints (every column; SQLite then also lets a
/// text primary key be NULL), on PostgreSQL `columns` lose theirs.
fn relax(db: &TestDb, table: &str, columns: &[&str]) {
    match db.backend {
        Backend::Sqlite => {
            let create = db.texts(&format!(
                "SELECT sql AS t FROM sqlite_schema WHERE type = 'table' AND name = '{table}'"
            ));
            let indexes = db.texts(&format!(
                "SELECT sql AS t FROM sqlite_schema WHERE type = 'index' AND tbl_name = '{table}' AND sql IS NOT NULL"
            ));
            let body = &create[0][create[0].find('(').unwrap()..];
            db.sql(&format!(
                "CREATE TABLE relaxed {}",
                body.replace(" NOT NULL", "")
            ));
            db.sql(&format!("INSERT INTO relaxed SELECT * FROM {table}"));
            db.sql(&format!("DROP TABLE {table}"));
            db.sql(&format!("ALTER TABLE relaxed RENAME TO {table}"));
            for index in indexes {
                db.sql(&index);
            }
        }
        _ => {
            for column in columns {
                db.sql(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"
                ));
            }
        }
    }
}

/// Every page of `query` (of at most `limit` records), following the
/// cursor: the records' ids in page order, and everything skipped.
fn every_page(client: &Client, query: Query, limit: usize) -> (Vec<RecordId>, Vec<Skipped>) {
    let (mut ids, mut skipped) = (Vec::new(), Vec::new());
    let mut query = query.limit(limit);
    for _ in 0..100 {
        let page = client
            .query(&query)
            .unwrap_or_else(|err| panic!("{query:?}: {err:?}"));
        ids.extend(page.records.iter().map(|r| r.id()));
        skipped.extend(page.skipped);
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return (ids, skipped),
        }
    }
    panic!("paging did not end");
}

/// Each of the four orders, paged `limit` at a time, returns every one of
/// `valid` exactly once, and nothing else.
fn pages_return_each_once(client: &Client, valid: &[RecordId], limit: usize) {
    let want: BTreeSet<RecordId> = valid.iter().copied().collect();
    for order in [
        Order::CreatedAsc,
        Order::CreatedDesc,
        Order::UpdatedAsc,
        Order::UpdatedDesc,
    ] {
        let (ids, _) = every_page(client, Query::new().record_type("note").order(order), limit);
        assert_eq!(ids.len(), want.len(), "{order:?}, {limit} a page: {ids:?}");
        assert_eq!(
            ids.iter().copied().collect::<BTreeSet<_>>(),
            want,
            "{order:?}"
        );
    }
}

#[test]
fn a_record_whose_sealed_fields_are_garbage_is_one_invalid_row() {
    each_backend(
        "a_record_whose_sealed_fields_are_garbage_is_one_invalid_row",
        |db| {
            one_invalid_row(db, |db, bad| {
                // The encoding's version byte, then a field "note" whose
                // envelope claims 4 GiB - 1 bytes and has one.
                let garbage = db.blob(&[
                    0x01, 0x00, 0x04, b'n', b'o', b't', b'e', 0xFF, 0xFF, 0xFF, 0xFF, 0x00,
                ]);
                db.sql(&format!(
                    "UPDATE records SET sealed_fields = {garbage} WHERE record_id = {}",
                    db.id(bad)
                ));
            })
        },
    );
}

#[test]
fn a_record_whose_sealed_fields_are_text_is_one_invalid_row_on_sqlite() {
    // A text value where the BLOB belongs (the old shape's JSON of "srf1."
    // strings, bytes that are not UTF-8 among them): only SQLite stores a
    // value of another type in a column.
    one_invalid_row(&TestDb::sqlite(), |db, bad| {
        db.sql(&format!(
            "UPDATE records SET sealed_fields = CAST(X'7B226E6F7465223A2273726631FFFE227D' AS TEXT) \
             WHERE record_id = {}",
            db.id(bad)
        ));
    });
}

#[test]
fn a_record_whose_plain_is_not_utf8_is_one_invalid_row_on_sqlite() {
    // PostgreSQL refuses text that is not UTF-8 on write, so such a row can
    // only exist on SQLite, which stores any bytes as text.
    one_invalid_row(&TestDb::sqlite(), |db, bad| {
        db.sql(&format!(
            "UPDATE records SET plain = CAST(X'7B22FFFE223A22227D' AS TEXT) WHERE record_id = {}",
            db.id(bad)
        ));
    });
}

/// One record of five made unreadable by `spoil` (raw SQL on its row) is
/// that record's problem only: skipped as invalid by the writer's and a
/// reader's queries, the opaque error for a single read or an update,
/// counted and passed over by a re-wrap (also the one a revocation runs),
/// and deletable.
fn one_invalid_row(db: &TestDb, spoil: impl Fn(&TestDb, RecordId)) {
    let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
    let ids = notes(&alice, 5);
    alice.share("note", bob.id()).unwrap();
    let bad = ids[2];
    spoil(db, bad);
    let good: Vec<RecordId> = ids.iter().copied().filter(|id| *id != bad).collect();

    // The writer's query, and a reader's over everything shared with it.
    let page = alice.query(&Query::new().record_type("note")).unwrap();
    assert_eq!(page.records.len(), 4);
    assert_eq!(skips(&page.skipped), vec![invalid(bad, &alice)]);
    let page = bob
        .query(&Query::new().record_type("note").shared())
        .unwrap();
    assert_eq!(page.records.len(), 4);
    assert_eq!(skips(&page.skipped), vec![invalid(bad, &alice)]);
    // Paged one at a time, in every order, the others all come back once.
    pages_return_each_once(&alice, &good, 1);
    pages_return_each_once(&alice, &good, 2);

    // A single read is the opaque error; its neighbours read.
    assert!(matches!(alice.get(bad), Err(Error::Decryption)));
    assert!(matches!(read(&bob, bad), Err(Error::Decryption)));
    assert_eq!(read(&alice, ids[3]).unwrap(), "n3");
    // It cannot be updated (its type is not known to be its own)...
    assert!(matches!(
        alice.update(bad, 1, &note("x"), &Plain::new()),
        Err(Error::Decryption)
    ));

    // A re-wrap counts it and passes over it.
    alice.rotate("note").unwrap();
    let done = alice.rewrap_existing("note", 2).unwrap();
    assert_eq!(
        (done.rewrapped, done.invalid, done.remaining),
        (4, 1, Some(1))
    );

    // A revocation with re-wrap commits, re-wraps the others and says so.
    alice.share("note", carol.id()).unwrap();
    assert_eq!(read(&carol, ids[0]).unwrap(), "n0", "carol's cache is warm");
    let outcome = alice.revoke_and_rewrap("note", carol.id()).unwrap();
    assert_eq!(outcome.new_version, Some(3));
    assert_eq!(outcome.removed_readers, vec![carol.id()]);
    let report = outcome.rewrap.expect("a re-wrap was asked for");
    assert!(report.interrupted.is_none(), "{:?}", report.interrupted);
    assert_eq!(
        (
            report.done.rewrapped,
            report.done.invalid,
            report.done.remaining
        ),
        (4, 1, Some(1))
    );
    for id in &good {
        assert!(matches!(read(&carol, *id), Err(Error::AccessDenied { .. })));
        assert_eq!(alice.get(*id).unwrap().meta().key_version, 3);
    }

    // ...but it can be deleted, and then nothing is skipped.
    alice.delete(bad, 1).unwrap();
    let page = alice.query(&Query::new().record_type("note")).unwrap();
    assert_eq!((page.records.len(), page.skipped.len()), (4, 0));
}

#[test]
fn pages_move_past_rows_whose_keys_are_malformed_on_sqlite() {
    // Ids of the wrong length, text in a BLOB id column, and NULL ids and
    // times exist only on SQLite (a PostgreSQL `uuid` is 16 bytes and its
    // primary key NOT NULL; NULL times are covered on both below).
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    relax(&db, "records", &[]);
    let ids = notes(&alice, 9);
    // Three bytes, not sixteen.
    db.sql(&format!(
        "UPDATE records SET record_id = X'FFFE01' WHERE record_id = {}",
        db.id(ids[1])
    ));
    // The id as hyphenated text (the old shape's), where its 16 bytes belong.
    db.sql(&format!(
        "UPDATE records SET record_id = '{}' WHERE record_id = {}",
        ids[8],
        db.id(ids[8])
    ));
    db.sql(&format!(
        "UPDATE records SET record_id = NULL WHERE record_id = {}",
        db.id(ids[4])
    ));
    db.sql(&format!(
        "UPDATE records SET created_at = NULL, updated_at = NULL WHERE record_id = {}",
        db.id(ids[6])
    ));
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM records WHERE typeof(record_id) = 'text'"),
        1
    );
    let good: Vec<RecordId> = [0, 2, 3, 5, 7].iter().map(|&i| ids[i]).collect();
    for limit in [1, 2, 3, 100] {
        pages_return_each_once(&alice, &good, limit);
    }
    let (_, skipped) = every_page(&alice, Query::new().record_type("note"), 100);
    assert_eq!(
        skipped.len(),
        4,
        "one page sees all four malformed rows: {skipped:?}"
    );
    assert!(skipped.iter().all(|s| s.reason == SkipReason::Invalid));

    // A re-wrap passes over them too.
    alice.rotate("note").unwrap();
    let done = alice.rewrap_existing("note", 1).unwrap();
    assert_eq!(done.rewrapped, 5);
    assert_eq!(
        done.invalid, 3,
        "the rows with a malformed id and no times (a NULL id is never selected)"
    );
}

#[test]
fn null_columns_in_a_relaxed_schema_are_invalid_rows() {
    each_backend("null_columns_in_a_relaxed_schema_are_invalid_rows", |db| {
        let (alice, bob) = (client(db, "alice"), client(db, "bob"));
        relax(
            db,
            "records",
            &[
                "plain",
                "sealed_fields",
                "version",
                "key_version",
                "created_at",
                "updated_at",
            ],
        );
        let ids = notes(&alice, 8);
        alice.share("note", bob.id()).unwrap();
        for (i, column) in [
            (1, "plain"),
            (2, "sealed_fields"),
            (3, "version"),
            (4, "key_version"),
        ] {
            db.sql(&format!(
                "UPDATE records SET {column} = NULL WHERE record_id = {}",
                db.id(ids[i])
            ));
        }
        db.sql(&format!(
            "UPDATE records SET created_at = NULL, updated_at = NULL WHERE record_id = {}",
            db.id(ids[5])
        ));
        let bad = [1, 2, 3, 4, 5].map(|i| ids[i]);
        let good = [ids[0], ids[6], ids[7]];

        let page = alice.query(&Query::new().record_type("note")).unwrap();
        assert_eq!(page.records.len(), 3);
        assert_eq!(
            sorted(skips(&page.skipped)),
            sorted(bad.iter().map(|id| invalid(*id, &alice)).collect())
        );
        let page = bob
            .query(&Query::new().record_type("note").shared())
            .unwrap();
        assert_eq!((page.records.len(), page.skipped.len()), (3, 5));
        for limit in [1, 2, 100] {
            pages_return_each_once(&alice, &good, limit);
        }
        for id in bad {
            assert!(matches!(alice.get(id), Err(Error::Decryption)), "{id}");
        }
        assert_eq!(read(&bob, ids[7]).unwrap(), "n7");

        // A re-wrap counts and passes over the rows under an older version
        // (a row with no key version is under none).
        alice.rotate("note").unwrap();
        let done = alice.rewrap_existing("note", 2).unwrap();
        assert_eq!(
            (done.rewrapped, done.invalid, done.remaining),
            (3, 4, Some(4))
        );
        // Deleting one whose version is there works; one without cannot be
        // matched to a version.
        alice.delete(ids[1], 1).unwrap();
        assert!(matches!(alice.delete(ids[3], 1), Err(Error::Decryption)));
    });
}

#[test]
fn rewrap_counts_and_passes_over_invalid_rows() {
    each_backend("rewrap_counts_and_passes_over_invalid_rows", |db| {
        let alice = client(db, "alice");
        let mut ids = notes(&alice, 7);
        ids.sort();
        // The two first in the re-wrap's keyset order: its first batch of
        // two holds nothing it can re-wrap, and it must still move on.
        // Each keeps a well-formed sealed-fields column whose envelope is
        // junk of the right length.
        for id in &ids[..2] {
            let stored = db.texts(&format!(
                "SELECT {} AS t FROM records WHERE record_id = {}",
                db.hex("sealed_fields"),
                db.id(id)
            ));
            let fields = decode_fields(&common::unhex(&stored[0])).unwrap();
            let junk: BTreeMap<String, Envelope> = fields
                .iter()
                .map(|(name, envelope)| {
                    let bytes = vec![0x5A; envelope.as_bytes().len()];
                    (name.clone(), Envelope::from_bytes(bytes).unwrap())
                })
                .collect();
            assert_eq!(junk.len(), 1);
            db.sql(&format!(
                "UPDATE records SET sealed_fields = {} WHERE record_id = {}",
                db.blob(&encode_fields(&junk).unwrap()),
                db.id(id)
            ));
        }
        alice.rotate("note").unwrap();
        let mut seen = Vec::new();
        let done = alice
            .rewrap_existing_with_progress("note", 2, |p| seen.push((p.rewrapped, p.invalid)))
            .unwrap();
        assert_eq!(
            (done.rewrapped, done.invalid, done.batches, done.remaining),
            (5, 2, 4, Some(2))
        );
        assert_eq!(seen, vec![(0, 2), (2, 2), (4, 2), (5, 2)]);
        // Run again: nothing to re-wrap, the same two counted, still there.
        let again = alice.rewrap_existing("note", 2).unwrap();
        assert_eq!(
            (again.rewrapped, again.invalid, again.remaining),
            (0, 2, Some(2))
        );
        for id in &ids[2..] {
            assert_eq!(alice.get(*id).unwrap().meta().key_version, 2);
        }
    });
}

#[test]
fn a_malformed_key_head_blocks_nothing() {
    each_backend("a_malformed_key_head_blocks_nothing", |db| {
        let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
        notes(&alice, 1);
        alice.share("note", bob.id()).unwrap();
        relax(db, "key_heads", &["current_version"]);
        let huge = match db.backend {
            Backend::Sqlite => "1099511627776",
            _ => "2147483647",
        };
        let mut version = 1;
        for head in ["-5", huge, "NULL"] {
            db.sql(&format!(
                "UPDATE key_heads SET current_version = {head} WHERE writer_id = {}",
                db.id(alice.id())
            ));
            assert_eq!(
                db.count(&format!(
                    "SELECT COUNT(*) AS n FROM key_heads WHERE writer_id = {} \
                     AND COALESCE(current_version, -999) = COALESCE({head}, -999)",
                    db.id(alice.id())
                )),
                1,
                "the head is {head}"
            );
            // A write, a share and a revocation (which rotates) all go on.
            let id = alice.put("note", &note(head), &Plain::new()).unwrap().id;
            assert_eq!(alice.get(id).unwrap().meta().key_version, version, "{head}");
            alice.share("note", carol.id()).unwrap();
            assert_eq!(read(&carol, id).unwrap(), head);
            let outcome = alice.revoke("note", carol.id()).unwrap();
            version += 1;
            assert_eq!(outcome.new_version, Some(version), "{head}");
            assert_eq!(outcome.removed_readers, vec![carol.id()]);
            assert_eq!(read(&bob, id).unwrap(), head, "bob remains");
        }
        // A fresh process of Alice too.
        let alice2 = client(db, "alice");
        db.sql(&format!(
            "UPDATE key_heads SET current_version = -1 WHERE writer_id = {}",
            db.id(alice.id())
        ));
        let id = alice2
            .put("note", &note("later"), &Plain::new())
            .unwrap()
            .id;
        assert_eq!(alice2.get(id).unwrap().meta().key_version, version);
    });
}

#[test]
fn a_garbage_policy_row_is_ignored_as_if_absent() {
    each_backend("a_garbage_policy_row_is_ignored_as_if_absent", |db| {
        let (alice, bob, carol, dave) = (
            client(db, "alice"),
            client(db, "bob"),
            client(db, "carol"),
            client(db, "dave"),
        );
        let first = notes(&alice, 1)[0];
        alice.share("note", bob.id()).unwrap();
        relax(
            db,
            "policies",
            &[
                "granted_by",
                "reader_key",
                "key_version",
                "signature",
                "created_at",
            ],
        );
        let a = db.id(alice.id());
        let (nobody, nor_this) = (db.id(ClientId::random()), db.id(ClientId::random()));
        let junk = db.blob(b"junk");
        // A read grant for carol with nothing in it, one for dave with junk
        // of every kind (keys and signature of the wrong length, a granter
        // and an authoriser that are no clients), and one naming no client
        // at all.
        db.sql(&format!(
            "INSERT INTO policies (writer_id, record_type, reader_id, kind) VALUES ({a}, 'note', {}, 'read')",
            db.id(carol.id())
        ));
        db.sql(&format!(
            "INSERT INTO policies VALUES ({a}, 'note', {}, 'read', {nobody}, {nor_this}, {junk}, -7, {}, -1)",
            db.id(dave.id()),
            db.blob(b"srs1.junk")
        ));
        db.sql(&format!(
            "INSERT INTO policies VALUES ({a}, 'note', {nobody}, 'authorize', {a}, NULL, {junk}, 99999, {junk}, 0)"
        ));
        if db.backend == Backend::Sqlite {
            // Text that is not UTF-8 and text where bytes belong, made by
            // bob "as an authoriser" for carol.
            db.sql(&format!(
                "INSERT INTO policies VALUES ({a}, CAST(X'FFFE' AS TEXT), {}, 'read', {}, NULL, CAST(X'FF' AS TEXT), 1, 'x', 0)",
                db.id(carol.id()),
                db.id(bob.id())
            ));
            // Ids of the wrong length: carol's as text (the old shape's),
            // and three bytes.
            db.sql(&format!(
                "INSERT INTO policies VALUES ({a}, 'note', '{}', 'authorize', '{}', NULL, {}, 1, {}, 0)",
                carol.id(),
                alice.id(),
                db.blob(&[0x11; 32]),
                db.blob(&[0x22; 64])
            ));
            db.sql(&format!(
                "INSERT INTO policies VALUES ({a}, 'note', X'FFFE01', 'read', {a}, X'FFFE01', {}, 1, {}, 0)",
                db.blob(&[0x11; 32]),
                db.blob(&[0x22; 64])
            ));
        }

        // Listing ignores them.
        let outgoing = alice.outgoing_shares().unwrap();
        assert_eq!(
            outgoing.iter().map(|s| s.reader_id).collect::<Vec<_>>(),
            vec![bob.id()]
        );
        assert!(carol.incoming_shares().unwrap().is_empty());
        assert!(matches!(
            read(&carol, first),
            Err(Error::AccessDenied { .. })
        ));
        // Writes, shares and revocations go on.
        let id = alice.put("note", &note("w"), &Plain::new()).unwrap().id;
        alice.share("note", carol.id()).unwrap();
        assert_eq!(read(&carol, id).unwrap(), "w");
        let outcome = alice.revoke_and_rewrap("note", bob.id()).unwrap();
        assert_eq!(outcome.new_version, Some(2));
        assert_eq!(outcome.wrapped_keys, 2, "alice and carol: never dave");
        assert_eq!(outcome.removed_readers, vec![bob.id()]);
        let report = outcome.rewrap.unwrap();
        assert!(report.interrupted.is_none(), "{:?}", report.interrupted);
        assert_eq!(report.done.rewrapped, 2);
        let later = alice.put("note", &note("v2"), &Plain::new()).unwrap().id;
        assert!(matches!(
            read(&dave, later),
            Err(Error::AccessDenied { .. })
        ));
        assert!(matches!(read(&bob, later), Err(Error::AccessDenied { .. })));
        assert_eq!(read(&carol, later).unwrap(), "v2");
        let rotated = alice.rotate("note").unwrap();
        assert_eq!((rotated.new_version, rotated.wrapped_keys), (Some(3), 2));
    });
}

/// What [`other_tables`] puts where a value belongs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spoiled {
    /// NULL, in a schema relaxed to let it be.
    Null,
    /// Bytes that are not what the column holds.
    Garbage,
}

#[test]
fn malformed_rows_of_the_other_tables_fail_only_themselves() {
    each_backend(
        "malformed_rows_of_the_other_tables_fail_only_themselves",
        |db| other_tables(db, Spoiled::Null),
    );
}

#[test]
fn garbage_bytes_in_the_other_tables_fail_only_their_rows() {
    each_backend(
        "garbage_bytes_in_the_other_tables_fail_only_their_rows",
        |db| other_tables(db, Spoiled::Garbage),
    );
}

/// A batch row without usable digests, a wrapped key without a key, a
/// client without a usable signing key and an import mapping without a
/// record id each fail only what depends on them.
fn other_tables(db: &TestDb, spoiled: Spoiled) {
    let (alice, bob, carol) = (client(db, "alice"), client(db, "bob"), client(db, "carol"));
    if spoiled == Spoiled::Null {
        relax(db, "record_batches", &["digests"]);
        relax(db, "clients", &["signing_key"]);
        relax(db, "access_keys", &["wrapped_key"]);
        relax(db, "import_map", &["record_id"]);
    }
    let value = |garbage: &[u8]| match spoiled {
        Spoiled::Null => "NULL".to_owned(),
        Spoiled::Garbage => db.blob(garbage),
    };

    // A batch row with no digests (or 33 bytes of them, not a whole
    // number): the records it signs are invalid, the writer's others read.
    let lost = alice.put("note", &note("lost"), &Plain::new()).unwrap().id;
    let kept = alice.put("note", &note("kept"), &Plain::new()).unwrap().id;
    alice.share("note", bob.id()).unwrap();
    db.sql(&format!(
        "UPDATE record_batches SET digests = {} WHERE batch_id = (SELECT batch_id FROM records WHERE record_id = {})",
        value(&[0xD1; 33]),
        db.id(lost)
    ));
    alice.clear_batch_cache();
    let page = alice.query(&Query::new().record_type("note")).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(skips(&page.skipped), vec![invalid(lost, &alice)]);
    assert!(matches!(alice.get(lost), Err(Error::Decryption)));
    assert_eq!(read(&alice, kept).unwrap(), "kept");

    // A wrapped key with no key in it (or junk bytes): no access to that
    // writer's records, the reader's own still read.
    let bobs = bob.put("note", &note("bob's"), &Plain::new()).unwrap().id;
    db.sql(&format!(
        "UPDATE access_keys SET wrapped_key = {} WHERE writer_id = {} AND reader_id = {}",
        value(&[0x6B; 80]),
        db.id(alice.id()),
        db.id(bob.id())
    ));
    let page = bob
        .query(&Query::new().record_type("note").shared())
        .unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
        vec![bobs]
    );
    assert_eq!(
        sorted(skips(&page.skipped))
            .iter()
            .map(|s| (s.0, s.2))
            .collect::<Vec<_>>(),
        sorted(vec![
            invalid(lost, &alice),
            (Some(kept), Some(alice.id()), SkipReason::NoAccess),
        ])
        .iter()
        .map(|s| (s.0, s.2))
        .collect::<Vec<_>>()
    );
    assert!(matches!(read(&bob, kept), Err(Error::Decryption)));

    // A writer whose registered keys are unusable (not pinned yet; a
    // signing key of 31 bytes): its records are skipped as from an unknown
    // writer.
    bob.share("note", carol.id()).unwrap();
    alice.share("note", carol.id()).unwrap();
    db.sql(&format!(
        "UPDATE clients SET signing_key = {} WHERE client_id = {}",
        value(&[0x5E; 31]),
        db.id(bob.id())
    ));
    let page = carol
        .query(&Query::new().record_type("note").shared())
        .unwrap();
    assert_eq!(
        page.records.iter().map(|r| r.id()).collect::<Vec<_>>(),
        vec![kept]
    );
    assert!(skips(&page.skipped).contains(&(
        Some(bobs),
        Some(bob.id()),
        SkipReason::UnknownWriter
    )));
    assert!(matches!(read(&carol, bobs), Err(Error::Decryption)));

    // An import mapping with no record id (or, on SQLite, one of three
    // bytes; a PostgreSQL `uuid` is always 16): that source row counts as
    // imported (never imported twice), and is left out of the mapping.
    if spoiled == Spoiled::Garbage && db.backend != Backend::Sqlite {
        return;
    }
    let rows: Vec<ImportRow> = ["a", "b"]
        .iter()
        .map(|id| ImportRow::new(*id, NewRecord::new("imported", note(id), Plain::new())))
        .collect();
    assert_eq!(alice.import_batch("legacy", &rows).unwrap().imported, 2);
    db.sql(&format!(
        "UPDATE import_map SET record_id = {} WHERE source_id = 'a'",
        value(&[0xFF, 0xFE, 0x01])
    ));
    let again = alice.import_batch("legacy", &rows).unwrap();
    assert_eq!((again.imported, again.already_imported), (0, 2));
    let mapped = alice
        .imported("legacy", &["a".to_owned(), "b".to_owned()])
        .unwrap();
    assert_eq!(mapped.keys().collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(alice.imported_count("legacy").unwrap(), 2);
}

/// SQLite stores any class in any column. An id held as a number sorts
/// before every BLOB, and a time held as text after every number, or as a
/// real between two integers: pages and re-wraps move past such rows
/// (malformed, skipped) without losing a valid record or repeating a page.
#[test]
fn ids_and_times_of_another_sqlite_class_are_passed_over() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let ids = notes(&alice, 12);
    db.sql(&format!(
        "UPDATE records SET record_id = 5 WHERE record_id = {}",
        db.id(ids[0])
    ));
    db.sql(&format!(
        "UPDATE records SET created_at = 'x', updated_at = 'x' WHERE record_id = {}",
        db.id(ids[1])
    ));
    db.sql(&format!(
        "UPDATE records SET created_at = 'y', updated_at = 'y' WHERE record_id = {}",
        db.id(ids[2])
    ));
    db.sql(&format!(
        "UPDATE records SET created_at = created_at + 0.5, updated_at = updated_at + 0.5 \
         WHERE record_id = {}",
        db.id(ids[3])
    ));
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM records WHERE typeof(record_id) = 'integer' \
             OR typeof(created_at) IN ('text', 'real')"
        ),
        4
    );
    let good = &ids[4..];
    for limit in [1, 2, 3, 100] {
        pages_return_each_once(&alice, good, limit);
    }
    // One page sees the four malformed rows as invalid.
    let (_, skipped) = every_page(&alice, Query::new().record_type("note"), 100);
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(skipped.iter().all(|s| s.reason == SkipReason::Invalid));
    // query_pages ends, and gives every valid record once.
    let mut seen = Vec::new();
    alice
        .query_pages(&Query::new().record_type("note").limit(1), |page| {
            assert!(seen.len() < 100, "query_pages did not end");
            seen.extend(page.records.iter().map(|r| r.id()));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        seen.iter().copied().collect::<BTreeSet<_>>(),
        good.iter().copied().collect::<BTreeSet<_>>()
    );
    assert_eq!(seen.len(), good.len());
    // A re-wrap re-wraps every valid record, one at a time.
    alice.rotate("note").unwrap();
    let done = alice.rewrap_existing("note", 1).unwrap();
    assert_eq!(done.rewrapped, good.len(), "{done:?}");
}

/// PostgreSQL, with the operator's primary key dropped: a NULL id sorts
/// last ascending and first descending; pages after it lose nothing.
#[test]
fn a_null_id_without_a_primary_key_loses_no_page_on_postgres() {
    let Some(db) = common::postgres_db("a_null_id_without_a_primary_key_loses_no_page") else {
        return;
    };
    let alice = client(&db, "alice");
    let ids = notes(&alice, 6);
    db.sql("ALTER TABLE records DROP CONSTRAINT records_pkey");
    db.sql("ALTER TABLE records ALTER COLUMN record_id DROP NOT NULL");
    db.sql(&format!(
        "UPDATE records SET record_id = NULL WHERE record_id = {}",
        db.id(ids[0])
    ));
    for limit in [1, 2, 3] {
        pages_return_each_once(&alice, &ids[1..], limit);
    }
}

/// PostgreSQL: a batch row whose (unsigned) creation time is NULL in a
/// relaxed schema blocks no delete and no re-wrap.
#[test]
fn a_batch_row_with_a_null_time_blocks_no_write_on_postgres() {
    let Some(db) = common::postgres_db("a_batch_row_with_a_null_time_blocks_no_write") else {
        return;
    };
    let alice = client(&db, "alice");
    let ids = notes(&alice, 3);
    db.sql("ALTER TABLE record_batches ALTER COLUMN created_at DROP NOT NULL");
    db.sql("UPDATE record_batches SET created_at = NULL");
    alice.delete(ids[0], 1).unwrap();
    alice.rotate("note").unwrap();
    let done = alice.rewrap_existing("note", 10).unwrap();
    assert_eq!(done.rewrapped, 2, "{done:?}");
}

/// SQLite: a version held as text ('1x', read as 1) does not match the
/// re-wrap's guarded update; the batch signed for that record is not left
/// behind without records.
#[test]
fn a_rewrap_whose_update_does_not_match_leaves_no_batch_behind() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let ids = notes(&alice, 3);
    db.sql(&format!(
        "UPDATE records SET version = '1x' WHERE record_id = {}",
        db.id(ids[0])
    ));
    alice.rotate("note").unwrap();
    let done = alice.rewrap_existing("note", 1).unwrap();
    assert_eq!(done.rewrapped, 2, "{done:?}");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM record_batches b \
             WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.batch_id = b.batch_id)"
        ),
        0,
        "no batch row without records"
    );
}

/// A row edited to name a key version or record type this client holds no
/// key for fails its writer's signature: the opaque error on `get` and an
/// invalid row in a query, never `AccessDenied` / `NoAccess`, which would
/// pass tampering off as a missing share. A genuine record of a type not
/// shared with the reader is still `AccessDenied` / `NoAccess`.
#[test]
fn a_row_edited_to_name_a_key_it_lacks_is_tampering_not_a_missing_share() {
    each_backend("edited_key_version_is_tampering", |db| {
        let alice = client(db, "alice");
        let bob = client(db, "bob");
        let ids = notes(&alice, 3);
        db.sql(&format!(
            "UPDATE records SET key_version = 7 WHERE record_id = {}",
            db.id(ids[0])
        ));
        db.sql(&format!(
            "UPDATE records SET record_type = 'never_used' WHERE record_id = {}",
            db.id(ids[1])
        ));
        for id in &ids[..2] {
            assert!(matches!(alice.get(*id), Err(Error::Decryption)));
        }
        let page = alice.query(&Query::new()).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(
            sorted(skips(&page.skipped)),
            sorted(vec![invalid(ids[0], &alice), invalid(ids[1], &alice)])
        );

        // Genuine, but not shared with bob: a missing share.
        assert!(matches!(bob.get(ids[2]), Err(Error::AccessDenied { .. })));
        let page = bob.query(&Query::new().writers([alice.id()])).unwrap();
        assert!(page.records.is_empty());
        let reasons: Vec<_> = page
            .skipped
            .iter()
            .map(|s| (s.record_id, s.reason))
            .collect();
        assert!(reasons.contains(&(Some(ids[2]), SkipReason::NoAccess)));
        assert!(reasons.contains(&(Some(ids[0]), SkipReason::Invalid)));
        assert!(reasons.contains(&(Some(ids[1]), SkipReason::Invalid)));
    });
}

/// From a review of every table: made-up wrapped-key rows never block a
/// rotation, a revocation, a share or setting the recovery client, and a
/// share in force is listed whatever its unsigned time says.
mod made_up_key_rows {
    use super::*;

    fn plant(db: &TestDb, writer: &Client, record_type: &str, version: &str, reader: &Client) {
        let w = db.id(writer.id());
        db.sql(&format!(
            "INSERT INTO access_keys VALUES ({w}, '{record_type}', {version}, {}, {w}, {}, 0)",
            db.id(reader.id()),
            db.blob(&[9; 90])
        ));
    }

    #[test]
    fn a_row_at_the_next_version_does_not_block_a_revocation() {
        each_backend(
            "a_row_at_the_next_version_does_not_block_a_revocation",
            |db| {
                let (alice, bob, carol) =
                    (client(db, "alice"), client(db, "bob"), client(db, "carol"));
                notes(&alice, 2);
                alice.share("note", bob.id()).unwrap();
                alice.share("note", carol.id()).unwrap();
                plant(db, &alice, "note", "2", &bob);
                let outcome = alice.revoke_and_rewrap("note", carol.id()).unwrap();
                assert_eq!(outcome.new_version, Some(2));
                let after = alice.put("note", &note("after"), &Plain::new()).unwrap().id;
                assert!(read(&carol, after).is_err(), "carol was revoked");
                assert_eq!(read(&bob, after).unwrap(), "after");
                plant(db, &alice, "note", "3", &alice);
                assert_eq!(alice.rotate("note").unwrap().new_version, Some(3));
            },
        );
    }

    #[test]
    fn a_row_at_version_0_does_not_block_a_share() {
        each_backend("a_row_at_version_0_does_not_block_a_share", |db| {
            let (alice, carol) = (client(db, "alice"), client(db, "carol"));
            let ids = notes(&alice, 1);
            plant(db, &alice, "note", "0", &alice);
            alice.share("note", carol.id()).unwrap();
            assert!(read(&carol, ids[0]).is_ok());
        });
    }

    #[test]
    fn a_made_up_type_does_not_stop_the_recovery_client() {
        each_backend("a_made_up_type_does_not_stop_the_recovery_client", |db| {
            let (alice, recovery) = (client(db, "alice"), client(db, "recovery"));
            let ids = notes(&alice, 1);
            plant(db, &alice, "ghost", "1", &alice);
            let outcome = alice.set_recovery_client(recovery.public()).unwrap();
            assert_eq!(outcome.record_types, ["note"]);
            assert_eq!(outcome.skipped, ["ghost"]);
            assert!(read(&recovery, ids[0]).is_ok());
        });
    }

    #[test]
    fn a_record_twice_in_a_page_is_returned_once() {
        each_backend("a_record_twice_in_a_page_is_returned_once", |db| {
            let alice = client(db, "alice");
            let mut plain = Plain::new();
            plain.insert("clinic".into(), "north".into());
            let ids: Vec<RecordId> = (0..5)
                .map(|n| alice.put("note", &note(&n.to_string()), &plain).unwrap().id)
                .collect();
            if db.backend == strongroom::Backend::Sqlite {
                // SQLite's meta index is keyed by all its columns: rebuilt
                // without the key. PostgreSQL's has no unique key (since
                // migration 000005) and takes the copy as it is.
                db.sql("CREATE TABLE m2 AS SELECT * FROM meta_index");
                db.sql("DROP TABLE meta_index");
                db.sql("ALTER TABLE m2 RENAME TO meta_index");
            }
            // One row copied, twice.
            for _ in 0..2 {
                db.sql(&format!(
                    "INSERT INTO meta_index SELECT * FROM meta_index WHERE record_id = {} LIMIT 1",
                    db.id(ids[2])
                ));
            }
            for limit in [1, 2, 100] {
                let mut seen = Vec::new();
                let mut query = Query::new()
                    .record_type("note")
                    .plain_eq("clinic", "north")
                    .limit(limit);
                loop {
                    let page = alice.query(&query).unwrap();
                    seen.extend(page.records.iter().map(|r| r.id()));
                    match page.next {
                        Some(cursor) => query = query.after(cursor),
                        None => break,
                    }
                }
                seen.sort();
                let mut expected = ids.clone();
                expected.sort();
                assert_eq!(seen, expected, "pages of {limit}");
            }
        });
    }

    #[test]
    fn a_share_with_a_time_out_of_range_is_listed() {
        each_backend("a_share_with_a_time_out_of_range_is_listed", |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            notes(&alice, 1);
            alice.share("note", bob.id()).unwrap();
            db.sql(&format!(
                "UPDATE policies SET created_at = 9223372036854775807 WHERE reader_id = {}",
                db.id(bob.id())
            ));
            assert_eq!(alice.outgoing_shares().unwrap().len(), 1);
            assert_eq!(bob.incoming_shares().unwrap().len(), 1);
        });
    }
}
