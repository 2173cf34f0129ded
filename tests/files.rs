//! Files on SQLite and PostgreSQL: bodies streamed in and out in chunks
//! (round trips at every chunk boundary and of 100 MiB, generated), every
//! way the database can change the chunk rows failing closed, sharing and
//! revocation as for any record of the type, re-wrap moving the data key
//! only, and an upload killed mid-stream leaving nothing behind.

mod common;

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::notes::{client, note};
use common::{each_backend, TestDb};
use strongroom::{Backend, Client, Error, Plain, Query, RecordId};

const CHUNK: usize = 64 * 1024;

/// `len` bytes of a deterministic pseudo-random stream, generated as read.
struct Generated {
    left: u64,
    state: u64,
}

impl Generated {
    fn new(len: u64, seed: u64) -> Self {
        Generated {
            left: len,
            state: seed | 1,
        }
    }

    fn next_byte(&mut self) -> u8 {
        (common::xorshift64(&mut self.state) >> 32) as u8
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for byte in &mut buf[..n] {
            *byte = self.next_byte();
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Compares what is written with the same generated stream.
struct Expect {
    expected: Generated,
    seen: u64,
}

impl Write for Expect {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            if self.expected.left == 0 || self.expected.next_byte() != byte {
                return Err(io::Error::other(format!("byte {} differs", self.seen)));
            }
            self.expected.left -= 1;
            self.seen += 1;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn body(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    Generated::new(len as u64, seed)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn plain(pairs: &[(&str, &str)]) -> Plain {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn put(alice: &Client, bytes: &[u8]) -> RecordId {
    alice
        .put_file("scan", &plain(&[("kind", "xray")]), bytes)
        .unwrap()
        .id
}

fn read_all(reader: &Client, id: RecordId) -> strongroom::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.read_file(id, &mut out)?;
    Ok(out)
}

fn chunk_rows(db: &TestDb, id: RecordId) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) AS n FROM file_chunks WHERE record_id = {}",
        db.id(id)
    ))
}

fn decryption(result: strongroom::Result<Vec<u8>>, case: &str) {
    match result {
        Err(Error::Decryption) => {}
        Err(other) => panic!("{case}: expected the opaque decryption error, got {other:?}"),
        Ok(bytes) => panic!("{case}: read {} bytes from tampered chunks", bytes.len()),
    }
}

#[test]
fn bodies_round_trip_at_every_chunk_boundary() {
    each_backend("bodies_round_trip_at_every_chunk_boundary", |db| {
        let alice = client(db, "alice");
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let bytes = body(len, len as u64 + 7);
            let meta = alice
                .put_file("scan", &plain(&[("len", &len.to_string())]), &bytes[..])
                .unwrap();
            assert_eq!(meta.file_size, Some(len as u64));
            assert_eq!(meta.version, 1);
            assert_eq!(read_all(&alice, meta.id).unwrap(), bytes, "{len} bytes");
            let expected_chunks = len.div_ceil(CHUNK).max(1) as i64;
            assert_eq!(chunk_rows(db, meta.id), expected_chunks, "{len} bytes");
            // The Read adapter gives the same bytes, in small reads.
            let mut reader = alice.open_file(meta.id).unwrap();
            assert_eq!(reader.meta().file_size, Some(len as u64));
            let mut back = Vec::new();
            let mut small = [0u8; 1000];
            loop {
                let n = reader.read(&mut small).unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&small[..n]);
            }
            assert_eq!(back, bytes);
            // `get` sees a file record: its meta, no fields.
            let record = alice.get(meta.id).unwrap();
            assert_eq!(record.meta().file_size, Some(len as u64));
            assert_eq!(record.field_names().count(), 0);
        }
    });
}

#[test]
fn a_hundred_mib_body_streams_in_and_out() {
    each_backend("a_hundred_mib_body_streams_in_and_out", |db| {
        let alice = client(db, "alice");
        let len = 100 * 1024 * 1024;
        let meta = alice
            .put_file("scan", &Plain::new(), Generated::new(len, 42))
            .unwrap();
        assert_eq!(meta.file_size, Some(len));
        let mut check = Expect {
            expected: Generated::new(len, 42),
            seen: 0,
        };
        alice.read_file(meta.id, &mut check).unwrap();
        assert_eq!(check.seen, len);
        assert_eq!(chunk_rows(db, meta.id), (len as usize / CHUNK) as i64);
    });
}

