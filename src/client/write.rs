//! Writing: put, put_many, update and delete. Each call is one transaction:
//! on any failure nothing of it is stored. A write reads the current access
//! key version inside its own transaction, so it never uses a key that a
//! concurrent rotation has replaced.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;

use rayon::prelude::*;
use tracing::field::{display, Empty};

use super::access::WriteKey;
use super::observe::op_span;
use super::search::{lookup_rows, PreparedIndexes};
use super::{validate, Client};
use crate::crypto::signature::RecordHeader;
use crate::error::{Error, Result};
use crate::ids::{BatchId, RecordId};
use crate::model::{Fields, NewRecord, Plain, RecordMeta};
use crate::record::{seal_record, sign_batch};
use crate::store::batches;
use crate::store::files;
use crate::store::indexes::{self, IndexValueRow};
use crate::store::records;
use crate::store::rows::{
    from_micros, meta_rows, now_micros, record_meta, BatchRow, MetaRow, RecordRow, RecordTimes,
    StoredRecord,
};
use crate::store::tx::is_unique_violation;
use crate::store::AnyConnection;

/// Records sealed per chunk, signed per batch signature and inserted per
/// statement.
const CHUNK: usize = 200;
/// The most records one batch signature covers when this client signs.
pub(super) const RECORDS_PER_BATCH: usize = CHUNK;
/// Attempts of a write that loses a race on creating a type's first key.
const ATTEMPTS: usize = 3;

/// One chunk, sealed: the rows to insert and the meta to return.
struct SealedChunk {
    index: usize,
    batch: BatchRow,
    rows: Vec<RecordRow>,
    meta_rows: Vec<MetaRow>,
    index_rows: Vec<IndexValueRow>,
    metas: Vec<RecordMeta>,
}

impl Client {
    /// Writes one new record; returns its meta (version 1).
    pub fn put(&self, record_type: &str, fields: &Fields, plain: &Plain) -> Result<RecordMeta> {
        let span = op_span!(
            self,
            "put",
            record_type,
            fields = fields.len(),
            record_id = Empty
        );
        self.observe(span, |span| {
            let record = NewRecord::new(record_type, fields.clone(), plain.clone());
            let meta = self
                .put_many_then(std::slice::from_ref(&record), |_, _| Ok(()))?
                .pop()
                .ok_or(Error::Internal("the insert returned no row"))?;
            span.record("record_id", display(meta.id));
            Ok(meta)
        })
    }

    /// Writes many new records in one transaction: all or none. Records
    /// are sealed on the other cores while the database writes.
    ///
    /// They are signed in batches of 200. Their creation time is the
    /// call's, one microsecond later for each batch before theirs, so the
    /// batches of one call page in the order given (the records within a
    /// batch share a creation time and page by record id: a UUIDv7,
    /// ordered by time to the millisecond and random below it).
    pub fn put_many(&self, new_records: &[NewRecord]) -> Result<Vec<RecordMeta>> {
        let span = op_span!(
            self,
            "put_many",
            record_type = one_type(new_records),
            records = new_records.len(),
            fields = new_records.iter().map(|r| r.fields.len()).sum::<usize>()
        );
        self.observe(span, |_| self.put_many_then(new_records, |_, _| Ok(())))
    }

    /// [`Client::put_many`], running `also` in the same transaction once
    /// the records are written (with their metas, in input order): both or
    /// neither are stored.
    pub(crate) fn put_many_then(
        &self,
        new_records: &[NewRecord],
        mut also: impl FnMut(&mut AnyConnection, &[RecordMeta]) -> Result<()>,
    ) -> Result<Vec<RecordMeta>> {
        let all: Vec<usize> = (0..new_records.len()).collect();
        self.put_chosen_then(
            new_records,
            |_| Ok(all.clone()),
            |conn, _, metas| also(conn, metas),
        )
        .map(|(_, metas)| metas)
    }

