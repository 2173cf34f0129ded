//! Files: records whose body is too large to hold in memory. The body is
//! streamed from a [`Read`] into sealed chunks (orion's streaming AEAD
//! under a fresh data key, see [`crate::hazmat::file`]) and back into a
//! [`Write`] or through a [`FileReader`], one chunk at a time.
//!
//! An upload is one write transaction: the chunks, then the record that
//! signs them. A failed or interrupted upload (an error from the source,
//! a lost connection, a killed process) leaves nothing: no record and no
//! chunk. (A connection lost during the commit itself leaves the outcome
//! unknown to the caller: the upload may have landed.) On SQLite that transaction holds the database's write lock for
//! the whole upload, so other writers wait (up to the busy timeout).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{mpsc, Arc};

use tracing::field::{display, Empty};
use zeroize::Zeroizing;

use super::access::WriteKey;
use super::observe::op_span;
use super::write::conflict;
use super::{validate, Client};
use crate::crypto::file_stream::{
    ChunkPosition, ChunksDigest, FileOpener, FileSealer, CHUNK_OVERHEAD, DEFAULT_CHUNK_SIZE,
};
use crate::crypto::keys::{AccessKey, SigningPublicKey};
use crate::crypto::signature::RecordHeader;
use crate::error::{Error, Result};
use crate::ids::{BatchId, RecordId};
use crate::model::{Plain, RecordMeta};
use crate::record::{seal_record, sign_batch};
use crate::store::files::{self, ChunkRow, StoredChunk};
use crate::store::rows::{
    from_micros, int, now_micros, record_meta, BatchRow, RecordRow, RecordTimes,
};
use crate::store::tx::read_transaction;
use crate::store::{batches, records, AnyConnection, Store};

/// Sealed chunks per insert statement (1 MiB at the default chunk size).
const CHUNKS_PER_INSERT: usize = 16;
/// Sealed chunks per fetch while reading (1 MiB at the default size).
const CHUNKS_PER_FETCH: usize = 16;

