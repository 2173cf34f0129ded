//! File bodies: a stream of fixed-size chunks sealed with orion's
//! streaming AEAD (libsodium's secretstream: XChaCha20-Poly1305, each
//! chunk's key state ratcheted from the one before, the last chunk tagged
//! `Finish`) under a fresh data key, itself sealed under the access key.
//!
//! # Use case
//! [`FileSealer`] turns a body into sealed chunks one at a time and gives
//! the [`FileHead`] at the end; [`FileOpener`] opens the chunks of a head
//! in order. Neither holds more than one chunk.
//!
//! # Parameters
//! A [`FileContext`] names the file (record type, record id, writer, access
//! key version, record version). The data key's seal is bound to
//! (type, id, writer, key version), every chunk to (type, id, writer,
//! record version), as associated data (FORMAT.md, "Files").
//!
//! # Errors
//! Every failure to open — a wrong key, a chunk missing, reordered,
//! duplicated, truncated, altered or taken from another file or version,
//! a stream without its final tag, bytes after it, a digest that differs
//! from the head's — is the opaque [`Error::Decryption`].
//!
//! # Security
//! A chunk's plaintext is returned only after its MAC verified. The last
//! chunk's plaintext is returned only after the digest of every sealed
//! chunk matched the (signed) head, so a stream that ends is the writer's
//! whole body. Earlier chunks are authentic under the file's data key when
//! returned, but only the final check ties them to the writer's signature.
//!
//! # Example
//! ```
//! use strongroom::{ClientId, RecordId};
//! use strongroom::hazmat::AccessKey;
//! use strongroom::hazmat::file::{ChunkPosition, FileContext, FileOpener, FileSealer};
//!
//! let ak = AccessKey::generate();
//! let ctx = FileContext {
//!     record_type: "scan",
//!     record_id: RecordId::random(),
//!     writer_id: ClientId::random(),
//!     key_version: 1,
//!     version: 1,
//! };
//! let mut sealer = FileSealer::new(&ak, &ctx, 4)?;
//! let chunks = vec![
//!     sealer.seal_chunk(b"abcd", ChunkPosition::NotLast)?,
//!     sealer.seal_chunk(b"ef", ChunkPosition::Last)?,
//! ];
//! let head = sealer.finish()?;
//! assert_eq!(head.length(), 6);
//!
//! let mut opener = FileOpener::new(&ak, &ctx, &head)?;
//! let mut body = Vec::new();
//! for (seq, chunk) in chunks.iter().enumerate() {
//!     body.extend_from_slice(&opener.open_chunk(seq as u64, chunk)?);
//! }
//! assert!(opener.is_done());
//! assert_eq!(body, b"abcdef");
//! # Ok::<(), strongroom::Error>(())
//! ```

use orion::hazardous::aead::streaming::{
    Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305, ABYTES,
};
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::aead;
use crate::crypto::keys::{AccessKey, DataKey, KEY_LEN};
use crate::crypto::rng;
use crate::error::{Error, Result};
use crate::format::canonical::Canonical;
use crate::format::file_head::{chunk_count_for, SEALED_DK_LEN};
pub use crate::format::file_head::{FileHead, MAX_CHUNK_SIZE};
use crate::ids::{ClientId, RecordId};

/// The chunk size strongroom writes: 64 KiB of plaintext a chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Bytes a sealed chunk adds to its plaintext: the encrypted stream tag
/// (1) and the Poly1305 MAC (16).
pub const CHUNK_OVERHEAD: usize = ABYTES;

const FILE_LABEL: &str = "strongroom/file";
const DIGEST_LABEL: &str = "strongroom/file-chunks";
const FORMAT_VERSION: u32 = 1;
const ROLE_CHUNK: u32 = 0;
const ROLE_DATA_KEY: u32 = 1;