#[test]
fn ordinary_records_and_files_keep_to_their_own_calls() {
    each_backend("ordinary_records_and_files_keep_to_their_own_calls", |db| {
        let alice = client(db, "alice");
        let file = put(&alice, b"body");
        let record = alice.put("scan", &note("x"), &Plain::new()).unwrap();
        assert_eq!(record.file_size, None);
        assert!(matches!(
            alice.read_file(record.id, io::sink()),
            Err(Error::NotAFile { record_id }) if record_id == record.id
        ));
        assert!(matches!(
            alice.update(file, 1, &note("y"), &Plain::new()),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            alice.update_file(record.id, 1, &Plain::new(), &b"z"[..]),
            Err(Error::NotAFile { .. })
        ));
        assert!(matches!(
            alice.read_file(RecordId::random(), io::sink()),
            Err(Error::NotFound { .. })
        ));
        // Both show in a query of the type; only the file has a size.
        let page = alice.query(&Query::new().record_type("scan")).unwrap();
        let sizes: Vec<Option<u64>> = page.records.iter().map(|r| r.meta().file_size).collect();
        assert_eq!(sizes.len(), 2);
        assert!(sizes.contains(&Some(4)) && sizes.contains(&None));
    });
}

#[test]
fn updating_a_file_makes_a_new_version_and_deleting_removes_its_chunks() {
    each_backend(
        "updating_a_file_makes_a_new_version_and_deleting_removes_its_chunks",
        |db| {
            let alice = client(db, "alice");
            let first = body(2 * CHUNK + 5, 1);
            let id = put(&alice, &first);
            let second = body(CHUNK / 2, 2);
            let meta = alice
                .update_file(id, 1, &plain(&[("kind", "ct")]), &second[..])
                .unwrap();
            assert_eq!(
                (meta.version, meta.file_size),
                (2, Some(second.len() as u64))
            );
            assert_eq!(read_all(&alice, id).unwrap(), second);
            // Only the new version's chunks remain.
            assert_eq!(chunk_rows(db, id), 1);
            // A stale version is a conflict and changes nothing.
            assert!(matches!(
                alice.update_file(id, 1, &Plain::new(), &first[..]),
                Err(Error::Conflict { .. })
            ));
            assert_eq!(read_all(&alice, id).unwrap(), second);
            alice.delete(id, 2).unwrap();
            assert_eq!(chunk_rows(db, id), 0);
            assert!(matches!(read_all(&alice, id), Err(Error::NotFound { .. })));
        },
    );
}

#[test]
fn a_failing_source_stores_nothing() {
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(9);
            self.0 -= n;
            Ok(n)
        }
    }
    each_backend("a_failing_source_stores_nothing", |db| {
        let alice = client(db, "alice");
        let err = alice
            .put_file("scan", &Plain::new(), Broken(3 * CHUNK * 16))
            .unwrap_err();
        assert!(matches!(err, Error::BodyIo { .. }), "{err:?}");
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM file_chunks"), 0);
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
        // README: the type's first access key is stored before the upload
        // starts and stays (one key head, one wrapped key: alice's own).
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM key_heads WHERE record_type = 'scan'"),
            1
        );
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM access_keys WHERE record_type = 'scan'"),
            1
        );
        // And an update whose source fails keeps the old version whole.
        let id = put(&alice, b"kept");
        let err = alice
            .update_file(id, 1, &Plain::new(), Broken(CHUNK * 20))
            .unwrap_err();
        assert!(matches!(err, Error::BodyIo { .. }), "{err:?}");
        assert_eq!(read_all(&alice, id).unwrap(), b"kept");
        assert_eq!(chunk_rows(db, id), 1);
    });
}

/// SECURITY.md: after a failed check `FileReader` returns the same error
/// on every later read; after any other error (here the chunk table is
/// gone, a database error) every later read is `InvalidInput` "an earlier
/// read of this file failed".
#[test]
fn a_reader_after_a_database_error_says_an_earlier_read_failed() {
    each_backend(
        "a_reader_after_a_database_error_says_an_earlier_read_failed",
        |db| {
            let alice = client(db, "alice");
            // Far more chunks than the read-ahead holds (two windows).
            let id = put(&alice, &body(200 * CHUNK, 11));
            let mut reader = alice.open_file(id).unwrap();
            let mut first = [0u8; 1];
            assert_eq!(reader.read(&mut first).unwrap(), 1);
            db.sql("DROP TABLE file_chunks");
            let mut rest = Vec::new();
            let err = reader.read_to_end(&mut rest).unwrap_err();
            let inner = err
                .get_ref()
                .and_then(|e| e.downcast_ref::<Error>())
                .unwrap_or_else(|| panic!("not a strongroom error: {err:?}"));
            assert!(matches!(inner, Error::Database { .. }), "{inner:?}");
            assert!(rest.len() < 199 * CHUNK, "{}", rest.len());
            for _ in 0..2 {
                let again = reader.read(&mut first).unwrap_err();
                let inner = again
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<Error>())
                    .unwrap_or_else(|| panic!("not a strongroom error: {again:?}"));
                assert!(
                    matches!(inner, Error::InvalidInput(why) if why.contains("an earlier read of this file failed")),
                    "{inner:?}"
                );
            }
        },
    );
}

