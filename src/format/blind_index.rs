//! The stored and signed form of a record's blind index entries
//! (`records.blind_indexes`; FORMAT.md, "Blind indexes"):
//!
//! ```text
//! u8  version (1)
//! u32 index version (the access key version the values are computed under)
//! u16 entry count
//! per entry, in name order, names unique:
//!   u16 name length, name (UTF-8)
//!   u16 description length, description (the index's stored spec)
//!   u8  value length (1 to 32), value
//! ```
//! Integers are big-endian. Nothing may follow the last entry.

use crate::error::{Error, Result};
use crate::format::reader::Reader;

const VERSION: u8 = 1;

/// One index's entry in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The index's name.
    pub name: String,
    /// Its stored description (bits, normaliser, fields).
    pub spec: Vec<u8>,
    /// The index value.
    pub value: Vec<u8>,
}

/// A record's blind index entries, all under one index version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindIndexes {
    /// The key version the values are computed under.
    pub index_version: u32,
    /// The entries, in name order.
    pub entries: Vec<IndexEntry>,
}

impl BlindIndexes {
    /// The encoding; entries must be in name order, names unique, values
    /// 1 to 32 bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let bad = || Error::InvalidInput("blind index entries out of range");
        let mut out = Vec::with_capacity(7 + self.entries.len() * 64);
        out.push(VERSION);
        out.extend_from_slice(&self.index_version.to_be_bytes());
        out.extend_from_slice(
            &u16::try_from(self.entries.len())
                .map_err(|_| bad())?
                .to_be_bytes(),
        );
        let mut previous: Option<&str> = None;
        for entry in &self.entries {
            if previous.is_some_and(|p| p >= entry.name.as_str()) {
                return Err(bad());
            }
            previous = Some(&entry.name);
            out.extend_from_slice(
                &u16::try_from(entry.name.len())
                    .map_err(|_| bad())?
                    .to_be_bytes(),
            );
            out.extend_from_slice(entry.name.as_bytes());
            out.extend_from_slice(
                &u16::try_from(entry.spec.len())
                    .map_err(|_| bad())?
                    .to_be_bytes(),
            );
            out.extend_from_slice(&entry.spec);
            if entry.value.is_empty() || entry.value.len() > 32 {
                return Err(bad());
            }
            out.push(entry.value.len() as u8);
            out.extend_from_slice(&entry.value);
        }
        Ok(out)
    }

    /// Decodes [`BlindIndexes::encode`]'s output; anything else is
    /// [`Error::Decryption`].
    pub fn decode(bytes: &[u8]) -> Result<BlindIndexes> {
        let mut r = Reader::new(bytes);
        if r.u8()? != VERSION {
            return Err(Error::Decryption);
        }
        let index_version = r.u32()?;
        let count = usize::from(r.u16()?);
        // An entry takes at least 6 bytes (three lengths, a 1-byte
        // value): reserve no more than the input can hold.
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(count.min(bytes.len() / 6));
        for _ in 0..count {
            let len = usize::from(r.u16()?);
            let name = r.str(len)?.to_owned();
            let len = usize::from(r.u16()?);
            let spec = r.bytes(len)?.to_vec();
            let len = usize::from(r.u8()?);
            if len == 0 || len > 32 {
                return Err(Error::Decryption);
            }
            let value = r.bytes(len)?.to_vec();
            if entries.last().is_some_and(|e| e.name >= name) {
                return Err(Error::Decryption);
            }
            entries.push(IndexEntry { name, spec, value });
        }
        r.finish()?;
        Ok(BlindIndexes {
            index_version,
            entries,
        })
    }

    /// The entry of the index `name`.
    pub fn entry(&self, name: &str) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BlindIndexes {
        BlindIndexes {
            index_version: 3,
            entries: vec![
                IndexEntry {
                    name: "a".into(),
                    spec: vec![9],
                    value: vec![0xab, 0xc0],
                },
                IndexEntry {
                    name: "b".into(),
                    spec: vec![],
                    value: vec![1],
                },
            ],
        }
    }

    #[test]
    fn the_encoding_is_the_documented_one_and_round_trips() {
        let bytes = sample().encode().unwrap();
        assert_eq!(
            bytes,
            [1, 0, 0, 0, 3, 0, 2, 0, 1, b'a', 0, 1, 9, 2, 0xab, 0xc0, 0, 1, b'b', 0, 0, 1, 1]
        );
        assert_eq!(BlindIndexes::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn anything_malformed_is_refused() {
        let bytes = sample().encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(BlindIndexes::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(BlindIndexes::decode(&longer).is_err());
        let mut swapped = sample();
        swapped.entries.reverse();
        assert!(swapped.encode().is_err());
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert!(BlindIndexes::decode(&bad).is_err());
        // A huge count with no entries behind it fails without allocating
        // for it.
        assert!(BlindIndexes::decode(&[1, 0, 0, 0, 1, 0xff, 0xff]).is_err());
    }
}
