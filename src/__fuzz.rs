//! Hostile-input entry points, for the fuzz targets under `fuzz/` and the
//! property tests of `tests/hostile_input.rs`. **Not API**: hidden from the
//! documentation, outside any semver promise, changed or removed in any
//! release without notice. Nothing here is needed to use strongroom.
//!
//! Each function takes bytes as an attacker could hand them over (a stored
//! column, a text form, a profile file) and runs them through the
//! library's own parsers — the same functions the client calls, with fixed
//! keys and ids standing in for the client's — then through what reads
//! the result (opening, verifying, re-encoding). It returns the parse's
//! `Result`; it **panics** only when a property that must hold for every
//! input fails (a decoded value that does not encode back to its input,
//! a changed record that verifies): that panic is a finding.
//!
//! `seeds` gives real encodings, made with the same fixed keys, in each
//! entry point's input form: the fuzz corpus and the property tests start
//! from them and mutate them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::crypto::batch::{SignedBatch, VerifiedBatch};
use crate::crypto::envelope::{self, Envelope, FieldContext};
use crate::crypto::file_stream::{ChunkPosition, FileContext, FileHead, FileSealer};
use crate::crypto::keys::{AccessKey, EncryptionSecretKey, SigningSecretKey};
use crate::crypto::signature::{GrantKind, RecordHeader, ShareGrant};
use crate::crypto::wrap::{self, WrapContext};
use crate::error::{Error, Result};
use crate::format::b64;
use crate::format::blind_index::{BlindIndexes, IndexEntry};
use crate::format::sealed_fields;
use crate::identity::{Identity, PublicIdentity};
use crate::ids::{BatchId, ClientId, DatabaseId, RecordId};
use crate::index::{IndexSpec, Normalize};
use crate::profile::{self, KnownSealing};
use crate::record::{self, SealedRecord};
use crate::store::rows::{RecordRow, StoredPolicy, StoredRecord};

/// The record type every fixed context names.
const RECORD_TYPE: &str = "patient";

fn writer() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| identity(0x57, 0x21))
}

fn reader() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| identity(0x52, 0x31))
}

fn authorizer() -> &'static Identity {
    static ID: OnceLock<Identity> = OnceLock::new();
    ID.get_or_init(|| identity(0x41, 0x41))
}

/// A fixed identity: its id and secret keys from `id` and `seed`.
fn identity(id: u8, seed: u8) -> Identity {
    Identity::from_secret_keys(
        ClientId::from_uuid(uuid::Uuid::from_bytes([id; 16])),
        EncryptionSecretKey::from_bytes([seed; 32]),
        SigningSecretKey::from_bytes([seed.wrapping_add(1); 32]),
    )
    .expect("fixed keys are valid")
}

fn access_key() -> AccessKey {
    AccessKey::from_bytes([0x11; 32])
}

fn record_id(n: u8) -> RecordId {
    RecordId::from_uuid(uuid::Uuid::from_bytes([0xa0 | n; 16]))
}

fn batch_id() -> BatchId {
    BatchId::from_uuid(uuid::Uuid::from_bytes([0xba; 16]))
}

fn field_context() -> FieldContext<'static> {
    FieldContext {
        record_type: RECORD_TYPE,
        record_id: record_id(0),
        writer_id: writer().client_id(),
        field: "name",
        key_version: 1,
    }
}

fn wrap_context() -> WrapContext<'static> {
    WrapContext {
        writer_id: writer().client_id(),
        record_type: RECORD_TYPE,
        key_version: 1,
        reader_id: reader().client_id(),
        wrapper_id: writer().client_id(),
    }
}

fn known_sealing() -> KnownSealing {
    KnownSealing {
        key: [0x66; 32],
        salt: [0x5a; 16],
        iterations: 3,
        memory_kib: 64 * 1024,
    }
}

// --- Field envelopes ----------------------------------------------------

/// A field envelope, as stored (`data`'s bytes) and, if `data` is UTF-8,
/// as its `srf1.` text form; each that parses is opened under the fixed
/// access key and field context. `Ok` if either form opened.
///
/// Panics if a text form that parses is not the canonical text of its
/// bytes.
pub fn envelope(data: &[u8]) -> Result<()> {
    let open = |sealed: &Envelope| envelope::open_field(&access_key(), &field_context(), sealed);
    let mut text_opened = false;
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = Envelope::from_text(text) {
            assert_eq!(parsed.to_text(), text, "a text envelope has one form");
            text_opened = open(&parsed).is_ok();
        }
    }
    let stored = Envelope::from_bytes(data.to_vec()).and_then(|stored| {
        assert_eq!(stored.as_bytes(), data);
        open(&stored).map(drop)
    });
    if text_opened {
        Ok(())
    } else {
        stored
    }
}

