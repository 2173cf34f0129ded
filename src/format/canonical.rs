//! The canonical encoding of a tuple of values, used for every AAD, HPKE
//! `info` and signed message.
//!
//! A message starts with a domain label (itself length-prefixed) and is
//! followed by its components, each written as a 4-byte big-endian length
//! and the bytes. Integers are fixed-width big-endian. Parts are never joined
//! by a separator, so no two different tuples encode to the same bytes.

use crate::error::{Error, Result};

/// Builds one canonical message.
#[derive(Clone)]
pub(crate) struct Canonical {
    out: Vec<u8>,
}

impl Canonical {
    /// Starts a message in the domain `label` (for example
    /// `strongroom/field/v1`).
    pub(crate) fn new(label: &str) -> Self {
        Self::with_capacity(label, 128)
    }

    /// Starts a message with room for `capacity` bytes.
    pub(crate) fn with_capacity(label: &str, capacity: usize) -> Self {
        Self::reusing(label, Vec::new(), capacity)
    }

    /// Starts a message in `buffer`, cleared first, with room for
    /// `capacity` bytes (its allocation is reused when large enough).
    pub(crate) fn reusing(label: &str, mut buffer: Vec<u8>, capacity: usize) -> Self {
        buffer.clear();
        buffer.reserve(capacity);
        let mut builder = Canonical { out: buffer };
        // A label is a compile-time constant well under 4 GiB.
        builder
            .out
            .extend_from_slice(&(label.len() as u32).to_be_bytes());
        builder.out.extend_from_slice(label.as_bytes());
        builder
    }

    /// Appends a length-prefixed byte string.
    pub(crate) fn bytes(mut self, value: &[u8]) -> Result<Self> {
        let len = u32::try_from(value.len())
            .map_err(|_| Error::InvalidInput("a component is longer than 4 GiB"))?;
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out.extend_from_slice(value);
        Ok(self)
    }

    /// Appends a length-prefixed UTF-8 string.
    pub(crate) fn str(self, value: &str) -> Result<Self> {
        self.bytes(value.as_bytes())
    }

    /// Appends a fixed-width big-endian `u32` (no length prefix).
    pub(crate) fn u32(mut self, value: u32) -> Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a fixed-width big-endian `u64` (no length prefix).
    pub(crate) fn u64(mut self, value: u64) -> Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a UUID as its 16 raw bytes (no length prefix).
    pub(crate) fn uuid(mut self, value: &uuid::Uuid) -> Self {
        self.out.extend_from_slice(value.as_bytes());
        self
    }

    /// Appends a count (4-byte big-endian) followed by each pair as a
    /// length-prefixed string and a length-prefixed value (a string's UTF-8
    /// bytes, or bytes), in the iterator's order.
    pub(crate) fn pairs<'a, V, I>(mut self, pairs: I) -> Result<Self>
    where
        V: AsRef<[u8]>,
        I: ExactSizeIterator<Item = (&'a str, V)>,
    {
        let count = u32::try_from(pairs.len())
            .map_err(|_| Error::InvalidInput("more than 4 billion entries"))?;
        self = self.u32(count);
        for (key, value) in pairs {
            self = self.str(key)?.bytes(value.as_ref())?;
        }
        Ok(self)
    }

    /// Appends a count (4-byte big-endian) followed by each entry as a
    /// length-prefixed string and a fixed-width `u32`, in key order.
    pub(crate) fn pairs_u32(
        mut self,
        map: &std::collections::BTreeMap<String, u32>,
    ) -> Result<Self> {
        let count = u32::try_from(map.len())
            .map_err(|_| Error::InvalidInput("more than 4 billion entries"))?;
        self = self.u32(count);
        for (key, value) in map {
            self = self.str(key)?.u32(*value);
        }
        Ok(self)
    }

    /// The encoded message.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_length_prefixed() {
        let msg = Canonical::new("d").str("ab").unwrap().u32(7).finish();
        assert_eq!(msg, [0, 0, 0, 1, b'd', 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 7]);
    }

    #[test]
    fn moving_a_boundary_changes_the_encoding() {
        let a = Canonical::new("d")
            .str("ab")
            .unwrap()
            .str("c")
            .unwrap()
            .finish();
        let b = Canonical::new("d")
            .str("a")
            .unwrap()
            .str("bc")
            .unwrap()
            .finish();
        assert_ne!(a, b);
    }

    #[test]
    fn domains_separate() {
        let a = Canonical::new("x").str("").unwrap().finish();
        let b = Canonical::new("y").str("").unwrap().finish();
        assert_ne!(a, b);
    }
}
