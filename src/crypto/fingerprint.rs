//! Fingerprints: a short, human-comparable digest of a client's public
//! keys, for checking a peer out of band (read aloud, compared on two
//! screens) before trusting the keys the database serves for it.
//!
//! # Construction
//! `BLAKE2b-256(label("strongroom/fingerprint") ‖ u32(1) ‖ uuid(client_id)
//! ‖ bytes(x25519 public key) ‖ bytes(ed25519 public key))` (the canonical
//! encoding of `FORMAT.md`); its first 30 bytes, read as six 5-byte
//! big-endian integers, each reduced modulo 100 000, give six groups of five
//! decimal digits: 30 digits, about 99.6 bits.
//!
//! # Security
//! A database attacker who wants a substituted key to show the same
//! fingerprint must find a second preimage of about 100 bits: out of reach.
//! Comparing fewer digits than all of them weakens that in proportion.
//!
//! # Example
//! ```
//! use strongroom::{Fingerprint, Identity};
//!
//! let alice = Identity::generate()?;
//! let shown = alice.public().fingerprint()?.to_string();
//! assert_eq!(shown.len(), 35); // "12345 67890 … 12345"
//! let typed: Fingerprint = shown.replace(' ', "-").parse()?;
//! assert_eq!(typed, alice.public().fingerprint()?);
//! # Ok::<(), strongroom::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use orion::hazardous::hash::blake2::blake2b::Blake2b;

use crate::error::{Error, Result};
use crate::format::canonical::Canonical;
use crate::identity::PublicIdentity;

const LABEL: &str = "strongroom/fingerprint";
const VERSION: u32 = 1;
const GROUPS: usize = 6;
const GROUP_BYTES: usize = 5;
const GROUP_MODULUS: u64 = 100_000;

/// Thirty decimal digits naming a client's public keys (see the module
/// docs). Shown as six groups of five digits; parsed from thirty digits with
/// any spaces or hyphens between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u32; GROUPS]);

impl Fingerprint {
    /// The fingerprint of `identity`'s id and public keys.
    pub fn of(identity: &PublicIdentity) -> Result<Fingerprint> {
        let message = Canonical::new(LABEL)
            .u32(VERSION)
            .uuid(identity.client_id.as_uuid())
            .bytes(identity.encryption_key.as_bytes())?
            .bytes(identity.signing_key.as_bytes())?
            .finish();
        let digest = Blake2b::new(32)
            .and_then(|mut hash| hash.update(&message).and_then(|()| hash.finalize()))
            .map_err(|_| Error::Crypto("BLAKE2b"))?;
        let bytes = digest.as_ref();
        let mut groups = [0u32; GROUPS];
        for (group, chunk) in groups.iter_mut().zip(bytes.chunks_exact(GROUP_BYTES)) {
            let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            // Below 100 000, so it fits.
            *group = (value % GROUP_MODULUS) as u32;
        }
        Ok(Fingerprint(groups))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{group:05}")?;
        }
        Ok(())
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        const BAD: Error = Error::InvalidInput(
            "a fingerprint is 30 decimal digits (groups may be separated by spaces or hyphens)",
        );
        let mut digits = Vec::with_capacity(GROUPS * 5);
        for c in text.trim().chars() {
            match c {
                '0'..='9' => digits.push(c as u32 - '0' as u32),
                ' ' | '-' => {}
                _ => return Err(BAD),
            }
        }
        if digits.len() != GROUPS * 5 {
            return Err(BAD);
        }
        let mut groups = [0u32; GROUPS];
        for (group, five) in groups.iter_mut().zip(digits.chunks_exact(5)) {
            *group = five.iter().fold(0, |acc, d| acc * 10 + d);
        }
        Ok(Fingerprint(groups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_junk_is_refused() {
        let fp = Fingerprint([0, 1, 99_999, 12_345, 67_890, 500]);
        assert_eq!(fp.to_string(), "00000 00001 99999 12345 67890 00500");
        assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            "00000-00001-99999-12345-67890-00500"
                .parse::<Fingerprint>()
                .unwrap(),
            fp
        );
        for bad in [
            "",
            "1234",
            "00000 00001 99999 12345 67890 0050x",
            "00000 00001 99999 12345 67890 005000",
        ] {
            assert!(
                matches!(bad.parse::<Fingerprint>(), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
    }
}