/// Where a file body lives: its record and the versions that seal it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileContext<'a> {
    /// The record type.
    pub record_type: &'a str,
    /// The file record's id.
    pub record_id: RecordId,
    /// Its writer.
    pub writer_id: ClientId,
    /// The access key version that seals the data key.
    pub key_version: u32,
    /// The record version whose body this is.
    pub version: u64,
}

impl FileContext<'_> {
    fn common(&self) -> Result<Canonical> {
        Canonical::new(FILE_LABEL)
            .u32(FORMAT_VERSION)
            .str(self.record_type)
            .map(|c| {
                c.uuid(self.record_id.as_uuid())
                    .uuid(self.writer_id.as_uuid())
            })
    }

    /// The data key seal's AAD.
    fn dk_aad(&self) -> Result<Vec<u8>> {
        Ok(self
            .common()?
            .u32(ROLE_DATA_KEY)
            .u32(self.key_version)
            .finish())
    }

    /// Every chunk's associated data.
    fn chunk_ad(&self) -> Result<Vec<u8>> {
        Ok(self.common()?.u32(ROLE_CHUNK).u64(self.version).finish())
    }
}

/// The digest of a body's sealed chunks, in order: BLAKE2b-256 over
/// `label("strongroom/file-chunks") ‖ u32(1) ‖ (u64(seq) ‖ bytes(chunk))…`
/// (FORMAT.md, "Files"). [`FileSealer`] and [`FileOpener`] keep their own;
/// strongroom computes it on another thread while it seals or opens.
pub struct ChunksDigest(Blake2b);

impl ChunksDigest {
    /// An empty digest.
    pub fn new() -> Result<Self> {
        let mut hasher = Blake2b::new(32).map_err(|_| Error::Crypto("BLAKE2b"))?;
        let start = Canonical::new(DIGEST_LABEL).u32(FORMAT_VERSION).finish();
        hasher
            .update(&start)
            .map_err(|_| Error::Crypto("BLAKE2b"))?;
        Ok(ChunksDigest(hasher))
    }

    /// Adds sealed chunk `seq` (0, 1, 2, … in order).
    pub fn add(&mut self, seq: u64, chunk: &[u8]) -> Result<()> {
        let len = u32::try_from(chunk.len()).map_err(|_| Error::Decryption)?;
        let mut prefix = [0u8; 12];
        prefix[..8].copy_from_slice(&seq.to_be_bytes());
        prefix[8..].copy_from_slice(&len.to_be_bytes());
        self.0
            .update(&prefix)
            .and_then(|()| self.0.update(chunk))
            .map_err(|_| Error::Crypto("BLAKE2b"))
    }

    /// The digest of the chunks added.
    pub fn finish(mut self) -> Result<[u8; 32]> {
        let digest = self.0.finalize().map_err(|_| Error::Crypto("BLAKE2b"))?;
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Ok(out)
    }
}

fn stream_state(data_key: &DataKey, nonce: &[u8; 24]) -> Result<StreamXChaCha20Poly1305> {
    let key = SecretKey::try_from(&data_key.unprotected_as_bytes()[..])
        .map_err(|_| Error::Crypto("stream key"))?;
    let nonce = Nonce::try_from(&nonce[..]).map_err(|_| Error::Crypto("stream nonce"))?;
    Ok(StreamXChaCha20Poly1305::new(&key, &nonce))
}

fn open_data_key(access_key: &AccessKey, dk_aad: &[u8], sealed: &[u8]) -> Result<DataKey> {
    let mut bytes = [0u8; KEY_LEN];
    let opened = aead::open_into(
        access_key.unprotected_as_bytes(),
        dk_aad,
        sealed,
        &mut bytes,
    );
    let key = DataKey::from_bytes(bytes);
    bytes.zeroize();
    opened?;
    Ok(key)
}

fn seal_data_key(
    access_key: &AccessKey,
    dk_aad: &[u8],
    data_key: &DataKey,
) -> Result<[u8; SEALED_DK_LEN]> {
    let mut sealed = Vec::with_capacity(SEALED_DK_LEN);
    aead::seal_into(
        access_key.unprotected_as_bytes(),
        dk_aad,
        data_key.unprotected_as_bytes(),
        &mut sealed,
    )?;
    sealed
        .try_into()
        .map_err(|_| Error::Internal("a sealed data key is 72 bytes"))
}