// --- Record encodings ---------------------------------------------------

/// The record encodings, by `data[0] % 6`: 0 the sealed-fields column
/// (`sealed_fields`), 1 a file head (`file_head`), 2 the blind index
/// column (`blind_indexes`), 3 an index description (`index_spec`), 4 a
/// stored batch (`batch`), 5 a whole stored record row (`record_row`);
/// the rest of `data` is that parser's input.
pub fn record_encoding(data: &[u8]) -> Result<()> {
    let Some((&which, rest)) = data.split_first() else {
        return Err(Error::Decryption);
    };
    match which % 6 {
        0 => sealed_fields(rest),
        1 => file_head(rest),
        2 => blind_indexes(rest),
        3 => index_spec(rest),
        4 => batch(rest),
        _ => record_row(rest),
    }
}

/// A `records.sealed_fields` column.
///
/// Panics if a column that decodes does not encode back to itself.
pub fn sealed_fields(data: &[u8]) -> Result<()> {
    let fields = sealed_fields::decode(data)?;
    assert_eq!(
        sealed_fields::encode(&fields).expect("decoded fields encode"),
        data,
        "a sealed-fields column has one encoding"
    );
    Ok(())
}

/// A `records.file_head` column; a head that parses gives the plaintext
/// length of its first and last chunk.
///
/// Panics if a head that parses does not encode back to itself.
pub fn file_head(data: &[u8]) -> Result<()> {
    let head = FileHead::from_bytes(data)?;
    assert_eq!(head.to_bytes(), data, "a file head has one encoding");
    let last = head.chunk_count() - 1;
    for seq in [0, last] {
        let len = head.plain_len(seq).ok_or(Error::Decryption)?;
        assert!(len <= head.chunk_size() as usize);
    }
    Ok(())
}

/// A `records.blind_indexes` column, and each entry's index description.
///
/// Panics if a column that decodes does not encode back to itself.
pub fn blind_indexes(data: &[u8]) -> Result<()> {
    let decoded = BlindIndexes::decode(data)?;
    assert_eq!(
        decoded.encode().expect("decoded entries encode"),
        data,
        "a blind index column has one encoding"
    );
    for entry in &decoded.entries {
        let _ = IndexSpec::from_bytes(&entry.name, &entry.spec, None);
    }
    Ok(())
}

/// A stored index description (FORMAT.md, "Blind indexes").
///
/// Panics if a description that parses does not encode back to itself.
pub fn index_spec(data: &[u8]) -> Result<()> {
    let spec = IndexSpec::from_bytes("fuzzed", data, None)?;
    assert_eq!(
        spec.to_bytes(),
        data,
        "an index description has one encoding"
    );
    Ok(())
}

/// A stored batch: `data` is the digests column followed by the 64
/// signature bytes; a batch that parses is verified against the fixed
/// writer.
///
/// Panics if a batch that verifies does not give back its columns.
pub fn batch(data: &[u8]) -> Result<()> {
    let split = data.len().checked_sub(64).ok_or(Error::Decryption)?;
    let (digests, signature) = data.split_at(split);
    let parsed = SignedBatch::from_stored(batch_id(), writer().client_id(), digests, signature)?;
    let verified = parsed.verify(writer().client_id(), &writer().public().signing_key)?;
    assert!(
        verified.digests_bytes() == digests && verified.signature_bytes()[..] == *signature,
        "a stored batch has one encoding"
    );
    Ok(())
}