impl Client {
    /// Writes a new file record of `record_type`: `plain` meta in the
    /// clear, the body read from `body` to its end and stored sealed, in
    /// chunks, never held whole in memory. Returns the record's meta
    /// ([`RecordMeta::file_size`] is the body's length).
    ///
    /// One transaction: if `body` fails ([`Error::BodyIo`]) or anything
    /// else does (a lost connection, a killed process), nothing is stored;
    /// only a connection lost during the commit itself leaves it unknown
    /// whether the upload landed. On PostgreSQL, a server's
    /// `idle_in_transaction_session_timeout` shorter than the longest wait
    /// for `body` ends the upload (see OPERATIONS.md, "PostgreSQL").
    /// The type's first access key, if this is the type's first record, is
    /// created and stored before the upload starts. **On SQLite the
    /// transaction holds the database's write lock for the whole upload**:
    /// other writers wait up to
    /// [`StoreOptions::sqlite_busy_timeout`](crate::StoreOptions) (5 s by
    /// default) and then fail with a database error, so give a store that
    /// takes large uploads a longer one. PostgreSQL writers do not wait on
    /// an upload, with one exception: a rotation of the type (`rotate`,
    /// `revoke`, `restart_key_lineage`) waits for this writer's uploads of
    /// it in progress (each holds the type's key head for its whole
    /// transaction, so no file is sealed under a key revoked meanwhile),
    /// for as long as their sources take.
    ///
    /// The upload holds one of the pool's connections for its whole
    /// transaction. **On a pool of one connection** (`sqlite::memory:`
    /// always has one, as has a [`StoreOptions::pool_size`](crate::StoreOptions)
    /// of one) `body` must therefore not read from the same store: a
    /// [`FileReader`] of it waits for that connection until the pool's
    /// timeout and the upload fails with [`Error::BodyIo`], storing
    /// nothing (a file of at most 48 chunks, which the reader fetches
    /// ahead, may have been read whole before the upload began, and then
    /// copies; do not count on it). With two connections or more, copying a file as
    /// `put_file(…, client.open_file(id)?)` works. A panic in `body`
    /// rolls the transaction back and then goes on unwinding.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let store = strongroom::Store::open("sqlite::memory:")?;
    /// # let alice = strongroom::Client::open_or_create(dir.path().join("a.profile"), &store)?;
    /// let body = vec![7u8; 200_000];
    /// let meta = alice.put_file("scan", &Default::default(), &body[..])?;
    /// assert_eq!(meta.file_size, Some(200_000));
    /// let mut back = Vec::new();
    /// alice.read_file(meta.id, &mut back)?;
    /// assert_eq!(back, body);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_file(
        &self,
        record_type: &str,
        plain: &Plain,
        body: impl Read,
    ) -> Result<RecordMeta> {
        let span = op_span!(
            self,
            "put_file",
            record_type,
            record_id = Empty,
            bytes = Empty
        );
        self.observe(span, |span| {
            let meta = self.put_file_in(record_type, plain, body)?;
            span.record("record_id", display(meta.id));
            span.record("bytes", meta.file_size.unwrap_or(0));
            Ok(meta)
        })
    }

    fn put_file_in(
        &self,
        record_type: &str,
        plain: &Plain,
        mut body: impl Read,
    ) -> Result<RecordMeta> {
        validate::record_type(record_type)?;
        validate::plain(plain)?;
        // The body can be read only once, so the upload is never retried;
        // the one race a write may lose and retry (creating the type's
        // first key) is run first, on its own.
        let first = self.retrying(|conn| self.write_key(conn, record_type))?;
        self.cache_created_key(record_type, &first);
        let mut conn = self.store.conn()?;
        let (meta, key) = self.write_tx(&mut conn, |conn| {
            let key = self.write_key(conn, record_type)?;
            let now = now_micros();
            let version = FileVersion {
                record_id: RecordId::random(),
                version: 1,
                record_type,
                created_at: now,
                updated_at: now,
            };
            let (meta, row) = self.write_file_version(conn, &key, &version, plain, &mut body)?;
            records::insert(conn, std::slice::from_ref(&row))?;
            records::insert_meta(conn, &row.meta_rows(plain))?;
            Ok((meta, key))
        })?;
        self.cache_created_key(record_type, &key);
        self.tally.written(1);
        Ok(meta)
    }

    /// Replaces the body (and plain meta) of one of this client's file
    /// records, if it is still at `expected_version`: the new body is
    /// sealed under a fresh data key as version `expected_version + 1`
    /// and the old version's chunks are removed, in one transaction. A
    /// stale version is [`Error::Conflict`] and writes nothing; a record
    /// that is not a file is [`Error::NotAFile`]. `body` as for
    /// [`Client::put_file`] (on a pool of one connection it must not read
    /// from the same store). Besides what `put_file` holds, on PostgreSQL
    /// the update holds the record's row for the whole upload: another
    /// update or a delete of this record, and a re-wrap or re-index pass
    /// reaching it, waits for `body` to end (readers do not wait).
    pub fn update_file(
        &self,
        id: RecordId,
        expected_version: u64,
        plain: &Plain,
        body: impl Read,
    ) -> Result<RecordMeta> {
        let span = op_span!(self, "update_file", record_id = %id, expected_version, bytes = Empty);
        self.observe(span, |span| {
            let meta = self.update_file_in(id, expected_version, plain, body)?;
            span.record("bytes", meta.file_size.unwrap_or(0));
            Ok(meta)
        })
    }

    fn update_file_in(
        &self,
        id: RecordId,
        expected_version: u64,
        plain: &Plain,
        mut body: impl Read,
    ) -> Result<RecordMeta> {
        validate::plain(plain)?;
        let mut conn = self.store.conn()?;
        let (meta, key) = self.write_tx(&mut conn, |conn| {
            let (stored, current) = self.owned_row(conn, id, expected_version, true)?;
            let current = current.ok_or(Error::Decryption)?;
            if current.file_head.is_none() {
                return Err(Error::NotAFile { record_id: id });
            }
            let key = self.write_key(conn, &current.record_type)?;
            let version = FileVersion {
                record_id: id,
                version: expected_version + 1,
                record_type: &current.record_type,
                created_at: current.created_at,
                updated_at: now_micros(),
            };
            let (meta, row) = self.write_file_version(conn, &key, &version, plain, &mut body)?;
            if !records::replace(conn, id, expected_version, &row)? {
                return Err(conflict(id, expected_version, None));
            }
            records::delete_meta(conn, &stored)?;
            records::insert_meta(conn, &row.meta_rows(plain))?;
            batches::drop_if_unused(conn, stored.batch())?;
            files::delete_version(conn, id, expected_version)?;
            Ok((meta, key))
        })?;
        self.cache_created_key(&meta.record_type, &key);
        self.tally.written(1);
        Ok(meta)
    }

    /// Streams `body` into sealed chunks of `version`, then seals and
    /// signs the record that names them; returns its meta and row (not
    /// yet written).
    fn write_file_version(
        &self,
        conn: &mut AnyConnection,
        key: &WriteKey,
        version: &FileVersion<'_>,
        plain: &Plain,
        body: &mut impl Read,
    ) -> Result<(RecordMeta, RecordRow)> {
        let header = RecordHeader {
            record_id: version.record_id,
            version: version.version,
            record_type: version.record_type,
            writer_id: self.id(),
            key_version: key.version,
        };
        let batch_id = BatchId::random();
        let no_fields: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut sealed = seal_record(&key.key, header, plain.clone(), &no_fields, batch_id, 0)?;
        let mut sealer =
            FileSealer::without_digest(&key.key, &sealed.file_context(), DEFAULT_CHUNK_SIZE)?;
        let digest = stream_chunks(conn, &mut sealer, version, body)?;
        sealed.file = Some(sealer.finish_with(digest)?);
        let batch = sign_batch(
            self.identity.signer(),
            batch_id,
            std::slice::from_ref(&sealed),
        )?;
        batches::insert(conn, &BatchRow::from_signed(&batch, version.updated_at))?;
        let row = RecordRow::from_sealed(&sealed, version.created_at, version.updated_at)?;
        let times = RecordTimes {
            created_at: from_micros(version.created_at).ok_or(Error::Decryption)?,
            updated_at: from_micros(version.updated_at)
                .ok_or(Error::Internal("the clock is out of range"))?,
        };
        Ok((record_meta(sealed, times), row))
    }

    /// Reads file record `id` and writes its body to `out`, one chunk at a
    /// time; returns the record's meta.
    ///
    /// The record's signature is verified before anything is decrypted,
    /// and every chunk's MAC before its bytes are written. The last
    /// chunk's bytes are written only after the digest of all the chunks
    /// matched the signed head, so a call that returns `Ok` wrote the
    /// writer's whole body. **A call that fails after it started writing
    /// leaves a prefix of the body in `out`**: bytes that decrypted under
    /// the file's key but whose tie to the writer's signature was not yet
    /// checked, and never the last chunk. Write to a temporary place and
    /// keep it only on `Ok` (the CLI's `file get` does).
    ///
    /// Errors: as [`Client::get`]; a chunk missing, reordered, duplicated,
    /// truncated, altered or from another file or version is
    /// [`Error::Decryption`]; a record changed or deleted while it was
    /// read is [`Error::Conflict`] or [`Error::NotFound`] (or, when no
    /// connection comes in time to tell which, the store's error, such as
    /// [`Error::PoolTimeout`]: never the tampering error); a record that
    /// is not a file is [`Error::NotAFile`]; `out` failing is
    /// [`Error::BodyIo`].
    pub fn read_file(&self, id: RecordId, mut out: impl Write) -> Result<RecordMeta> {
        let span = op_span!(self, "read_file", record_id = %id, bytes = Empty);
        self.observe(span, |span| {
            let mut reader = self.open_file_in(id)?;
            while let Some(chunk) = reader.next_chunk()? {
                out.write_all(chunk).map_err(|source| Error::BodyIo {
                    action: "writing the destination",
                    source,
                })?;
            }
            out.flush().map_err(|source| Error::BodyIo {
                action: "writing the destination",
                source,
            })?;
            span.record("bytes", reader.meta.file_size.unwrap_or(0));
            Ok(reader.meta)
        })
    }

    /// Opens file record `id` for reading: the record is verified now, its
    /// body is fetched and decrypted as the [`FileReader`] is read. The
    /// reader returns the last chunk's bytes only after the whole body
    /// verified; on any failure `read` returns an error (an
    /// [`io::ErrorKind::InvalidData`] error wrapping [`Error::Decryption`],
    /// or the other errors of [`Client::read_file`]), and so does every
    /// later `read`.
    pub fn open_file(&self, id: RecordId) -> Result<FileReader> {
        let span = op_span!(self, "open_file", record_id = %id);
        self.observe(span, |_| self.open_file_in(id))
    }

    fn open_file_in(&self, id: RecordId) -> Result<FileReader> {
        // The connection goes back to the pool before the read-ahead
        // thread asks for one (a pool may hold only one).
        let (sealed, times, check, key) = {
            let mut conn = self.store.conn()?;
            read_transaction(&mut conn, |conn| self.find_readable(conn, id))?
        };
        self.run_check(&sealed, &check)?;
        let opener = open_body(&key, &sealed)?;
        self.tally.read(1);
        let version = sealed.version;
        let chunks = opener.head().chunk_count();
        // No stored chunk longer than a sealed full chunk is loaded,
        // digested or handed on: a huge value the database put there
        // arrives as NULL (`files::window`) and fails the read.
        let max_chunk = usize::try_from(opener.head().chunk_size())
            .map_or(usize::MAX, |size| size.saturating_add(CHUNK_OVERHEAD));
        let (sender, ahead) = mpsc::sync_channel(2 * CHUNKS_PER_FETCH);
        let writer_key = if sealed.writer_id == self.id() {
            Some(self.public().signing_key)
        } else {
            // The record verified under this pin a moment ago.
            self.with_profile(|p| p.pinned(sealed.writer_id).map(|peer| peer.signing_key))
        };
        let store = self.store.clone();
        std::thread::Builder::new()
            .name("strongroom-file-read".into())
            .spawn(move || read_ahead(&store, id, version, chunks, max_chunk, &sender))
            .map_err(|_| Error::Internal("could not start the file reader's thread"))?;
        Ok(FileReader {
            store: self.store.clone(),
            writer_key,
            version,
            meta: record_meta(sealed, times),
            opener,
            ahead,
            plain: Zeroizing::new(Vec::new()),
            at: 0,
            failed: None,
        })
    }
}