/// A file of five chunks and the hex of each chunk, in order.
fn five_chunk_file(db: &TestDb, alice: &Client, seed: u64) -> (RecordId, Vec<u8>, Vec<String>) {
    let bytes = body(4 * CHUNK + 100, seed);
    let id = put(alice, &bytes);
    let chunks = db.texts(&format!(
        "SELECT {} AS t FROM file_chunks WHERE record_id = {} ORDER BY seq",
        db.hex("chunk"),
        db.id(id)
    ));
    assert_eq!(chunks.len(), 5);
    (id, bytes, chunks)
}

fn set_chunk(db: &TestDb, id: RecordId, seq: i64, hex: &str) {
    db.sql(&format!(
        "UPDATE file_chunks SET chunk = {} WHERE record_id = {} AND seq = {seq}",
        db.blob(&common::unhex(hex)),
        db.id(id)
    ));
}

#[test]
fn every_change_to_the_chunk_rows_is_the_opaque_error() {
    each_backend("every_change_to_the_chunk_rows_is_the_opaque_error", |db| {
        let alice = client(db, "alice");
        let where_ = |id: RecordId| format!("record_id = {}", db.id(id));

        // Missing: a chunk in the middle deleted.
        let (id, _, _) = five_chunk_file(db, &alice, 1);
        db.sql(&format!(
            "DELETE FROM file_chunks WHERE {} AND seq = 2",
            where_(id)
        ));
        decryption(read_all(&alice, id), "missing chunk");

        // Truncated: the last chunk deleted.
        let (id, _, _) = five_chunk_file(db, &alice, 2);
        db.sql(&format!(
            "DELETE FROM file_chunks WHERE {} AND seq = 4",
            where_(id)
        ));
        decryption(read_all(&alice, id), "truncated");

        // Reordered: two chunks swapped.
        let (id, _, chunks) = five_chunk_file(db, &alice, 3);
        set_chunk(db, id, 1, &chunks[2]);
        set_chunk(db, id, 2, &chunks[1]);
        decryption(read_all(&alice, id), "reordered");

        // Reordered by sequence number.
        let (id, _, _) = five_chunk_file(db, &alice, 4);
        db.sql(&format!(
            "UPDATE file_chunks SET seq = 99 WHERE {} AND seq = 1",
            where_(id)
        ));
        db.sql(&format!(
            "UPDATE file_chunks SET seq = 1 WHERE {} AND seq = 3",
            where_(id)
        ));
        db.sql(&format!(
            "UPDATE file_chunks SET seq = 3 WHERE {} AND seq = 99",
            where_(id)
        ));
        decryption(read_all(&alice, id), "renumbered");

        // Duplicated: a chunk's bytes in the next one's place.
        let (id, _, chunks) = five_chunk_file(db, &alice, 5);
        set_chunk(db, id, 2, &chunks[1]);
        decryption(read_all(&alice, id), "duplicated");

        // Altered: one bit.
        let (id, _, chunks) = five_chunk_file(db, &alice, 6);
        let mut flipped = common::unhex(&chunks[3]);
        flipped[100] ^= 1;
        set_chunk(db, id, 3, &hex::encode(flipped));
        decryption(read_all(&alice, id), "flipped bit");

        // Cut short: a chunk missing its last bytes.
        let (id, _, chunks) = five_chunk_file(db, &alice, 7);
        set_chunk(db, id, 4, &chunks[4][..chunks[4].len() - 2]);
        decryption(read_all(&alice, id), "short chunk");

        // Swapped in from another file (same place).
        let (id, _, _) = five_chunk_file(db, &alice, 8);
        let (_, _, other) = five_chunk_file(db, &alice, 9);
        set_chunk(db, id, 0, &other[0]);
        decryption(read_all(&alice, id), "another file's chunk");

        // Swapped in from another version of the same file.
        let (id, _, old) = five_chunk_file(db, &alice, 10);
        alice
            .update_file(id, 1, &Plain::new(), &body(4 * CHUNK + 100, 11)[..])
            .unwrap();
        set_chunk(db, id, 0, &old[0]);
        decryption(read_all(&alice, id), "another version's chunk");

        // The old version's rows put back under the new version number.
        let (id, _, old) = five_chunk_file(db, &alice, 12);
        alice
            .update_file(id, 1, &Plain::new(), &body(4 * CHUNK + 100, 13)[..])
            .unwrap();
        for (seq, hex) in old.iter().enumerate() {
            set_chunk(db, id, seq as i64, hex);
        }
        decryption(read_all(&alice, id), "the whole old version");

        // A chunk that is text, not bytes (SQLite lets a column hold any
        // class).
        if db.backend == Backend::Sqlite {
            let (id, _, _) = five_chunk_file(db, &alice, 14);
            db.sql(&format!(
                "UPDATE file_chunks SET chunk = 'text' WHERE {} AND seq = 1",
                where_(id)
            ));
            decryption(read_all(&alice, id), "text chunk");
        }

        // The head altered: the record's signature fails before any byte
        // is written.
        let (id, _, _) = five_chunk_file(db, &alice, 15);
        let head = db.texts(&format!(
            "SELECT {} AS t FROM records WHERE {}",
            db.hex("file_head"),
            where_(id)
        ));
        let mut head = common::unhex(&head[0]);
        head[5] ^= 1; // the length
        db.sql(&format!(
            "UPDATE records SET file_head = {} WHERE {}",
            db.blob(&head),
            where_(id)
        ));
        let mut out = Vec::new();
        assert!(matches!(
            alice.read_file(id, &mut out),
            Err(Error::Decryption)
        ));
        assert!(
            out.is_empty(),
            "nothing is written before the signature verified"
        );
        // Without a head the record is no file: not one whose head the
        // database may drop.
        let (id, _, _) = five_chunk_file(db, &alice, 16);
        db.sql(&format!(
            "UPDATE records SET file_head = NULL WHERE {}",
            where_(id)
        ));
        assert!(matches!(alice.get(id), Err(Error::Decryption)));
        decryption(read_all(&alice, id), "head removed");

        // A row no write makes: a copy of a chunk added after the last one,
        // or before the first. The body's own chunks all verify; the extra
        // row is the database's doing, and the last chunk is withheld.
        for (seed, seq, copied) in [(17, 5, 4), (18, -1, 0), (19, 6, 4)] {
            let (id, bytes, chunks) = five_chunk_file(db, &alice, seed);
            db.sql(&format!(
                "INSERT INTO file_chunks (record_id, version, seq, chunk) VALUES ({}, 1, {seq}, {})",
                db.id(id),
                db.blob(&common::unhex(&chunks[copied]))
            ));
            let mut out = Vec::new();
            let result = alice.read_file(id, &mut out);
            assert!(
                matches!(result, Err(Error::Decryption)),
                "a row at sequence {seq}: {result:?}"
            );
            assert!(
                out.len() <= 4 * CHUNK && bytes.starts_with(&out),
                "a row at sequence {seq}: only a prefix without the last chunk is written"
            );
        }
    });
}