/// A whole `records` row as a database could hold it, then the
/// `record_batches` row it names, each column framed as `Columns` reads
/// it (in the order of `RECORD_COLUMNS`, then batch id, writer id,
/// digests, signature): the record row parsed as a query parses it and
/// turned into a sealed record, the batch verified against the fixed
/// writer's key, the record checked against the batch and, if it passes,
/// opened under the fixed access key.
///
/// Panics if a row that parses does not give back its columns, or if a
/// record passes its batch and does not open (the fixed writer signs only
/// records it sealed under that key: anything else that passed would be
/// a forgery).
pub fn record_row(data: &[u8]) -> Result<()> {
    let mut c = Columns::new(data);
    let stored = StoredRecord {
        record_id: c.bytes(),
        writer_id: c.bytes(),
        record_type: c.bytes(),
        version: c.int(),
        plain: c.bytes(),
        sealed_fields: c.bytes(),
        key_version: c.int(),
        batch_id: c.bytes(),
        batch_index: c.int(),
        created_at: c.int(),
        updated_at: c.int(),
        classes: c.int(),
        file_head: c.bytes(),
        blind_indexes: c.bytes(),
    };
    let (stored_batch_id, batch_writer, digests, signature) =
        (c.bytes(), c.bytes(), c.bytes(), c.bytes());
    let row = stored.parse().map_err(|_| Error::Decryption)?;
    let _ = row.times();
    let sealed = row.to_sealed()?;
    let again = RecordRow::from_sealed(&sealed, row.created_at, row.updated_at)?;
    assert!(
        again.sealed_fields == row.sealed_fields
            && again.file_head == row.file_head
            && again.blind_indexes == row.blind_indexes,
        "a parsed row encodes back to its columns"
    );
    let id = |bytes: Option<Vec<u8>>| crate::store::sql_id::parse(&bytes?);
    let batch = SignedBatch::from_stored(
        BatchId::from_uuid(id(stored_batch_id).ok_or(Error::Decryption)?),
        ClientId::from_uuid(id(batch_writer).ok_or(Error::Decryption)?),
        &digests.ok_or(Error::Decryption)?,
        &signature.ok_or(Error::Decryption)?,
    )?;
    // The writer's pinned key: only the fixed writer is known.
    if sealed.writer_id != writer().client_id() {
        return Err(Error::Decryption);
    }
    let verified = batch.verify(sealed.writer_id, &writer().public().signing_key)?;
    sealed.verify_in(&verified)?;
    let opened = record::open_verified(&sealed, &access_key());
    assert!(opened.is_ok(), "a record the writer signed opens");
    Ok(())
}

// --- Wrapped access keys ------------------------------------------------

/// A wrapped access key, as the `access_keys.wrapped_key` column holds it
/// (turned into its text form as the store does) and, if `data` is UTF-8,
/// as an `srk1.` text; each is unwrapped for the fixed reader and context.
/// `Ok` if either form unwrapped.
///
/// Panics if a wrapped key unwraps to another key than the one wrapped.
pub fn wrapped_key(data: &[u8]) -> Result<()> {
    let unwrap = |text: &str| {
        let key = wrap::unwrap_access_key(
            text,
            &wrap_context(),
            reader().encryption_secret(),
            &writer().public().encryption_key,
        )?;
        assert!(key == access_key(), "a wrapped key unwraps to itself");
        Ok::<(), Error>(())
    };
    let text = std::str::from_utf8(data).map_or(Err(Error::Decryption), unwrap);
    text.or_else(|_| unwrap(&b64::prefixed(wrap::PREFIX, data)))
}

// --- Share grants -------------------------------------------------------

/// `policies` rows as a database could hold them, each column framed as
/// `Columns` reads it (in the order of `POLICY_COLUMNS`), one row after
/// another: the rows that parse go through the rules a rotation applies
/// (the fixed writer's type, version 1). `Ok` if any grant counts.
///
/// Panics if a grant counts that the writer (or its authoriser) did not
/// sign: a reader, key or authoriser the seeds do not grant.
pub fn grant(data: &[u8]) -> Result<()> {
    let mut c = Columns::new(data);
    let mut rows = Vec::new();
    while !c.is_empty() {
        let stored = StoredPolicy {
            writer_id: c.bytes(),
            record_type: c.bytes(),
            reader_id: c.bytes(),
            kind: c.bytes(),
            granted_by: c.bytes(),
            via: c.bytes(),
            reader_key: c.bytes(),
            key_version: c.int(),
            signature: c.bytes(),
            created_at: c.int(),
        };
        rows.extend(stored.parse());
    }
    let (readers, authorizers) = crate::client::valid_grantee_parts(
        &rows,
        writer().client_id(),
        &writer().public().signing_key,
        RECORD_TYPE,
        1,
        |id| (id == authorizer().client_id()).then(|| authorizer().public().signing_key),
    );
    let reader_grant = (reader().client_id(), reader().public().encryption_key, None);
    let through = (
        reader().client_id(),
        reader().public().encryption_key,
        Some(authorizer().client_id()),
    );
    let authorizer_grant = (
        authorizer().client_id(),
        authorizer().public().encryption_key,
        None,
    );
    assert!(
        readers.iter().all(|r| *r == reader_grant || *r == through)
            && authorizers.iter().all(|a| *a == authorizer_grant),
        "only signed grants count"
    );
    if readers.is_empty() && authorizers.is_empty() {
        Err(Error::Decryption)
    } else {
        Ok(())
    }
}