/// What the read-ahead thread hands the reader, in order.
enum Ahead {
    /// The next stored chunk row; with the last one, the digest of every
    /// chunk sent.
    Chunk(StoredChunk, Option<[u8; 32]>),
    /// No chunk rows are left before the body's end.
    Missing,
    /// The fetch failed.
    Failed(Error),
}

/// Fetches the chunks of `record_id` at `version` a window at a time and
/// digests them in order, ahead of the reader, until `chunks` were sent,
/// none are left, or the reader is gone. A chunk row longer than
/// `max_chunk` (a sealed full chunk) fails the read as tampered, before it
/// is digested; so does any row outside sequence numbers `0..chunks`,
/// before the last chunk is sent.
fn read_ahead(
    store: &Store,
    record_id: RecordId,
    version: u64,
    chunks: u64,
    max_chunk: usize,
    sender: &mpsc::SyncSender<Ahead>,
) {
    let mut digest = match ChunksDigest::new() {
        Ok(digest) => Some(digest),
        Err(err) => {
            let _ = sender.send(Ahead::Failed(err));
            return;
        }
    };
    let mut sent = 0u64;
    while sent < chunks {
        let window = store.conn().and_then(|mut conn| {
            files::window(
                &mut conn,
                record_id,
                version,
                sent,
                CHUNKS_PER_FETCH,
                max_chunk,
            )
        });
        let rows = match window {
            Ok(rows) if rows.is_empty() => {
                let _ = sender.send(Ahead::Missing);
                return;
            }
            Ok(rows) => rows,
            Err(err) => {
                let _ = sender.send(Ahead::Failed(err));
                return;
            }
        };
        for row in rows {
            if row
                .chunk
                .as_ref()
                .is_some_and(|bytes| bytes.len() > max_chunk)
            {
                let _ = sender.send(Ahead::Failed(Error::Decryption));
                return;
            }
            let added = match (&row.chunk, digest.as_mut()) {
                (Some(bytes), Some(d)) => d.add(sent, bytes),
                _ => Ok(()),
            };
            if let Err(err) = added {
                let _ = sender.send(Ahead::Failed(err));
                return;
            }
            sent += 1;
            let last = sent == chunks;
            if last {
                // Rows beyond the body (after its last chunk, or before
                // its first) are the database's doing: the read fails
                // before the last chunk's bytes go out.
                let outside = store.conn().and_then(|mut conn| {
                    files::has_rows_outside(&mut conn, record_id, version, chunks)
                });
                match outside {
                    Ok(false) => {}
                    Ok(true) => {
                        let _ = sender.send(Ahead::Failed(Error::Decryption));
                        return;
                    }
                    Err(err) => {
                        let _ = sender.send(Ahead::Failed(err));
                        return;
                    }
                }
            }
            let total = if last {
                match digest.take().map(ChunksDigest::finish) {
                    Some(Ok(total)) => Some(total),
                    _ => None,
                }
            } else {
                None
            };
            if sender.send(Ahead::Chunk(row, total)).is_err() || last {
                return;
            }
        }
    }
}