#[test]
fn a_failed_read_has_written_a_prefix_only_and_the_reader_withholds_the_end() {
    each_backend(
        "a_failed_read_has_written_a_prefix_only_and_the_reader_withholds_the_end",
        |db| {
            let alice = client(db, "alice");
            let (id, bytes, chunks) = five_chunk_file(db, &alice, 20);
            let mut last = common::unhex(&chunks[4]);
            last[10] ^= 1;
            set_chunk(db, id, 4, &hex::encode(last));
            // read_file: the first four chunks were written, not the last.
            let mut out = Vec::new();
            assert!(matches!(
                alice.read_file(id, &mut out),
                Err(Error::Decryption)
            ));
            assert_eq!(out, bytes[..4 * CHUNK]);
            // The Read adapter: the same prefix, then the error, and the
            // error again on every later read.
            let mut reader = alice.open_file(id).unwrap();
            let mut back = Vec::new();
            let err = reader.read_to_end(&mut back).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(matches!(
                err.get_ref().and_then(|e| e.downcast_ref::<Error>()),
                Some(Error::Decryption)
            ));
            assert_eq!(back, bytes[..4 * CHUNK]);
            assert!(reader.read(&mut [0u8; 10]).is_err());
        },
    );
}

#[test]
fn a_file_replaced_while_it_is_read_is_a_conflict_not_tampering() {
    each_backend(
        "a_file_replaced_while_it_is_read_is_a_conflict_not_tampering",
        |db| {
            let alice = client(db, "alice");
            // Far more than the reader fetches ahead (three windows of 16
            // chunks), so it comes back for more after the update.
            let id = put(&alice, &body(100 * CHUNK, 30));
            let mut reader = alice.open_file(id).unwrap();
            let mut first = vec![0u8; CHUNK];
            reader.read_exact(&mut first).unwrap();
            alice
                .update_file(id, 1, &Plain::new(), &b"new"[..])
                .unwrap();
            let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
            match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                Some(Error::Conflict {
                    expected: Some(1),
                    found: Some(2),
                    ..
                }) => {}
                other => panic!("expected a conflict, got {other:?} ({err})"),
            }
        },
    );
}