impl std::fmt::Debug for ChunksDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunksDigest")
    }
}

/// Which chunk of a body [`FileSealer::seal_chunk`] seals: the last one
/// closes the stream (its tag is `Finish`) and may be shorter than the
/// chunk size; every other one is exactly the chunk size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkPosition {
    /// A chunk another one follows.
    NotLast,
    /// The body's last chunk.
    Last,
}

/// Seals a body chunk by chunk under a fresh data key.
pub struct FileSealer {
    state: StreamXChaCha20Poly1305,
    ad: Vec<u8>,
    /// `None` when the caller digests the chunks ([`FileSealer::finish_with`]).
    digest: Option<ChunksDigest>,
    chunk_size: u32,
    stream_nonce: [u8; 24],
    sealed_dk: [u8; SEALED_DK_LEN],
    length: u64,
    count: u64,
    finished: bool,
}

impl FileSealer {
    /// A sealer for the body of `ctx`, in chunks of `chunk_size` bytes (1
    /// to [`MAX_CHUNK_SIZE`]), with a fresh data key sealed under
    /// `access_key`.
    pub fn new(access_key: &AccessKey, ctx: &FileContext<'_>, chunk_size: u32) -> Result<Self> {
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(Error::InvalidInput("chunk size out of range"));
        }
        let data_key = DataKey::generate();
        let stream_nonce: [u8; 24] = rng::bytes();
        Ok(FileSealer {
            state: stream_state(&data_key, &stream_nonce)?,
            ad: ctx.chunk_ad()?,
            digest: Some(ChunksDigest::new()?),
            chunk_size,
            stream_nonce,
            sealed_dk: seal_data_key(access_key, &ctx.dk_aad()?, &data_key)?,
            length: 0,
            count: 0,
            finished: false,
        })
    }

    /// Seals the next chunk: exactly `chunk_size` bytes, or (the
    /// [`ChunkPosition::Last`] one) at most that many. Returns the sealed
    /// chunk ([`CHUNK_OVERHEAD`] bytes longer).
    pub fn seal_chunk(&mut self, plain: &[u8], position: ChunkPosition) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.seal_chunk_into(plain, position, &mut out)?;
        Ok(out)
    }

    /// [`FileSealer::seal_chunk`] into `out` (cleared first, its
    /// allocation reused).
    pub fn seal_chunk_into(
        &mut self,
        plain: &[u8],
        position: ChunkPosition,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let last = position == ChunkPosition::Last;
        let size = self.chunk_size as usize;
        if self.finished || plain.len() > size || (!last && plain.len() != size) {
            return Err(Error::InvalidInput(
                "a file chunk is the chunk size, the last one at most that",
            ));
        }
        out.clear();
        out.resize(plain.len() + CHUNK_OVERHEAD, 0);
        let tag = if last {
            StreamTag::Finish
        } else {
            StreamTag::Message
        };
        self.state
            .seal_chunk(plain, Some(&self.ad), out, &tag)
            .map_err(|_| Error::Crypto("stream seal"))?;
        if let Some(digest) = self.digest.as_mut() {
            digest.add(self.count, out)?;
        }
        self.length = self
            .length
            .checked_add(plain.len() as u64)
            .ok_or(Error::InvalidInput("file too large"))?;
        self.count += 1;
        self.finished = last;
        Ok(())
    }

    /// A sealer that leaves the chunks' digest to its caller, who adds
    /// every sealed chunk to a [`ChunksDigest`] in order and ends with
    /// [`FileSealer::finish_with`].
    pub fn without_digest(
        access_key: &AccessKey,
        ctx: &FileContext<'_>,
        chunk_size: u32,
    ) -> Result<Self> {
        let mut sealer = Self::new(access_key, ctx, chunk_size)?;
        sealer.digest = None;
        Ok(sealer)
    }

    /// The head of the sealed body; the last chunk must have been sealed.
    pub fn finish(mut self) -> Result<FileHead> {
        let digest = self
            .digest
            .take()
            .ok_or(Error::InvalidInput(
                "the caller digests this sealer's chunks",
            ))?
            .finish()?;
        self.finish_with(digest)
    }

    /// [`FileSealer::finish`] with the chunks' digest computed by the
    /// caller (see [`FileSealer::without_digest`]).
    pub fn finish_with(self, chunks_digest: [u8; 32]) -> Result<FileHead> {
        if !self.finished {
            return Err(Error::InvalidInput("the last chunk was not sealed"));
        }
        if chunk_count_for(self.length, self.chunk_size) != Some(self.count) {
            return Err(Error::InvalidInput("a chunk before the last was short"));
        }
        Ok(FileHead {
            length: self.length,
            chunk_size: self.chunk_size,
            chunk_count: self.count,
            chunks_digest,
            stream_nonce: self.stream_nonce,
            sealed_dk: self.sealed_dk,
        })
    }
}