fn open_body(key: &Arc<AccessKey>, sealed: &crate::record::SealedRecord) -> Result<FileOpener> {
    let head = sealed.file.as_ref().ok_or(Error::NotAFile {
        record_id: sealed.record_id,
    })?;
    FileOpener::without_digest(key, &sealed.file_context(), head)
}

/// The record version a body is written as.
struct FileVersion<'a> {
    record_id: RecordId,
    version: u64,
    record_type: &'a str,
    created_at: i64,
    updated_at: i64,
}

/// Seals `body` into chunk rows of `version` in three stages, each on a
/// thread of its own so that they overlap: the caller's thread reads and
/// seals; a second digests the sealed chunks in order; a third inserts
/// them in groups (on `conn`, inside the caller's transaction). Returns
/// the chunks' digest. A chunk is sealed as the last one when the source
/// has nothing after it (one chunk read ahead). Against two threads (the
/// digest on the inserting one) this measured the same on SQLite, a few
/// percent faster on PostgreSQL, whose inserting thread mostly waits for
/// the server, and about 8 MiB more peak memory for the chunks in flight
/// (BENCHMARKING.md, "Files").
fn stream_chunks(
    conn: &mut AnyConnection,
    sealer: &mut FileSealer,
    version: &FileVersion<'_>,
    body: &mut impl Read,
) -> Result<[u8; 32]> {
    let (sender, to_digest) = mpsc::sync_channel::<ChunkRow>(2 * CHUNKS_PER_INSERT);
    let (digested, to_insert) = mpsc::sync_channel::<ChunkRow>(2 * CHUNKS_PER_INSERT);
    std::thread::scope(|scope| {
        let digester = scope.spawn(move || -> Result<Option<[u8; 32]>> {
            let mut digest = ChunksDigest::new()?;
            for (seq, row) in (0u64..).zip(to_digest) {
                digest.add(seq, &row.chunk)?;
                if digested.send(row).is_err() {
                    // The inserter stopped: its error is the one to report.
                    return Ok(None);
                }
            }
            digest.finish().map(Some)
        });
        let inserter = scope.spawn(move || -> Result<()> {
            let mut rows: Vec<ChunkRow> = Vec::with_capacity(CHUNKS_PER_INSERT);
            for row in to_insert {
                rows.push(row);
                if rows.len() == CHUNKS_PER_INSERT {
                    files::insert(conn, &rows)?;
                    rows.clear();
                }
            }
            files::insert(conn, &rows)
        });
        let sealed = seal_source(sealer, version, body, &sender);
        // The digester ends when the sender goes, the inserter when the
        // digester does.
        drop(sender);
        // Both joined before either result is looked at, so a panic in
        // both stays an error instead of panicking the scope.
        let (digest, inserted) = (digester.join(), inserter.join());
        let digest = digest.map_err(|_| Error::Internal("the chunk digester panicked"))?;
        let inserted = inserted.map_err(|_| Error::Internal("the chunk inserter panicked"))?;
        match sealed {
            // A failed source or seal, whatever the others did.
            Err(Some(err)) => Err(err),
            // A stage after the sealer stopped (its error), or all went in.
            Err(None) | Ok(()) => {
                inserted?;
                digest?.ok_or(Error::Internal(
                    "the chunk inserter stopped without an error",
                ))
            }
        }
    })
}

