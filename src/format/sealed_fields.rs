//! The sealed-fields column: all field envelopes of one record version in
//! one compact, versioned byte string (FORMAT.md, "Sealed fields").
//!
//! ```text
//! version   u8            1
//! entries   repeated, in strictly increasing byte order of name:
//!   name_len      u16 big-endian, 1..=65535
//!   name          name_len bytes of UTF-8
//!   envelope_len  u32 big-endian
//!   envelope      envelope_len bytes (an `srf1.` envelope's raw bytes)
//! ```
//!
//! Nothing follows the last entry. Decoding refuses a wrong version,
//! unsorted or repeated names, names that are empty or not UTF-8, an
//! envelope too short to be one, truncation and trailing bytes — each the
//! opaque [`Error::Decryption`]: the column comes from the database, which
//! is not trusted to be well-formed.

use std::collections::BTreeMap;

use crate::crypto::envelope::Envelope;
use crate::error::{Error, Result};
use crate::format::reader::Reader;

/// The encoding version this build writes and reads.
pub(crate) const VERSION: u8 = 1;

/// Encodes `fields` (a `BTreeMap`, so already in name order).
pub(crate) fn encode(fields: &BTreeMap<String, Envelope>) -> Result<Vec<u8>> {
    let size = 1 + fields
        .iter()
        .map(|(name, envelope)| 6 + name.len() + envelope.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(VERSION);
    for (name, envelope) in fields {
        let name_len = u16::try_from(name.len())
            .ok()
            .filter(|len| *len > 0)
            .ok_or(Error::InvalidInput(
                "a field name is 1 to 65535 bytes of UTF-8",
            ))?;
        let envelope_len = u32::try_from(envelope.len())
            .map_err(|_| Error::InvalidInput("a field value is longer than 4 GiB"))?;
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&envelope_len.to_be_bytes());
        out.extend_from_slice(envelope.as_bytes());
    }
    Ok(out)
}

/// Decodes a column written by [`encode`]; anything else is
/// [`Error::Decryption`].
pub(crate) fn decode(bytes: &[u8]) -> Result<BTreeMap<String, Envelope>> {
    let mut r = Reader::new(bytes);
    if r.u8()? != VERSION {
        return Err(Error::Decryption);
    }
    let mut fields = BTreeMap::new();
    let mut last: Option<&str> = None;
    while !r.is_empty() {
        let name_len = usize::from(r.u16()?);
        if name_len == 0 {
            return Err(Error::Decryption);
        }
        let name = r.str(name_len)?;
        if last.is_some_and(|previous| previous.as_bytes() >= name.as_bytes()) {
            return Err(Error::Decryption);
        }
        let envelope_len = usize::try_from(r.u32()?).map_err(|_| Error::Decryption)?;
        let envelope = r.bytes(envelope_len)?;
        fields.insert(name.to_owned(), Envelope::from_bytes(envelope.to_vec())?);
        last = Some(name);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(fill: u8, len: usize) -> Envelope {
        Envelope::from_bytes(vec![fill; len]).expect("long enough")
    }

    fn sample() -> BTreeMap<String, Envelope> {
        BTreeMap::from([
            ("name".to_owned(), envelope(0xAA, 120)),
            ("national_id".to_owned(), envelope(0xBB, 112)),
        ])
    }

    #[test]
    fn round_trips() {
        let fields = sample();
        assert_eq!(decode(&encode(&fields).unwrap()).unwrap(), fields);
        let empty = BTreeMap::new();
        assert_eq!(encode(&empty).unwrap(), vec![VERSION]);
        assert_eq!(decode(&[VERSION]).unwrap(), empty);
    }

    #[test]
    fn refuses_every_malformed_column() {
        let good = encode(&sample()).unwrap();
        // Empty, wrong version, truncated anywhere, trailing bytes.
        assert!(matches!(decode(&[]), Err(Error::Decryption)));
        let mut wrong_version = good.clone();
        wrong_version[0] = 2;
        assert!(matches!(decode(&wrong_version), Err(Error::Decryption)));
        // A cut inside an entry fails; a cut between entries decodes to
        // fewer fields (which the record's signature then refuses).
        let first_entry_end = 1 + 2 + "name".len() + 4 + 120;
        for cut in 1..good.len() {
            match decode(&good[..cut]) {
                Ok(fields) => assert!(
                    (cut == 1 && fields.is_empty())
                        || (cut == first_entry_end && fields.len() == 1),
                    "cut at {cut}"
                ),
                Err(err) => assert!(
                    matches!(err, Error::Decryption) && cut != 1 && cut != first_entry_end,
                    "cut at {cut}"
                ),
            }
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(Error::Decryption)));
        // Names out of order or repeated (each entry otherwise valid: the
        // same bytes in order decode).
        let mut sorted = vec![VERSION];
        for name in ["a", "b"] {
            sorted.extend_from_slice(&1u16.to_be_bytes());
            sorted.extend_from_slice(name.as_bytes());
            sorted.extend_from_slice(&120u32.to_be_bytes());
            sorted.extend_from_slice(&[0u8; 120]);
        }
        assert_eq!(decode(&sorted).unwrap().len(), 2);
        let mut unsorted = vec![VERSION];
        for name in ["b", "a"] {
            unsorted.extend_from_slice(&1u16.to_be_bytes());
            unsorted.extend_from_slice(name.as_bytes());
            unsorted.extend_from_slice(&120u32.to_be_bytes());
            unsorted.extend_from_slice(&[0u8; 120]);
        }
        assert!(matches!(decode(&unsorted), Err(Error::Decryption)));
        let repeated = {
            // The second name ("a") becomes the first one ("b").
            let mut r = unsorted.clone();
            r[1 + 2 + 1 + 4 + 120 + 2] = b'b';
            r
        };
        assert!(matches!(decode(&repeated), Err(Error::Decryption)));
        // An empty name, a name that is not UTF-8, an envelope too short.
        let mut empty_name = vec![VERSION, 0, 0];
        empty_name.extend_from_slice(&120u32.to_be_bytes());
        empty_name.extend_from_slice(&[0u8; 120]);
        assert!(matches!(decode(&empty_name), Err(Error::Decryption)));
        let mut bad_utf8 = vec![VERSION, 0, 1, 0xFF];
        bad_utf8.extend_from_slice(&120u32.to_be_bytes());
        bad_utf8.extend_from_slice(&[0u8; 120]);
        assert!(matches!(decode(&bad_utf8), Err(Error::Decryption)));
        let mut short = vec![VERSION, 0, 1, b'a'];
        short.extend_from_slice(&3u32.to_be_bytes());
        short.extend_from_slice(&[0u8; 3]);
        assert!(matches!(decode(&short), Err(Error::Decryption)));
    }
}
