//! The file head: what a file record's row holds about its body (FORMAT.md,
//! "Files"). Fixed width, big-endian, versioned:
//!
//! ```text
//! head = u8(1)                 # head format version
//!      ‖ u64(length)           # plaintext bytes of the body
//!      ‖ u32(chunk_size)       # plaintext bytes of every chunk but the last
//!      ‖ u64(chunk_count)      # max(1, ceil(length / chunk_size))
//!      ‖ chunks_digest (32)    # BLAKE2b-256 over the sealed chunks
//!      ‖ stream_nonce (24)     # the streaming AEAD's header
//!      ‖ sealed_dk (72)        # nonce ‖ XChaCha20-Poly1305(AK, DK) ‖ tag
//! ```

use std::fmt;

use crate::error::{Error, Result};
use crate::format::reader::Reader;

/// The head format version this build writes and reads.
pub(crate) const HEAD_VERSION: u8 = 1;
/// Bytes of a sealed data key: nonce, key, tag.
pub(crate) const SEALED_DK_LEN: usize = 24 + 32 + 16;
/// Bytes of an encoded head.
pub(crate) const HEAD_LEN: usize = 1 + 8 + 4 + 8 + 32 + 24 + SEALED_DK_LEN;
/// The largest chunk size a head may name (4 MiB), which bounds a
/// reader's memory: it holds up to about 49 sealed chunks at once (a
/// fetch window of 16 and the read-ahead queue), so about 200 MiB for a
/// head naming 4 MiB chunks, about 3 MiB for the default 64 KiB; a stored
/// chunk longer than the head's size is never loaded.
pub const MAX_CHUNK_SIZE: u32 = 4 * 1024 * 1024;

/// A file record's head: the body's length and chunking, the digest of its
/// sealed chunks, the stream header and its sealed data key. Covered by
/// the record's signature. `Debug` shows the sizes, never key material.
#[derive(Clone, PartialEq, Eq)]
pub struct FileHead {
    pub(crate) length: u64,
    pub(crate) chunk_size: u32,
    pub(crate) chunk_count: u64,
    pub(crate) chunks_digest: [u8; 32],
    pub(crate) stream_nonce: [u8; 24],
    pub(crate) sealed_dk: [u8; SEALED_DK_LEN],
}

impl FileHead {
    /// The body's length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Plaintext bytes per chunk (the last chunk may hold fewer).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// How many chunks the body is stored in (at least one).
    pub fn chunk_count(&self) -> u64 {
        self.chunk_count
    }

    /// The plaintext length of chunk `seq` (the last one holds the rest).
    pub(crate) fn plain_len(&self, seq: u64) -> Option<usize> {
        let size = u64::from(self.chunk_size);
        let before = seq.checked_mul(size)?;
        let len = if seq + 1 == self.chunk_count {
            self.length.checked_sub(before)?
        } else if seq + 1 < self.chunk_count {
            size
        } else {
            return None;
        };
        usize::try_from(len).ok()
    }

    /// The encoded head, as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN);
        out.push(HEAD_VERSION);
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.chunk_count.to_be_bytes());
        out.extend_from_slice(&self.chunks_digest);
        out.extend_from_slice(&self.stream_nonce);
        out.extend_from_slice(&self.sealed_dk);
        out
    }

    /// Parses a stored head. Anything but exactly 149 bytes of
    /// version 1, a chunk size of 1 to [`MAX_CHUNK_SIZE`] bytes and the
    /// chunk count its length and chunk size give is [`Error::Decryption`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != HEAD_LEN || bytes[0] != HEAD_VERSION {
            return Err(Error::Decryption);
        }
        let mut r = Reader::new(&bytes[1..]);
        let length = r.u64()?;
        let chunk_size = r.u32()?;
        let chunk_count = r.u64()?;
        let head = FileHead {
            length,
            chunk_size,
            chunk_count,
            chunks_digest: r.array()?,
            stream_nonce: r.array()?,
            sealed_dk: r.array()?,
        };
        r.finish()?;
        if chunk_size == 0
            || chunk_size > MAX_CHUNK_SIZE
            || Some(chunk_count) != chunk_count_for(length, chunk_size)
        {
            return Err(Error::Decryption);
        }
        Ok(head)
    }
}

/// How many chunks a body of `length` bytes takes: at least one (an empty
/// body is one empty final chunk).
pub(crate) fn chunk_count_for(length: u64, chunk_size: u32) -> Option<u64> {
    let size = u64::from(chunk_size);
    if size == 0 {
        return None;
    }
    Some(length.div_ceil(size).max(1))
}

impl fmt::Debug for FileHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileHead")
            .field("length", &self.length)
            .field("chunk_size", &self.chunk_size)
            .field("chunk_count", &self.chunk_count)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(length: u64, chunk_size: u32) -> FileHead {
        FileHead {
            length,
            chunk_size,
            chunk_count: chunk_count_for(length, chunk_size).unwrap(),
            chunks_digest: [1; 32],
            stream_nonce: [2; 24],
            sealed_dk: [3; SEALED_DK_LEN],
        }
    }

    #[test]
    fn a_head_round_trips_at_its_fixed_length() {
        for (length, size) in [(0, 64), (1, 64), (64, 64), (65, 64), (1 << 40, 65536)] {
            let h = head(length, size);
            let bytes = h.to_bytes();
            assert_eq!(bytes.len(), HEAD_LEN);
            assert_eq!(FileHead::from_bytes(&bytes).unwrap(), h);
        }
    }

    #[test]
    fn chunk_counts_and_lengths_follow_the_body() {
        assert_eq!(chunk_count_for(0, 64), Some(1));
        assert_eq!(chunk_count_for(64, 64), Some(1));
        assert_eq!(chunk_count_for(65, 64), Some(2));
        let h = head(65, 64);
        assert_eq!(h.plain_len(0), Some(64));
        assert_eq!(h.plain_len(1), Some(1));
        assert_eq!(h.plain_len(2), None);
        assert_eq!(head(0, 64).plain_len(0), Some(0));
    }

    #[test]
    fn malformed_heads_are_refused() {
        let good = head(65, 64).to_bytes();
        assert!(FileHead::from_bytes(&good[..HEAD_LEN - 1]).is_err());
        assert!(FileHead::from_bytes(&[good.clone(), vec![0]].concat()).is_err());
        let mut version = good.clone();
        version[0] = 2;
        assert!(FileHead::from_bytes(&version).is_err());
        let mut count = good.clone();
        count[20] ^= 1; // the low byte of the chunk count
        assert!(matches!(
            FileHead::from_bytes(&count),
            Err(Error::Decryption)
        ));
        let mut zero_size = head(0, 64).to_bytes();
        zero_size[9..13].copy_from_slice(&0u32.to_be_bytes());
        assert!(FileHead::from_bytes(&zero_size).is_err());
        let mut huge = head(0, 64).to_bytes();
        huge[9..13].copy_from_slice(&(MAX_CHUNK_SIZE + 1).to_be_bytes());
        assert!(FileHead::from_bytes(&huge).is_err());
    }
}