// --- Profile files ------------------------------------------------------

/// A profile file's bytes, loaded as `crate::Profile::load` loads them:
/// without a passphrase, then as a process that already holds the key of
/// the seeds' sealed profile (so a sealed file's AAD and seal are checked;
/// Argon2id never runs). `Ok` if either loads.
///
/// Panics if a loaded profile does not save and load again as the same
/// identity.
pub fn profile(data: &[u8]) -> Result<()> {
    let known = known_sealing();
    let plain = profile::parse_untrusted(data, None);
    let sealed = profile::parse_untrusted(data, Some(&known));
    for loaded in [&plain, &sealed].into_iter().flatten() {
        let again = profile::encode_for_seeds(
            loaded.identity().duplicate()?,
            loaded.name(),
            &loaded.pinned_peers().copied().collect::<Vec<_>>(),
            &[],
            loaded.is_sealed().then_some(&known),
        )?;
        let reloaded = profile::parse_untrusted(&again, Some(&known))
            .expect("a loaded profile saves and loads again");
        assert_eq!(reloaded.identity().public(), loaded.identity().public());
    }
    plain.or(sealed).map(drop)
}

// --- Column framing -----------------------------------------------------

/// Reads the columns of a row from fuzzed bytes. A byte column is a tag
/// byte (0: NULL) then, unless NULL, a big-endian `u32` length and that
/// many bytes (fewer if the input ends first); an integer column is a tag
/// byte then, unless NULL, 8 big-endian bytes (zeros past the end). Past
/// the end of the input every column is NULL.
pub struct Columns<'a> {
    rest: &'a [u8],
}

impl<'a> Columns<'a> {
    /// The columns of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Columns { rest: data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        head
    }

    fn present(&mut self) -> bool {
        self.take(1).first().is_some_and(|tag| *tag != 0)
    }

    /// The next byte column.
    pub fn bytes(&mut self) -> Option<Vec<u8>> {
        if !self.present() {
            return None;
        }
        let mut len = [0u8; 4];
        let given = self.take(4);
        len[..given.len()].copy_from_slice(given);
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        Some(self.take(len).to_vec())
    }

    /// The next integer column.
    pub fn int(&mut self) -> Option<i64> {
        if !self.present() {
            return None;
        }
        let mut bytes = [0u8; 8];
        let given = self.take(8);
        bytes[..given.len()].copy_from_slice(given);
        Some(i64::from_be_bytes(bytes))
    }
}

/// Writes columns as `Columns` reads them (for the seeds).
#[derive(Default)]
struct ColumnsOut(Vec<u8>);

impl ColumnsOut {
    fn bytes(mut self, value: Option<&[u8]>) -> Self {
        match value {
            None => self.0.push(0),
            Some(bytes) => {
                self.0.push(1);
                self.0
                    .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                self.0.extend_from_slice(bytes);
            }
        }
        self
    }

    fn int(mut self, value: Option<i64>) -> Self {
        match value {
            None => self.0.push(0),
            Some(n) => {
                self.0.push(1);
                self.0.extend_from_slice(&n.to_be_bytes());
            }
        }
        self
    }
}

// --- The seeds' records -------------------------------------------------

/// The records the fixed writer sealed and signed in `seed_batch`: one
/// with plain meta and two fields, one file record, one with blind index
/// entries.
fn seed_records() -> &'static [SealedRecord] {
    static RECORDS: OnceLock<Vec<SealedRecord>> = OnceLock::new();
    RECORDS.get_or_init(|| make_seed_records().expect("the seed records seal"))
}