/// SECURITY.md: `Conflict` only for a newer version that verifies. A
/// version number the database edits in place mid-read (the record row
/// and a chunk moved to a version never written) is the tampering error,
/// and so is a chunk row longer than any sealed chunk.
#[test]
fn a_version_edited_in_the_database_mid_read_is_tampering_not_a_conflict() {
    each_backend(
        "a_version_edited_in_the_database_mid_read_is_tampering_not_a_conflict",
        |db| {
            let alice = client(db, "alice");
            let id = put(&alice, &body(100 * CHUNK, 31));
            let mut reader = alice.open_file(id).unwrap();
            let mut first = vec![0u8; CHUNK];
            reader.read_exact(&mut first).unwrap();
            db.sql(&format!(
                "UPDATE file_chunks SET version = 5 WHERE record_id = {} AND seq = 60",
                db.id(id)
            ));
            db.sql(&format!(
                "UPDATE records SET version = 5 WHERE record_id = {}",
                db.id(id)
            ));
            let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
            match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                Some(Error::Decryption) => {}
                other => panic!("expected the opaque decryption error, got {other:?} ({err})"),
            }
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);

            // The file deleted mid-read (its row and chunks): `NotFound`.
            let id = put(&alice, &body(100 * CHUNK, 34));
            let mut reader = alice.open_file(id).unwrap();
            reader.read_exact(&mut first).unwrap();
            alice.delete(id, 1).unwrap();
            let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
            match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                Some(Error::NotFound { record_id }) => assert_eq!(*record_id, id),
                other => panic!("expected NotFound, got {other:?} ({err})"),
            }

            // A chunk row far longer than a sealed chunk (4 MiB of zeros).
            let id = put(&alice, &body(3 * CHUNK, 32));
            db.sql(&format!(
                "UPDATE file_chunks SET chunk = {} WHERE record_id = {} AND seq = 1",
                db.blob(&vec![0u8; 4 << 20]),
                db.id(id)
            ));
            decryption(read_all(&alice, id), "a 4 MiB chunk row");
        },
    );
}

/// SECURITY.md: `Conflict` only for a newer version. The database rolled
/// back mid-read to the file's older version (its own row, batch and
/// chunks, all genuinely signed) is the tampering error, not a conflict.
#[test]
fn a_file_rolled_back_mid_read_to_its_older_version_is_tampering() {
    each_backend(
        "a_file_rolled_back_mid_read_to_its_older_version_is_tampering",
        |db| {
            let alice = client(db, "alice");
            let id = put(&alice, &body(100 * CHUNK, 36));
            for table in ["records", "record_batches", "file_chunks"] {
                db.sql(&format!(
                    "CREATE TABLE saved_{table} AS SELECT * FROM {table}"
                ));
            }
            alice
                .update_file(id, 1, &Plain::new(), &body(100 * CHUNK, 37)[..])
                .unwrap();
            let mut reader = alice.open_file(id).unwrap();
            let mut first = vec![0u8; CHUNK];
            reader.read_exact(&mut first).unwrap();
            db.sql("DELETE FROM records");
            db.sql("INSERT INTO records SELECT * FROM saved_records");
            db.sql(
                "INSERT INTO record_batches SELECT * FROM saved_record_batches WHERE true ON CONFLICT DO NOTHING",
            );
            db.sql("DELETE FROM file_chunks");
            db.sql("INSERT INTO file_chunks SELECT * FROM saved_file_chunks");
            let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
            match err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                Some(Error::Decryption) => {}
                other => panic!("expected the opaque decryption error, got {other:?} ({err})"),
            }
        },
    );
}

/// A copy of a file made with `open_file` as the upload's source, on a
/// pool with more than one connection (the put_file docs say why a pool of
/// one cannot).
#[test]
fn a_file_copies_through_its_own_reader() {
    each_backend("a_file_copies_through_its_own_reader", |db| {
        let alice = client(db, "alice");
        let bytes = body(40 * CHUNK + 3, 33);
        let id = put(&alice, &bytes);
        let copy = alice
            .put_file("scan", &Plain::new(), alice.open_file(id).unwrap())
            .unwrap();
        assert_eq!(copy.file_size, Some(bytes.len() as u64));
        assert_eq!(read_all(&alice, copy.id).unwrap(), bytes);
        let updated = alice
            .update_file(copy.id, 1, &Plain::new(), alice.open_file(id).unwrap())
            .unwrap();
        assert_eq!(updated.version, 2);
        assert_eq!(read_all(&alice, copy.id).unwrap(), bytes);
    });
}

/// The put_file docs: on a pool of one connection the upload holds it, so
/// a source reading from the same store waits until the pool's timeout and
/// the upload fails with `BodyIo`, storing nothing. The file is larger
/// than what its reader fetches ahead (48 chunks) before the upload takes
/// the connection, so the outcome does not depend on timing (at 40 chunks
/// a reader ahead of the upload could read it all).
#[test]
fn on_a_pool_of_one_an_upload_cannot_read_from_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = strongroom::Store::open_with(
        "sqlite::memory:",
        strongroom::StoreOptions::default().connection_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let alice = Client::open_or_create(dir.path().join("alice.profile"), &store).unwrap();
    let id = put(&alice, &body(100 * CHUNK, 35));
    let err = alice
        .put_file("copy", &Plain::new(), alice.open_file(id).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BodyIo {
                action: "reading the source",
                ..
            }
        ),
        "{err:?}"
    );
    let copies = alice
        .query(&Query::new().record_type("copy").meta_only())
        .unwrap();
    assert!(copies.records.is_empty(), "nothing of the copy is stored");
}

