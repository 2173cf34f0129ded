//! Reading a stored encoding front to back: each read takes the next bytes
//! or fails with [`Error::Decryption`] when too few are left, so a decoder
//! never indexes out of bounds and every malformed input is the one
//! opaque error.

use crate::error::{Error, Result};

/// The bytes not read yet.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(Error::Decryption);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// The next `n` bytes as UTF-8.
    pub(crate) fn str(&mut self, n: usize) -> Result<&'a str> {
        std::str::from_utf8(self.bytes(n)?).map_err(|_| Error::Decryption)
    }

    /// Whether everything was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Ends the reading: bytes left over are [`Error::Decryption`].
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::Decryption)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_fails_closed() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 3, b'h', b'i', 0xff]);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 2);
        assert_eq!(r.u32().unwrap(), 3);
        assert_eq!(r.str(2).unwrap(), "hi");
        assert!(!r.is_empty());
        assert!(matches!(r.str(1), Err(Error::Decryption)), "not UTF-8");
        let mut short = Reader::new(&[0, 1]);
        assert!(matches!(short.u32(), Err(Error::Decryption)));
        assert!(matches!(Reader::new(&[0]).finish(), Err(Error::Decryption)));
        assert!(Reader::new(&[]).finish().is_ok());
    }
}