fn make_seed_records() -> Result<Vec<SealedRecord>> {
    let header = |n: u8| RecordHeader {
        record_id: record_id(n),
        version: 1,
        record_type: RECORD_TYPE,
        writer_id: writer().client_id(),
        key_version: 1,
    };
    let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
    let values = BTreeMap::from([
        ("name".to_owned(), b"Ada Lovelace".to_vec()),
        ("visits".to_owned(), b"[1843,1852]".to_vec()),
    ]);
    let first = record::seal_record(&access_key(), header(0), plain, &values, batch_id(), 0)?;

    let empty: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut file = record::seal_record(
        &access_key(),
        header(1),
        BTreeMap::new(),
        &empty,
        batch_id(),
        1,
    )?;
    let ctx = FileContext {
        record_type: RECORD_TYPE,
        record_id: record_id(1),
        writer_id: writer().client_id(),
        key_version: 1,
        version: 1,
    };
    let mut sealer = FileSealer::new(&access_key(), &ctx, 64)?;
    sealer.seal_chunk(&[7u8; 64], ChunkPosition::NotLast)?;
    sealer.seal_chunk(&[8u8; 10], ChunkPosition::Last)?;
    file.file = Some(sealer.finish()?);

    let mut indexed = record::seal_record(
        &access_key(),
        header(2),
        BTreeMap::new(),
        &BTreeMap::from([("last_name".to_owned(), b"\"King\"".to_vec())]),
        batch_id(),
        2,
    )?;
    let spec = IndexSpec::new("by_name", ["last_name"])
        .bits(12)
        .normalize(Normalize::Lowercase);
    indexed.indexes = Some(BlindIndexes {
        index_version: 1,
        entries: vec![IndexEntry {
            name: "by_name".to_owned(),
            spec: spec.to_bytes(),
            value: vec![0xab, 0xc0],
        }],
    });
    Ok(vec![first, file, indexed])
}

/// The batch that signs `seed_records`, verified.
fn seed_batch() -> &'static VerifiedBatch {
    static BATCH: OnceLock<VerifiedBatch> = OnceLock::new();
    BATCH.get_or_init(|| {
        record::sign_batch(writer().signer(), batch_id(), seed_records())
            .and_then(|b| b.verify(writer().client_id(), &writer().public().signing_key))
            .expect("the seed batch signs and verifies")
    })
}

/// Real encodings in each entry point's input form, made with the fixed
/// keys: what the fuzz corpus and the property tests start from.
pub mod seeds {
    use super::*;