/// A source that panics after `after` bytes.
struct Panicking {
    after: usize,
}

impl Read for Panicking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.after == 0 {
            panic!("the source panicked (on purpose)");
        }
        let n = buf.len().min(self.after);
        buf[..n].fill(3);
        self.after -= n;
        Ok(n)
    }
}

/// A panic in an upload's source rolls its transaction back: nothing of
/// the upload is stored, the connection goes back to the pool usable, and
/// an in-memory SQLite store (whose one connection is the database) keeps
/// everything written before.
#[test]
fn a_panicking_source_rolls_back_and_the_store_goes_on() {
    let check = |alice: &Client, db: Option<&TestDb>| {
        let kept = put(alice, b"written before");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            alice.put_file("scan", &Plain::new(), Panicking { after: 40 * CHUNK })
        }));
        assert!(panicked.is_err(), "the source's panic goes on unwinding");
        assert_eq!(read_all(alice, kept).unwrap(), b"written before");
        let page = alice
            .query(&Query::new().record_type("scan").meta_only())
            .unwrap();
        assert_eq!(
            page.records.len(),
            1,
            "the panicked upload stored no record"
        );
        if let Some(db) = db {
            assert_eq!(chunk_rows(db, kept), 1);
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM file_chunks"), 1);
        }
        let after = put(alice, b"written after");
        assert_eq!(read_all(alice, after).unwrap(), b"written after");
    };
    each_backend(
        "a_panicking_source_rolls_back_and_the_store_goes_on",
        |db| {
            let alice = client(db, "alice");
            check(&alice, Some(db));
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let store = strongroom::Store::open("sqlite::memory:").unwrap();
    let alice = Client::open_or_create(dir.path().join("alice.profile"), &store).unwrap();
    check(&alice, None);
}

#[test]
fn files_are_shared_revoked_and_rewrapped_like_records() {
    each_backend(
        "files_are_shared_revoked_and_rewrapped_like_records",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            let before = body(2 * CHUNK + 3, 40);
            let old = put(&alice, &before);
            // Not shared yet: no access.
            assert!(matches!(
                read_all(&bob, old),
                Err(Error::AccessDenied { .. })
            ));
            alice.share("scan", bob.id()).unwrap();
            assert_eq!(read_all(&bob, old).unwrap(), before);

            let chunks_before = db.texts(&format!(
                "SELECT {} AS t FROM file_chunks WHERE record_id = {} ORDER BY seq",
                db.hex("chunk"),
                db.id(old)
            ));
            let outcome = alice.revoke_and_rewrap("scan", bob.id()).unwrap();
            assert_eq!(outcome.new_version, Some(2));
            // Re-wrap moved the data key in the head, never a chunk.
            let chunks_after = db.texts(&format!(
                "SELECT {} AS t FROM file_chunks WHERE record_id = {} ORDER BY seq",
                db.hex("chunk"),
                db.id(old)
            ));
            assert_eq!(chunks_before, chunks_after);
            assert_eq!(alice.get(old).unwrap().meta().key_version, 2);
            assert_eq!(read_all(&alice, old).unwrap(), before);

            // A file written after the revocation: bob cannot read it.
            let after = put(&alice, b"after revocation");
            assert_eq!(alice.get(after).unwrap().meta().key_version, 2);
            let err = read_all(&bob, after).unwrap_err();
            assert!(matches!(err, Error::AccessDenied { .. }), "{err:?}");
            assert!(bob.open_file(after).is_err());
        },
    );
}

#[test]
fn orphan_chunks_are_removed_by_the_cleanup() {
    each_backend("orphan_chunks_are_removed_by_the_cleanup", |db| {
        let alice = client(db, "alice");
        let kept = put(&alice, &body(CHUNK + 1, 50));
        let dropped = put(&alice, &body(CHUNK + 1, 51));
        // Nothing to clean after strongroom's own writes.
        assert_eq!(db.store().remove_orphan_file_chunks().unwrap(), 0);
        // A record row removed by SQL outside strongroom leaves its chunks.
        db.sql(&format!(
            "DELETE FROM records WHERE record_id = {}",
            db.id(dropped)
        ));
        assert_eq!(db.store().remove_orphan_file_chunks().unwrap(), 2);
        assert_eq!(chunk_rows(db, dropped), 0);
        assert_eq!(chunk_rows(db, kept), 2);
        assert_eq!(read_all(&alice, kept).unwrap(), body(CHUNK + 1, 50));
    });
}

/// The environment variables that make this test binary, run again as a
/// child, start an upload that stops mid-stream and waits to be killed.
const KILL_CHILD_URL: &str = "STRONGROOM_FILES_KILL_CHILD_URL";
const KILL_CHILD_PROFILE: &str = "STRONGROOM_FILES_KILL_CHILD_PROFILE";
const KILL_CHILD_MARK: &str = "STRONGROOM_FILES_KILL_CHILD_MARK";
/// Bytes the child's source gives before it stops: past three inserts.
const KILLED_AFTER: u64 = 3 * 16 * CHUNK as u64 + 1000;