impl std::fmt::Debug for FileSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSealer")
            .field("chunks", &self.count)
            .finish_non_exhaustive()
    }
}

/// Opens the sealed chunks of one file body, in order.
pub struct FileOpener {
    state: StreamXChaCha20Poly1305,
    ad: Vec<u8>,
    /// `None` when the caller digests the chunks.
    digest: Option<ChunksDigest>,
    head: FileHead,
    next: u64,
    poisoned: bool,
}

impl FileOpener {
    /// An opener for the body `head` describes; a data key that does not
    /// open under `access_key` for `ctx` is [`Error::Decryption`].
    pub fn new(access_key: &AccessKey, ctx: &FileContext<'_>, head: &FileHead) -> Result<Self> {
        let ad = ctx.chunk_ad().map_err(|_| Error::Decryption)?;
        let dk_aad = ctx.dk_aad().map_err(|_| Error::Decryption)?;
        let data_key = open_data_key(access_key, &dk_aad, &head.sealed_dk)?;
        Ok(FileOpener {
            state: stream_state(&data_key, &head.stream_nonce)?,
            ad,
            digest: Some(ChunksDigest::new()?),
            head: head.clone(),
            next: 0,
            poisoned: false,
        })
    }

    /// An opener that leaves the chunks' digest to its caller, who adds
    /// every chunk to a [`ChunksDigest`] in order and hands its result in
    /// with the last chunk ([`FileOpener::open_chunk_digested`]).
    pub fn without_digest(
        access_key: &AccessKey,
        ctx: &FileContext<'_>,
        head: &FileHead,
    ) -> Result<Self> {
        let mut opener = Self::new(access_key, ctx, head)?;
        opener.digest = None;
        Ok(opener)
    }

    /// The head this opener reads.
    pub fn head(&self) -> &FileHead {
        &self.head
    }

    /// The sequence number of the chunk expected next.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Whether every chunk was opened (and the digest matched).
    pub fn is_done(&self) -> bool {
        self.next == self.head.chunk_count
    }

    /// Opens chunk `seq`, which must be the next one; returns its
    /// plaintext (zeroized on drop).
    pub fn open_chunk(&mut self, seq: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(Vec::new());
        self.open_chunk_into(seq, sealed, &mut out)?;
        Ok(out)
    }

    /// [`FileOpener::open_chunk`] into `out` (cleared first). On any
    /// failure `out` is left empty and the opener refuses every later
    /// chunk.
    pub fn open_chunk_into(&mut self, seq: u64, sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.open_chunk_digested(seq, sealed, None, out)
    }