    /// For `super::envelope`: sealed envelopes, stored and as text.
    pub fn envelope() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for value in [&b""[..], b"Ada Lovelace", &[0xee; 300]] {
            let sealed = envelope::seal_field(&access_key(), &field_context(), value)
                .expect("the seed envelope seals");
            out.push(sealed.to_text().into_bytes());
            out.push(sealed.into_bytes());
        }
        out
    }

    /// For `super::record_encoding`: each encoding of the seed records,
    /// with its selector byte.
    pub fn record_encoding() -> Vec<Vec<u8>> {
        let with = |which: u8, bytes: &[u8]| [&[which][..], bytes].concat();
        let mut out = Vec::new();
        for sealed in seed_records() {
            let row = RecordRow::from_sealed(sealed, 1_700_000_000_000_000, 1_700_000_000_000_001)
                .expect("the seed row encodes");
            out.push(with(0, &row.sealed_fields));
            if let Some(head) = &row.file_head {
                out.push(with(1, head));
            }
            if let Some(indexes) = &row.blind_indexes {
                out.push(with(2, indexes));
                if let Some(entry) = sealed.indexes.as_ref().and_then(|i| i.entries.first()) {
                    out.push(with(3, &entry.spec));
                }
            }
            out.push(with(5, &record_row_columns(&row, seed_batch())));
        }
        let batch = seed_batch();
        out.push(with(
            4,
            &[&batch.digests_bytes()[..], &batch.signature_bytes()[..]].concat(),
        ));
        out
    }

    /// A stored record row and its batch framed as `super::record_row`
    /// reads them.
    fn record_row_columns(row: &RecordRow, batch: &SignedBatch) -> Vec<u8> {
        ColumnsOut::default()
            .bytes(Some(&row.record_id.0))
            .bytes(Some(&row.writer_id.0))
            .bytes(Some(row.record_type.as_bytes()))
            .int(Some(row.version))
            .bytes(Some(row.plain.as_bytes()))
            .bytes(Some(&row.sealed_fields))
            .int(Some(row.key_version.into()))
            .bytes(Some(&row.batch_id.0))
            .int(Some(row.batch_index.into()))
            .int(Some(row.created_at))
            .int(Some(row.updated_at))
            .int(Some(0))
            .bytes(row.file_head.as_deref())
            .bytes(row.blind_indexes.as_deref())
            .bytes(Some(batch.batch_id().as_uuid().as_bytes()))
            .bytes(Some(batch.writer_id().as_uuid().as_bytes()))
            .bytes(Some(&batch.digests_bytes()))
            .bytes(Some(&batch.signature_bytes()[..]))
            .0
    }

    /// For `super::wrapped_key`: the fixed access key wrapped to the
    /// fixed reader, stored and as text.
    pub fn wrapped_key() -> Vec<Vec<u8>> {
        let wrapped = wrap::wrap_access_key(
            &access_key(),
            &wrap_context(),
            &reader().public().encryption_key,
            writer().encryption_secret(),
        )
        .expect("the seed key wraps");
        let stored = b64::unprefixed(wrap::PREFIX, wrapped.as_str()).expect("its own text form");
        vec![wrapped.into_string().into_bytes(), stored]
    }

    /// For `super::grant`: policy rows the writer and its authoriser
    /// signed (an authorisation, a read grant, a read grant through the
    /// authoriser), alone and together.
    pub fn grant() -> Vec<Vec<u8>> {
        let w = writer();
        let grant = |reader: &Identity, kind, by: &Identity, via: Option<ClientId>| {
            let grant = ShareGrant {
                writer_id: w.client_id(),
                record_type: RECORD_TYPE,
                reader_id: reader.client_id(),
                reader_key: reader.public().encryption_key,
                kind,
                key_version: 1,
                granted_by: by.client_id(),
                via,
            };
            let signature = by
                .signer()
                .sign_grant(&grant)
                .expect("the seed grant signs");
            let signature = b64::unprefixed(crate::crypto::signature::PREFIX, &signature)
                .expect("its own text form");
            let kind = match kind {
                GrantKind::Read => "read",
                _ => "authorize",
            };
            let via = via.map(|v| v.as_uuid().as_bytes().to_vec());
            ColumnsOut::default()
                .bytes(Some(w.client_id().as_uuid().as_bytes()))
                .bytes(Some(RECORD_TYPE.as_bytes()))
                .bytes(Some(reader.client_id().as_uuid().as_bytes()))
                .bytes(Some(kind.as_bytes()))
                .bytes(Some(by.client_id().as_uuid().as_bytes()))
                .bytes(via.as_deref())
                .bytes(Some(reader.public().encryption_key.as_bytes()))
                .int(Some(1))
                .bytes(Some(&signature))
                .int(Some(1_700_000_000_000_000))
                .0
        };
        let authorize = grant(authorizer(), GrantKind::Authorize, w, None);
        let read = grant(reader(), GrantKind::Read, w, None);
        let through = grant(reader(), GrantKind::Read, authorizer(), None);
        let resigned = grant(reader(), GrantKind::Read, w, Some(authorizer().client_id()));
        vec![
            authorize.clone(),
            read.clone(),
            [authorize.clone(), through].concat(),
            resigned,
            [authorize, read].concat(),
        ]
    }

    /// For `super::profile`: profile files of the fixed writer, plain
    /// and sealed (under the key `super::profile` holds), with a name,
    /// pins and a database's marks.
    pub fn profile() -> Vec<Vec<u8>> {
        let known = known_sealing();
        let pins = [*reader().public(), *authorizer().public()];
        let database = DatabaseId::from_uuid(uuid::Uuid::from_bytes([0xdb; 16]));
        let make = |name, pins: &[PublicIdentity], marks: &[(DatabaseId, &str, u32)], sealed| {
            profile::encode_for_seeds(
                writer().duplicate().expect("the fixed identity copies"),
                name,
                pins,
                marks,
                sealed,
            )
            .expect("the seed profile encodes")
        };
        vec![
            make(None, &[], &[], None),
            make(Some("alice"), &pins, &[(database, RECORD_TYPE, 2)], None),
            make(None, &[], &[], Some(&known)),
            make(
                Some("alice"),
                &pins,
                &[(database, RECORD_TYPE, 2)],
                Some(&known),
            ),
        ]
    }
}