/// A source that gives `KILLED_AFTER` bytes, then marks that it is stuck
/// and never returns.
struct Stuck {
    given: u64,
    mark: std::path::PathBuf,
}

impl Read for Stuck {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given >= KILLED_AFTER {
            std::fs::write(&self.mark, b"stuck").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        let n = buf.len().min((KILLED_AFTER - self.given) as usize);
        buf[..n].fill(0x5A);
        self.given += n as u64;
        Ok(n)
    }
}

/// Waits for the child to mark `path`; its stderr is in `log`.
fn wait_for(path: &Path, log: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child's upload never came; its stderr:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_upload_killed_mid_stream_leaves_nothing_readable_and_no_chunks() {
    if let (Ok(url), Ok(profile), Ok(mark)) = (
        std::env::var(KILL_CHILD_URL),
        std::env::var(KILL_CHILD_PROFILE),
        std::env::var(KILL_CHILD_MARK),
    ) {
        let store = strongroom::Store::open_or_create(&url).unwrap();
        let alice = Client::open_or_create(&profile, &store).unwrap();
        let source = Stuck {
            given: 0,
            mark: mark.into(),
        };
        let _ = alice.put_file("scan", &Plain::new(), source);
        unreachable!("the source never ends");
    }
    each_backend(
        "an_upload_killed_mid_stream_leaves_nothing_readable_and_no_chunks",
        |db| {
            let profile = db.profile("alice");
            let mark = db.profile("stuck.mark");
            let log = db.profile("child.log");
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "an_upload_killed_mid_stream_leaves_nothing_readable_and_no_chunks",
                    "--exact",
                    "--test-threads=1",
                ])
                .env(KILL_CHILD_URL, &db.url)
                .env(KILL_CHILD_PROFILE, &profile)
                .env(KILL_CHILD_MARK, &mark)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            wait_for(&mark, &log);
            // The upload is in the database, uncommitted: on SQLite it holds
            // the write lock, on PostgreSQL a session is inside a
            // transaction that has written rows (it holds a transaction id:
            // chunks are in flight, not only a lock). Chunks are inserted by
            // a second thread, so the source may block while an insert is
            // still running: wait for the database to show the open
            // transaction.
            let open = || match db.backend {
                Backend::Sqlite => match db.try_sql("BEGIN IMMEDIATE") {
                    Err(err) => err.to_string().contains("locked"),
                    // Its own connection, closed at once: nothing to roll back.
                    Ok(_) => false,
                },
                _ => {
                    db.count(
                        "SELECT COUNT(*) AS n FROM pg_stat_activity \
                         WHERE datname = current_database() AND state = 'idle in transaction' \
                         AND backend_xid IS NOT NULL",
                    ) >= 1
                }
            };
            let start = Instant::now();
            while !open() {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the child's upload transaction is not open"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();

            let alice = Client::open_or_create(&profile, &db.store()).unwrap();
            let page = alice.query(&Query::new().record_type("scan")).unwrap();
            assert!(page.records.is_empty() && page.skipped.is_empty());
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM file_chunks"), 0);
            assert_eq!(db.store().remove_orphan_file_chunks().unwrap(), 0);
            if db.backend == Backend::Sqlite {
                assert_eq!(
                    db.texts("SELECT integrity_check AS t FROM pragma_integrity_check"),
                    vec!["ok".to_owned()]
                );
            }
            // The database takes the next upload at once.
            let id = put(&alice, b"after the kill");
            assert_eq!(read_all(&alice, id).unwrap(), b"after the kill");
        },
    );
}

/// A source that gives one byte, then waits for the gate (a message, or
/// its sender dropped), then ends.
struct Gate(bool, mpsc::Receiver<()>);

impl Read for Gate {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.0) {
            buf[0] = 1;
            return Ok(1);
        }
        let _ = self.1.recv();
        Ok(0)
    }
}