/// Reads and seals `body` chunk by chunk into `sender`. `Err(None)`: the
/// receiver is gone (a later stage, the digester or the inserter, stopped
/// on an error of its own).
fn seal_source(
    sealer: &mut FileSealer,
    version: &FileVersion<'_>,
    body: &mut impl Read,
    sender: &mpsc::SyncSender<ChunkRow>,
) -> std::result::Result<(), Option<Error>> {
    let size = DEFAULT_CHUNK_SIZE as usize;
    let mut current = Zeroizing::new(vec![0u8; size]);
    let mut ahead = Zeroizing::new(vec![0u8; size]);
    let mut filled = read_full(body, &mut current)?;
    for seq in 0u64.. {
        let (next_filled, last) = if filled < size {
            (0, true)
        } else {
            let n = read_full(body, &mut ahead)?;
            (n, n == 0)
        };
        let mut sealed = Vec::with_capacity(filled + CHUNK_OVERHEAD);
        let position = if last {
            ChunkPosition::Last
        } else {
            ChunkPosition::NotLast
        };
        sealer.seal_chunk_into(&current[..filled], position, &mut sealed)?;
        let row = ChunkRow::new(version.record_id, version.version, seq, sealed)?;
        sender.send(row).map_err(|_| None)?;
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut ahead);
        filled = next_filled;
    }
    Ok(())
}