    /// [`FileOpener::open_chunk_into`] for an opener made
    /// [`FileOpener::without_digest`]: with the last chunk, `digest` is
    /// the digest of every chunk the caller passed (`None` before it).
    pub fn open_chunk_digested(
        &mut self,
        seq: u64,
        sealed: &[u8],
        digest: Option<[u8; 32]>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.clear();
        let result = if self.poisoned {
            Err(Error::Decryption)
        } else {
            self.open_inner(seq, sealed, digest, out)
        };
        if result.is_err() {
            out.zeroize();
            out.clear();
            // Poisoned: no later chunk can be opened.
            self.poisoned = true;
        }
        result
    }

    fn open_inner(
        &mut self,
        seq: u64,
        sealed: &[u8],
        given: Option<[u8; 32]>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if seq != self.next || seq >= self.head.chunk_count {
            return Err(Error::Decryption);
        }
        let plain_len = self.head.plain_len(seq).ok_or(Error::Decryption)?;
        if sealed.len() != plain_len + CHUNK_OVERHEAD {
            return Err(Error::Decryption);
        }
        if let Some(digest) = self.digest.as_mut() {
            digest.add(seq, sealed)?;
        }
        out.resize(plain_len, 0);
        let tag = self
            .state
            .open_chunk(sealed, Some(&self.ad), out)
            .map_err(|_| Error::Decryption)?;
        let last = seq + 1 == self.head.chunk_count;
        let expected = if last {
            StreamTag::Finish
        } else {
            StreamTag::Message
        };
        if tag != expected {
            return Err(Error::Decryption);
        }
        if last {
            let digest = match (self.digest.take(), given) {
                (Some(own), None) => own.finish()?,
                (None, Some(given)) => given,
                _ => return Err(Error::Decryption),
            };
            if !bool::from(digest.ct_eq(&self.head.chunks_digest)) {
                return Err(Error::Decryption);
            }
        }
        self.next = seq + 1;
        Ok(())
    }
}