/// SECURITY.md: a revocation waits for the writer's uploads of the type in
/// progress, on PostgreSQL too: they seal under the old key and commit
/// first, so no file is sealed under a key revoked meanwhile.
#[test]
fn a_revocation_waits_for_an_upload_of_the_type_in_progress() {
    each_backend(
        "a_revocation_waits_for_an_upload_of_the_type_in_progress",
        |db| {
            let (alice, bob) = (client(db, "alice"), client(db, "bob"));
            let revoker = client(db, "alice");
            put(&alice, b"first");
            alice.share("scan", bob.id()).unwrap();
            let (open, gate) = mpsc::channel();
            std::thread::scope(|scope| {
                let upload =
                    scope.spawn(|| alice.put_file("scan", &Plain::new(), Gate(true, gate)));
                std::thread::sleep(Duration::from_millis(300));
                let (done, revoked) = mpsc::channel();
                let revoke = scope.spawn(move || {
                    let outcome = revoker.revoke("scan", bob.id());
                    let _ = done.send(());
                    outcome
                });
                let finished_during_upload =
                    revoked.recv_timeout(Duration::from_millis(700)).is_ok();
                open.send(()).unwrap();
                let uploaded = upload.join().unwrap().unwrap();
                revoke.join().unwrap().unwrap();
                assert!(
                    !finished_during_upload,
                    "the revocation did not wait for the upload"
                );
                assert_eq!(uploaded.key_version, 1);
            });
            let after = alice
                .put_file("scan", &Plain::new(), &b"after"[..])
                .unwrap();
            assert_eq!(after.key_version, 2);
        },
    );
}

/// SECURITY.md: a file replaced while it is read is never the tampering
/// error. When the reader finds the chunks gone and no connection comes in
/// time to look why (both of a pool of two held by uploads), the error is
/// the store's (`PoolTimeout`), not `Decryption`.
#[test]
fn a_file_replaced_mid_read_on_a_busy_pool_is_the_stores_error_not_tampering() {
    let db = TestDb::sqlite();
    drop(client(&db, "alice"));
    let store = strongroom::Store::open_with(
        &db.url,
        strongroom::StoreOptions::default()
            .pool_size(2)
            .connection_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
    let id = put(&alice, &body(100 * CHUNK, 40));
    let mut reader = alice.open_file(id).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    alice
        .update_file(id, 1, &Plain::new(), &b"new"[..])
        .unwrap();
    let mut first = vec![0u8; 20 * CHUNK];
    reader.read_exact(&mut first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (open_a, gate_a) = mpsc::channel();
    let (open_b, gate_b) = mpsc::channel();
    std::thread::scope(|scope| {
        // Owned here: a failed assertion drops them, which opens the gates
        // (the uploads end) instead of leaving the scope waiting.
        let (open_a, open_b) = (open_a, open_b);
        let uploads = [gate_a, gate_b].map(|gate| {
            let alice = &alice;
            scope.spawn(move || alice.put_file("scan", &Plain::new(), Gate(true, gate)))
        });
        std::thread::sleep(Duration::from_millis(300));
        let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert!(
            !matches!(inner, Some(Error::Decryption)),
            "a replaced file read as tampering: {err}"
        );
        assert!(
            matches!(
                inner,
                Some(Error::PoolTimeout { .. } | Error::Conflict { .. })
            ),
            "{err}"
        );
        open_a.send(()).unwrap();
        open_b.send(()).unwrap();
        for upload in uploads {
            let _ = upload.join().unwrap();
        }
    });
}

/// A source that gives `first` bytes, then sleeps `pause`, then ends.
struct Pausing {
    first: Vec<u8>,
    pause: Duration,
    paused: bool,
}

impl Read for Pausing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.first.is_empty() {
            let n = buf.len().min(self.first.len());
            buf[..n].copy_from_slice(&self.first[..n]);
            self.first.drain(..n);
            return Ok(n);
        }
        if !self.paused {
            self.paused = true;
            std::thread::sleep(self.pause);
        }
        Ok(0)
    }
}

/// OPERATIONS.md, "Timeouts": a server's `idle_in_transaction_session_timeout`
/// shorter than a pause of an upload's source ends the upload, which then
/// fails whole: no record, no chunk, and the store goes on working.
#[test]
fn an_upload_whose_source_pauses_past_the_idle_timeout_fails_whole() {
    let Some(db) =
        common::postgres_db("an_upload_whose_source_pauses_past_the_idle_timeout_fails_whole")
    else {
        return;
    };
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{sep}options=-c%20idle_in_transaction_session_timeout%3D300",
        db.url
    );
    let store = strongroom::Store::open_with(
        &url,
        strongroom::StoreOptions::default().create_if_missing(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let alice = Client::open_or_create(dir.path().join("alice.profile"), &store).unwrap();
    // The type's first key, so only the upload's own rows are at stake.
    alice.put("scan", &note("first"), &Plain::new()).unwrap();
    let before = db.count("SELECT COUNT(*) AS n FROM records");
    let source = Pausing {
        first: body(3 * CHUNK, 51),
        pause: Duration::from_millis(1500),
        paused: false,
    };
    let result = alice.put_file("scan", &Plain::new(), source);
    assert!(
        result.is_err(),
        "the upload outlived the idle timeout: {result:?}"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), before);
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM file_chunks"), 0);
    // The pool replaces the connection the server closed.
    let id = alice
        .put_file("scan", &Plain::new(), &body(CHUNK, 52)[..])
        .unwrap()
        .id;
    assert_eq!(read_all(&alice, id).unwrap(), body(CHUNK, 52));
}