/// Fills `buf` from `source` as far as it goes; fewer bytes only at its
/// end.
fn read_full(source: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::BodyIo {
                    action: "reading the source",
                    source,
                })
            }
        }
    }
    Ok(filled)
}

/// A file record's body as a [`Read`]: fetched a few chunks at a time,
/// each verified before its bytes are returned, the last one only after
/// the whole body verified (see [`Client::open_file`]). `Debug` shows the
/// meta, never bytes.
pub struct FileReader {
    store: Store,
    /// The writer's signing key, which a newer version must verify under
    /// before a failed read is called a conflict.
    writer_key: Option<SigningPublicKey>,
    meta: RecordMeta,
    version: u64,
    opener: FileOpener,
    /// Chunks fetched and digested ahead by another thread.
    ahead: mpsc::Receiver<Ahead>,
    /// The current chunk's plaintext and how much of it was returned.
    plain: Zeroizing<Vec<u8>>,
    at: usize,
    /// The error every read returns once one failed.
    failed: Option<FailedRead>,
}

#[derive(Clone, Copy)]
enum FailedRead {
    Decryption,
    Conflict(Option<u64>),
    NotFound,
    /// Another error (a lost connection) was returned before.
    Earlier,
}

impl FileReader {
    /// The file record's meta ([`RecordMeta::file_size`] is the body's
    /// length).
    pub fn meta(&self) -> &RecordMeta {
        &self.meta
    }