impl std::fmt::Debug for FileOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileOpener")
            .field("head", &self.head)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The head with its data key re-sealed from `from` (the access key of
/// `ctx.key_version`) to `to` (the access key of `to_version`); the chunks
/// are untouched. A data key that does not open is [`Error::Decryption`].
pub fn rewrap_file_key(
    from: &AccessKey,
    ctx: &FileContext<'_>,
    to: &AccessKey,
    to_version: u32,
    head: &FileHead,
) -> Result<FileHead> {
    let data_key = open_data_key(from, &ctx.dk_aad()?, &head.sealed_dk)?;
    let moved = FileContext {
        key_version: to_version,
        ..*ctx
    };
    Ok(FileHead {
        sealed_dk: seal_data_key(to, &moved.dk_aad()?, &data_key)?,
        ..head.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> FileContext<'static> {
        FileContext {
            record_type: "scan",
            record_id: RecordId::random(),
            writer_id: ClientId::random(),
            key_version: 1,
            version: 1,
        }
    }

    fn seal(
        ak: &AccessKey,
        ctx: &FileContext<'_>,
        body: &[u8],
        size: u32,
    ) -> (FileHead, Vec<Vec<u8>>) {
        let mut sealer = FileSealer::new(ak, ctx, size).unwrap();
        let pieces: Vec<&[u8]> = if body.is_empty() {
            vec![&[][..]]
        } else {
            body.chunks(size as usize).collect()
        };
        let n = pieces.len();
        let chunks = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let position = if i + 1 == n {
                    ChunkPosition::Last
                } else {
                    ChunkPosition::NotLast
                };
                sealer.seal_chunk(p, position).unwrap()
            })
            .collect();
        (sealer.finish().unwrap(), chunks)
    }

    fn open(
        ak: &AccessKey,
        ctx: &FileContext<'_>,
        head: &FileHead,
        chunks: &[Vec<u8>],
    ) -> Result<Vec<u8>> {
        let mut opener = FileOpener::new(ak, ctx, head)?;
        let mut body = Vec::new();
        for (seq, chunk) in chunks.iter().enumerate() {
            body.extend_from_slice(&opener.open_chunk(seq as u64, chunk)?);
        }
        if !opener.is_done() {
            return Err(Error::Decryption);
        }
        Ok(body)
    }

    #[test]
    fn bodies_round_trip_at_every_boundary() {
        let ak = AccessKey::generate();
        let c = ctx();
        for len in [0usize, 1, 7, 8, 9, 16, 17, 100] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (head, chunks) = seal(&ak, &c, &body, 8);
            assert_eq!(head.length(), len as u64);
            assert_eq!(chunks.len() as u64, head.chunk_count());
            assert_eq!(open(&ak, &c, &head, &chunks).unwrap(), body);
        }
    }

    #[test]
    fn every_change_to_the_chunks_fails_closed() {
        let ak = AccessKey::generate();
        let c = ctx();
        let body = vec![7u8; 40];
        let (head, chunks) = seal(&ak, &c, &body, 8);
        let fails = |chunks: &[Vec<u8>]| {
            assert!(matches!(
                open(&ak, &c, &head, chunks),
                Err(Error::Decryption)
            ));
        };
        // dropped, reordered, duplicated, truncated, flipped, extended
        fails(&[
            chunks[0].clone(),
            chunks[2].clone(),
            chunks[3].clone(),
            chunks[4].clone(),
        ]);
        let mut swapped = chunks.clone();
        swapped.swap(1, 2);
        fails(&swapped);
        let mut duplicated = chunks.clone();
        duplicated[2] = chunks[1].clone();
        fails(&duplicated);
        fails(&chunks[..4]);
        let mut flipped = chunks.clone();
        flipped[3][5] ^= 1;
        fails(&flipped);
        let mut longer = chunks.clone();
        longer[4].push(0);
        fails(&longer);
        // another file's chunks under this head, another version's context
        let (_, other) = seal(&ak, &c, &body, 8);
        fails(&other);
        let later = FileContext { version: 2, ..c };
        assert!(open(&ak, &later, &head, &chunks).is_err());
        // a wrong access key
        assert!(open(&AccessKey::generate(), &c, &head, &chunks).is_err());
    }

    #[test]
    fn the_last_chunk_is_withheld_when_the_digest_differs() {
        let ak = AccessKey::generate();
        let c = ctx();
        let (mut head, chunks) = seal(&ak, &c, &[1u8; 20], 8);
        head.chunks_digest[0] ^= 1;
        let mut opener = FileOpener::new(&ak, &c, &head).unwrap();
        assert_eq!(opener.open_chunk(0, &chunks[0]).unwrap().len(), 8);
        assert_eq!(opener.open_chunk(1, &chunks[1]).unwrap().len(), 8);
        assert!(opener.open_chunk(2, &chunks[2]).is_err());
        assert!(!opener.is_done());
    }

    #[test]
    fn a_rewrapped_head_opens_under_the_new_key_only() {
        let (old, new) = (AccessKey::generate(), AccessKey::generate());
        let c = ctx();
        let (head, chunks) = seal(&old, &c, b"body", 8);
        let moved = rewrap_file_key(&old, &c, &new, 2, &head).unwrap();
        let at_two = FileContext {
            key_version: 2,
            ..c
        };
        assert_eq!(open(&new, &at_two, &moved, &chunks).unwrap(), b"body");
        assert!(open(&old, &c, &moved, &chunks).is_err());
        assert!(open(&new, &c, &moved, &chunks).is_err());
    }

    #[test]
    fn the_sealer_refuses_short_chunks_before_the_last() {
        let ak = AccessKey::generate();
        let mut sealer = FileSealer::new(&ak, &ctx(), 8).unwrap();
        assert!(sealer.seal_chunk(&[0; 7], ChunkPosition::NotLast).is_err());
        assert!(sealer.seal_chunk(&[0; 9], ChunkPosition::Last).is_err());
        let unfinished = FileSealer::new(&ak, &ctx(), 8).unwrap();
        assert!(unfinished.finish().is_err());
    }
}