    /// Writes those of `candidates` that `choose` picks (by index, in the
    /// order to write them), then runs `also` with the chosen indices and
    /// the written metas, all in one write transaction: `choose` sees the
    /// database inside that transaction, so what it reads cannot change
    /// before the write commits (given the locks it takes). Returns the
    /// chosen indices and the metas; choosing nothing writes nothing and
    /// creates no key.
    pub(crate) fn put_chosen_then(
        &self,
        candidates: &[NewRecord],
        mut choose: impl FnMut(&mut AnyConnection) -> Result<Vec<usize>>,
        mut also: impl FnMut(&mut AnyConnection, &[usize], &[RecordMeta]) -> Result<()>,
    ) -> Result<(Vec<usize>, Vec<RecordMeta>)> {
        for record in candidates {
            validate::record_type(&record.record_type)?;
            validate::fields(&record.fields)?;
            validate::plain(&record.plain)?;
        }
        if candidates.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        self.retrying(|conn| {
            let chosen = choose(conn)?;
            // Every candidate in order (a plain `put_many`) is written as
            // given; a subset is copied out (an import's rows not yet done).
            let all_in_order = chosen.iter().copied().eq(0..candidates.len());
            let records: Cow<'_, [NewRecord]> = if all_in_order {
                Cow::Borrowed(candidates)
            } else {
                Cow::Owned(
                    chosen
                        .iter()
                        .map(|&i| {
                            candidates
                                .get(i)
                                .cloned()
                                .ok_or(Error::Internal("chose a record that is not a candidate"))
                        })
                        .collect::<Result<Vec<NewRecord>>>()?,
                )
            };
            let mut keys: HashMap<&str, WriteKey> = HashMap::new();
            if records.is_empty() {
                return Ok((chosen, Vec::new(), keys));
            }
            let types: BTreeSet<&str> = chosen
                .iter()
                .map(|&i| candidates[i].record_type.as_str())
                .collect();
            let mut indexes: HashMap<&str, PreparedIndexes> = HashMap::new();
            for record_type in types {
                let key = self.write_key(conn, record_type)?;
                let adding = chosen
                    .iter()
                    .filter(|&&i| candidates[i].record_type == record_type)
                    .count() as u64;
                if let Some(prepared) =
                    self.prepare_indexes(conn, record_type, &key.key, key.version, adding)?
                {
                    indexes.insert(record_type, prepared);
                }
                keys.insert(record_type, key);
            }
            let metas = self.seal_and_insert(conn, &records, &keys, &indexes, now_micros())?;
            also(conn, &chosen, &metas)?;
            Ok((chosen, metas, keys))
        })
        .map(|(chosen, metas, keys)| {
            for (record_type, key) in &keys {
                self.cache_created_key(record_type, key);
            }
            self.tally.written(metas.len());
            tracing::debug!(count = metas.len(), "stored records");
            (chosen, metas)
        })
    }

    /// Replaces the fields and plain meta of one of this client's records,
    /// if it is still at `expected_version`: every field is sealed again
    /// under fresh data keys with the current access key, the version goes
    /// up by one and the record is signed again. A stale version is
    /// [`Error::Conflict`] and writes nothing; a record that no longer
    /// exists (deleted before or while this runs) is [`Error::NotFound`];
    /// another writer's record is [`Error::AccessDenied`], a stored row
    /// that fails verification or is malformed [`Error::Decryption`], and
    /// a file record [`Error::InvalidInput`] (use `update_file`).
    pub fn update(
        &self,
        id: RecordId,
        expected_version: u64,
        fields: &Fields,
        plain: &Plain,
    ) -> Result<RecordMeta> {
        let span = op_span!(
            self,
            "update",
            record_id = %id,
            expected_version,
            fields = fields.len(),
            record_type = Empty
        );
        self.observe(span, |span| {
            let meta = self.update_in(id, expected_version, fields, plain)?;
            span.record("record_type", meta.record_type.as_str());
            Ok(meta)
        })
    }

    fn update_in(
        &self,
        id: RecordId,
        expected_version: u64,
        fields: &Fields,
        plain: &Plain,
    ) -> Result<RecordMeta> {
        validate::fields(fields)?;
        validate::plain(plain)?;
        let (meta, key) = self.retrying(|conn| {
            let (stored, current) = self.owned_row(conn, id, expected_version, true)?;
            let current = current.ok_or(Error::Decryption)?;
            if current.file_head.is_some() {
                return Err(Error::InvalidInput(
                    "a file record is changed with update_file, which replaces its body",
                ));
            }
            let key = self.write_key(conn, &current.record_type)?;
            let prepared =
                self.prepare_indexes(conn, &current.record_type, &key.key, key.version, 0)?;
            let now = now_micros();
            let header = RecordHeader {
                record_id: id,
                version: expected_version + 1,
                record_type: &current.record_type,
                writer_id: self.id(),
                key_version: key.version,
            };
            let batch_id = BatchId::random();
            let mut sealed = seal_record(
                &key.key,
                header,
                plain.clone(),
                fields.encoded(),
                batch_id,
                0,
            )?;
            sealed.indexes = prepared.map(|p| p.entries(fields.encoded())).transpose()?;
            let batch = sign_batch(
                self.identity.signer(),
                batch_id,
                std::slice::from_ref(&sealed),
            )?;
            batches::insert(conn, &BatchRow::from_signed(&batch, now))?;
            let row = RecordRow::from_sealed(&sealed, current.created_at, now)?;
            if !records::replace(conn, id, expected_version, &row)? {
                return Err(conflict(id, expected_version, None));
            }
            records::delete_meta(conn, &stored)?;
            records::insert_meta(conn, &row.meta_rows(plain))?;
            indexes::delete_values(conn, id)?;
            indexes::insert_values(conn, &lookup_rows(&row, &sealed))?;
            batches::drop_if_unused(conn, stored.batch())?;
            let meta = RecordMeta {
                id,
                version: expected_version + 1,
                writer_id: self.id(),
                record_type: current.record_type,
                key_version: key.version,
                file_size: None,
                plain: plain.clone(),
                created_at: from_micros(current.created_at).ok_or(Error::Decryption)?,
                updated_at: from_micros(now).ok_or(Error::Internal("the clock is out of range"))?,
            };
            Ok((meta, key))
        })?;
        self.cache_created_key(&meta.record_type, &key);
        self.tally.written(1);
        Ok(meta)
    }

    /// Deletes one of this client's records if it is still at
    /// `expected_version` ([`Error::Conflict`] otherwise; a record that no
    /// longer exists, deleted before or concurrently, is
    /// [`Error::NotFound`]; another writer's record is
    /// [`Error::AccessDenied`], and a stored row that fails verification
    /// or is malformed [`Error::Decryption`]).
    pub fn delete(&self, id: RecordId, expected_version: u64) -> Result<()> {
        let span = op_span!(self, "delete", record_id = %id, expected_version);
        self.observe(span, |_| self.delete_in(id, expected_version))
    }

    fn delete_in(&self, id: RecordId, expected_version: u64) -> Result<()> {
        self.retrying(|conn| {
            // A record that fails verification, or whose row is malformed
            // beyond its writer and version, can still be deleted.
            let (current, _) = self.owned_row(conn, id, expected_version, false)?;
            records::delete_meta(conn, &current)?;
            if !records::delete(conn, id, expected_version)? {
                return Err(conflict(id, expected_version, None));
            }
            files::delete_record(conn, id)?;
            indexes::delete_values(conn, id)?;
            batches::drop_if_unused(conn, current.batch())
        })
    }

    /// Runs `write` in a write transaction, again (a fresh transaction) if
    /// it lost a race on a unique constraint.
    pub(crate) fn retrying<T>(
        &self,
        mut write: impl FnMut(&mut AnyConnection) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.store.conn()?;
        let mut attempt = 1;
        loop {
            match self.write_tx(&mut conn, &mut write) {
                Err(err) if is_unique_violation(&err) && attempt < ATTEMPTS => {
                    tracing::debug!(attempt, "write lost a race; retrying");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The stored row of `id`, checked to be this client's and at
    /// `expected_version`; a row whose writer or version is malformed is
    /// [`Error::Decryption`].
    ///
    /// With `verify`, the row must also parse and carry this client's
    /// valid signature, and comes back parsed too: an update takes the
    /// record type (and so the key that seals the new values) from it, and
    /// the database must not choose those.
    pub(super) fn owned_row(
        &self,
        conn: &mut AnyConnection,
        id: RecordId,
        expected_version: u64,
        verify: bool,
    ) -> Result<(StoredRecord, Option<RecordRow>)> {
        // Locked, so the batch that signs it stays until we are done.
        let stored =
            records::find_for_change(conn, id)?.ok_or(Error::NotFound { record_id: id })?;
        match stored.writer() {
            None => return Err(Error::Decryption),
            Some(writer) if writer != self.id() => {
                return Err(Error::AccessDenied {
                    record_id: id,
                    reason: "only the record's writer may change it",
                })
            }
            Some(_) => {}
        }
        let parsed = if verify {
            let row = stored.clone().parse().map_err(|_| Error::Decryption)?;
            let sealed = row.to_sealed()?;
            if sealed.record_id != id {
                return Err(Error::Decryption);
            }
            self.check_record(conn, &sealed)?;
            Some(row)
        } else {
            None
        };
        let found = stored.version().ok_or(Error::Decryption)?;
        if found != expected_version {
            return Err(conflict(id, expected_version, Some(found)));
        }
        Ok((stored, parsed))
    }

    /// Seals `new_records` in chunks on worker threads and inserts each
    /// chunk as it arrives; returns the metas in input order.
    fn seal_and_insert(
        &self,
        conn: &mut AnyConnection,
        new_records: &[NewRecord],
        keys: &HashMap<&str, WriteKey>,
        indexes: &HashMap<&str, PreparedIndexes>,
        now: i64,
    ) -> Result<Vec<RecordMeta>> {
        let chunks: Vec<&[NewRecord]> = new_records.chunks(CHUNK).collect();
        let mut out: Vec<Option<Vec<RecordMeta>>> = (0..chunks.len()).map(|_| None).collect();
        // One chunk, a pool of one thread, or a caller that is itself one
        // of the pool's threads (it would wait on work queued behind it):
        // seal and insert in turn on this thread.
        if chunks.len() == 1
            || rayon::current_num_threads() < 2
            || rayon::current_thread_index().is_some()
        {
            let mut metas = Vec::with_capacity(new_records.len());
            for (index, chunk) in chunks.iter().enumerate() {
                let sealed = self.seal_chunk(index, chunk, keys, indexes, now)?;
                insert_chunk(conn, &sealed)?;
                metas.extend(sealed.metas);
            }
            return Ok(metas);
        }
        // Chunks are sealed on rayon's pool while this thread inserts each
        // as it arrives; the channel bounds how many wait sealed. If an
        // insert fails the receiver goes, and sealing stops at the next
        // chunk.
        let in_flight = rayon::current_num_threads().max(1) * 2;
        std::thread::scope(|scope| -> Result<()> {
            let (sender, receiver) = mpsc::sync_channel::<Result<SealedChunk>>(in_flight);
            let chunks = &chunks;
            scope.spawn(move || {
                // An `Err` here only means the receiver is gone.
                let _stopped = chunks.par_iter().enumerate().try_for_each_with(
                    sender,
                    |sender, (index, chunk)| {
                        sender
                            .send(self.seal_chunk(index, chunk, keys, indexes, now))
                            .map_err(drop)
                    },
                );
            });
            for sealed in receiver {
                let sealed = sealed?;
                insert_chunk(conn, &sealed)?;
                out[sealed.index] = Some(sealed.metas);
            }
            Ok(())
        })?;
        Ok(out.into_iter().flatten().flatten().collect())
    }

    fn seal_chunk(
        &self,
        index: usize,
        chunk: &[NewRecord],
        keys: &HashMap<&str, WriteKey>,
        indexes: &HashMap<&str, PreparedIndexes>,
        start: i64,
    ) -> Result<SealedChunk> {
        let batch_id = BatchId::random();
        // Each batch its own creation time: the call's start, one
        // microsecond later for each batch before it. A page filtered by
        // plain meta sorts the records of one creation time by id
        // (PostgreSQL's meta index keys (tag, created_at) only), so no
        // creation time holds more than one batch however long the call;
        // and the batches of a long call page in the order given (within a
        // batch, by record id).
        let now = i64::try_from(index)
            .ok()
            .and_then(|index| start.checked_add(index))
            .ok_or(Error::InvalidInput("clock out of range"))?;
        let at = from_micros(now).ok_or(Error::InvalidInput("clock out of range"))?;
        let mut records = Vec::with_capacity(chunk.len());
        for (place, record) in (0u32..).zip(chunk) {
            let key = &keys[record.record_type.as_str()];
            let header = RecordHeader {
                record_id: RecordId::random(),
                version: 1,
                record_type: &record.record_type,
                writer_id: self.id(),
                key_version: key.version,
            };
            let mut sealed = seal_record(
                &key.key,
                header,
                record.plain.clone(),
                record.fields.encoded(),
                batch_id,
                place,
            )?;
            if let Some(prepared) = indexes.get(record.record_type.as_str()) {
                sealed.indexes = Some(prepared.entries(record.fields.encoded())?);
            }
            records.push(sealed);
        }
        let batch = sign_batch(self.identity.signer(), batch_id, &records)?;
        let mut sealed = SealedChunk {
            index,
            batch: BatchRow::from_signed(&batch, now),
            rows: Vec::with_capacity(chunk.len()),
            meta_rows: Vec::with_capacity(chunk.len() * 2),
            index_rows: Vec::new(),
            metas: Vec::with_capacity(chunk.len()),
        };
        for record in records {
            let row = RecordRow::from_sealed(&record, now, now)?;
            sealed
                .meta_rows
                .extend(meta_rows(row.record_id, row.created_at, &record.plain));
            sealed.index_rows.extend(lookup_rows(&row, &record));
            sealed.rows.push(row);
            sealed.metas.push(record_meta(
                record,
                RecordTimes {
                    created_at: at,
                    updated_at: at,
                },
            ));
        }
        Ok(sealed)
    }
}

fn insert_chunk(conn: &mut AnyConnection, chunk: &SealedChunk) -> Result<()> {
    batches::insert(conn, &chunk.batch)?;
    records::insert(conn, &chunk.rows)?;
    records::insert_meta(conn, &chunk.meta_rows)?;
    indexes::insert_values(conn, &chunk.index_rows)
}

/// The record type of `records` when they all have the same one.
fn one_type(records: &[NewRecord]) -> Option<&str> {
    let first = records.first()?.record_type.as_str();
    records
        .iter()
        .all(|r| r.record_type == first)
        .then_some(first)
}

pub(super) fn conflict(id: RecordId, expected: u64, found: Option<u64>) -> Error {
    Error::Conflict {
        record_id: Some(id),
        expected: Some(expected),
        found,
    }
}