    /// The next chunk's plaintext, `None` after the last one.
    fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        if let Some(failed) = self.failed {
            return Err(self.error(failed));
        }
        if self.opener.is_done() {
            return Ok(None);
        }
        match self.open_next() {
            Ok(()) => Ok(Some(&self.plain[..])),
            Err(Error::Decryption) => match self.why_missing() {
                Ok(failed) => {
                    self.failed = Some(failed);
                    Err(self.error(failed))
                }
                // The store could not say (no connection came in time): its
                // error, never the tampering error, which it would not be.
                Err(err) => {
                    self.failed = Some(FailedRead::Earlier);
                    Err(err)
                }
            },
            Err(other) => {
                self.failed = Some(FailedRead::Earlier);
                Err(other)
            }
        }
    }

    fn open_next(&mut self) -> Result<()> {
        let (chunk, digest) = match self.ahead.recv() {
            Ok(Ahead::Chunk(chunk, digest)) => (chunk, digest),
            Ok(Ahead::Missing) | Err(_) => return Err(Error::Decryption),
            Ok(Ahead::Failed(err)) => return Err(err),
        };
        let seq = int::<u64>(chunk.seq).ok_or(Error::Decryption)?;
        let bytes = chunk.chunk.ok_or(Error::Decryption)?;
        self.at = 0;
        self.opener
            .open_chunk_digested(seq, &bytes, digest, &mut self.plain)
    }

    /// Why a chunk did not open: the record went while it was read (its
    /// row is gone), a newer version replaced it (a row that verifies
    /// under the writer's key, in a batch the writer signed), or neither:
    /// the chunks or the row are not the writer's. The database's word
    /// alone (a version number edited in place) is never taken for a
    /// conflict.
    fn why_missing(&self) -> Result<FailedRead> {
        let id = self.meta.id;
        let writer = self.meta.writer_id;
        let now = self.store.conn().and_then(|mut conn| {
            read_transaction(&mut conn, |conn| {
                let Some(stored) = records::find(conn, id)? else {
                    return Ok(None);
                };
                let Some(key) = self.writer_key.as_ref() else {
                    return Ok(Some(None));
                };
                Ok(Some(verified_version(conn, stored, writer, key)))
            })
        });
        Ok(match now? {
            None => FailedRead::NotFound,
            // Only a newer version is a change: an older one, however well
            // signed, is the database rolling the record back.
            Some(Some(found)) if found > self.version => FailedRead::Conflict(Some(found)),
            Some(_) => FailedRead::Decryption,
        })
    }

    fn error(&self, failed: FailedRead) -> Error {
        match failed {
            FailedRead::Decryption => Error::Decryption,
            FailedRead::NotFound => Error::NotFound {
                record_id: self.meta.id,
            },
            FailedRead::Conflict(found) => conflict(self.meta.id, self.version, found),
            FailedRead::Earlier => {
                Error::InvalidInput("an earlier read of this file failed; open the file again")
            }
        }
    }
}

/// The version of the stored record row `stored` if it is `writer`'s and
/// verifies in its batch under `key`; `None` for anything else.
fn verified_version(
    conn: &mut AnyConnection,
    stored: crate::store::rows::StoredRecord,
    writer: crate::ids::ClientId,
    key: &SigningPublicKey,
) -> Option<u64> {
    let row = stored.parse().ok()?;
    let sealed = row.to_sealed().ok()?;
    if sealed.writer_id != writer {
        return None;
    }
    let batch_id = sealed.proof_batch();
    let signed = batches::load(conn, &[batch_id])
        .ok()?
        .into_iter()
        .find(|b| b.batch_id() == batch_id)?;
    let verified = signed.verify(writer, key).ok()?;
    sealed.verify_in(&verified).ok()?;
    Some(sealed.version)
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.plain.len() {
                let n = buf.len().min(self.plain.len() - self.at);
                buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            match self.next_chunk() {
                Ok(Some(_)) => {}
                Ok(None) => return Ok(0),
                Err(Error::BodyIo { source, .. }) => return Err(source),
                Err(err) => {
                    let kind = match err {
                        Error::Decryption => io::ErrorKind::InvalidData,
                        _ => io::ErrorKind::Other,
                    };
                    return Err(io::Error::new(kind, err));
                }
            }
        }
    }
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("meta", &self.meta)
            .field("next_chunk", &self.opener.next_seq())
            .finish_non_exhaustive()
    }
}
